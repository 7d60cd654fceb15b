"""Points an office adds to or takes from a customer's account by hand (a goodwill gesture, a
purchase the till could not credit, a mistake put right), and the account's history as people
read it.

An adjustment is a ledger entry like any other (``adjustment:<id>``), so the balance, the tills'
replica (the account goes into the change feed when the transaction commits) and the audit
proofs treat it as they treat a sale's points. Each role may move at most its limit at a time
(``role_limits.max_points_adjust``); the audit line says who, why and how many, and carries the
adjustment's id, by which the history finds the reason again.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.access import audit, people
from kassa.central.membership import loyalty_accounts
from kassa.central.models import (
    AuditEntry,
    Customer,
    LoyaltyAccount,
    LoyaltyEntry,
    RedemptionHold,
    Return,
    Sale,
    Store,
    User,
)
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Forbidden
from kassa.loyalty.ledger import EntryKind, LedgerEntry

ADJUSTED = "points_adjusted"  # the audit line's action
HISTORY = 50


def adjust(session: Session, customer: Customer, actor: User, points: int, reason: str) -> dict:
    """Add ``points`` (or take them, negative) with ``reason``: refused above the actor's
    role limit (403 ``points_over_limit``), without an account (409 ``no_loyalty_account``) or
    when it would take points the customer does not have (409 ``points_short``)."""
    limit = people.points_adjust_limit(session, actor.role)
    if abs(points) > limit:
        raise Forbidden("You may add or take at most %(limit)s points at a time; ask someone "
                        "whose limit is higher.", code="points_over_limit",
                        details={"limit": limit}, limit=limit)
    account = session.scalars(select(LoyaltyAccount).where(
        LoyaltyAccount.customer_id == customer.id).with_for_update()).first()
    if account is None:
        raise Conflict("This customer has no loyalty account.", code="no_loyalty_account")
    if account.balance - account.held + points < 0:
        raise Conflict("The customer has %(available)s points to take.", code="points_short",
                       details={"available": account.balance - account.held},
                       available=account.balance - account.held)
    adjustment_id, now = uuid.uuid4(), utcnow()
    expires = (now + timedelta(days=loyalty_accounts.rules(session).points_valid_days)
               if points > 0 else None)
    loyalty_accounts.post(session, account.id, LedgerEntry(
        f"adjustment:{adjustment_id}", EntryKind.ADJUSTMENT, points, now, expires))
    session.refresh(account)
    audit.record(session, ADJUSTED, f"customer {customer.id}", actor_id=actor.id,
                 reason=reason, reference_id=adjustment_id, at=now,
                 details={"points": points, "balance": account.balance, "limit": limit})
    return {"id": adjustment_id, "points": points, "reason": reason, "at": now,
            "balance": account.balance}


def history(session: Session, account_id: uuid.UUID, limit: int = HISTORY) -> list[dict]:
    """The account's newest changes, one line per cause people know: a purchase (its lines'
    points together) with its receipt, a return with its own, an adjustment with its reason
    and who made it, an expiry, an import."""
    entries = list(session.execute(
        select(LoyaltyEntry.cause, LoyaltyEntry.kind, LoyaltyEntry.points, LoyaltyEntry.at)
        .where(LoyaltyEntry.account_id == account_id)
        .order_by(LoyaltyEntry.at.desc(), LoyaltyEntry.id.desc()).limit(limit * 4)))
    lines: dict[tuple, dict] = {}
    for cause, kind, points, at in entries:
        source, key = _source(cause)
        line = lines.setdefault((source, key, kind), {
            "at": at, "kind": kind, "points": 0, "source": source, "key": key,
            "receipt_no": None, "sale_id": None, "return_no": None, "store_code": None,
            "reason": None, "by": None})
        line["points"] += points
    shown = sorted(lines.values(), key=lambda ln: ln["at"], reverse=True)[:limit]
    _name_sales(session, shown)
    _name_adjustments(session, shown)
    for line in shown:
        del line["key"]
    return shown


def _source(cause: str) -> tuple[str, str]:
    """What made an entry, from its cause: ``(sale | hold | return | adjustment | expiry |
    import | other, its id)``."""
    head, _, rest = cause.partition(":")
    if head in ("sale", "hold", "return", "adjustment", "expiry", "import"):
        return head, rest.split(":", 1)[0]
    return "other", cause


def _uuid(text: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(text)
    except ValueError:
        return None


def _name_sales(session: Session, lines: list[dict]) -> None:
    """Receipts for the purchases and returns among ``lines`` (a hold's burn: its sale's)."""
    held = {h: line for line in lines if line["source"] == "hold"
            if (h := _uuid(line["key"])) is not None}
    sale_of_hold = dict(session.execute(select(RedemptionHold.id, RedemptionHold.sale_id)
                                        .where(RedemptionHold.id.in_(held)))) if held else {}
    for hold_id, line in held.items():
        if sale_of_hold.get(hold_id) is not None:
            line["source"], line["key"] = "sale", str(sale_of_hold[hold_id])
    sale_ids = {s for line in lines if line["source"] == "sale"
                if (s := _uuid(line["key"])) is not None}
    return_ids = {r for line in lines if line["source"] == "return"
                  if (r := _uuid(line["key"])) is not None}
    sales = {str(i): (no, code) for i, no, code in session.execute(
        select(Sale.id, Sale.receipt_no, Store.code).join(Store, Store.id == Sale.store_id)
        .where(Sale.id.in_(sale_ids)))} if sale_ids else {}
    returns = {str(i): (no, sale, original, code) for i, no, sale, original, code in
               session.execute(select(Return.id, Return.return_no, Return.original_sale_id,
                                      Return.original_receipt_no, Store.code)
                               .join(Store, Store.id == Return.store_id)
                               .where(Return.id.in_(return_ids)))} if return_ids else {}
    for line in lines:
        if line["source"] == "sale" and line["key"] in sales:
            line["receipt_no"], line["store_code"] = sales[line["key"]]
            line["sale_id"] = line["key"]
        elif line["source"] == "return" and line["key"] in returns:
            number, sale_id, original, code = returns[line["key"]]
            line["return_no"], line["receipt_no"], line["store_code"] = number, original, code
            line["sale_id"] = str(sale_id) if sale_id else None


def _name_adjustments(session: Session, lines: list[dict]) -> None:
    ids = {a: line for line in lines if line["source"] == "adjustment"
           if (a := _uuid(line["key"])) is not None}
    if not ids:
        return
    for reference, reason, username in session.execute(
            select(AuditEntry.reference_id, AuditEntry.reason, User.username)
            .outerjoin(User, User.id == AuditEntry.actor_id)
            .where(AuditEntry.action == ADJUSTED, AuditEntry.reference_id.in_(ids))):
        if reference in ids:
            ids[reference]["reason"], ids[reference]["by"] = reason, username
