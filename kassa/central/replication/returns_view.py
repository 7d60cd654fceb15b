"""Central's answer to "what is left to return from this receipt?" for a till that did not
make the sale: the sale's lines and payments, less every return central has received."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kassa.central.models import Refund, Return, ReturnLine, Sale
from kassa.common.errors import Conflict, NotFound


def sale_for_return(session: Session, receipt_no: str) -> dict:
    sale = session.scalars(select(Sale).where(Sale.receipt_no == receipt_no)).first()
    if sale is None:
        raise NotFound("No sale with receipt %(receipt_no)s.", code="sale_not_found",
                       receipt_no=receipt_no)
    if sale.status != "completed":
        raise Conflict("Receipt %(receipt_no)s was voided.", code="sale_voided",
                       receipt_no=receipt_no)
    returned = {n: (q, a) for n, q, a in session.execute(
        select(ReturnLine.original_line_no, func.sum(ReturnLine.quantity_milli),
               func.sum(ReturnLine.amount_minor)).join(Return, Return.id == ReturnLine.return_id)
        .where(Return.original_sale_id == sale.id).group_by(ReturnLine.original_line_no))}
    refunded = dict(session.execute(
        select(Refund.method, func.sum(Refund.amount_minor))
        .join(Return, Return.id == Refund.return_id)
        .where(Return.original_sale_id == sale.id).group_by(Refund.method)).all())
    return_ids = [str(r) for r in session.scalars(
        select(Return.id).where(Return.original_sale_id == sale.id))]
    given_back = session.scalar(select(func.coalesce(func.sum(Return.points_refunded), 0))
                                .where(Return.original_sale_id == sale.id))
    assert given_back is not None  # an aggregate without GROUP BY always returns a row
    return {
        "sale_id": str(sale.id), "receipt_no": sale.receipt_no, "node_id": sale.node_id,
        "store_id": sale.store_id, "return_ids": return_ids,
        "account_id": str(sale.account_id) if sale.account_id else None,
        "points_burned": sale.points_burned, "points_given_back": int(given_back),
        "lines": [{"line_no": ln.line_no, "product_id": ln.product_id, "sku": ln.sku,
                   "name": ln.name, "quantity_milli": ln.quantity_milli,
                   "amount_minor": ln.amount_minor, "vat_rate_bp": ln.vat_rate_bp,
                   "returned_milli": int(returned.get(ln.line_no, (0, 0))[0]),
                   "returned_minor": int(returned.get(ln.line_no, (0, 0))[1]),
                   "points_earned": ln.points_earned}
                  for ln in sale.lines],
        "payments": [{"method": p.method, "amount_minor": p.amount_minor,
                      "reference": p.reference, "refunded_minor": 0} for p in sale.payments]
        + [{"method": m, "amount_minor": 0, "reference": None, "refunded_minor": int(a)}
           for m, a in refunded.items()],
    }
