"""What the receipt printer prints, laid out in lines of the paper's width: the customer's
receipt (from the receipt model the HTML and PDF use, ``sale.receipts``), the slip of a cash
movement, and the X and Z reports of a shift. Plain text in the store's language; the printer
adapter turns a ``Slip`` into ESC/POS and the demo's printer back into text.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from kassa.common.i18n import format_amount, format_money, format_printed_moment, translations
from kassa.pos_node.sale.receipts import ReceiptView, method_names, percent, points, qty


@dataclass(frozen=True)
class Row:
    text: str
    center: bool = False
    bold: bool = False
    big: bool = False      # double height: the store's name, the total


@dataclass(frozen=True)
class Slip:
    rows: list[Row] = field(default_factory=list)
    code: str | None = None  # printed as a QR code: the receipt's number, for returns


class Layout:
    """Rows for paper ``columns`` characters wide."""

    def __init__(self, columns: int):
        self.columns = columns
        self.rows: list[Row] = []

    def line(self, text: str = "", **style) -> None:
        for part in textwrap.wrap(text, self.columns) or [""]:
            self.rows.append(Row(part, **style))

    def pair(self, left: str, right: str, **style) -> None:
        """``left`` and ``right`` on one line; when both do not fit, ``left`` wraps and
        ``right`` ends its last line (or a line of its own)."""
        parts = textwrap.wrap(left, self.columns) or [""]
        for part in parts[:-1]:
            self.rows.append(Row(part, **style))
        last = parts[-1]
        if len(last) + 1 + len(right) > self.columns:
            self.rows.append(Row(last, **style))
            last = ""
        self.rows.append(Row(last + " " * (self.columns - len(last) - len(right)) + right,
                             **style))

    def rule(self, char: str = "-") -> None:
        self.rows.append(Row(char * self.columns))


def receipt(view: ReceiptView, columns: int, copy: bool = False) -> Slip:
    """The customer's receipt; a reprint says COPY at its top and bottom."""
    _ = translations(view.locale).gettext
    amount = lambda minor: format_amount(minor, view.locale)  # noqa: E731
    out = Layout(columns)
    if copy:
        out.line(_("*** COPY ***"), center=True, bold=True)
    _receipt_head(out, view)
    out.rule()
    for ln in view.lines:
        out.pair(ln.name, amount(ln.amount_minor))
        detail = "  " + qty(ln, view.locale)
        if ln.unit_price_minor is not None:
            detail += f" x {amount(ln.unit_price_minor)}"
        if ln.discount_minor:
            detail += f" - {amount(ln.discount_minor)}"
        out.line(detail)
    if view.discount_minor:
        out.pair(_("Discount"), "-" + amount(view.discount_minor))
    out.rule("=")
    out.pair(_("REFUND") if view.kind == "return" else _("TOTAL"),
             format_money(view.total_minor, view.currency, view.locale), bold=True, big=True)
    for rate, gross, vat in view.vat_by_rate:
        out.pair(_("incl. VAT %(rate)s %% on %(amount)s") % {
            "rate": percent(rate, view.locale), "amount": amount(gross)}, amount(vat))
    _tenders(out, view)
    _loyalty(out, view)
    if view.reason and view.kind == "return":
        out.line(_("Reason: %(reason)s") % {"reason": view.reason})
    out.line()
    out.line(_("Thank you!"), center=True)
    if copy:
        out.line(_("*** COPY ***"), center=True, bold=True)
    return Slip(out.rows, code=view.number)


def _receipt_head(out: Layout, view: ReceiptView) -> None:
    """Where, when, who: the store, the receipt's number and moment, the till, the cashier,
    the customer masked."""
    _ = translations(view.locale).gettext
    out.line(view.store_name, center=True, bold=True, big=True)
    if view.store_address:
        out.line(view.store_address, center=True)
    if view.kind == "return":
        out.line(_("RETURN"), center=True, bold=True)
    out.pair(_("Receipt"), view.number)
    if view.original_receipt_no:
        out.pair(_("Returned from receipt"), view.original_receipt_no)
    out.pair(_("Date"), view.printed_at)
    out.pair(_("Till %(node)s") % {"node": view.node_id}, f"{_('Cashier')} {view.cashier}")
    if view.customer_name:
        who = (_("%(name)s, card •••• %(last4)s") % {"name": view.customer_name,
                                                      "last4": view.card_last4}
               if view.card_last4 else view.customer_name)
        out.pair(_("Customer"), who)
    if view.status == "post_voided":
        out.line(_("POST-VOIDED"), center=True, bold=True)


def _tenders(out: Layout, view: ReceiptView) -> None:
    _ = translations(view.locale).gettext
    methods = method_names(view.locale)
    for p in view.tenders:
        label = methods.get(p.method, p.method)
        if p.method == "points":
            label += f" ({points(view.points_paid, view.locale)})"
        if p.reference:
            label += f" {p.reference}"
        out.pair(label, format_amount(p.shown_minor, view.locale))
    if view.change_minor:
        out.pair(_("Change due"), format_amount(view.change_minor, view.locale), bold=True)


