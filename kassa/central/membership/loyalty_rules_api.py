"""The chain's loyalty rules over HTTP: tiers, earning rates, redemption and the offline caps, as
one checked document (``kassa.loyalty.settings``) that travels to the tills whole.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields

from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, STAFF, db
from kassa.central.membership import loyalty_accounts

bp = Blueprint("loyalty_rules", __name__, url_prefix="/api/v1",
               description="The chain's loyalty rules")


class RulesSchema(ma.Schema):
    document = fields.Dict(metadata={"description": "kassa.loyalty.settings.RulesDoc"})


class RulesPatchSchema(ma.Schema):
    changes = fields.Dict(required=True, metadata={
        "description": "top-level fields to replace, e.g. offline_points_per_day"})


@bp.route("/loyalty-rules")
class LoyaltyRules(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RulesSchema)
    def get(self):
        """The chain's loyalty rules: tiers, earning rates, redemption, offline caps."""
        with db().read() as session:
            return {"document": loyalty_accounts.rules_document(session)}

    @require_role(*OPERATORS)
    @bp.arguments(RulesPatchSchema)
    @bp.response(200, RulesSchema)
    def patch(self, body):
        """Change some of the rules (``bad_rules`` if the result does not hold together);
        tills get the whole document at their next pull."""
        with db().transaction() as session:
            return {"document": loyalty_accounts.change_rules(session, g.user, body["changes"])}
