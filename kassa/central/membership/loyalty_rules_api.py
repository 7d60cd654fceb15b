"""The chain's loyalty rules over HTTP: tiers, earning rates, redemption and the offline caps, as
one checked, numbered document (``kassa.loyalty.settings``) that travels to the tills whole.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, STAFF, db
from kassa.central.membership import loyalty_rules
from kassa.common.web import ErrorSchema

bp = Blueprint("loyalty_rules", __name__, url_prefix="/api/v1",
               description="The chain's loyalty rules")


class RulesSchema(ma.Schema):
    document = fields.Dict(metadata={
        "description": "kassa.loyalty.settings.RulesDoc, with its version and changed_at"})


class RulesPatchSchema(ma.Schema):
    changes = fields.Dict(required=True, metadata={
        "description": "top-level fields to replace, e.g. offline_points_per_day"})


class RulesVersionSchema(ma.Schema):
    version = fields.Integer()
    changed_at = fields.DateTime()
    changed_by = fields.String(allow_none=True, metadata={"description": "username"})
    fields_changed = fields.List(fields.String(), data_key="fields", attribute="fields")
    document = fields.Dict()


class RulesVersionsSchema(ma.Schema):
    versions = fields.List(fields.Nested(RulesVersionSchema))


@bp.route("/loyalty-rules")
class LoyaltyRules(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RulesSchema)
    def get(self):
        """The chain's loyalty rules: tiers, earning rates, redemption, offline caps, and the
        version they are (0: the defaults, never set)."""
        with db().read() as session:
            return {"document": loyalty_rules.rules_document(session)}

    @require_role(*OPERATORS)
    @bp.arguments(RulesPatchSchema)
    @bp.response(200, RulesSchema)
    @bp.alt_response(422, schema=ErrorSchema,
                     description="bad_rules; details.field names the field at fault")
    def patch(self, body):
        """Change some of the rules as a new version (``bad_rules`` if the result does not
        hold together); tills get the whole document at their next pull."""
        with db().transaction() as session:
            return {"document": loyalty_rules.change_rules(session, g.user, body["changes"])}


@bp.route("/loyalty-rules/versions")
class LoyaltyRulesVersions(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RulesVersionsSchema)
    def get(self):
        """The latest versions of the rules, newest first: when, by whom, which fields."""
        with db().read() as session:
            return {"versions": loyalty_rules.versions(session)}