def _loyalty(out: Layout, view: ReceiptView) -> None:
    if not view.customer_name:
        return
    _ = translations(view.locale).gettext
    out.rule()
    if view.kind == "return":
        if view.points_earned:
            out.pair(_("Points taken back"), f"-{view.points_earned}")
        if view.points_paid:
            out.pair(_("Points given back"), f"+{view.points_paid}")
        return
    out.pair(_("Points earned"), f"+{view.points_earned}")
    if view.points_balance is not None:
        out.pair(_("Points balance"), str(view.points_balance))


@dataclass(frozen=True)
class Place:
    """Where a slip was printed, for its head: the store, the till, the store's language."""

    store_name: str
    node_id: str
    locale: str
    currency: str
    timezone: str

    def moment(self, at: datetime) -> str:
        return format_printed_moment(at.astimezone(ZoneInfo(self.timezone)), self.locale)


def _head(out: Layout, place: Place, title: str, at: datetime, copy: bool) -> None:
    _ = translations(place.locale).gettext
    if copy:
        out.line(_("*** COPY ***"), center=True, bold=True)
    out.line(place.store_name, center=True, bold=True)
    out.line(title, center=True, bold=True, big=True)
    out.pair(_("Date"), place.moment(at))
    out.pair(_("Till %(node)s") % {"node": place.node_id}, "")
    out.rule()


def cash_movement(place: Place, kind: str, amount_minor: int, reason: str, by: str,
                  shift_number: int, at: datetime, columns: int, copy: bool = False) -> Slip:
    """The slip kept in the drawer for cash put in or taken out."""
    _ = translations(place.locale).gettext
    out = Layout(columns)
    _head(out, place, _("Cash in") if kind == "in" else _("Cash out"), at, copy)
    out.pair(_("Shift"), str(shift_number))
    out.pair(_("Amount"), format_money(amount_minor, place.currency, place.locale), bold=True)
    if reason:
        out.line(_("Reason: %(reason)s") % {"reason": reason})
    out.pair(_("Cashier"), by)
    out.line()
    out.line(_("Signature") + " " + "_" * max(4, columns - len(_("Signature")) - 1))
    return Slip(out.rows)


def shift_report(place: Place, report: dict, final: bool, at: datetime, columns: int,
                 copy: bool = False) -> Slip:
    """An X report (``final`` False: totals so far) or the Z report of a closed shift, from
    ``shifts.report``."""
    _ = translations(place.locale).gettext
    amount = lambda minor: format_amount(minor, place.locale)  # noqa: E731
    methods = method_names(place.locale)
    out = Layout(columns)
    title = _("Z report") if final else _("X report")
    _head(out, place, title, at, copy)
    out.pair(_("Shift"), str(report["number"]))
    out.pair(_("Float"), amount(report["opening_float_minor"]))
    out.pair(_("Sales"), f"{report['sales_count']} · {amount(report['sales_minor'])}")
    for p in report["by_payment"]:
        right = amount(p["sales_minor"])
        if p["refunds_minor"]:
            right = _("%(amount)s (refunds %(refunds)s)") % {
                "amount": right, "refunds": amount(p["refunds_minor"])}
        out.pair("  " + methods.get(p["method"], p["method"]), right)
    for v in report["by_vat"]:
        out.pair("  " + _("VAT %(rate)s%%") % {"rate": percent(v["vat_rate_bp"], place.locale)},
                 _("%(vat)s of %(gross)s") % {"vat": amount(v["vat_minor"]),
                                              "gross": amount(v["gross_minor"])})
    out.pair(_("Returns"), f"{report['returns_count']} · {amount(report['returns_minor'])}")
    out.pair(_("Voided / post-voided"),
             f"{report['voided_count']} / {report['post_voided_count']}")
    out.pair(_("Cash in / out"),
             f"{amount(report['cash_in_minor'])} / {amount(report['cash_out_minor'])}")
    out.pair(_("Expected cash"), amount(report["expected_cash_minor"]), bold=True)
    if report.get("counted_cash_minor") is not None:
        out.pair(_("Counted"), amount(report["counted_cash_minor"]))
        out.pair(_("Difference"), amount(report["difference_minor"]), bold=True)
    return Slip(out.rows)


def as_text(slip: Slip, columns: int) -> str:
    """The slip as the paper shows it (the demo's printer files, logs)."""
    lines = [r.text.center(columns).rstrip() if r.center else r.text.rstrip() for r in slip.rows]
    if slip.code:
        lines.append(f"[QR {slip.code}]".center(columns).rstrip())
    return "\n".join(lines) + "\n"
