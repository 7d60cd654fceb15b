"""Points adjusted by hand at central's API (store managers and above, each within their role's
limit, audited): ``kassa.central.membership.points``."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.crm import profiles
from kassa.central.handlers import PEOPLE, db
from kassa.central.membership import points
from kassa.common.web import ErrorSchema

bp = Blueprint("points", __name__, url_prefix="/api/v1/customers",
               description="Points adjusted by hand")


class AdjustmentInSchema(ma.Schema):
    points = fields.Integer(required=True, strict=True, validate=[
        validate.Range(min=-10**9, max=10**9), validate.NoneOf((0,), error="Not zero.")],
        metadata={"description": "added (positive) or taken (negative)"})
    reason = fields.String(required=True, validate=validate.Length(min=3, max=200))


class AdjustmentSchema(ma.Schema):
    id = fields.UUID()
    points = fields.Integer()
    reason = fields.String()
    at = fields.AwareDateTime()
    balance = fields.Integer(metadata={"description": "the account's balance after it"})


@bp.route("/<uuid:customer_id>/points-adjustments")
class Adjustments(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(AdjustmentInSchema)
    @bp.response(201, AdjustmentSchema)
    @bp.alt_response(403, schema=ErrorSchema, description="``points_over_limit``: above the "
                     "role's limit (``details.limit``)")
    @bp.alt_response(409, schema=ErrorSchema, description="``points_short``, "
                     "``no_loyalty_account``")
    def post(self, body, customer_id):
        """Add points to the customer's account or take some, with the reason (audited; the
        tills get the balance at their next pull)."""
        with db().transaction() as session:
            customer = profiles.reachable(session, profiles.Reach.of(g.user), customer_id,
                                          writable=True)
            return points.adjust(session, customer, g.user, body["points"],
                                 body["reason"].strip())
