"""Central's decisions for what a till may not decide alone: refunds and blind returns above
the store manager's limit, discounts and price overrides above it, a sale to a customer
central blocked.

A till asks (``request``); the policy for the kind and store (``AuthorizationPolicy``, else the
chain's, else ``DEFAULT``) approves at once up to its ``auto_approve_max``, declines at once
above ``decline_over``, and otherwise queues the request for central-office staff, who approve
or decline it while the cashier waits. A request nobody answers moves to the next role after
``escalate_after_s`` (central office, then the regional manager, then an admin) and expires
after ``expire_after_s`` with a clear answer to the till. Every decision names the policy that
made it and goes to the audit log; the till records the authorization's id with the sale or
return it allowed.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import Authorization, AuthorizationPolicy, Node, Store, User
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Forbidden, Invalid, NotFound

KINDS = ("refund", "blind_return", "discount", "price_override", "blocked_customer")
LEVELS = ("central_office", "regional_manager", "admin")  # who is asked, in escalation order
DECIDERS = frozenset(LEVELS)


@dataclass(frozen=True)
class Policy:
    name: str
    auto_approve_max: int | None = None
    decline_over: int | None = None
    escalate_after_s: int = 120
    expire_after_s: int = 600


# With no policy row, every request goes to central-office staff.
DEFAULT = Policy("default:review")


def policy_for(session: Session, kind: str, store_id: int) -> Policy:
    rows = session.scalars(select(AuthorizationPolicy).where(
        AuthorizationPolicy.kind == kind,
        or_(AuthorizationPolicy.store_id == store_id, AuthorizationPolicy.store_id.is_(None))))
    best = min(rows, key=lambda r: r.store_id is None, default=None)  # the store's first
    if best is None:
        return DEFAULT
    scope = f"store {store_id}" if best.store_id is not None else "chain"
    return Policy(f"{kind}:{scope}", best.auto_approve_max, best.decline_over,
                  best.escalate_after_s, best.expire_after_s)


def set_policy(session: Session, kind: str, store_id: int | None, *,
               auto_approve_max: int | None = None, decline_over: int | None = None,
               escalate_after_s: int = 120, expire_after_s: int = 600) -> AuthorizationPolicy:
    if kind not in KINDS:
        raise Invalid("No such kind of authorization: %(kind)s.", code="bad_kind", kind=kind)
    if not 0 < escalate_after_s <= expire_after_s:
        raise Invalid("Escalate before the request expires.", code="bad_policy")
    row = session.scalars(select(AuthorizationPolicy).where(
        AuthorizationPolicy.kind == kind, AuthorizationPolicy.store_id.is_(None)
        if store_id is None else AuthorizationPolicy.store_id == store_id)).first()
    row = row or AuthorizationPolicy(kind=kind, store_id=store_id)
    row.auto_approve_max, row.decline_over = auto_approve_max, decline_over
    row.escalate_after_s, row.expire_after_s = escalate_after_s, expire_after_s
    session.add(row)
    session.flush()
    return row


def request(session: Session, node_id: str, kind: str, amount: int, subject: str,
            cashier_id: int | None = None, now: datetime | None = None) -> Authorization:
    """A till's request, decided at once by the policy or queued for staff."""
    if kind not in KINDS:
        raise Invalid("No such kind of authorization: %(kind)s.", code="bad_kind", kind=kind)
    node = session.get(Node, node_id)
    assert node is not None  # node_id is the signed-in till's (auth.node_signed looked it up)
    now = now or utcnow()
    policy = policy_for(session, kind, node.store_id)
    auth = Authorization(id=uuid.uuid4(), node_id=node_id, store_id=node.store_id, kind=kind,
                         amount=amount, subject=subject[:200], cashier_id=cashier_id,
                         requested_at=now, policy=policy.name, reason="")
    if policy.decline_over is not None and amount > policy.decline_over:
        _decide(session, auth, "declined", None, f"over {policy.decline_over}", now)
    elif policy.auto_approve_max is not None and amount <= policy.auto_approve_max:
        _decide(session, auth, "approved", None, f"within {policy.auto_approve_max}", now)
    else:
        auth.status, auth.level = "pending", LEVELS[0]
        auth.escalate_at = now + timedelta(seconds=policy.escalate_after_s)
        auth.expires_at = now + timedelta(seconds=policy.expire_after_s)
    session.add(auth)
    session.flush()
    return auth


