"""Event payloads, one typed record per kind, checked where they are applied (central).

The push request itself is validated with marshmallow at the endpoint (``protocol.py``); each
event's payload is then converted here with msgspec, which checks the same things (types, no
strings for numbers, aware timestamps, bounds, allowed values) about a hundred times faster
than marshmallow: payload loading was two thirds of central's ingest time (decisions #18).
Fields added to a kind after its first version carry defaults, so older nodes' events load.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta, Struct

Int = int
Positive = Annotated[int, Meta(ge=1)]
NonNegative = Annotated[int, Meta(ge=0)]
When = Annotated[datetime, Meta(tz=True)]
Text = Annotated[str, Meta(max_length=200)]
Code = Annotated[str, Meta(min_length=1, max_length=64)]
Method = Literal["cash", "card", "points"]


class Payload(Struct, forbid_unknown_fields=False):
    """Unknown fields (from a newer node) are ignored, not refused."""


class SaleLine(Payload):
    line_no: Positive
    product_id: Int
    sku: Code
    name: Text
    quantity_milli: Positive
    unit_price_minor: NonNegative
    amount_minor: Int
    vat_rate_bp: NonNegative
    vat_minor: Int
    gross_minor: Int | None = None
    discount_minor: Int = 0
    promotion_id: Int | None = None
    points_earned: NonNegative = 0
    offer_id: Int | None = None  # the personal offer the line was taken under


class LoyaltyUse(Payload):
    """A sale's loyalty: whose account earned, and the points that paid part of it (under
    central's hold, or accepted offline by the till when ``hold_id`` is None)."""

    account_id: uuid.UUID
    burned: NonNegative = 0
    hold_id: uuid.UUID | None = None
    card_number: Annotated[str, Meta(max_length=16)] | None = None
    # The loyalty rules' version the till earned under (None: a till from before versions).
    rules_version: NonNegative | None = None


class FiscalReceipt(Payload):
    """The fiscal register's receipt for a sale or return (54-FZ): document number, fiscal
    sign and fiscal drive number, which find it at the tax service."""

    document_number: Positive
    fiscal_sign: Annotated[str, Meta(min_length=1, max_length=20)]
    drive_number: Annotated[str, Meta(min_length=1, max_length=20)]


class Payment(Payload):
    method: Method
    amount_minor: Int
    tendered_minor: Int | None = None
    reference: Annotated[str, Meta(max_length=64)] | None = None


class SaleCompleted(Payload):
    sale_id: uuid.UUID
    receipt_no: Code
    store_id: Int
    sold_at: When
    total_minor: Int
    vat_minor: Int
    lines: Annotated[list[SaleLine], Meta(min_length=1)]
    payments: Annotated[list[Payment], Meta(min_length=1)]
    shift_id: uuid.UUID | None = None
    cashier_id: Int | None = None
    customer_id: uuid.UUID | None = None
    gross_minor: Int | None = None
    discount_minor: Int = 0
    loyalty: LoyaltyUse | None = None
    authorization_id: uuid.UUID | None = None  # central's, for a discount above the limit
    fiscal: FiscalReceipt | None = None  # None: the till has no fiscal register
    # The customer asked for the receipt by e-mail (sent by the register when ``fiscal``).
    receipt_email: Annotated[str, Meta(max_length=200)] | None = None


class SaleVoided(Payload):
    sale_id: uuid.UUID
    cashier_id: Int
    reason: str
    line_count: Int
    total_minor: Int
    at: When
    shift_id: uuid.UUID | None = None


class SalePostVoided(Payload):
    sale_id: uuid.UUID
    receipt_no: Code
    override_id: uuid.UUID
    reason: str
    at: When


class ReturnLine(Payload):
    line_no: Positive
    product_id: Int
    sku: Code
    name: Text
    quantity_milli: Positive
    amount_minor: NonNegative
    vat_rate_bp: Int
    vat_minor: Int
    original_line_no: Int | None = None
    points_reversed: NonNegative = 0


class Refund(Payload):
    method: Method
    amount_minor: NonNegative
    reference: Annotated[str, Meta(max_length=64)] | None = None


class ReturnCompleted(Payload):
    return_id: uuid.UUID
    return_no: Code
    shift_id: uuid.UUID
    cashier_id: Int
    returned_at: When
    total_minor: Int
    vat_minor: Int
    lines: Annotated[list[ReturnLine], Meta(min_length=1)]
    refunds: list[Refund]
    original_sale_id: uuid.UUID | None = None
    original_receipt_no: Annotated[str, Meta(max_length=64)] | None = None
    override_id: uuid.UUID | None = None
    reason: Text = ""
    account_id: uuid.UUID | None = None
    points_refunded: NonNegative = 0
    authorization_id: uuid.UUID | None = None  # central's, for a refund above the limit
    fiscal: FiscalReceipt | None = None


