"""What each role may do alone over HTTP: at the till the discount and refund limits above which
a store manager, or central, must approve (the tills get them at their next pull); at central
the points one may add to or take from a customer's account at a time.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access import people
from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, STAFF, db

bp = Blueprint("role_limits", __name__, url_prefix="/api/v1",
               description="What each role may do alone at the till")


class RoleLimitSchema(ma.Schema):
    role = fields.String()
    max_discount_bp = fields.Integer(metadata={"description": "basis points: 1000 = 10 %"})
    max_refund_minor = fields.Integer()
    max_points_adjust = fields.Integer(metadata={
        "description": "points one may add to or take from a customer at a time (central)"})


class RoleLimitListSchema(ma.Schema):
    limits = fields.List(fields.Nested(RoleLimitSchema))


class RoleLimitInSchema(ma.Schema):
    max_discount_bp = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=0, max=10_000))
    max_refund_minor = fields.Integer(required=True, strict=True,
                                      validate=validate.Range(min=0, max=10**12))
    max_points_adjust = fields.Integer(load_default=None, strict=True,
                                       validate=validate.Range(min=0, max=10**9), metadata={
                                           "description": "unchanged when left out"})


@bp.route("/role-limits")
class RoleLimits(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RoleLimitListSchema)
    def get(self):
        """What each role may do alone at the till; above it, a manager or central decides."""
        with db().read() as session:
            return {"limits": people.role_limits(session)}


@bp.route("/role-limits/<string:role>")
class OneRoleLimit(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(RoleLimitInSchema)
    @bp.response(200, RoleLimitSchema)
    def put(self, body, role):
        """Set a role's discount and refund limits (tills get them at their next pull) and the
        points it may adjust at a time (left out: unchanged)."""
        with db().transaction() as session:
            return people.change_role_limit(session, g.user, role, **body)
