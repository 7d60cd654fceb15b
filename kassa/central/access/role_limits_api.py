"""What each role may do alone at the till over HTTP: the discount and refund limits above which
a store manager, or central, must approve. The tills get them at their next pull.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from kassa.central.access import audit, people
from kassa.central.access.auth import require_role
from kassa.central.handlers import OPERATORS, STAFF, db
from kassa.central.models import ROLES, RoleLimit
from kassa.central.replication.feed_documents import role_limit_doc
from kassa.common.errors import NotFound

bp = Blueprint("role_limits", __name__, url_prefix="/api/v1",
               description="What each role may do alone at the till")


class RoleLimitSchema(ma.Schema):
    role = fields.String()
    max_discount_bp = fields.Integer(metadata={"description": "basis points: 1000 = 10 %"})
    max_refund_minor = fields.Integer()


class RoleLimitListSchema(ma.Schema):
    limits = fields.List(fields.Nested(RoleLimitSchema))


class RoleLimitInSchema(ma.Schema):
    max_discount_bp = fields.Integer(required=True, strict=True,
                                     validate=validate.Range(min=0, max=10_000))
    max_refund_minor = fields.Integer(required=True, strict=True,
                                      validate=validate.Range(min=0, max=10**12))


@bp.route("/role-limits")
class RoleLimits(MethodView):
    @require_role(*STAFF)
    @bp.response(200, RoleLimitListSchema)
    def get(self):
        """What each role may do alone at the till; above it, a manager or central decides."""
        with db().read() as session:
            return {"limits": [role_limit_doc(r) for r in
                               session.scalars(select(RoleLimit).order_by(RoleLimit.role))]}


@bp.route("/role-limits/<string:role>")
class OneRoleLimit(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(RoleLimitInSchema)
    @bp.response(200, RoleLimitSchema)
    def put(self, body, role):
        """Set a role's discount and refund limits (tills get them at their next pull)."""
        if role not in ROLES:
            raise NotFound("No role %(role)s.", code="role_not_found", role=repr(role))
        with db().transaction() as session:
            old = session.get(RoleLimit, role)
            before = role_limit_doc(old) if old else None
            after = role_limit_doc(people.set_role_limit(session, role, body["max_discount_bp"],
                                                         body["max_refund_minor"]))
            if after != before:
                audit.change(session, g.user.id, "role_limit", role, before, after)
            return after
