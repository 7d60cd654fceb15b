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
from types import SimpleNamespace
from typing import cast

from sqlalchemy import bindparam, event, func, insert, literal, select, update
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import (
    AuditEntry,
    Customer,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltySettings,
    RedemptionHold,
    Return,
    Sale,
    Store,
)
from kassa.central.replication.feed import record_changes
from kassa.central.replication.feed_documents import account_doc
from kassa.common.db import rowcount, table, utcnow
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.storage.bulk import copy_rows
from kassa.loyalty import settings
from kassa.loyalty.ledger import EntryKind, Ledger, LedgerEntry
from kassa.loyalty.rules import next_tier

HOLD_TTL = timedelta(minutes=15)  # a sale left open longer than this loses its points hold
EXPIRY_NOTICE = timedelta(days=90)  # the till names points expiring this soon


def open_account(session: Session, customer: Customer, tier: str = "base") -> LoyaltyAccount:
    """The customer's loyalty account, opened if they have none. An account makes a member:
    a lead given one (a card issued to them at central) becomes a customer."""
    if customer.status == "lead":
        customer.status = "customer"
    existing = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id)).first()
    if existing is not None:
        return existing
    account = LoyaltyAccount(customer_id=customer.id, tier=tier, balance=0, held=0)
    session.add(account)
    session.flush()
    mark_changed(session, account.id)
    return account


_DIRTY = "kassa_loyalty_dirty"


def mark_changed(session: Session, account_id: uuid.UUID) -> None:
    """Mark the account for publishing when the transaction commits: a sync batch touching an
    account a hundred times sends tills one update, not a hundred."""
    session.info.setdefault(_DIRTY, set()).add(account_id)


@event.listens_for(Session, "before_commit")
def _publish_changed_accounts(session: Session) -> None:
    dirty = session.info.pop(_DIRTY, None)
    if dirty:
        publish(session, sorted(dirty))


def publish(session: Session, account_ids: list[uuid.UUID], now: datetime | None = None) -> None:
    """Refresh each account's tier and soonest expiring points and put it in the change feed,
    scoped like its customer, for the tills to replicate: a handful of Core queries for the
    lot, whatever their number (a sync batch touches up to a thousand accounts)."""
    now = now or utcnow()
    session.flush()
    accounts = table(LoyaltyAccount)
    rows = session.execute(
        select(accounts.c.id, accounts.c.customer_id, accounts.c.tier, accounts.c.balance,
               accounts.c.review_at, accounts.c.expiring, Store.region_id)
        .join(table(Customer), Customer.id == accounts.c.customer_id)
        .outerjoin(Store, Store.id == Customer.home_store_id)
        .where(accounts.c.id.in_(account_ids))).all()
    if not rows:
        return
    spend = rolling_spend(session, [r.customer_id for r in rows], now)
    soon = set(session.scalars(select(LoyaltyEntry.account_id).distinct().where(
        LoyaltyEntry.account_id.in_(account_ids), LoyaltyEntry.expires_at > now,
        LoyaltyEntry.expires_at <= now + EXPIRY_NOTICE)))
    changes, updates = [], []
    for row in rows:
        tier, review_at = next_review(session, row.tier, row.review_at,
                                      spend.get(row.customer_id, 0), now)
        fresh = ([list(item) for item in expiring(session, row.id, now)]
                 if row.id in soon else [])
        if (tier, review_at, fresh) != (row.tier, row.review_at, row.expiring or []):
            updates.append({"b_id": row.id, "tier": tier, "review_at": review_at,
                            "expiring": fresh})
        doc = account_doc(SimpleNamespace(id=row.id, customer_id=row.customer_id, tier=tier,
                                          balance=row.balance, expiring=fresh))
        changes.append((row.id, doc, None, row.region_id))
    if updates:
        session.execute(update(accounts).where(accounts.c.id == bindparam("b_id"))
                        .values(tier=bindparam("tier"), review_at=bindparam("review_at"),
                                expiring=bindparam("expiring")), updates)
        session.expire_all()  # ORM copies of these accounts are stale now
    record_changes(session, "loyalty_account", changes)


def rules(session: Session) -> settings.LoyaltyRules:
    """The chain's rules, parsed once per unit of work (the defaults until central sets
    some)."""
    return settings.for_session(session, LoyaltySettings)


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


