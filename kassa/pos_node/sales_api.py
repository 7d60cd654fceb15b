"""The till's sale endpoints: parse with marshmallow, call one service function, serialize."""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.common.money import quantity_to_milli
from kassa.pos_node import cart
from kassa.pos_node.sales import LineRequest, complete_sale, get_sale

bp = Blueprint("sales", __name__, url_prefix="/api/v1/sales", description="Selling at the till")

MAX_QUANTITY = Decimal("100000")


class LineInSchema(ma.Schema):
    sku = fields.String(validate=validate.Length(min=1, max=64))
    barcode = fields.String(validate=validate.Length(min=1, max=32))
    quantity = fields.Decimal(required=True, validate=validate.Range(
        min=0, min_inclusive=False, max=MAX_QUANTITY))

    @ma.validates_schema
    def _one_key(self, data, **_kwargs):
        if ("sku" in data) == ("barcode" in data):
            raise ma.ValidationError("Give exactly one of 'sku' or 'barcode'.", "_schema")
        q = data.get("quantity")
        if q is not None and q.is_finite() and (q * 1000) != (q * 1000).to_integral_value():
            raise ma.ValidationError("At most three decimals.", "quantity")


class TenderInSchema(ma.Schema):
    method = fields.String(required=True, validate=validate.OneOf(cart.PAYMENT_METHODS))
    amount = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=1, max=10**12),
                            metadata={"description": "minor units (kopecks)"})
    reference = fields.String(validate=validate.Length(max=64))


class SaleInSchema(ma.Schema):
    lines = fields.List(fields.Nested(LineInSchema), required=True,
                        validate=validate.Length(min=1, max=500))
    payments = fields.List(fields.Nested(TenderInSchema), required=True,
                           validate=validate.Length(min=1, max=10))
    customer_id = fields.UUID(allow_none=True, load_default=None)


class LineOutSchema(ma.Schema):
    line_no = fields.Integer()
    sku = fields.String()
    name = fields.String()
    quantity = fields.Function(lambda ln: str(Decimal(ln.quantity_milli) / 1000))
    unit_price_minor = fields.Integer()
    amount_minor = fields.Integer()
    vat_rate_bp = fields.Integer()
    vat_minor = fields.Integer()


class PaymentOutSchema(ma.Schema):
    method = fields.String()
    amount_minor = fields.Integer()
    tendered_minor = fields.Integer(allow_none=True)
    reference = fields.String(allow_none=True)


class SaleOutSchema(ma.Schema):
    id = fields.UUID()
    receipt_no = fields.String()
    sold_at = fields.AwareDateTime()
    total_minor = fields.Integer()
    vat_minor = fields.Integer()
    change_minor = fields.Integer()
    lines = fields.List(fields.Nested(LineOutSchema))
    payments = fields.List(fields.Nested(PaymentOutSchema))


@bp.route("")
class Sales(MethodView):
    @bp.arguments(SaleInSchema)
    @bp.response(201, SaleOutSchema)
    def post(self, body):
        """Complete a sale: price the lines from the local replica, take payment, queue it up."""
        lines = [LineRequest(quantity_to_milli(ln["quantity"]), ln.get("sku"), ln.get("barcode"))
                 for ln in body["lines"]]
        tenders = [cart.Tender(t["method"], t["amount"], t.get("reference"))
                   for t in body["payments"]]
        with current_app.extensions["kassa_db"].transaction() as session:
            return complete_sale(session, lines, tenders, body["customer_id"])


@bp.route("/<uuid:sale_id>")
class SaleById(MethodView):
    @bp.response(200, SaleOutSchema)
    def get(self, sale_id):
        """A sale made at this node."""
        with current_app.extensions["kassa_db"].transaction() as session:
            return get_sale(session, sale_id)
