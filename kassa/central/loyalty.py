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

from sqlalchemy import event, func, insert, select, update
from sqlalchemy.orm import Session

from kassa.central.documents import account_doc
from kassa.central.feed import customer_scope, record_change
from kassa.central.models import (
    Customer,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltySettings,
    RedemptionHold,
    Return,
    Sale,
    Store,
)
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.loyalty import settings
from kassa.loyalty.ledger import EntryKind, Ledger, LedgerEntry, LedgerError
from kassa.loyalty.rules import next_tier

HOLD_TTL = timedelta(minutes=15)  # a sale left open longer than this loses its points hold
EXPIRY_NOTICE = timedelta(days=90)  # the till names points expiring this soon


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


_DIRTY = "kassa_loyalty_dirty"


def _account_changed(session: Session, account_id: uuid.UUID) -> None:
    """Mark the account for publishing when the transaction commits: a sync batch touching an
    account a hundred times sends tills one update, not a hundred."""
    session.info.setdefault(_DIRTY, set()).add(account_id)


@event.listens_for(Session, "before_commit")
def _publish_changed_accounts(session: Session) -> None:
    dirty = session.info.pop(_DIRTY, None)
    if dirty:
        publish(session, sorted(dirty))


def publish(session: Session, account_ids: list[uuid.UUID], now: datetime | None = None) -> None:
    """Refresh each account's tier and put its balance, tier and soonest expiring points in
    the change feed, scoped like its customer, for the tills to replicate."""
    now = now or utcnow()
    for account_id in account_ids:
        account = session.get(LoyaltyAccount, account_id, populate_existing=True)
        if account is None:
            continue
        customer = session.get(Customer, account.customer_id)
        refresh_tier(session, account, customer, now)
        account.expiring = [list(item) for item in expiring(session, account.id, now)]
        record_change(session, "loyalty_account", account.id, account_doc(account),
                      **customer_scope(session, customer))
    session.flush()


def rules(session: Session) -> settings.LoyaltyRules:
    """The chain's rules, parsed once per unit of work (the defaults until central sets
    some)."""
    parsed = session.info.get("kassa_loyalty_rules")
    if parsed is None:
        row = session.get(LoyaltySettings, 1)
        parsed = settings.parse(row.document if row is not None else settings.DEFAULT)
        session.info["kassa_loyalty_rules"] = parsed
    return parsed


def ledger(session: Session, account_id: uuid.UUID) -> Ledger:
    return Ledger([LedgerEntry(cause, EntryKind(kind), points, at, expires_at)
                   for cause, kind, points, at, expires_at in session.execute(
                       select(LoyaltyEntry.cause, LoyaltyEntry.kind, LoyaltyEntry.points,
                              LoyaltyEntry.at, LoyaltyEntry.expires_at)
                       .where(LoyaltyEntry.account_id == account_id)
                       .order_by(LoyaltyEntry.id))])


def expiring(session: Session, account_id: uuid.UUID, now: datetime,
             horizon: timedelta = EXPIRY_NOTICE) -> list[tuple[str, int]]:
    """``[(ISO date, points)]`` expiring within ``horizon``, soonest first, at most three
    dates: what the till tells the customer."""
    if session.scalar(select(LoyaltyEntry.id).where(
            LoyaltyEntry.account_id == account_id, LoyaltyEntry.expires_at.is_not(None),
            LoyaltyEntry.expires_at <= now + horizon).limit(1)) is None:
        return []
    return [(day.isoformat(), points)
            for day, points in ledger(session, account_id).expiring(now, now + horizon)[:3]]


def rolling_spend(session: Session, customer_id: uuid.UUID, now: datetime) -> int:
    """What the customer spent over the last 365 days, net of what they brought back."""
    start = now - timedelta(days=365)
    sold = session.scalar(select(func.coalesce(func.sum(Sale.total_minor), 0)).where(
        Sale.customer_id == customer_id, Sale.status == "completed", Sale.sold_at > start))
    returned = session.scalar(
        select(func.coalesce(func.sum(Return.total_minor), 0))
        .join(Sale, Sale.id == Return.original_sale_id)
        .where(Sale.customer_id == customer_id, Return.returned_at > start))
    return sold - returned


def refresh_tier(session: Session, account: LoyaltyAccount, customer: Customer,
                 now: datetime) -> None:
    """Upgrade at once when the 12-month spend qualifies; downgrade only at the review date
    (a year after the last change of tier)."""
    tiers = rules(session).tiers
    current = account.tier if account.tier in dict(tiers.thresholds) else tiers.thresholds[0][0]
    review_at = account.review_at or now
    tier = next_tier(tiers, current, rolling_spend(session, customer.id, now), now, review_at)
    if tier != account.tier:
        account.tier, account.review_at = tier, now + timedelta(days=365)
    elif account.review_at is not None and account.review_at <= now:
        account.review_at = now + timedelta(days=365)


def post(session: Session, account_id: uuid.UUID, entry: LedgerEntry) -> bool:
    """Post one entry; returns False when that cause is already posted with the same points."""
    return post_many(session, account_id, [entry]) == 1


