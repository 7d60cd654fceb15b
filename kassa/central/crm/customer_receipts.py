"""One of a customer's receipts as the office (and the customer, on their own page) reads
it: what was bought, how it was paid, its fiscal receipt, the points it earned and took, and
what came back since. Only the customer's own receipts: another receipt number answers 404,
as an unknown one does.

Electronic receipts: a sale whose customer asked at the till for the receipt by e-mail, and
whose till has no fiscal register (with one, the register sent it through its OFD, the law's
way), or whose customer has an e-mail on file and agreed to e-mail, is mailed from central's
outbox when the sale arrives; so it works for a sale made offline too.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kassa.central.crm.profiles import consents
from kassa.central.models import Customer, MailMessage, Return, Sale, Store, User
from kassa.common.errors import NotFound
from kassa.common.i18n import format_money, format_printed_moment, translations


def customer_receipt(session: Session, customer: Customer, receipt_no: str) -> dict:
    sale = session.scalars(select(Sale).where(
        Sale.receipt_no == receipt_no, Sale.customer_id == customer.id)
        .options(selectinload(Sale.lines), selectinload(Sale.payments))).first()
    if sale is None:
        raise NotFound("No receipt %(receipt_no)s for this customer.", code="receipt_not_found",
                       receipt_no=receipt_no)
    store = session.get(Store, sale.store_id)
    cashier = session.get(User, sale.cashier_id) if sale.cashier_id else None
    returns = session.execute(select(Return.return_no, Return.returned_at, Return.total_minor)
                              .where(Return.original_sale_id == sale.id)
                              .order_by(Return.returned_at)).all()
    return {
        "receipt_no": sale.receipt_no, "sold_at": sale.sold_at, "status": sale.status,
        "store_code": store.code if store else None, "store_name": store.name if store else None,
        "cashier": (cashier.full_name or cashier.username) if cashier else None,
        "gross_minor": sale.gross_minor, "discount_minor": sale.discount_minor,
        "total_minor": sale.total_minor, "points_burned": sale.points_burned,
        "points_earned": sum(line.points_earned for line in sale.lines),
        "lines": [{"line_no": ln.line_no, "sku": ln.sku, "name": ln.name,
                   "quantity_milli": ln.quantity_milli, "unit_price_minor": ln.unit_price_minor,
                   "discount_minor": ln.discount_minor, "amount_minor": ln.amount_minor,
                   "points_earned": ln.points_earned} for ln in sale.lines],
        "payments": [{"method": p.method, "amount_minor": p.amount_minor}
                     for p in sale.payments],
        "fiscal": fiscal_receipt(sale),
        "returns": [{"return_no": no, "returned_at": at, "total_minor": total}
                    for no, at, total in returns],
    }


def fiscal_receipt(sale: Sale) -> dict | None:
    """The sale's fiscal receipt (None: its till has no fiscal register)."""
    if sale.fiscal_document_number is None:
        return None
    return {"document_number": sale.fiscal_document_number, "fiscal_sign": sale.fiscal_sign,
            "drive_number": sale.fiscal_drive_number}


def mail_receipts(session: Session, sale_ids: Iterable) -> int:
    """Put the receipts of these sales (just arrived) that go by e-mail in the outbox."""
    sales = session.scalars(select(Sale).where(Sale.id.in_(list(sale_ids)))
                            .options(selectinload(Sale.lines), selectinload(Sale.payments)))
    queued = 0
    for sale in sales:
        address = _receipt_address(session, sale)
        if address is None:
            continue
        store = session.get(Store, sale.store_id)
        locale = store.locale if store else "en"
        subject, body = receipt_mail(sale, store, locale)
        session.add(MailMessage(to_address=address, subject=subject[:200], body=body))
        queued += 1
    return queued


def _receipt_address(session: Session, sale: Sale) -> str | None:
    if sale.receipt_email:
        # Given at the till: a fiscal register sent it already, with the fiscal receipt.
        return None if sale.fiscal_document_number is not None else sale.receipt_email
    customer = session.get(Customer, sale.customer_id) if sale.customer_id else None
    if customer is None or not customer.email or customer.anonymized_at is not None:
        return None
    email_consent = consents(session, customer.id).get("email")
    return customer.email if email_consent is not None and email_consent.granted else None


def receipt_mail(sale: Sale, store: Store | None, locale: str) -> tuple[str, str]:
    """The receipt as a plain-text mail in the store's language and currency."""
    _ = translations(locale).gettext
    currency = store.currency if store else "RUB"

    def money(minor: int) -> str:
        return format_money(minor, currency, locale)

    lines = [store.name if store else "", _("Receipt %(number)s") % {"number": sale.receipt_no},
             format_printed_moment(sale.sold_at, locale), ""]
    for ln in sale.lines:
        lines.append(f"{ln.name}  {ln.quantity_milli / 1000:g} × "
                     f"{money(ln.unit_price_minor)}  {money(ln.amount_minor)}")
    lines += ["", f"{_('TOTAL')}  {money(sale.total_minor)}"]
    if sale.fiscal_document_number is not None:
        lines.append(_("Fiscal receipt: drive %(drive)s, document %(number)s, sign %(sign)s")
                     % {"drive": sale.fiscal_drive_number,
                        "number": sale.fiscal_document_number, "sign": sale.fiscal_sign})
    else:
        lines.append(_("This receipt is not a fiscal document."))
    subject = _("Your receipt %(number)s from %(store)s") % {
        "number": sale.receipt_no, "store": store.name if store else ""}
    return subject, "\n".join(lines) + "\n"
