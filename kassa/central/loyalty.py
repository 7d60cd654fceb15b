"""Central's loyalty ledger: accounts, their entries, and holds for redemptions at tills.

Central's ledger is authoritative (``../shared/design.md``). Entries are posted idempotently
by cause (``kassa.loyalty.ledger``): posting one again is a no-op, posting other points under
the same cause a ``ledger_conflict``. ``loyalty_accounts.balance`` caches the sum of an account's
entries and moves in the same transaction as the entries; ``check_balance`` proves the two equal.

A till online asks for a *hold* before it takes points as payment. The hold is granted by one
conditional UPDATE of the account row (``balance - held >= points``), which the database
applies atomically under its row lock on PostgreSQL and SQLite alike: fifty tills asking at
once can never reserve more than the account holds. The hold is committed (a burn entry) when
the sale completes, or released when it is voided or its time runs out.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from kassa.central.documents import account_doc
from kassa.central.feed import customer_scope, record_change
from kassa.central.models import (
    Customer,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltySettings,
    RedemptionHold,
    Store,
)
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.loyalty import settings
from kassa.loyalty.ledger import EntryKind, LedgerEntry, LedgerError

HOLD_TTL = timedelta(minutes=15)  # a sale left open longer than this loses its points hold


def set_rules(session: Session, document: dict) -> LoyaltySettings:
    """Replace the chain's loyalty rules (checked whole first); tills get them at their next
    pull."""
    try:
        settings.parse(document)
    except LedgerError as err:
        raise Invalid(str(err), code=err.code) from err
    row = session.get(LoyaltySettings, 1) or LoyaltySettings(id=1)
    row.document, row.updated_at = document, utcnow()
    session.add(row)
    session.flush()
    record_change(session, "loyalty_rules", 1, {"id": 1, "document": document})
    return row


def open_account(session: Session, customer: Customer, tier: str = "base") -> LoyaltyAccount:
    existing = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    if existing is not None:
        return existing
    account = LoyaltyAccount(customer_id=customer.id, tier=tier, balance=0, held=0)
    session.add(account)
    session.flush()
    _account_changed(session, account.id)
    return account


def _account_changed(session: Session, account_id: uuid.UUID) -> None:
    """Tills replicate each account's balance and tier, scoped like its customer."""
    account = session.get(LoyaltyAccount, account_id, populate_existing=True)
    customer = session.get(Customer, account.customer_id)
    record_change(session, "loyalty_account", account.id, account_doc(account),
                  **customer_scope(session, customer))


def post(session: Session, account_id: uuid.UUID, entry: LedgerEntry) -> bool:
    """Post one entry; returns False when that cause is already posted with the same points."""
    held = session.scalars(select(LoyaltyEntry).where(LoyaltyEntry.cause == entry.cause)).first()
    if held is not None:
        if (held.account_id, held.kind, held.points) != (account_id, entry.kind.value,
                                                         entry.points):
            raise Conflict(f"Cause {entry.cause} is posted already with other points.",
                           code="ledger_conflict")
        return False
    session.add(LoyaltyEntry(account_id=account_id, cause=entry.cause, kind=entry.kind.value,
                             points=entry.points, at=entry.at, expires_at=entry.expires_at))
    moved = session.execute(update(LoyaltyAccount).where(LoyaltyAccount.id == account_id)
                            .values(balance=LoyaltyAccount.balance + entry.points)).rowcount
    if not moved:
        raise NotFound("No such loyalty account.", code="account_not_found")
    session.flush()
    _account_changed(session, account_id)
    return True


def check_balance(session: Session, account_id: uuid.UUID) -> tuple[int, int]:
    """``(cached balance, sum of the ledger)``: equal unless something bypassed ``post``."""
    cached = session.scalar(select(LoyaltyAccount.balance).where(
        LoyaltyAccount.id == account_id))
    total = session.scalar(select(func.coalesce(func.sum(LoyaltyEntry.points), 0)).where(
        LoyaltyEntry.account_id == account_id))
    return cached, total


