"""marshmallow schemas of the till's API: what comes in, what goes out."""

from __future__ import annotations

from decimal import Decimal

import marshmallow as ma
from marshmallow import fields, validate

from kassa.pos_node.sale import cart

MAX_QUANTITY = 100000
MAX_AMOUNT = 10**12


def _three_decimals(value: Decimal) -> None:
    if value.is_finite() and (value * 1000) != (value * 1000).to_integral_value():
        raise ma.ValidationError("At most three decimals.")


def _two_decimals(value: Decimal) -> None:
    if value.is_finite() and (value * 100) != (value * 100).to_integral_value():
        raise ma.ValidationError("At most two decimals.")


def _between(low, high, low_inclusive=True):
    """A range check apispec does not render (it would print a Decimal bound as a string);
    the OpenAPI bounds are given as metadata instead."""
    def check(value: Decimal) -> None:
        if not value.is_finite() or value > high or value < low or (
                value == low and not low_inclusive):
            raise ma.ValidationError(
                f"Must be {'more than' if not low_inclusive else 'at least'} {low} "
                f"and at most {high}.")
    return check


def Quantity(**kw):  # noqa: N802 - a field factory reads like a field class
    return fields.Decimal(validate=[_between(0, MAX_QUANTITY, low_inclusive=False),
                                    _three_decimals],
                          metadata={"minimum": 0, "exclusiveMinimum": True,
                                    "maximum": MAX_QUANTITY}, **kw)


def Amount(minimum: int = 0, **kw):  # noqa: N802
    return fields.Integer(strict=True, validate=validate.Range(min=minimum, max=MAX_AMOUNT),
                          metadata={"description": "minor units (kopecks)"}, **kw)


def Percent(**kw):  # noqa: N802
    return fields.Decimal(validate=[_between(0, 100), _two_decimals],
                          metadata={"minimum": 0, "maximum": 100}, **kw)


class OverrideSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    pin = fields.String(required=True, validate=validate.Length(min=4, max=12))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class SignInSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    pin = fields.String(required=True, validate=validate.Length(min=1, max=12))


class UserOutSchema(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    role = fields.String()


class SignedInSchema(UserOutSchema):
    csrf = fields.String(metadata={"description": "send as X-CSRF-Token with every change "
                                                  "that has no JSON body"})


class OpenShiftSchema(ma.Schema):
    opening_float = Amount(required=True)


class CashMoveSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["in", "out"]))
    amount = Amount(1, required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class CloseShiftSchema(ma.Schema):
    counted_cash = Amount(required=True)


class LookupSchema(ma.Schema):
    """One of barcode, SKU/PLU or product id."""

    sku = fields.String(validate=validate.Length(min=1, max=64))
    barcode = fields.String(validate=validate.Length(min=1, max=32))
    product_id = fields.Integer(strict=True, validate=validate.Range(min=1))

    @ma.validates_schema
    def _one_key(self, data, **_kwargs):
        if sum(k in data for k in ("sku", "barcode", "product_id")) != 1:
            raise ma.ValidationError("Give exactly one of 'sku', 'barcode' or 'product_id'.",
                                     "_schema")


class LineInSchema(LookupSchema):
    quantity = Quantity(required=True)


class LineUpdateSchema(ma.Schema):
    quantity = Quantity()
    discount_percent = Percent()
    # A price override, in minor units: under the shelf price it is a discount (the limits
    # for discounts apply); over it, a store manager approves.
    unit_price_minor = Amount()
    override = fields.Nested(OverrideSchema)
    authorization_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "central's approval, for what lies beyond the store manager's limit"})


class ReceiptDiscountSchema(ma.Schema):
    discount_percent = Percent(required=True)
    override = fields.Nested(OverrideSchema)
    authorization_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "central's approval, for what lies beyond the store manager's limit"})


class VoidSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


class PostVoidSchema(VoidSchema):
    override = fields.Nested(OverrideSchema)  # always needed: without it, 403 with the reason


class TenderInSchema(ma.Schema):
    method = fields.String(required=True, validate=validate.OneOf(cart.PAYMENT_METHODS))
    amount = Amount(1, required=True)
    reference = fields.String(validate=validate.Length(max=64))


class CheckoutSchema(ma.Schema):
    payments = fields.List(fields.Nested(TenderInSchema), required=True,
                           validate=validate.Length(min=1, max=10))
    customer_id = fields.UUID(allow_none=True, load_default=None)
    receipt_email = fields.Email(allow_none=True, load_default=None,
                                 validate=validate.Length(max=200), metadata={
                                     "description": "the customer takes the receipt by e-mail: "
                                                    "through the fiscal register where the till "
                                                    "has one, else from central"})


class SaleInSchema(CheckoutSchema):
    lines = fields.List(fields.Nested(LineInSchema), required=True,
                        validate=validate.Length(min=1, max=500))


class ReturnLineInSchema(ma.Schema):
    line_no = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    quantity = Quantity(required=True)


RECEIPT_NO = validate.Regexp(r"^[A-Za-z0-9_.-]{1,32}-\d{8}\Z",
                             error="That is not a receipt number (till-00000123).")


class ReturnInSchema(ma.Schema):
    receipt_no = fields.String(required=True, validate=RECEIPT_NO)
    lines = fields.List(fields.Nested(ReturnLineInSchema), required=True,
                        validate=validate.Length(min=1, max=500))
    reason = fields.String(load_default="", validate=validate.Length(max=200))
    override = fields.Nested(OverrideSchema)
    authorization_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "central's approval, for what lies beyond the store manager's limit"})


