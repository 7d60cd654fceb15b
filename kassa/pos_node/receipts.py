"""Receipts: HTML for the till's printer and a PDF to download, from one receipt model; the
PDF comes from a template like every printed document (``kassa.common.pdfdocs``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.errors import NotFound
from kassa.common.money import format_minor
from kassa.common.pdfdocs import render_pdf
from kassa.pos_node.models import NodeIdentity, Sale, Store, User
from kassa.pos_node.sales import sale_by_receipt

METHOD_NAMES = {"cash": "Cash", "card": "Card", "points": "Points"}


@dataclass(frozen=True)
class ReceiptView:
    store_name: str
    store_code: str
    node_id: str
    cashier: str
    sale: Sale

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
        raise NotFound(f"No receipt {receipt_no} at this till.", code="receipt_not_found")
    node = session.scalars(select(NodeIdentity)).one()
    store = session.get(Store, node.store_id)
    cashier = session.get(User, sale.cashier_id) if sale.cashier_id else None
    return ReceiptView(store.name if store else f"Store {node.store_id}",
                       store.code if store else "", node.node_id,
                       (cashier.full_name or cashier.username) if cashier else "", sale)


def money(amount: int) -> str:
    return format_minor(amount)


def qty(line) -> str:
    q = f"{line.quantity_milli / 1000:.3f}".rstrip("0").rstrip(".")
    return f"{q} kg" if line.unit == "kg" else q


def pdf(view: ReceiptView) -> bytes:
    """The receipt as a PDF on 80 mm paper, from its template (``doc_templates/receipt.html``)."""
    return render_pdf("receipt.html", title=f"Receipt {view.sale.receipt_no}",
                      page=(80, 120 + 12 * len(view.sale.lines)), margin=4, font_size=8,
                      view=view, qty=qty, methods=METHOD_NAMES)
