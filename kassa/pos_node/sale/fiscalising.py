"""Fiscalising at the till: the documents a sale or a return gives the fiscal register, made
from what the till is about to complete, and the rule that keeps a receipt from being
registered twice.

A sale's receipt is registered before the sale completes, in three steps (``sales_api``):
``prepare_sale`` settles the cart and stores a task id on it (committed before anything is
sent); the register is asked outside any transaction; the sale then completes with the
register's answer (``sales.checkout``). A refusal forgets the task id (``forget_task``: the
register did nothing, the next attempt is a new task); no answer keeps it, so the payment
taken again asks the register for the same task, which it answers without registering again.
A return is registered in its own transaction under a task id derived from its return number,
the same on every attempt until one is recorded.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.pos_node.devices import fiscal
from kassa.pos_node.devices.fiscal import FiscalDocument, FiscalLine
from kassa.pos_node.models import Counter, Sale, Shift, User
from kassa.pos_node.sale import cart, sales, shifts

# A register refuses receipts in a shift opened more than 24 hours ago (54-FZ); the till
# stops at the same age by its own clock too, before asking.
SHIFT_HOURS = 24
_RETURN_TASKS = uuid.UUID("6c1f0d1e-52a4-4c69-9a55-0f4b8b0c1a24")


def cashier_name(user: User) -> str:
    return user.full_name or user.username


def check_shift_age(session: Session) -> None:
    """Refuse to sell or take back in a till shift past the register's 24 hours."""
    shift = shifts.require_open(session)
    if utcnow() - shift.opened_at > timedelta(hours=SHIFT_HOURS):
        raise fiscal.shift_expired()


def prepare_sale(session: Session, user: User, tenders: list[cart.Tender],
                 customer_id: UUID | None, contact: str | None) -> FiscalDocument:
    """The sale in progress, settled, as a receipt for the register; its task id is stored
    on the sale (the caller commits before sending)."""
    sale = sales.require_cart(session, editable=False)
    check_shift_age(session)
    settlement = sales.settle(session, sale, user, tenders, customer_id)
    if sale.fiscal_task_id is None:
        sale.fiscal_task_id = uuid.uuid4()
    payments = [(p.method, p.tendered_minor if p.method == "cash" and p.tendered_minor
                 else p.amount_minor) for p in settlement.payments]
    return FiscalDocument(
        "sell", sale.fiscal_task_id,
        [FiscalLine(ln.name, ln.unit_price_minor, ln.quantity_milli, ln.amount_minor,
                    ln.vat_rate_bp, ln.unit == "kg") for ln in sale.lines],
        payments, sale.total_minor, cashier_name(user), contact)


def forget_task(session: Session, task_id: UUID) -> None:
    """The register refused the receipt (nothing registered): the cart may change again and
    the next attempt is a new task."""
    sale = session.scalars(select(Sale).where(Sale.status == "open",
                                              Sale.fiscal_task_id == task_id)).first()
    if sale is not None:
        sale.fiscal_task_id = None


def return_task_id(session: Session, node_id: str) -> UUID:
    """The task id of the return about to be recorded: from the number it will get (the
    counter moves only when a return is recorded), so a retry after a lost answer is the
    same task and a later return a new one."""
    counter = session.get(Counter, "return")
    number = (counter.value if counter else 0) + 1
    return uuid.uuid5(_RETURN_TASKS, f"{node_id}-R{number:08d}")


def original_reference(sale: Sale | None) -> str | None:
    """How a return names its original on the fiscal receipt: its drive, document, sign."""
    if sale is None or sale.fiscal_document_number is None:
        return None
    return fiscal.reference(sale.fiscal_drive_number, sale.fiscal_document_number,
                            sale.fiscal_sign)


def shift_cashier(session: Session) -> str:
    shift = session.scalars(select(Shift).where(Shift.status == "open")).first()
    user = session.get(User, shift.cashier_id) if shift else None
    return cashier_name(user) if user else "kassa"
