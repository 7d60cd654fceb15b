"""Receipts: HTML for the till's printer and a PDF to download, from one receipt model; the
PDF comes from a template like every printed document (``kassa.common.pdfdocs``). Both are in
the till's store's language and currency."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from zoneinfo import ZoneInfo

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.errors import NotFound
from kassa.common.i18n import DEFAULT_CURRENCY, DEFAULT_LOCALE, translations
from kassa.common.pdfdocs import render_pdf
from kassa.pos_node.models import NodeIdentity, Sale, Store, User
from kassa.pos_node.sale.sales import sale_by_receipt


@dataclass(frozen=True)
class ReceiptView:
    store_name: str
    store_code: str
    node_id: str
    cashier: str
    sale: Sale
    locale: str = DEFAULT_LOCALE
    currency: str = DEFAULT_CURRENCY
    timezone: str = "UTC"

    @property
    def sold_at_local(self) -> datetime:
        """When the sale was made, on the store's wall clock (what a receipt prints)."""
        # Only a completed sale has a receipt (``load`` refuses an open cart), and it has a time.
        assert self.sale.sold_at is not None
        return self.sale.sold_at.astimezone(ZoneInfo(self.timezone))

    @property
    def vat_by_rate(self) -> list[tuple[int, int, int]]:
        rates: dict[int, list[int]] = {}
        for ln in self.sale.lines:
            gross, vat = rates.setdefault(ln.vat_rate_bp, [0, 0])
            rates[ln.vat_rate_bp] = [gross + ln.amount_minor, vat + ln.vat_minor]
        return [(rate, g, v) for rate, (g, v) in sorted(rates.items())]


def load(session: Session, receipt_no: str) -> ReceiptView:
    sale = sale_by_receipt(session, receipt_no)
    if sale is None or sale.status == "open":
        raise NotFound("No receipt %(receipt_no)s at this till.", code="receipt_not_found",
                       receipt_no=receipt_no)
    node = session.scalars(select(NodeIdentity)).one()
    store = session.get(Store, node.store_id)
    cashier = session.get(User, sale.cashier_id) if sale.cashier_id else None
    return ReceiptView(store.name if store else f"Store {node.store_id}",
                       store.code if store else "", node.node_id,
                       (cashier.full_name or cashier.username) if cashier else "", sale,
                       store.locale if store else DEFAULT_LOCALE,
                       store.currency if store else DEFAULT_CURRENCY,
                       store.timezone if store else "UTC")


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


def helpers(view: ReceiptView) -> dict:
    """What both receipt templates use beside the view, in the receipt's language."""
    return {"qty": partial(qty, locale=view.locale),
            "percent": partial(percent, locale=view.locale),
            "methods": method_names(view.locale)}


def pdf(view: ReceiptView) -> bytes:
    """The receipt as a PDF on 80 mm paper, from its template (``doc_templates/receipt.html``),
    in the store's language and currency."""
    title = translations(view.locale).gettext("Receipt %(number)s") % {
        "number": view.sale.receipt_no}
    return render_pdf("receipt.html", title=title,
                      page=(80, 120 + 12 * len(view.sale.lines)), margin=4, font_size=8,
                      locale=view.locale, currency=view.currency, view=view, **helpers(view))
