"""Receipts: HTML for the till's printer and a PDF to download, from one receipt model; the
PDF comes from a template like every printed document (``kassa.common.pdfdocs``). Both are in
the till's store's language and currency.

A receipt is what the customer keeps: the store's name and address, the moment in a form no
reader can misread, the cashier's name (not their login), the customer masked (``Anna P.,
card •••• 7659``), points paid as points and their value, points earned and the balance after
the sale. A return prints the same way, with the receipt it returns goods from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from uuid import UUID
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kassa.common.errors import NotFound
from kassa.common.i18n import (
    DEFAULT_CURRENCY,
    DEFAULT_LOCALE,
    format_printed_moment,
    translations,
)
from kassa.common.pdfdocs import render_pdf
from kassa.pos_node.models import (
    Customer,
    LoyaltyAccount,
    NodeIdentity,
    Return,
    Sale,
    Store,
    User,
)
from kassa.pos_node.sale.sales import sale_by_receipt


@dataclass(frozen=True)
class Line:
    name: str
    quantity_milli: int
    unit: str
    unit_price_minor: int | None  # a return's line has its amount only
    discount_minor: int
    amount_minor: int
    vat_rate_bp: int
    vat_minor: int


@dataclass(frozen=True)
class Tender:
    method: str
    amount_minor: int        # what it paid (or what was refunded)
    shown_minor: int         # what the receipt prints: cash tendered, or the amount
    reference: str | None    # a card terminal's reference; never a points hold's id


@dataclass(frozen=True)
class ReceiptView:
    number: str
    kind: str                # "sale" or "return"
    status: str              # completed, post_voided (a sale); completed (a return)
    at: datetime
    store_name: str
    store_address: str
    node_id: str
    cashier: str
    lines: list[Line]
    tenders: list[Tender]
    total_minor: int
    discount_minor: int = 0
    change_minor: int = 0
    customer_name: str | None = None     # "Anna P."
    card_last4: str | None = None
    points_paid: int = 0
    points_earned: int = 0               # a return: points taken back
    points_balance: int | None = None    # after the sale, as the till counted it
    original_receipt_no: str | None = None
    reason: str = ""
    # The fiscal register's receipt (None: the till has none: not a fiscal document).
    fiscal_document_number: int | None = None
    fiscal_sign: str | None = None
    fiscal_drive_number: str | None = None
    receipt_email: str | None = None     # the customer took it by e-mail too
    locale: str = DEFAULT_LOCALE
    currency: str = DEFAULT_CURRENCY
    timezone: str = "UTC"

    @property
    def at_local(self) -> datetime:
        """When it happened, on the store's wall clock (what a receipt prints)."""
        return self.at.astimezone(ZoneInfo(self.timezone))

    @property
    def printed_at(self) -> str:
        return format_printed_moment(self.at_local, self.locale)

    @property
    def vat_by_rate(self) -> list[tuple[int, int, int]]:
        rates: dict[int, list[int]] = {}
        for ln in self.lines:
            gross, vat = rates.setdefault(ln.vat_rate_bp, [0, 0])
            rates[ln.vat_rate_bp] = [gross + ln.amount_minor, vat + ln.vat_minor]
        return [(rate, g, v) for rate, (g, v) in sorted(rates.items())]


def masked_name(full_name: str) -> str:
    """``Anna Petrova`` -> ``Anna P.``: enough for the customer to know the receipt is theirs,
    not enough for a stranger who finds it."""
    words = full_name.split()
    if len(words) < 2:
        return words[0] if words else ""
    return f"{words[0]} {words[-1][0]}."


def load(session: Session, number: str) -> ReceiptView:
    """The receipt of a completed sale, or of a return, by its number."""
    sale = sale_by_receipt(session, number)
    if sale is not None and sale.status != "open":
        return _sale_view(session, sale)
    ret = session.scalars(select(Return).where(Return.return_no == number)
                          .options(selectinload(Return.lines),
                                   selectinload(Return.refunds))).first()
    if ret is not None:
        return _return_view(session, ret)
    raise NotFound("No receipt %(receipt_no)s at this till.", code="receipt_not_found",
                   receipt_no=number)


def _place(session: Session) -> dict:
    node = session.scalars(select(NodeIdentity)).one()
    store = session.get(Store, node.store_id)
    if store is None:
        return {"node_id": node.node_id, "store_name": f"Store {node.store_id}",
                "store_address": ""}
    return {"node_id": node.node_id, "store_name": store.name, "store_address": store.address,
            "locale": store.locale, "currency": store.currency, "timezone": store.timezone}


def _cashier(session: Session, user_id: int | None) -> str:
    user = session.get(User, user_id) if user_id else None
    return (user.full_name or user.username) if user else ""