def _decide(session: Session, auth: Authorization, status: str, user: User | None,
            reason: str, now: datetime) -> None:
    auth.status, auth.level, auth.decided_at = status, None, now
    auth.decided_by, auth.reason = (user.id if user else None), reason[:200]
    audit.record(session, f"authorization:{status}", f"{auth.kind} {auth.amount} {auth.subject}",
                 reason=f"{auth.policy}: {reason}", actor_id=user.id if user else None,
                 on_behalf_of_id=auth.cashier_id, node_id=auth.node_id, reference_id=auth.id,
                 at=now)


def may_decide(session: Session, user: User, auth: Authorization) -> bool:
    """Staff at or above the level asked; a regional manager only for their region's stores."""
    if user.role not in DECIDERS or auth.level is None:
        return False
    if LEVELS.index(user.role) < LEVELS.index(auth.level):
        return False
    if user.role == "regional_manager":
        return session.scalar(select(Store.region_id).where(Store.id == auth.store_id)) \
            == user.region_id
    return True


def decide(session: Session, auth_id: uuid.UUID, user: User, approve: bool,
           reason: str) -> Authorization:
    auth = session.get(Authorization, auth_id, with_for_update=True)
    if auth is None or not _visible(session, user, auth):
        raise NotFound("No such authorization request.", code="authorization_not_found")
    if auth.status != "pending":
        raise Conflict("The request was %(request_status)s already.",
                       code="authorization_closed", details={"status": auth.status},
                       request_status=auth.status)
    if not may_decide(session, user, auth):
        assert auth.level is not None  # pending: request() set it, only _decide clears it
        raise Forbidden("This request waits for the %(level)s.", code="not_your_level",
                        level=auth.level.replace("_", " "))
    if not reason.strip():
        raise Invalid("Say why.", code="reason_required")
    _decide(session, auth, "approved" if approve else "declined", user, reason.strip(),
            utcnow())
    session.flush()
    return auth


def _visible(session: Session, user: User, auth: Authorization) -> bool:
    if user.role == "regional_manager":
        return session.scalar(select(Store.region_id).where(Store.id == auth.store_id)) \
            == user.region_id
    return user.role in DECIDERS


def queue(session: Session, user: User, status: str = "pending") -> list[Authorization]:
    """The requests this user sees (their region's, for a regional manager), oldest first."""
    stmt = select(Authorization).where(Authorization.status == status) \
        .order_by(Authorization.requested_at).limit(500)
    if user.role == "regional_manager":
        stmt = stmt.where(Authorization.store_id.in_(
            select(Store.id).where(Store.region_id == user.region_id)))
    elif user.role not in DECIDERS:
        return []
    return list(session.scalars(stmt))


def for_node(session: Session, auth_id: uuid.UUID, node_id: str) -> Authorization:
    auth = session.get(Authorization, auth_id)
    if auth is None or auth.node_id != node_id:
        raise NotFound("No such authorization request for this till.",
                       code="authorization_not_found")
    return auth


def escalate_and_expire(session: Session, now: datetime | None = None) -> dict:
    """Unanswered requests: expired once their time is up, else moved to the next role."""
    now = now or utcnow()
    expired = escalated = 0
    for auth in session.scalars(select(Authorization).where(
            Authorization.status == "pending",
            or_(Authorization.expires_at <= now, Authorization.escalate_at <= now))
            .with_for_update()):
        assert auth.expires_at is not None  # pending: request() set it
        if auth.expires_at <= now:
            _decide(session, auth, "expired", None, "nobody answered in time", now)
            expired += 1
        elif LEVELS.index(auth.level) + 1 < len(LEVELS):
            policy = policy_for(session, auth.kind, auth.store_id)
            auth.level = LEVELS[LEVELS.index(auth.level) + 1]
            auth.escalate_at = now + timedelta(seconds=policy.escalate_after_s)
            escalated += 1
        else:
            auth.escalate_at = auth.expires_at  # the last role: it waits until it expires
    session.flush()
    return {"expired": expired, "escalated": escalated}
