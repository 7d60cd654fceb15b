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
    high_water = fields.Integer(required=True)
    applied = fields.Integer(required=True)


class ChangesQuerySchema(ma.Schema):
    since = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=MAX_PAGE))


class ChangeSchema(ma.Schema):
    version = fields.Integer(required=True)
    entity = fields.String(required=True)
    key = fields.String(required=True)
    deleted = fields.Boolean(required=True)
    data = fields.Dict(allow_none=True)


class ChangesPageSchema(ma.Schema):
    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    next_since = fields.Integer(required=True)
    more = fields.Boolean(required=True)


# --- event payloads --------------------------------------------------------------------------

class SaleLinePayload(ma.Schema):
    line_no = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    product_id = fields.Integer(required=True, strict=True)
    sku = fields.String(required=True)
    name = fields.String(required=True)
    quantity_milli = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    unit_price_minor = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    amount_minor = fields.Integer(required=True, strict=True)
    vat_rate_bp = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    vat_minor = fields.Integer(required=True, strict=True)


class PaymentPayload(ma.Schema):
    method = fields.String(required=True, validate=validate.OneOf(["cash", "card"]))
    amount_minor = fields.Integer(required=True, strict=True)
    tendered_minor = fields.Integer(strict=True, allow_none=True, load_default=None)
    reference = fields.String(allow_none=True, load_default=None)


class SaleCompletedPayload(ma.Schema):
    sale_id = fields.UUID(required=True)
    receipt_no = fields.String(required=True, validate=validate.Length(min=1, max=64))
    store_id = fields.Integer(required=True, strict=True)
    sold_at = fields.AwareDateTime(required=True)
    customer_id = fields.UUID(allow_none=True, load_default=None)
    total_minor = fields.Integer(required=True, strict=True)
    vat_minor = fields.Integer(required=True, strict=True)
    lines = fields.List(fields.Nested(SaleLinePayload), required=True,
                        validate=validate.Length(min=1))
    payments = fields.List(fields.Nested(PaymentPayload), required=True,
                           validate=validate.Length(min=1))


EVENT_PAYLOADS: dict[str, type[ma.Schema]] = {
    "sale.completed": SaleCompletedPayload,
}
