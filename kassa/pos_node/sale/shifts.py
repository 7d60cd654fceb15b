"""Shifts at the till: open with a float, cash in and out, X report mid-shift, close with a
count (Z report). A till has one cash drawer, so one shift is open at a time. A shift that runs
past midnight shows its sales per day of the store's wall clock, the days central's reports
put them on."""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import func, literal, select
from sqlalchemy.orm import Session

from kassa.common.db import local_date, utcnow
from kassa.common.errors import Conflict, KassaError
from kassa.pos_node.devices import print_queue
from kassa.pos_node.models import CashMovement, Payment, Refund, Return, Sale, SaleLine, Shift, User
from kassa.pos_node.replication.outbox import append_event, next_counter
from kassa.pos_node.replication.replica import store_zone


class ShiftClosed(KassaError):
    status = 409
    code = "shift_closed"


def current(session: Session) -> Shift | None:
    return session.scalars(select(Shift).where(Shift.status == "open")).first()


def require_open(session: Session) -> Shift:
    shift = current(session)
    if shift is None:
        raise ShiftClosed("No shift is open at this till: open one first.")
    return shift


def open_shift(session: Session, cashier: User, float_minor: int) -> Shift:
    if current(session) is not None:
        raise Conflict("A shift is already open at this till.", code="shift_already_open")
    if float_minor < 0:
        raise KassaError("The float cannot be negative.", code="bad_amount", status=422)
    shift = Shift(number=next_counter(session, "shift"), cashier_id=cashier.id,
                  opening_float_minor=float_minor, status="open", opened_at=utcnow())
    session.add(shift)
    session.flush()
    append_event(session, "shift.opened", {
        "shift_id": shift.id, "number": shift.number, "cashier_id": cashier.id,
        "opened_at": shift.opened_at, "opening_float_minor": float_minor})
    return shift


def move_cash(session: Session, user: User, kind: str, amount_minor: int,
              reason: str) -> CashMovement:
    shift = require_open(session)
    if kind not in ("in", "out") or amount_minor <= 0:
        raise KassaError("Cash in or out of a positive amount.", code="bad_amount", status=422)
    if kind == "out" and amount_minor > report(session, shift)["expected_cash_minor"]:
        raise KassaError("The drawer does not hold that much cash.", code="not_enough_cash",
                         status=422)
    move = CashMovement(shift_id=shift.id, kind=kind, amount_minor=amount_minor,
                        reason=reason.strip()[:200], user_id=user.id, at=utcnow())
    session.add(move)
    session.flush()
    append_event(session, "cash.moved", {
        "movement_id": move.id, "shift_id": shift.id, "kind": kind,
        "amount_minor": amount_minor, "reason": move.reason, "user_id": user.id, "at": move.at})
    print_queue.cash_movement(session, move.id)
    return move


def report(session: Session, shift: Shift) -> dict:
    """Totals of a shift so far: by payment type, by VAT rate, by cashier; expected cash."""
    completed = (Sale.shift_id == shift.id) & (Sale.status == "completed")
    by_payment = defaultdict(int, {m: a for m, a in session.execute(
        select(Payment.method, func.sum(Payment.amount_minor)).join(Sale)
        .where(completed).group_by(Payment.method))})
    refunds = defaultdict(int, {m: a for m, a in session.execute(
        select(Refund.method, func.sum(Refund.amount_minor)).join(Return)
        .where(Return.shift_id == shift.id).group_by(Refund.method))})
    by_vat = [{"vat_rate_bp": rate, "gross_minor": gross, "vat_minor": vat}
              for rate, gross, vat in session.execute(
                  select(SaleLine.vat_rate_bp, func.sum(SaleLine.amount_minor),
                         func.sum(SaleLine.vat_minor)).join(Sale).where(completed)
                  .group_by(SaleLine.vat_rate_bp).order_by(SaleLine.vat_rate_bp))]
    by_cashier = [{"cashier_id": cid, "username": name, "sales": n, "total_minor": total}
                  for cid, name, n, total in session.execute(
                      select(Sale.cashier_id, User.username, func.count(Sale.id),
                             func.sum(Sale.total_minor))
                      .join(User, User.id == Sale.cashier_id, isouter=True).where(completed)
                      .group_by(Sale.cashier_id, User.username))]
    counts = dict(session.execute(select(Sale.status, func.count(Sale.id))
                                  .where(Sale.shift_id == shift.id).group_by(Sale.status)).all())
    moves = defaultdict(int, {k: a for k, a in session.execute(
        select(CashMovement.kind, func.sum(CashMovement.amount_minor))
        .where(CashMovement.shift_id == shift.id).group_by(CashMovement.kind))})
    returns = session.execute(select(func.count(Return.id), func.sum(Return.total_minor))
                              .where(Return.shift_id == shift.id)).one()
    zone = store_zone(session)
    day = local_date(Sale.sold_at, literal(zone))
    days = [{"day": d.isoformat(), "sales_count": n, "sales_minor": total}
            for d, n, total in session.execute(
                select(day, func.count(Sale.id), func.sum(Sale.total_minor)).where(completed)
                .group_by(day).order_by(day))]
    expected = (shift.opening_float_minor + by_payment["cash"] - refunds["cash"]
                + moves["in"] - moves["out"])
    return {
        "shift_id": shift.id, "number": shift.number, "status": shift.status,
        "opened_at": shift.opened_at, "closed_at": shift.closed_at, "timezone": zone,
        "days": days,
        "opening_float_minor": shift.opening_float_minor,
        "sales_count": counts.get("completed", 0),
        "voided_count": counts.get("voided", 0),
        "post_voided_count": counts.get("post_voided", 0),
        "returns_count": returns[0], "returns_minor": returns[1] or 0,
        "sales_minor": sum(by_payment.values()),
        "by_payment": [{"method": m, "sales_minor": by_payment[m], "refunds_minor": refunds[m]}
                       for m in sorted(set(by_payment) | set(refunds))],
        "by_vat": by_vat, "by_cashier": by_cashier,
        "cash_in_minor": moves["in"], "cash_out_minor": moves["out"],
        "expected_cash_minor": expected,
        "counted_cash_minor": shift.counted_cash_minor,
        "difference_minor": (None if shift.counted_cash_minor is None
                             else shift.counted_cash_minor - expected),
    }


def check_closable(session: Session, counted_minor: int) -> Shift:
    """The open shift, if it may close with ``counted_minor``: an open cart is finished first."""
    shift = require_open(session)
    if counted_minor < 0:
        raise KassaError("The counted amount cannot be negative.", code="bad_amount", status=422)
    if session.scalar(select(func.count(Sale.id)).where(Sale.status == "open",
                                                        Sale.shift_id == shift.id)):
        raise Conflict("Finish or void the open sale before closing the shift.",
                       code="sale_in_progress")
    return shift


def close_shift(session: Session, user: User, counted_minor: int) -> dict:
    """Close with the counted cash; returns the Z report. An open cart must be finished first."""
    shift = check_closable(session, counted_minor)
    z = report(session, shift)
    shift.status, shift.closed_at = "closed", utcnow()
    shift.expected_cash_minor, shift.counted_cash_minor = z["expected_cash_minor"], counted_minor
    append_event(session, "shift.closed", {
        "shift_id": shift.id, "closed_at": shift.closed_at, "closed_by": user.id,
        "expected_cash_minor": z["expected_cash_minor"], "counted_cash_minor": counted_minor,
        "cash_in_minor": z["cash_in_minor"], "cash_out_minor": z["cash_out_minor"]})
    print_queue.z_report(session, shift.id)
    return report(session, shift)