class BlindReturnInSchema(ma.Schema):
    lines = fields.List(fields.Nested(LineInSchema), required=True,
                        validate=validate.Length(min=1, max=100))
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))
    override = fields.Nested(OverrideSchema)  # always needed: without it, 403 with the reason
    authorization_id = fields.UUID(load_default=None, allow_none=True, metadata={
        "description": "central's approval, for what lies beyond the store manager's limit"})


class SearchQuerySchema(ma.Schema):
    q = fields.String(required=True, validate=validate.Length(min=1, max=100))
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


class ReceiptQuerySchema(ma.Schema):
    receipt = fields.String(required=True, validate=RECEIPT_NO)


# --- out ---------------------------------------------------------------------------------------

def quantity_text(obj) -> str:
    milli = obj["quantity_milli"] if isinstance(obj, dict) else obj.quantity_milli
    return format(Decimal(milli) / 1000, "f").rstrip("0").rstrip(".") or "0"


class LineOutSchema(ma.Schema):
    line_no = fields.Integer()
    product_id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    unit = fields.String()
    quantity = fields.Function(quantity_text)
    unit_price_minor = fields.Integer()
    gross_minor = fields.Integer()
    promotion_id = fields.Integer(allow_none=True)
    line_discount_bp = fields.Integer()
    discount_minor = fields.Integer()
    amount_minor = fields.Integer()
    vat_rate_bp = fields.Integer()
    vat_minor = fields.Integer()
    points_earned = fields.Integer()
    offer_id = fields.Integer(allow_none=True, metadata={
        "description": "the personal offer the line was taken under"})
    offer_discount_bp = fields.Integer()


class OfferOutSchema(ma.Schema):
    """A personal offer the cashier makes the customer: the product at its offer price."""

    offer_id = fields.Integer()
    product_id = fields.Integer()
    sku = fields.String()
    name = fields.String()
    unit = fields.String()
    discount_bp = fields.Integer(metadata={"description": "1000 = 10 %"})
    price_minor = fields.Integer(metadata={"description": "the shelf price"})
    offer_price_minor = fields.Integer(metadata={"description": "the shelf price less the "
                                                 "offer's discount (before promotions)"})


class PaymentOutSchema(ma.Schema):
    method = fields.String()
    amount_minor = fields.Integer()
    tendered_minor = fields.Integer(allow_none=True)
    reference = fields.String(allow_none=True)


class SaleOutSchema(ma.Schema):
    id = fields.UUID()
    status = fields.String()
    receipt_no = fields.String(allow_none=True)
    started_at = fields.AwareDateTime()
    sold_at = fields.AwareDateTime(allow_none=True)
    receipt_discount_bp = fields.Integer()
    gross_minor = fields.Integer()
    discount_minor = fields.Integer()
    total_minor = fields.Integer()
    vat_minor = fields.Integer()
    change_minor = fields.Integer()
    lines = fields.List(fields.Nested(LineOutSchema))
    payments = fields.List(fields.Nested(PaymentOutSchema))
    customer_id = fields.UUID(allow_none=True)
    customer = fields.Dict(allow_none=True, metadata={
        "description": "the customer's account as GET /card shows it"})
    card_number = fields.String(allow_none=True)
    points_burned = fields.Integer()
    points_value_minor = fields.Integer()
    points_offline = fields.Boolean()
    offers = fields.List(fields.Nested(OfferOutSchema), metadata={
        "description": "the customer's personal offers for this cart, best first (none for a "
                       "customer in the hold-out group)"})
    card_record_written = fields.Boolean(allow_none=True, metadata={
        "description": "after checkout: the card's new record written (false: card pulled "
                       "out; the sale stands and the record is rewritten next time)"})
    fiscal_document_number = fields.Integer(allow_none=True)
    fiscal_sign = fields.String(allow_none=True)
    fiscal_drive_number = fields.String(allow_none=True)
    receipt_email = fields.String(allow_none=True)


class ReturnLineOutSchema(ma.Schema):
    line_no = fields.Integer()
    original_line_no = fields.Integer(allow_none=True)
    sku = fields.String()
    name = fields.String()
    quantity = fields.Function(quantity_text)
    amount_minor = fields.Integer()
    vat_rate_bp = fields.Integer()
    vat_minor = fields.Integer()
    points_reversed = fields.Integer()


class RefundOutSchema(ma.Schema):
    method = fields.String()
    amount_minor = fields.Integer()
    reference = fields.String(allow_none=True)


class ReturnOutSchema(ma.Schema):
    id = fields.UUID()
    return_no = fields.String()
    original_receipt_no = fields.String(allow_none=True)
    reason = fields.String()
    total_minor = fields.Integer()
    vat_minor = fields.Integer()
    created_at = fields.AwareDateTime()
    account_id = fields.UUID(allow_none=True)
    points_refunded = fields.Integer()
    lines = fields.List(fields.Nested(ReturnLineOutSchema))
    refunds = fields.List(fields.Nested(RefundOutSchema))
    fiscal_document_number = fields.Integer(allow_none=True)
    fiscal_sign = fields.String(allow_none=True)
    fiscal_drive_number = fields.String(allow_none=True)