class ShiftOpened(Payload):
    shift_id: uuid.UUID
    number: Int
    cashier_id: Int
    opened_at: When
    opening_float_minor: Int


class ShiftClosed(Payload):
    shift_id: uuid.UUID
    closed_at: When
    closed_by: Int
    expected_cash_minor: Int
    counted_cash_minor: Int
    cash_in_minor: Int
    cash_out_minor: Int


class CashMoved(Payload):
    movement_id: uuid.UUID
    shift_id: uuid.UUID
    kind: Literal["in", "out"]
    amount_minor: Int
    reason: str
    user_id: Int
    at: When


class OverrideGranted(Payload):
    override_id: uuid.UUID
    manager_id: Int
    action: str
    subject: str
    reason: str
    at: When
    cashier_id: Int | None = None


class ComplaintLogged(Payload):
    """A customer's complaint noted at the till; central opens a task for the store."""

    complaint_id: uuid.UUID
    text: Annotated[str, Meta(min_length=1, max_length=2000)]
    at: When
    customer_id: uuid.UUID | None = None
    user_id: Int | None = None


class FieldChange(Payload):
    """One field a cashier changed offline: the value the node had and the value it set."""

    was: Text | None
    now: Text | None


class CustomerUpdated(Payload):
    customer_id: uuid.UUID
    changes: Annotated[dict[Literal["name", "phone", "email"], FieldChange], Meta(min_length=1)]
    at: When
    user_id: Int | None = None


class ConsentGiven(Payload):
    channel: Literal["sms", "email", "phone", "offers"]
    granted: bool


class CustomerRegistered(Payload):
    """A new member signed up at the till, under ids the till made: the customer, their
    loyalty account, the consents they gave, and the card from the store's stock the till gave
    them (None: none yet). Central judges the card and the duplicates (``till_members``)."""

    customer_id: uuid.UUID
    account_id: uuid.UUID
    name: Annotated[str, Meta(min_length=1, max_length=200)]
    phone: Annotated[str, Meta(max_length=32)] | None
    email: Text | None
    consents: Annotated[list[ConsentGiven], Meta(max_length=4)]
    card_number: Annotated[str, Meta(pattern=r"^[0-9]{16}$")] | None
    user_id: Int
    at: When


class OfferShown(Payload):
    """A personal offer a cart showed its customer (held out: would have shown), and how the
    visit ended: the sale it was paid in (None: the cart was voided) and whether the offer was
    taken (held out: the product bought anyway, at its price)."""

    exposure_id: uuid.UUID
    offer_id: Int
    customer_id: uuid.UUID
    held_out: bool
    at: When
    sale_id: uuid.UUID | None = None
    accepted: bool = False


EVENT_PAYLOADS: dict[str, type[Payload]] = {
    "offer.shown": OfferShown,
    "customer.updated": CustomerUpdated,
    "customer.registered": CustomerRegistered,
    "sale.completed": SaleCompleted,
    "sale.voided": SaleVoided,
    "sale.post_voided": SalePostVoided,
    "return.completed": ReturnCompleted,
    "shift.opened": ShiftOpened,
    "shift.closed": ShiftClosed,
    "cash.moved": CashMoved,
    "override.granted": OverrideGranted,
    "complaint.logged": ComplaintLogged,
}


class PayloadError(ValueError):
    """The payload does not match its kind; the message names the field."""


def load(kind: str, document: object) -> dict[str, Any]:
    """Check ``document`` against its kind and return it as plain dicts and lists holding
    UUIDs and aware datetimes (what the handlers at central work with)."""
    try:
        record = msgspec.convert(document, EVENT_PAYLOADS[kind])
    except msgspec.ValidationError as err:
        raise PayloadError(str(err)) from None
    # Every kind is a Struct, which msgspec turns into a dict.
    plain: dict[str, Any] = msgspec.to_builtins(record, builtin_types=(uuid.UUID, datetime))
    return plain


def jsonable(value: object) -> Any:
    """The JSON form of an event document: ids as strings, times as ISO 8601, which ``load``
    reads back (a test holds the two together). Any: the result has the shape of ``value``."""
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value