def post_many(session: Session, account_id: uuid.UUID, entries: list[LedgerEntry]) -> int:
    """Post entries to one account in one statement each for the check, the insert and the
    balance; entries whose cause is already posted (with the same points) are skipped, one
    posted with other points is a ``ledger_conflict``. Returns how many were new."""
    if not entries:
        return 0
    held = {cause: (acc, kind, points) for cause, acc, kind, points in session.execute(
        select(LoyaltyEntry.cause, LoyaltyEntry.account_id, LoyaltyEntry.kind,
               LoyaltyEntry.points).where(LoyaltyEntry.cause.in_([e.cause for e in entries])))}
    new = []
    for entry in entries:
        earlier = held.get(entry.cause)
        if earlier is None:
            held[entry.cause] = (account_id, entry.kind.value, entry.points)
            new.append(entry)
        elif earlier != (account_id, entry.kind.value, entry.points):
            raise Conflict(f"Cause {entry.cause} is posted already with other points.",
                           code="ledger_conflict")
    if not new:
        return 0
    moved = session.execute(
        update(LoyaltyAccount).where(LoyaltyAccount.id == account_id)
        .values(balance=LoyaltyAccount.balance + sum(e.points for e in new))).rowcount
    if not moved:
        raise NotFound("No such loyalty account.", code="account_not_found")
    session.execute(insert(LoyaltyEntry), [
        {"account_id": account_id, "cause": e.cause, "kind": e.kind.value, "points": e.points,
         "at": e.at, "expires_at": e.expires_at, "recorded_at": utcnow()} for e in new])
    _account_changed(session, account_id)
    return len(new)


def earned_entries(session: Session, sale_id: uuid.UUID, earned: dict[int, int],
                   at: datetime) -> list[LedgerEntry]:
    """The earn entries of a sale's lines, each a lot that expires after the rules' days."""
    expires = at + timedelta(days=rules(session).points_valid_days)
    return [LedgerEntry(f"sale:{sale_id}:{line_no}:earn", EntryKind.EARN, points, at, expires)
            for line_no, points in sorted(earned.items()) if points > 0]


def burn_for_sale(session: Session, account_id: uuid.UUID, sale_id: uuid.UUID, points: int,
                  hold_id: uuid.UUID | None, node_id: str, at: datetime) -> None:
    """Points that paid for a sale. Under a hold: commit it (whatever became of it meanwhile,
    the burn is posted once, under the hold's cause). Accepted offline: post the burn, even
    if it takes the account below zero; ``overdrawn`` reports it."""
    if hold_id is None:
        post(session, account_id, LedgerEntry(f"sale:{sale_id}:burn", EntryKind.BURN, -points,
                                              at))
        return
    reservation = session.get(RedemptionHold, hold_id, with_for_update=True)
    if reservation is not None and reservation.node_id == node_id \
            and reservation.status == "held" and reservation.points == points:
        commit(session, hold_id, node_id, sale_id, at)
        return
    post(session, account_id, LedgerEntry(f"hold:{hold_id}:burn", EntryKind.BURN, -points, at))
    if reservation is not None and reservation.status in ("released", "expired"):
        reservation.sale_id = sale_id  # used after all: the till could not say otherwise in time


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


def return_entries(session: Session, return_id: uuid.UUID, reversed_by_line: dict[int, int],
                   refunded: int, at: datetime) -> list[LedgerEntry]:
    """A return takes back what the returned goods earned and gives back what they burned
    (the till works the shares out with ``kassa.loyalty.rules.points_for_return``)."""
    entries = [LedgerEntry(f"return:{return_id}:{line_no}:reverse", EntryKind.REVERSAL,
                           -points, at)
               for line_no, points in sorted(reversed_by_line.items()) if points > 0]
    if refunded > 0:
        entries.append(LedgerEntry(
            f"return:{return_id}:refund", EntryKind.REFUND, refunded, at,
            at + timedelta(days=rules(session).points_valid_days)))
    return entries


def void_entries(session: Session, sale: Sale, at: datetime) -> list[LedgerEntry]:
    """A post-voided sale earns nothing and its points are given back."""
    earned = sum(line.points_earned for line in sale.lines)
    entries = []
    if earned:
        entries.append(LedgerEntry(f"sale:{sale.id}:void:reverse", EntryKind.REVERSAL, -earned,
                                   at))
    if sale.points_burned:
        entries.append(LedgerEntry(
            f"sale:{sale.id}:void:refund", EntryKind.REFUND, sale.points_burned, at,
            at + timedelta(days=rules(session).points_valid_days)))
    return entries


def expire_points(session: Session, now: datetime | None = None) -> int:
    """Expire every lot whose date has come, oldest first (one entry per lot); running it
    again the same day posts nothing. Returns the points expired."""
    now = now or utcnow()
    candidates = session.scalars(
        select(LoyaltyEntry.account_id).distinct()
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyEntry.account_id)
        .where(LoyaltyAccount.balance > 0, LoyaltyEntry.expires_at <= now)).all()
    total = 0
    for account_id in candidates:
        posted = ledger(session, account_id).expire(now, now.date().isoformat())
        post_many(session, account_id, posted)
        total -= sum(e.points for e in posted)
    # Lots coming into the notice window since yesterday: the tills should start naming them.
    for account_id in session.scalars(select(LoyaltyEntry.account_id).distinct().where(
            LoyaltyEntry.expires_at > now + EXPIRY_NOTICE - timedelta(days=1),
            LoyaltyEntry.expires_at <= now + EXPIRY_NOTICE)):
        _account_changed(session, account_id)
    return total


def review_tiers(session: Session, now: datetime | None = None) -> int:
    """Accounts whose review date has come get their tier from the last 12 months."""
    now = now or utcnow()
    due = session.scalars(select(LoyaltyAccount.id).where(
        LoyaltyAccount.review_at <= now)).all()
    for account_id in due:
        _account_changed(session, account_id)
    return len(due)