def hold(session: Session, account_id: uuid.UUID, node_id: str, points: int,
         sale_id: uuid.UUID | None = None, ttl: timedelta = HOLD_TTL) -> RedemptionHold:
    """Reserve ``points`` for a sale at ``node_id``, or refuse with ``insufficient_points``."""
    if points <= 0:
        raise Invalid("Hold a positive number of points.", code="bad_points")
    granted = session.execute(
        update(LoyaltyAccount)
        .where(LoyaltyAccount.id == account_id,
               LoyaltyAccount.balance - LoyaltyAccount.held >= points)
        .values(held=LoyaltyAccount.held + points)).rowcount
    if not granted:
        account = session.get(LoyaltyAccount, account_id)
        if account is None:
            raise NotFound("No such loyalty account.", code="account_not_found")
        raise Conflict(f"The account has {account.balance - account.held} points free.",
                       code="insufficient_points",
                       details={"available": account.balance - account.held})
    reservation = RedemptionHold(account_id=account_id, node_id=node_id, points=points,
                                 status="held", sale_id=sale_id, expires_at=utcnow() + ttl)
    session.add(reservation)
    session.flush()
    return reservation


def commit(session: Session, hold_id: uuid.UUID, node_id: str, sale_id: uuid.UUID,
           at: datetime | None = None) -> RedemptionHold:
    """The sale completed: the held points are burned, once, however often this is retried."""
    earlier = _own_hold(session, hold_id, node_id)
    if earlier.status == "committed":
        if earlier.sale_id != sale_id:
            raise Conflict("The hold was committed for another sale.", code="hold_conflict")
        return earlier
    reservation = _resolve(session, hold_id, node_id, "committed")
    reservation.sale_id = sale_id
    post(session, reservation.account_id, LedgerEntry(
        f"hold:{reservation.id}:burn", EntryKind.BURN, -reservation.points, at or utcnow()))
    return reservation


def release(session: Session, hold_id: uuid.UUID, node_id: str) -> RedemptionHold:
    """The sale was voided or paid otherwise: the points are free again."""
    return _resolve(session, hold_id, node_id, "released")


def _own_hold(session: Session, hold_id: uuid.UUID, node_id: str) -> RedemptionHold:
    reservation = session.get(RedemptionHold, hold_id, with_for_update=True)
    if reservation is None or reservation.node_id != node_id:
        raise NotFound("No such hold for this till.", code="hold_not_found")
    return reservation


def _resolve(session: Session, hold_id: uuid.UUID, node_id: str,
             status: str) -> RedemptionHold:
    reservation = _own_hold(session, hold_id, node_id)
    if reservation.status == status:
        return reservation  # a retry of the same decision
    if reservation.status != "held":
        raise Conflict(f"The hold was {reservation.status} already.", code="hold_closed",
                       details={"status": reservation.status})
    session.execute(update(LoyaltyAccount).where(LoyaltyAccount.id == reservation.account_id)
                    .values(held=LoyaltyAccount.held - reservation.points))
    reservation.status, reservation.resolved_at = status, utcnow()
    session.flush()
    return reservation


def expire_holds(session: Session, now: datetime | None = None) -> int:
    """Release every hold whose time ran out (a till that never came back for it)."""
    now = now or utcnow()
    stale = session.scalars(select(RedemptionHold).where(
        RedemptionHold.status == "held", RedemptionHold.expires_at <= now)
        .with_for_update()).all()
    for reservation in stale:
        session.execute(update(LoyaltyAccount)
                        .where(LoyaltyAccount.id == reservation.account_id)
                        .values(held=LoyaltyAccount.held - reservation.points))
        reservation.status, reservation.resolved_at = "expired", now
    session.flush()
    return len(stale)


def overdrawn(session: Session, region_id: int | None = None) -> list[dict]:
    """Accounts below zero (offline redemptions at several tills spent the same points), with
    the burns that took them there: the fraud report. Later earnings repay the debt."""
    stmt = (select(LoyaltyAccount, Customer.name, Customer.home_store_id)
            .join(Customer, Customer.id == LoyaltyAccount.customer_id)
            .where(LoyaltyAccount.balance < 0).order_by(LoyaltyAccount.balance))
    if region_id is not None:
        stmt = stmt.where(Customer.home_store_id.in_(
            select(Store.id).where(Store.region_id == region_id)))
    out = []
    for account, name, _store in session.execute(stmt):
        burns = session.execute(
            select(LoyaltyEntry.cause, LoyaltyEntry.points, LoyaltyEntry.at)
            .where(LoyaltyEntry.account_id == account.id, LoyaltyEntry.points < 0)
            .order_by(LoyaltyEntry.at.desc()).limit(20)).all()
        out.append({"account_id": account.id, "customer": name, "balance": account.balance,
                    "burns": [{"cause": c, "points": p, "at": at} for c, p, at in burns]})
    return out