def rolling_spend(session: Session, customer_ids: list[uuid.UUID],
                  now: datetime) -> dict[uuid.UUID, int]:
    """What each customer spent over the last 365 days, net of what they brought back."""
    start = now - timedelta(days=365)
    sold = dict(session.execute(
        select(Sale.customer_id, func.sum(Sale.total_minor))
        .where(Sale.customer_id.in_(customer_ids), Sale.status == "completed",
               Sale.sold_at > start).group_by(Sale.customer_id)).all())
    for customer_id, amount in session.execute(
            select(Sale.customer_id, func.sum(Return.total_minor))
            .join(Sale, Sale.id == Return.original_sale_id)
            .where(Sale.customer_id.in_(customer_ids), Return.returned_at > start)
            .group_by(Sale.customer_id)):
        sold[customer_id] = sold.get(customer_id, 0) - amount
    # Sale.customer_id may be NULL, but the IN filter leaves those sales out.
    return cast(dict[uuid.UUID, int], sold)


def next_review(session: Session, tier: str, review_at: datetime | None, spend_minor: int,
                now: datetime) -> tuple[str, datetime | None]:
    """``(tier, review date)`` after the 12-month spend: upgrade at once when it qualifies,
    downgrade only at the review date (a year after the last change of tier)."""
    tiers = rules(session).tiers
    current = tier if tier in dict(tiers.thresholds) else tiers.thresholds[0][0]
    new = next_tier(tiers, current, spend_minor, now, review_at or now)
    if new != tier:
        return new, now + timedelta(days=365)
    if review_at is not None and review_at <= now:
        return tier, now + timedelta(days=365)
    return tier, review_at


def post(session: Session, account_id: uuid.UUID, entry: LedgerEntry) -> bool:
    """Post one entry; returns False when that cause is already posted with the same points."""
    return post_many(session, account_id, [entry]) == 1


def post_many(session: Session, account_id: uuid.UUID, entries: list[LedgerEntry]) -> int:
    """Post entries to one account; see ``post_batch``. Returns how many were new."""
    return post_batch(session, [(account_id, e) for e in entries])


def post_batch(session: Session, postings: list[tuple[uuid.UUID, LedgerEntry]]) -> int:
    """Post entries to their accounts with one query to find causes already posted, one
    multi-row INSERT and one balance UPDATE per account. An entry whose cause is posted (with
    the same points) is skipped; one posted with other points is a ``ledger_conflict``.
    Returns how many were new."""
    if not postings:
        return 0
    held: dict[str, tuple] = {}
    causes = [e.cause for _a, e in postings]
    for start in range(0, len(causes), 500):
        held.update((cause, (acc, kind, points)) for cause, acc, kind, points in session.execute(
            select(LoyaltyEntry.cause, LoyaltyEntry.account_id, LoyaltyEntry.kind,
                   LoyaltyEntry.points)
            .where(LoyaltyEntry.cause.in_(causes[start:start + 500]))))
    new = []
    moved: dict[uuid.UUID, int] = {}
    for account_id, entry in postings:
        earlier = held.get(entry.cause)
        if earlier is None:
            held[entry.cause] = (account_id, entry.kind.value, entry.points)
            new.append((account_id, entry))
            moved[account_id] = moved.get(account_id, 0) + entry.points
        elif earlier != (account_id, entry.kind.value, entry.points):
            raise Conflict("Cause %(cause)s is posted already with other points.",
                           code="ledger_conflict", cause=entry.cause)
    if not new:
        return 0
    accounts = table(LoyaltyAccount)
    move = (update(accounts).where(accounts.c.id == bindparam("b_id"))
            .values(balance=accounts.c.balance + bindparam("b_points")))
    params = [{"b_id": account_id, "b_points": points} for account_id, points in moved.items()]
    if len(params) == 1:
        if not rowcount(session.execute(move, params[0])):
            raise NotFound("No such loyalty account.", code="account_not_found")
    else:  # executemany: an unknown account fails on the entries' foreign key below
        session.execute(move, params)
    recorded = utcnow()
    copy_rows(session, table(LoyaltyEntry), [
        {"account_id": account_id, "cause": e.cause, "kind": e.kind.value, "points": e.points,
         "at": e.at, "expires_at": e.expires_at, "recorded_at": recorded}
        for account_id, e in new])
    for account_id in moved:
        mark_changed(session, account_id)
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


def check_balance(session: Session, account_id: uuid.UUID) -> tuple[int | None, int]:
    """``(cached balance, sum of the ledger)``: equal unless something bypassed ``post``
    (``(None, 0)`` for no such account)."""
    cached = session.scalar(select(LoyaltyAccount.balance).where(
        LoyaltyAccount.id == account_id))
    total = session.scalar(select(func.coalesce(func.sum(LoyaltyEntry.points), 0)).where(
        LoyaltyEntry.account_id == account_id))
    assert total is not None  # an aggregate without GROUP BY always returns a row
    return cached, total


_ACCOUNTS = table(LoyaltyAccount)
_GRANT = (update(_ACCOUNTS)
          .where(_ACCOUNTS.c.id == bindparam("b_account"),
                 _ACCOUNTS.c.balance - _ACCOUNTS.c.held >= bindparam("b_points"))
          .values(held=_ACCOUNTS.c.held + bindparam("b_points")))


