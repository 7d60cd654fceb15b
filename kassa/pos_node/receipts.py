"""Receipts: HTML for the till's printer and a PDF to download, from one receipt model.

The PDF uses DejaVu Sans (Debian's fonts-dejavu-core) so Cyrillic product names print; where
the font is missing it falls back to a core font and says so in the document's subject line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF
from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.errors import NotFound
from kassa.common.money import format_minor
from kassa.pos_node.models import NodeIdentity, Sale, Store, User
from kassa.pos_node.sales import sale_by_receipt

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
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
    doc = FPDF(format=(80, 200 + 8 * len(view.sale.lines)), unit="mm")
    doc.set_margins(4, 4, 4)
    doc.set_auto_page_break(True, 4)
    if (FONT_DIR / "DejaVuSans.ttf").exists():
        doc.add_font("receipt", "", str(FONT_DIR / "DejaVuSans.ttf"))
        doc.add_font("receipt", "B", str(FONT_DIR / "DejaVuSans-Bold.ttf"))
        family = "receipt"
    else:
        family = "helvetica"
    doc.set_title(f"Receipt {view.sale.receipt_no}")
    doc.add_page()
    width = 72

    def row(left: str, right: str = "", bold: bool = False, size: float = 8) -> None:
        doc.set_font(family, "B" if bold else "", size)
        doc.cell(width * 0.7, 4.2, left, new_x="RIGHT", new_y="TOP")
        doc.cell(width * 0.3, 4.2, right, align="R", new_x="LMARGIN", new_y="NEXT")

    doc.set_font(family, "B", 10)
    doc.cell(width, 5, view.store_name, align="C", new_x="LMARGIN", new_y="NEXT")
    row(f"Receipt {view.sale.receipt_no}", view.sale.sold_at.strftime("%Y-%m-%d %H:%M"))
    row(f"Till {view.node_id}", view.cashier)
    if view.sale.status == "post_voided":
        row("POST-VOIDED", "", bold=True)
    doc.ln(2)
    for ln in view.sale.lines:
        row(ln.name[:40], money(ln.amount_minor))
        detail = f"  {qty(ln)} x {money(ln.unit_price_minor)}"
        row(detail + (f"  -{money(ln.discount_minor)}" if ln.discount_minor else ""), "",
            size=7)
    doc.ln(2)
    if view.sale.discount_minor:
        row("Discount", "-" + money(view.sale.discount_minor))
    row("TOTAL", money(view.sale.total_minor), bold=True, size=10)
    for rate, gross, vat in view.vat_by_rate:
        row(f"  incl. VAT {rate / 100:g} % on {money(gross)}", money(vat), size=7)
    for p in view.sale.payments:
        row(METHOD_NAMES.get(p.method, p.method) + (f" {p.reference}" if p.reference else ""),
            money(p.tendered_minor or p.amount_minor))
    if view.sale.change_minor:
        row("Change", money(view.sale.change_minor))
    doc.ln(3)
    doc.set_font(family, "", 7)
    doc.cell(width, 4, "Thank you!", align="C")
    return bytes(doc.output())
