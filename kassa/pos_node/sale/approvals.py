"""Decisions beyond the store: a refund, blind return, discount or price override larger than
the store manager's own limit, and any sale to a customer central blocked, need central's
authorization (``kassa.central.access.authorizations``).

The till asks central through its API (``POST /api/v1/authorizations``, proxied and signed),
keeps central's answer here, and the cashier repeats the action with the authorization's id;
``consume`` then checks that central approved this kind of action for at least this amount,
and that the approval was not used before. Offline, such an action is refused with the
reason: central must decide it.
"""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Conflict, KassaError
from kassa.pos_node.models import CentralAuthorization
from kassa.pos_node.sale import staff


class CentralAuthorizationRequired(KassaError):
    status = 403
    code = "central_authorization_required"


KINDS = ("refund", "blind_return", "discount", "price_override", "blocked_customer")


def needed(session: Session, kind: str, amount: int) -> bool:
    """Beyond what a store manager may allow at the till? (A blocked customer: always.)"""
    if kind == "blocked_customer":
        return True
    manager = staff.limits(session, "store_manager")
    limit = (manager.max_discount_bp if kind in ("discount", "price_override")
             else manager.max_refund_minor)
    return amount > limit


def require(session: Session, kind: str, amount: int, subject: str,
            authorization_id: uuid.UUID | None) -> CentralAuthorization | None:
    """None when the store may decide; else the approval that allows it, used up now."""
    if not needed(session, kind, amount):
        return None
    if authorization_id is None:
        details = {"kind": kind, "amount": amount, "subject": subject[:200],
                   "central_authorization_required": True}
        if kind == "blocked_customer":
            raise CentralAuthorizationRequired(
                "%(subject)s: the customer is blocked; central must approve it.",
                details=details, subject=subject)
        raise CentralAuthorizationRequired(
            "%(subject)s: beyond the store manager's limit; central must approve it.",
            details=details, subject=subject)
    return consume(session, authorization_id, kind, amount)


def consume(session: Session, authorization_id: uuid.UUID, kind: str,
            amount: int) -> CentralAuthorization:
    auth = session.get(CentralAuthorization, authorization_id)
    if auth is None or auth.kind != kind or auth.status != "approved" or auth.amount < amount:
        raise Conflict("Central has not approved this.", code="authorization_not_valid",
                       details={"status": auth.status if auth else None})
    if auth.used_at is not None:
        raise Conflict("That approval was used already.", code="authorization_used")
    auth.used_at = utcnow()
    session.flush()
    return auth


def remember(session: Session, answer: dict) -> None:
    """Keep central's answer (created or updated as it comes)."""
    row = {"id": uuid.UUID(str(answer["id"])), "kind": answer["kind"],
           "amount": answer["amount"], "subject": answer["subject"][:200],
           "status": answer["status"], "policy": answer["policy"][:64],
           "reason": (answer.get("reason") or "")[:200], "requested_at": utcnow()}
    stmt = insert(CentralAuthorization).values(**row)
    session.execute(stmt.on_conflict_do_update(
        index_elements=[CentralAuthorization.id],
        set_={"status": stmt.excluded.status, "reason": stmt.excluded.reason}))