def _hold_pg():
    """On PostgreSQL the grant, the hold and its audit line are one statement: the hold and the
    line are inserted only when the conditional UPDATE took the points; it answers how many
    accounts it updated (0 or 1)."""
    holds, log = table(RedemptionHold), table(AuditEntry)
    granted = _GRANT.returning(_ACCOUNTS.c.id).cte("granted")
    made = (insert(holds).from_select(
        ["id", "account_id", "node_id", "points", "status", "sale_id", "created_at",
         "expires_at"],
        select(bindparam("h_id", type_=holds.c.id.type), granted.c.id,
               bindparam("h_node", type_=holds.c.node_id.type),
               bindparam("b_points", type_=holds.c.points.type), literal("held"),
               bindparam("h_sale", type_=holds.c.sale_id.type),
               bindparam("h_now", type_=holds.c.created_at.type),
               bindparam("h_expires", type_=holds.c.expires_at.type)))
        .returning(holds.c.id).cte("made"))
    logged = insert(log).from_select(
        ["at", "node_id", "action", "subject", "reason", "reference_id"],
        select(bindparam("h_now", type_=log.c.at.type),
               bindparam("h_node", type_=log.c.node_id.type),
               bindparam("a_action", type_=log.c.action.type),
               bindparam("a_subject", type_=log.c.subject.type),
               bindparam("a_reason", type_=log.c.reason.type), made.c.id)).cte("logged")
    return select(func.count()).select_from(granted).add_cte(made).add_cte(logged)


_HOLD_PG = _hold_pg()


def hold(session: Session, account_id: uuid.UUID, node_id: str, points: int,
         sale_id: uuid.UUID | None = None, ttl: timedelta = HOLD_TTL) -> RedemptionHold:
    """Reserve ``points`` for a sale at ``node_id``, or refuse with ``insufficient_points``.
    Three Core statements on the session's connection (the busiest path central has)."""
    if points <= 0:
        raise Invalid("Hold a positive number of points.", code="bad_points")
    conn = session.connection()
    now = utcnow()
    reservation = RedemptionHold(id=uuid.uuid4(), account_id=account_id, node_id=node_id,
                                 points=points, status="held", sale_id=sale_id, created_at=now,
                                 expires_at=now + ttl, resolved_at=None)
    line = hold_audit(node_id, account_id, points, "granted", reservation.id, now)
    if conn.dialect.name == "postgresql":
        granted = conn.execute(_HOLD_PG, {
            "b_account": account_id, "b_points": points, "h_id": reservation.id,
            "h_node": node_id, "h_sale": sale_id, "h_now": now, "h_expires": now + ttl,
            "a_action": line.action, "a_subject": line.subject,
            "a_reason": line.reason}).scalar()
    else:
        granted = conn.execute(_GRANT, {"b_account": account_id, "b_points": points}).rowcount
    if not granted:
        account = session.get(LoyaltyAccount, account_id)
        if account is None:
            raise NotFound("No such loyalty account.", code="account_not_found")
        raise Conflict("The account has %(points)s points free.", code="insufficient_points",
                       points=account.balance - account.held,
                       details={"available": account.balance - account.held})
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table(RedemptionHold)).values(
            {c.key: getattr(reservation, c.key) for c in table(RedemptionHold).columns}))
        conn.execute(insert(table(AuditEntry)).values(
            {c.key: getattr(line, c.key) for c in table(AuditEntry).columns
             if c.key != "id"}))
    return reservation


HOLD_POLICY = "redemption:points_free"  # a hold is granted while balance - held covers it


def hold_audit(node_id: str, account_id: uuid.UUID, points: int, outcome: str,
               hold_id: uuid.UUID | None, now: datetime) -> AuditEntry:
    """The audit log's line for a redemption decision (granted or refused)."""
    return audit.entry(f"authorization:{outcome}",
                       f"redemption {points} points, account {account_id}",
                       reason=f"{HOLD_POLICY}: {outcome}", node_id=node_id,
                       reference_id=hold_id, at=now)


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
        raise Conflict("The hold was %(hold_status)s already.", code="hold_closed",
                       details={"status": reservation.status}, hold_status=reservation.status)
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
        mark_changed(session, account_id)
    return total


def review_tiers(session: Session, now: datetime | None = None) -> int:
    """Accounts whose review date has come get their tier from the last 12 months."""
    now = now or utcnow()
    due = session.scalars(select(LoyaltyAccount.id).where(
        LoyaltyAccount.review_at <= now)).all()
    for account_id in due:
        mark_changed(session, account_id)
    return len(due)