def _customer(session: Session, customer_id: UUID | None, card_number: str | None) -> dict:
    customer = session.get(Customer, customer_id) if customer_id else None
    if customer is None:
        return {}
    card = card_number or customer.card_number
    return {"customer_name": masked_name(customer.name), "card_last4": card[-4:] if card else None}


def _sale_view(session: Session, sale: Sale) -> ReceiptView:
    # Only a completed (or post-voided) sale has a receipt, and it has a time.
    assert sale.sold_at is not None and sale.receipt_no is not None
    lines = [Line(ln.name, ln.quantity_milli, ln.unit, ln.unit_price_minor, ln.discount_minor,
                  ln.amount_minor, ln.vat_rate_bp, ln.vat_minor) for ln in sale.lines]
    tenders = [Tender(p.method, p.amount_minor, p.tendered_minor or p.amount_minor,
                      None if p.method == "points" else p.reference) for p in sale.payments]
    return ReceiptView(
        sale.receipt_no, "sale", sale.status, sale.sold_at,
        cashier=_cashier(session, sale.cashier_id),
        lines=lines, tenders=tenders, total_minor=sale.total_minor,
        discount_minor=sale.discount_minor, change_minor=sale.change_minor,
        points_paid=sale.points_burned,
        points_earned=sum(ln.points_earned for ln in sale.lines),
        points_balance=sale.points_balance_after, receipt_email=sale.receipt_email,
        **_fiscal(sale), **_customer(session, sale.customer_id, sale.card_number),
        **_place(session))


def _return_view(session: Session, ret: Return) -> ReceiptView:
    lines = [Line(ln.name, ln.quantity_milli, "", None, 0, ln.amount_minor, ln.vat_rate_bp,
                  ln.vat_minor) for ln in ret.lines]
    tenders = [Tender(r.method, r.amount_minor, r.amount_minor, None) for r in ret.refunds]
    customer: dict = {}
    if ret.account_id is not None:
        account = session.get(LoyaltyAccount, ret.account_id)
        if account is not None:
            customer = _customer(session, account.customer_id, None)
    return ReceiptView(
        ret.return_no, "return", "completed", ret.created_at,
        cashier=_cashier(session, ret.cashier_id), lines=lines, tenders=tenders,
        total_minor=ret.total_minor, points_paid=ret.points_refunded,
        points_earned=sum(ln.points_reversed for ln in ret.lines),
        original_receipt_no=ret.original_receipt_no, reason=ret.reason,
        **_fiscal(ret), **customer, **_place(session))


def _fiscal(fact: Sale | Return) -> dict:
    return {"fiscal_document_number": fact.fiscal_document_number,
            "fiscal_sign": fact.fiscal_sign, "fiscal_drive_number": fact.fiscal_drive_number}


def method_names(locale: str) -> dict[str, str]:
    """How the receipt names the payment methods, in ``locale``."""
    _ = translations(locale).gettext
    return {"cash": _("Cash"), "card": _("Card"), "points": _("Points")}


def qty(line, locale: str = DEFAULT_LOCALE) -> str:
    """A line's quantity as the locale writes it, with its unit when weighed: ``0.35 kg``."""
    q = format_decimal(Decimal(line.quantity_milli) / 1000, format="#,##0.###", locale=locale)
    return translations(locale).gettext("%(quantity)s kg") % {"quantity": q} \
        if line.unit == "kg" else q


def percent(rate_bp: int, locale: str = DEFAULT_LOCALE) -> str:
    """A VAT rate in basis points as a number of percent: ``20``, ``12.5``."""
    return format_decimal(Decimal(rate_bp) / 100, format="#,##0.##", locale=locale)


def points(n: int, locale: str = DEFAULT_LOCALE) -> str:
    """``150 points`` / ``150 баллов``, with the locale's plural."""
    return translations(locale).ngettext("%(num)s point", "%(num)s points", n) % {
        "num": format_decimal(n, locale=locale)}


def helpers(view: ReceiptView) -> dict:
    """What both receipt templates use beside the view, in the receipt's language."""
    return {"qty": partial(qty, locale=view.locale),
            "percent": partial(percent, locale=view.locale),
            "points": partial(points, locale=view.locale),
            "methods": method_names(view.locale)}


def pdf(view: ReceiptView) -> bytes:
    """The receipt as a PDF on 80 mm paper, from its template (``doc_templates/receipt.html``),
    in the store's language and currency."""
    title = translations(view.locale).gettext("Receipt %(number)s") % {"number": view.number}
    return render_pdf("receipt.html", title=title,
                      page=(80, 150 + 12 * len(view.lines)), margin=4, font_size=8,
                      locale=view.locale, currency=view.currency, view=view, **helpers(view))
