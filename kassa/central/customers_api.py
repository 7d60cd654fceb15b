"""Customers at central's API: block one (fraud, abuse) so every till needs central's
authorization to sell to them, and lift the block. A regional manager reaches only the
customers of their region's stores; anyone else's answers 404, as if they did not exist."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from kassa.central import audit
from kassa.central.auth import require_role
from kassa.central.documents import customer_doc
from kassa.central.feed import customer_scope, record_change
from kassa.central.models import Customer, Store
from kassa.common.db import utcnow
from kassa.common.errors import NotFound

bp = Blueprint("customers", __name__, url_prefix="/api/v1/customers",
               description="Customers: blocks")
STAFF = ("admin", "central_office", "regional_manager")


def _db():
    return current_app.extensions["kassa_db"]


class CustomerBlockSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=3, max=200))


class CustomerStateSchema(ma.Schema):
    id = fields.UUID()
    name = fields.String()
    blocked = fields.Boolean()
    blocked_at = fields.AwareDateTime(allow_none=True)
    block_reason = fields.String(allow_none=True)


def _reachable(session, customer_id) -> Customer:
    customer = session.get(Customer, customer_id, with_for_update=True)
    if customer is not None and g.user.role == "regional_manager":
        region = session.scalar(select(Store.region_id).where(
            Store.id == customer.home_store_id)) if customer.home_store_id else None
        if region != g.user.region_id:
            customer = None
    if customer is None:
        raise NotFound("No such customer.", code="customer_not_found")
    return customer


def _state(c: Customer) -> dict:
    return {"id": c.id, "name": c.name, "blocked": c.blocked_at is not None,
            "blocked_at": c.blocked_at, "block_reason": c.block_reason}


def _set_block(customer_id, reason: str | None) -> dict:
    with _db().transaction() as session:
        customer = _reachable(session, customer_id)
        before = {"blocked": customer.blocked_at is not None, "reason": customer.block_reason}
        customer.blocked_at = utcnow() if reason else None
        customer.block_reason = reason
        session.flush()
        after = {"blocked": reason is not None, "reason": reason}
        if after != before:
            record_change(session, "customer", customer.id, customer_doc(customer),
                          **customer_scope(session, customer))
            audit.record(session, "customer_blocked" if reason else "customer_unblocked",
                         f"customer {customer.id}", actor_id=g.user.id, reason=reason or "",
                         details={"before": before, "after": after})
        return _state(customer)


@bp.route("/<uuid:customer_id>/block")
class BlockCustomer(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(CustomerBlockSchema)
    @bp.response(200, CustomerStateSchema)
    def post(self, body, customer_id):
        """Block the customer: from their next pull, tills ask central before selling to
        them."""
        return _set_block(customer_id, body["reason"].strip())


@bp.route("/<uuid:customer_id>/unblock")
class UnblockCustomer(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.response(200, CustomerStateSchema)
    def post(self, customer_id):
        """Lift the block."""
        return _set_block(customer_id, None)
