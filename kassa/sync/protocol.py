"""The wire format of sync, as marshmallow schemas both ends load and dump.

Up: ``POST /api/v1/sync/push`` with a batch of outbox events, answered with central's
high-water mark for the node. Down: ``GET /api/v1/sync/changes?since=V`` answered with a page of
change-feed entries. Event payloads have a schema per kind, checked again at central.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

MAX_BATCH = 1000
MAX_PAGE = 1000


class EventSchema(ma.Schema):
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    event_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = fields.AwareDateTime(required=True)
    payload = fields.Dict(required=True)


class PushRequestSchema(ma.Schema):
    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    events = fields.List(fields.Nested(EventSchema), required=True,
                         validate=validate.Length(max=MAX_BATCH))


class PushResponseSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    high_water = fields.Integer(required=True)
    applied = fields.Integer(required=True)


class DayTotalsSchema(ma.Schema):
    day = fields.Date(required=True)
    sales_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    sales_minor = fields.Integer(required=True, strict=True)
    returns_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    returns_minor = fields.Integer(required=True, strict=True)


class NodeStatusReportSchema(ma.Schema):
    """What a node says about itself after each sync: how far it is, what it counted."""

    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    node_seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    queue_depth = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    oldest_pending_at = fields.AwareDateTime(allow_none=True, load_default=None)
    feed_cursor = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    days = fields.List(fields.Nested(DayTotalsSchema), load_default=list,
                       validate=validate.Length(max=62))


class NodeStatusAnswerSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    high_water = fields.Integer(required=True)
    quarantined = fields.Integer(required=True)


class ChangesQuerySchema(ma.Schema):
    since = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=MAX_PAGE))


class ChangeSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    version = fields.Integer(required=True)
    entity = fields.String(required=True)
    key = fields.String(required=True)
    deleted = fields.Boolean(required=True)
    data = fields.Dict(allow_none=True)


class ChangesPageSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    next_since = fields.Integer(required=True)
    more = fields.Boolean(required=True)


# --- event payloads --------------------------------------------------------------------------
# Fields added after version 1 of a kind carry ``load_default`` so older nodes' events load.

def _int(**kw):
    return fields.Integer(strict=True, **kw)


class SaleLinePayload(ma.Schema):
    line_no = _int(required=True, validate=validate.Range(min=1))
    product_id = _int(required=True)
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity_milli = _int(required=True, validate=validate.Range(min=1))
    unit_price_minor = _int(required=True, validate=validate.Range(min=0))
    gross_minor = _int(load_default=None, allow_none=True)
    discount_minor = _int(load_default=0)
    promotion_id = _int(load_default=None, allow_none=True)
    amount_minor = _int(required=True)
    vat_rate_bp = _int(required=True, validate=validate.Range(min=0))
    vat_minor = _int(required=True)


class PaymentPayload(ma.Schema):
    method = fields.String(required=True, validate=validate.OneOf(["cash", "card", "points"]))
    amount_minor = _int(required=True)
    tendered_minor = _int(allow_none=True, load_default=None)
    reference = fields.String(allow_none=True, load_default=None)


class SaleCompletedPayload(ma.Schema):
    sale_id = fields.UUID(required=True)
    receipt_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    store_id = _int(required=True)
    shift_id = fields.UUID(load_default=None, allow_none=True)
    cashier_id = _int(load_default=None, allow_none=True)
    sold_at = fields.AwareDateTime(required=True)
    customer_id = fields.UUID(allow_none=True, load_default=None)
    gross_minor = _int(load_default=None, allow_none=True)
    discount_minor = _int(load_default=0)
    total_minor = _int(required=True)
    vat_minor = _int(required=True)
    lines = fields.List(fields.Nested(SaleLinePayload), required=True,
                        validate=validate.Length(min=1))
    payments = fields.List(fields.Nested(PaymentPayload), required=True,
                           validate=validate.Length(min=1))


class SaleVoidedPayload(ma.Schema):
    sale_id = fields.UUID(required=True)
    shift_id = fields.UUID(allow_none=True, load_default=None)
    cashier_id = _int(required=True)
    reason = fields.String(required=True)
    line_count = _int(required=True)
    total_minor = _int(required=True)
    at = fields.AwareDateTime(required=True)


class SalePostVoidedPayload(ma.Schema):
    sale_id = fields.UUID(required=True)
    receipt_no = fields.String(required=True)
    override_id = fields.UUID(required=True)
    reason = fields.String(required=True)
    at = fields.AwareDateTime(required=True)


class ReturnLinePayload(ma.Schema):
    line_no = _int(required=True, validate=validate.Range(min=1))
    original_line_no = _int(allow_none=True, load_default=None)
    product_id = _int(required=True)
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity_milli = _int(required=True, validate=validate.Range(min=1))
    amount_minor = _int(required=True, validate=validate.Range(min=0))
    vat_rate_bp = _int(required=True)
    vat_minor = _int(required=True)


class RefundPayload(ma.Schema):
    method = fields.String(required=True, validate=validate.OneOf(["cash", "card", "points"]))
    amount_minor = _int(required=True, validate=validate.Range(min=0))
    reference = fields.String(allow_none=True, load_default=None)


class ReturnCompletedPayload(ma.Schema):
    return_id = fields.UUID(required=True)
    return_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    original_sale_id = fields.UUID(allow_none=True, load_default=None)
    original_receipt_no = fields.String(allow_none=True, load_default=None)
    shift_id = fields.UUID(required=True)
    cashier_id = _int(required=True)
    override_id = fields.UUID(allow_none=True, load_default=None)
    reason = fields.String(load_default="")
    returned_at = fields.AwareDateTime(required=True)
    total_minor = _int(required=True)
    vat_minor = _int(required=True)
    lines = fields.List(fields.Nested(ReturnLinePayload), required=True,
                        validate=validate.Length(min=1))
    refunds = fields.List(fields.Nested(RefundPayload), required=True)


class ShiftOpenedPayload(ma.Schema):
    shift_id = fields.UUID(required=True)
    number = _int(required=True)
    cashier_id = _int(required=True)
    opened_at = fields.AwareDateTime(required=True)
    opening_float_minor = _int(required=True)


class ShiftClosedPayload(ma.Schema):
    shift_id = fields.UUID(required=True)
    closed_at = fields.AwareDateTime(required=True)
    closed_by = _int(required=True)
    expected_cash_minor = _int(required=True)
    counted_cash_minor = _int(required=True)
    cash_in_minor = _int(required=True)
    cash_out_minor = _int(required=True)


class CashMovedPayload(ma.Schema):
    movement_id = fields.UUID(required=True)
    shift_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    amount_minor = _int(required=True)
    reason = fields.String(required=True)
    user_id = _int(required=True)
    at = fields.AwareDateTime(required=True)


class OverrideGrantedPayload(ma.Schema):
    override_id = fields.UUID(required=True)
    manager_id = _int(required=True)
    cashier_id = _int(allow_none=True, load_default=None)
    action = fields.String(required=True)
    subject = fields.String(required=True)
    reason = fields.String(required=True)
    at = fields.AwareDateTime(required=True)


class CustomerFieldChange(ma.Schema):
    """One field a cashier changed offline: the value the node had and the value it set."""

    was = fields.String(required=True, allow_none=True, validate=validate.Length(max=200))
    now = fields.String(required=True, allow_none=True, validate=validate.Length(max=200))


class CustomerUpdatedPayload(ma.Schema):
    customer_id = fields.UUID(required=True)
    changes = fields.Dict(keys=fields.String(validate=validate.OneOf(("name", "phone",
                                                                        "email"))),
                          values=fields.Nested(CustomerFieldChange), required=True,
                          validate=validate.Length(min=1))
    user_id = _int(allow_none=True, load_default=None)
    at = fields.AwareDateTime(required=True)


EVENT_PAYLOADS: dict[str, type[ma.Schema]] = {
    "customer.updated": CustomerUpdatedPayload,
    "sale.completed": SaleCompletedPayload,
    "sale.voided": SaleVoidedPayload,
    "sale.post_voided": SalePostVoidedPayload,
    "return.completed": ReturnCompletedPayload,
    "shift.opened": ShiftOpenedPayload,
    "shift.closed": ShiftClosedPayload,
    "cash.moved": CashMovedPayload,
    "override.granted": OverrideGrantedPayload,
}
