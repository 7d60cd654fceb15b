"""What each print job prints, read from the till's database when it prints (it was committed
with the job): the receipt from the receipt model, a cash slip, a shift's report; and the
reprint of a receipt, marked COPY."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.errors import NotFound
from kassa.pos_node.devices import print_queue, slips
from kassa.pos_node.models import CashMovement, NodeIdentity, PrintJob, Shift, Store, User
from kassa.pos_node.sale import receipts, shifts


def reprint_last(session: Session, number: str | None = None) -> str:
    """Queue a COPY of the till's last receipt (or of ``number``); its number."""
    if number is None:
        number = session.scalar(select(PrintJob.ref).where(PrintJob.kind == "receipt")
                                .order_by(PrintJob.id.desc()).limit(1))
        if number is None:
            raise NotFound("No receipt has been printed at this till yet.",
                           code="nothing_to_reprint")
    receipts.load(session, number)  # it exists (else: receipt_not_found)
    print_queue.enqueue(session, "receipt", number, copy=True)
    return number


def place(session: Session) -> slips.Place:
    node = session.scalars(select(NodeIdentity)).one()
    store = session.get(Store, node.store_id)
    if store is None:
        return slips.Place(f"Store {node.store_id}", node.node_id, "en", "EUR", "UTC")
    return slips.Place(store.name, node.node_id, store.locale, store.currency, store.timezone)


def store_locale(session: Session) -> str:
    return place(session).locale


def render(session: Session, job: PrintJob, columns: int) -> slips.Slip:
    """What ``job`` prints, read from the till's database now (it was committed with it)."""
    if job.kind == "receipt":
        return slips.receipt(receipts.load(session, job.ref), columns, job.copy)
    if job.kind == "cash_movement":
        move = session.get(CashMovement, uuid.UUID(job.ref))
        if move is None:
            raise NotFound("No such cash movement.", code="not_found")
        shift = session.get(Shift, move.shift_id)
        user = session.get(User, move.user_id)
        return slips.cash_movement(place(session), move.kind, move.amount_minor, move.reason,
                                   (user.full_name or user.username) if user else "",
                                   shift.number if shift else 0, move.at, columns, job.copy)
    if job.kind == "z_report":
        shift = session.get(Shift, uuid.UUID(job.ref))
        if shift is None:
            raise NotFound("No such shift.", code="not_found")
        return slips.shift_report(place(session), shifts.report(session, shift), True,
                                  shift.closed_at or job.created_at, columns, job.copy)
    assert job.kind == "x_report" and job.payload is not None
    return slips.shift_report(place(session), job.payload, False, job.created_at, columns,
                              job.copy)
