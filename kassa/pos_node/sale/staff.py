"""People at the till: PIN sign-in with lockout, per-role limits, and manager overrides.

Users, their PIN hashes and the role limits come down from central's feed, so all of this
works offline. An override is recorded with who, what and why, and goes up to central's
audit log through the outbox in the same transaction as the action it allowed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Forbidden, KassaError, Unauthorized
from kassa.common.passwords import verify_secret
from kassa.pos_node.models import Override, PinFailure, RoleLimit, User
from kassa.pos_node.replication.outbox import append_event

MAX_PIN_FAILURES = 5
LOCKOUT = timedelta(minutes=5)
TILL_ROLES = ("cashier", "store_manager")
# Used only until central's limits have arrived: nothing is allowed without a manager.
NO_LIMITS = RoleLimit(role="", max_discount_bp=0, max_refund_minor=0)


@dataclass(frozen=True)
class OverrideRequest:
    username: str
    pin: str
    reason: str


REFUSAL_CODES = {"discount": "discount_over_limit", "refund": "refund_over_limit",
                 "price_override": "price_override_over_limit"}


class OverrideRequired(KassaError):
    status = 403
    code = "override_required"


def _check_pin(session: Session, username: str, user: User | None, pin: str) -> bool:
    """Verify a PIN, counting wrong ones by user name: ``MAX_PIN_FAILURES`` in a row lock the
    name out for ``LOCKOUT``. A name nobody has is counted and locked the same way, and each
    attempt checks one argon2 hash, so neither answer nor time tells which names exist."""
    name = username[:64]
    right = verify_secret(user.pin_hash if user is not None else None, pin)
    failure = session.get(PinFailure, name)
    now = utcnow()
    if failure is not None and failure.locked_until and failure.locked_until > now:
        raise _committed(Unauthorized(
            "%(name)s is locked out after %(failures)s wrong PINs; try again later.",
            code="pin_locked", name=username, failures=MAX_PIN_FAILURES))
    if right:
        if failure is not None:
            session.delete(failure)
        return True
    if failure is None:
        failure = PinFailure(username=name, failures=0)
        session.add(failure)
    failure.failures += 1
    if failure.failures >= MAX_PIN_FAILURES:
        failure.locked_until, failure.failures = now + LOCKOUT, 0
    return False


def sign_in(session: Session, store_id: int, username: str, pin: str) -> User:
    user = session.scalars(select(User).where(User.username == username)).first()
    ok = _check_pin(session, username, user, pin)
    # No such user: ``_check_pin`` said no already (the ``None`` test is for the type checker).
    if not ok or user is None or not user.active or user.role not in TILL_ROLES \
            or user.store_id != store_id:
        # Commit the failure count even though we refuse: the caller's transaction is ours.
        session.flush()
        raise _committed(Unauthorized(
            "User name or PIN is wrong, or this user may not use this till.", code="bad_pin"))
    return user


def _committed(refusal: KassaError) -> KassaError:
    """A refusal whose bookkeeping (failed-PIN counts) must still be committed."""
    refusal.commit_anyway = True
    return refusal


def limits(session: Session, role: str) -> RoleLimit:
    return session.get(RoleLimit, role) or NO_LIMITS


def authorize(session: Session, store_id: int, cashier: User, action: str, subject: str,
              needed: bool, refusal: OverrideRequired,
              override: OverrideRequest | None) -> Override | None:
    """Return None when the cashier may act alone; else the recorded manager override.

    Raises ``refusal`` (the sentence the cashier reads, as ``discount_over_limit``,
    ``refund_over_limit`` or ``override_required``, with ``details.override_required``) when
    one is needed and none was given, ``bad_override`` when the PIN or the manager is wrong.
    """
    if not needed:
        return None
    if override is None:
        refusal.code = REFUSAL_CODES.get(action, "override_required")
        refusal.details = {"action": action, "override_required": True}
        raise refusal
    if not override.reason.strip():
        raise KassaError("An override needs a reason.", code="override_reason_missing",
                         status=422)
    manager = session.scalars(select(User).where(User.username == override.username)).first()
    # No such manager: ``_check_pin`` said no (the ``None`` test is for the type checker).
    if not _check_pin(session, override.username, manager, override.pin) or manager is None:
        session.flush()
        raise _committed(Unauthorized("Manager PIN is wrong.", code="bad_override"))
    if manager.role != "store_manager" or manager.store_id != store_id or not manager.active:
        raise Forbidden("%(username)s is not a manager of this store.", code="bad_override",
                        username=manager.username)
    record = Override(manager_id=manager.id, cashier_id=cashier.id, action=action,
                      subject=subject[:200], reason=override.reason.strip()[:200])
    session.add(record)
    session.flush()
    append_event(session, "override.granted", {
        "override_id": record.id, "manager_id": manager.id, "cashier_id": cashier.id,
        "action": action, "subject": record.subject, "reason": record.reason, "at": record.at})
    return record
