"""Sale arithmetic, pure: line amounts, the VAT breakdown and settling payments with change.

No database or web import: the till's service layer prices items from the replica, then hands
plain values here. Prices include VAT (as on a Russian shelf label); amounts are minor units.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from kassa.common.errors import KassaError
from kassa.common.money import MILLI, line_amount, vat_included

PAYMENT_METHODS = ("cash", "card")


@dataclass(frozen=True)
class Item:
    """What the replica knows about a product at the moment it is sold."""

    product_id: int
    sku: str
    name: str
    unit: str  # "pcs" or "kg"
    vat_rate_bp: int
    unit_price_minor: int


@dataclass(frozen=True)
class Line:
    line_no: int
    item: Item
    quantity_milli: int
    amount_minor: int
    vat_minor: int


@dataclass(frozen=True)
class Tender:
    method: str
    amount_minor: int
    reference: str | None = None


@dataclass(frozen=True)
class AppliedPayment:
    method: str
    amount_minor: int  # what goes towards the sale
    tendered_minor: int | None  # cash handed over, when different
    reference: str | None


@dataclass(frozen=True)
class PricedSale:
    lines: tuple[Line, ...]
    total_minor: int
    vat_by_rate: dict[int, int]  # rate_bp -> VAT contained in that rate's lines

    @property
    def vat_minor(self) -> int:
        return sum(self.vat_by_rate.values())


@dataclass(frozen=True)
class Settlement:
    payments: tuple[AppliedPayment, ...]
    change_minor: int


def price_lines(entries: list[tuple[Item, int]]) -> PricedSale:
    """Price ``(item, quantity_milli)`` pairs; refuses empty sales and impossible quantities."""
    if not entries:
        raise KassaError("A sale needs at least one line.", code="empty_sale", status=422)
    lines = []
    gross_by_rate: dict[int, int] = defaultdict(int)
    for n, (item, qty) in enumerate(entries, start=1):
        if qty <= 0:
            raise KassaError(f"Line {n}: quantity must be positive.", code="bad_quantity",
                             status=422)
        if item.unit != "kg" and qty % MILLI:
            raise KassaError(f"Line {n}: {item.name} is sold by the piece, not by weight.",
                             code="bad_quantity", status=422)
        amount = line_amount(item.unit_price_minor, qty)
        lines.append(Line(n, item, qty, amount, vat_included(amount, item.vat_rate_bp)))
        gross_by_rate[item.vat_rate_bp] += amount
    vat = {rate: vat_included(gross, rate) for rate, gross in sorted(gross_by_rate.items())}
    return PricedSale(tuple(lines), sum(gross_by_rate.values()), vat)


def settle(total_minor: int, tenders: list[Tender]) -> Settlement:
    """Apply tenders to the total. Non-cash may not exceed what is due; change comes from cash."""
    if not tenders:
        raise KassaError("A sale needs a payment.", code="payment_missing", status=422)
    non_cash = sum(t.amount_minor for t in tenders if t.method != "cash")
    cash = sum(t.amount_minor for t in tenders if t.method == "cash")
    if any(t.amount_minor <= 0 for t in tenders):
        raise KassaError("Payment amounts must be positive.", code="bad_payment", status=422)
    if non_cash > total_minor:
        raise KassaError("Card payments exceed the amount due.", code="overpayment", status=422)
    if non_cash + cash < total_minor:
        raise KassaError(f"Payments fall short of the total by {total_minor - non_cash - cash}.",
                         code="payment_short", status=422)
    change = non_cash + cash - total_minor
    cash_due = total_minor - non_cash
    applied = []
    for t in tenders:
        if t.method == "cash":
            # All cash tenders together cover cash_due; any change is taken from them in order.
            take = min(t.amount_minor, cash_due)
            cash_due -= take
            applied.append(AppliedPayment("cash", take, t.amount_minor, None))
        else:
            applied.append(AppliedPayment(t.method, t.amount_minor, None, t.reference))
    return Settlement(tuple(p for p in applied if p.amount_minor > 0 or p.method != "cash"),
                      change)
