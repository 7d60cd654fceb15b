"""Sale arithmetic, pure: promotions, discounts, line amounts, VAT and settling payments.

No database or web import: the till's service layer reads items, promotions and limits from
the replica and hands plain values here. Prices include VAT (as on a Russian shelf label);
amounts are integer minor units, quantities integer thousandths.

Order of discounts on a line: the best promotion for the product, then a personal offer the
customer took on what is left, then the cashier's line discount on what is left after that,
then the line's share of the receipt discount. The receipt discount is split over lines in
proportion to their amounts, remainders to the largest, so the lines always add up to the
total to the kopeck. Which personal offers a cart gets is ``choose_offers``, also pure.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

from kassa.common.errors import KassaError
from kassa.common.money import (
    MILLI,
    line_amount,
    round_half_up,
    split_proportionally,
    vat_included,
)

PAYMENT_METHODS = ("cash", "card", "points")
FULL_BP = 10000


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
class Promotion:
    """An active promotion: ``percent`` (percent_bp off), ``amount`` (amount_minor off per
    unit), or ``n_for_m`` (every n pieces, pay for m)."""

    id: int
    kind: str
    product_ids: frozenset[int]
    percent_bp: int = 0
    amount_minor: int = 0
    n: int = 0
    m: int = 0

    def discount(self, item: Item, qty_milli: int, gross: int) -> int:
        if item.product_id not in self.product_ids:
            return 0
        if self.kind == "percent":
            off = round_half_up(gross * self.percent_bp, FULL_BP)
        elif self.kind == "amount":
            off = round_half_up(self.amount_minor * qty_milli, MILLI)
        elif self.kind == "n_for_m" and item.unit != "kg" and self.n > self.m >= 0:
            free_units = (qty_milli // MILLI // self.n) * (self.n - self.m)
            off = free_units * item.unit_price_minor
        else:
            off = 0
        return max(0, min(off, gross))


@dataclass(frozen=True)
class Entry:
    """A cart line as the cashier built it; ``offer_id``: the personal offer the line was
    taken under, at ``offer_discount_bp`` off (a company offer: no cashier's limit applies)."""

    item: Item
    quantity_milli: int
    line_discount_bp: int = 0
    offer_id: int | None = None
    offer_discount_bp: int = 0


@dataclass(frozen=True)
class Line:
    line_no: int
    item: Item
    quantity_milli: int
    gross_minor: int  # unit price × quantity
    promotion_id: int | None
    promo_discount_minor: int
    line_discount_bp: int
    manual_discount_minor: int  # line discount + share of the receipt discount
    amount_minor: int  # what the customer pays for the line
    vat_minor: int
    offer_id: int | None = None
    offer_discount_minor: int = 0

    @property
    def discount_minor(self) -> int:
        return self.gross_minor - self.amount_minor


@dataclass(frozen=True)
class PricedSale:
    lines: tuple[Line, ...]
    total_minor: int
    vat_by_rate: dict[int, int]  # rate_bp -> VAT contained in that rate's lines
    receipt_discount_bp: int = 0
    receipt_discount_minor: int = 0

    @property
    def vat_minor(self) -> int:
        return sum(self.vat_by_rate.values())

    @property
    def gross_minor(self) -> int:
        return sum(ln.gross_minor for ln in self.lines)

    @property
    def discount_minor(self) -> int:
        return self.gross_minor - self.total_minor


def check_quantity(item: Item, qty: int, line_no: int) -> None:
    if qty <= 0:
        raise KassaError("Line %(line_no)s: quantity must be positive.", code="bad_quantity",
                         status=422, line_no=line_no)
    if item.unit != "kg" and qty % MILLI:
        raise KassaError("Line %(line_no)s: %(name)s is sold by the piece, not by weight.",
                         code="bad_quantity", status=422, line_no=line_no, name=item.name)


def _bad_bp(bp: int) -> bool:
    return not 0 <= bp <= FULL_BP


def price(entries: list[Entry], promotions: Sequence[Promotion] = (),
          receipt_discount_bp: int = 0, *, allow_empty: bool = False) -> PricedSale:
    """Price a cart. Refuses an empty cart unless ``allow_empty`` (an open cart may be)."""
    if not entries and not allow_empty:
        raise KassaError("A sale needs at least one line.", code="empty_sale", status=422)
    if _bad_bp(receipt_discount_bp):
        raise KassaError("A receipt discount must be between 0 and 100 %.",
                         code="bad_discount", status=422)
    staged = []
    for n, e in enumerate(entries, start=1):
        check_quantity(e.item, e.quantity_milli, n)
        if _bad_bp(e.line_discount_bp):
            raise KassaError("A line discount must be between 0 and 100 %.",
                             code="bad_discount", status=422)
        if _bad_bp(e.offer_discount_bp):
            raise KassaError("An offer's discount must be between 0 and 100 %.",
                             code="bad_discount", status=422)
        gross = line_amount(e.item.unit_price_minor, e.quantity_milli)
        best, promo_off = None, 0
        for promo in promotions:
            off = promo.discount(e.item, e.quantity_milli, gross)
            if off > promo_off:
                best, promo_off = promo, off
        after_promo = gross - promo_off
        offer_off = (round_half_up(after_promo * e.offer_discount_bp, FULL_BP)
                     if e.offer_id is not None else 0)
        line_off = round_half_up((after_promo - offer_off) * e.line_discount_bp, FULL_BP)
        staged.append((n, e, gross, best, promo_off, line_off,
                       after_promo - offer_off - line_off, offer_off))
    subtotal = sum(s[6] for s in staged)
    receipt_off = round_half_up(subtotal * receipt_discount_bp, FULL_BP)
    shares = split_proportionally(receipt_off, [s[6] for s in staged])
    lines = []
    gross_by_rate: dict[int, int] = defaultdict(int)
    for (n, e, gross, best, promo_off, line_off, net, offer_off), share in zip(
            staged, shares, strict=True):
        amount = net - share
        lines.append(Line(n, e.item, e.quantity_milli, gross, best.id if best else None,
                          promo_off, e.line_discount_bp, line_off + share, amount,
                          vat_included(amount, e.item.vat_rate_bp), e.offer_id, offer_off))
        gross_by_rate[e.item.vat_rate_bp] += amount
    vat = {rate: vat_included(total, rate) for rate, total in sorted(gross_by_rate.items())}
    return PricedSale(tuple(lines), sum(gross_by_rate.values()), vat, receipt_discount_bp,
                      receipt_off)


def price_lines(entries: list[tuple[Item, int]]) -> PricedSale:
    """Price plain ``(item, quantity_milli)`` pairs with no promotion or discount."""
    return price([Entry(item, qty) for item, qty in entries])


# --- personal offers --------------------------------------------------------------------------

MAX_OFFERS = 2  # a cashier reads out two offers at most


@dataclass(frozen=True)
class OfferRule:
    """A personal offer: ``product_id`` at ``discount_bp`` off, when the cart holds every
    trigger product (none: as soon as the customer is known), for customers of ``segments``
    (None: any segment)."""

    id: int
    product_id: int
    trigger_product_ids: frozenset[int]
    discount_bp: int
    segments: frozenset[str] | None = None


@dataclass(frozen=True)
class OfferProfile:
    """What central lets the till offer one customer."""

    segment: str | None
    offers_ok: bool  # consented to personal offers
    held_out: bool  # in the hold-out group: offered nothing, but the offers are recorded


def choose_offers(rules: list[OfferRule], profile: OfferProfile | None,
                  in_cart: set[int]) -> list[OfferRule]:
    """Every offer that fits the cart, best first (the largest discount, then the lowest id;
    one per offered product): the customer consented, their segment is one the offer is for,
    every trigger product is in the cart and the offered product is not (once it is, the offer
    is taken or was never needed). The caller shows the first ``MAX_OFFERS`` it can sell; to a
    held-out customer it shows none, and records them all the same."""
    if profile is None or not profile.offers_ok:
        return []
    fits = sorted((r for r in rules
                   if r.product_id not in in_cart and offer_applies(r, profile, in_cart)),
                  key=lambda r: (-r.discount_bp, r.id))
    chosen, products = [], set()
    for rule in fits:
        if rule.product_id not in products:
            chosen.append(rule)
            products.add(rule.product_id)
    return chosen


def offer_applies(rule: OfferRule, profile: OfferProfile | None, in_cart: set[int]) -> bool:
    """The offer holds for this customer and cart: they consented, their segment is one the
    offer is for, every trigger product is in the cart. ``choose_offers`` shows it while its
    product is not in the cart yet; a line taken under it keeps it only while it holds."""
    return (profile is not None and profile.offers_ok and rule.trigger_product_ids <= in_cart
            and (rule.segments is None or profile.segment in rule.segments))


# One unit per offer: an offer is "this product at 10 % off", once per visit, not a price for
# as many as the customer carries. The line taken under it holds one piece (of a weighed
# product, the one weighing); more of the product is a line of its own at the shelf price.
def offer_quantity(unit: str, quantity_milli: int) -> int:
    """How much of ``quantity_milli`` a line under an offer holds; the rest is the shelf's."""
    return quantity_milli if unit == "kg" else min(quantity_milli, MILLI)


def offer_price(unit_price_minor: int, discount_bp: int) -> int:
    """The shelf price less an offer's discount (what the offer says, before promotions)."""
    return unit_price_minor - round_half_up(unit_price_minor * discount_bp, FULL_BP)


# --- payments --------------------------------------------------------------------------------

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
class Settlement:
    payments: tuple[AppliedPayment, ...]
    change_minor: int


def settle(total_minor: int, tenders: list[Tender]) -> Settlement:
    """Apply tenders to the total. Non-cash may not exceed what is due; change comes from cash."""
    if not tenders:
        raise KassaError("A sale needs a payment.", code="payment_missing", status=422)
    if any(t.method not in PAYMENT_METHODS for t in tenders):
        raise KassaError("Unknown payment method.", code="bad_payment", status=422)
    if any(t.amount_minor <= 0 for t in tenders):
        raise KassaError("Payment amounts must be positive.", code="bad_payment", status=422)
    non_cash = sum(t.amount_minor for t in tenders if t.method != "cash")
    cash = sum(t.amount_minor for t in tenders if t.method == "cash")
    if non_cash > total_minor:
        raise KassaError("Card and points payments exceed the amount due.",
                         code="overpayment", status=422)
    if non_cash + cash < total_minor:
        raise KassaError("Payments fall short of the total by %(short)s.",
                         code="payment_short", status=422, short=total_minor - non_cash - cash)
    change = non_cash + cash - total_minor
    cash_due = total_minor - non_cash
    applied = []
    for t in tenders:
        if t.method == "cash":
            # All cash tenders together cover cash_due; any change is taken from them in order.
            take = min(t.amount_minor, cash_due)
            cash_due -= take
            if take:
                applied.append(AppliedPayment("cash", take, t.amount_minor, None))
        else:
            applied.append(AppliedPayment(t.method, t.amount_minor, None, t.reference))
    return Settlement(tuple(applied), change)


# --- refunds ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Refund:
    method: str
    amount_minor: int
    reference: str | None = None


@dataclass
class PaidBy:
    """What a sale was paid with, less what earlier returns already refunded, per method."""

    remaining: dict[str, int] = field(default_factory=dict)
    references: dict[str, str | None] = field(default_factory=dict)


def allocate_refund(amount_minor: int, paid: PaidBy) -> tuple[Refund, ...]:
    """Refund by the original payment types: card and points first (back where they came
    from, up to what each still holds), then cash. Never more than was paid in all."""
    if amount_minor > sum(paid.remaining.values()):
        raise KassaError("The refund exceeds what the sale was paid.", code="refund_exceeds_paid",
                         status=422)
    refunds, left = [], amount_minor
    for method in ("card", "points", "cash"):
        take = min(left, paid.remaining.get(method, 0))
        if take > 0:
            refunds.append(Refund(method, take, paid.references.get(method)))
            left -= take
    return tuple(refunds)
