"""One of a customer's receipts as the office reads it from the customer's page: what was
bought, how it was paid, the points it earned and took, and what came back since. Only the
customer's own receipts: another receipt number answers 404, as an unknown one does."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from kassa.central.models import Customer, Return, Sale, Store, User
from kassa.common.errors import NotFound


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
        "returns": [{"return_no": no, "returned_at": at, "total_minor": total}
                    for no, at, total in returns],
    }
