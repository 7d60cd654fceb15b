"""Staff accounts and what each role may do alone at the till: one function per change, each
also writing the change feed (till users and role limits reach the tills; office users never
do).
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from kassa.central.models import ROLES, Region, RoleLimit, Store, User
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import role_limit_doc, user_doc
from kassa.common.db import utcnow
from kassa.common.errors import Invalid
from kassa.common.passwords import hash_secret


def create_user(session: Session, username: str, role: str, *, password: str | None = None,
                pin: str | None = None, full_name: str = "", region: Region | None = None,
                store: Store | None = None, email: str | None = None) -> User:
    if role not in ROLES:
        raise Invalid("Unknown role %(role)s.", code="bad_role", role=repr(role))
    if role == "regional_manager" and region is None:
        raise Invalid("A regional manager needs a region.", code="bad_role")
    if role in ("cashier", "store_manager") and store is None:
        raise Invalid("A %(role)s needs a store.", code="bad_role", role=role)
    user = User(username=username, role=role, full_name=full_name, email=email,
                password_hash=hash_secret(password) if password else None,
                pin_hash=hash_secret(pin) if pin else None,
                region_id=region.id if region else None, store_id=store.id if store else None)
    session.add(user)
    session.flush()
    if role in ("cashier", "store_manager"):
        # Tills need these users (PIN sign-in works offline); office users never reach a node.
        # Only the tills of the user's own store get the PIN hash.
        record_change(session, "user", user.id, user_doc(user), store_id=user.store_id)
    return user


def set_user_active(session: Session, user: User, active: bool) -> None:
    update_user(session, user, active=active)


def update_user(session: Session, user: User, *, full_name: str | None = None,
                email: str | None = None, active: bool | None = None, pin: str | None = None,
                password: str | None = None, unlock: bool = False) -> list[str]:
    """Change an account; returns which secrets were set (``pin``, ``password``), for the
    audit log. A new password ends the user's sessions (their stamp changes); a till user's
    change reaches their store's tills."""
    secrets_set = []
    if full_name is not None:
        user.full_name = full_name
    if email is not None:
        user.email = email or None
    if active is not None:
        user.active = active
    if pin is not None:
        if user.role not in ("cashier", "store_manager"):
            raise Invalid("Only till users have a PIN.", code="bad_field")
        user.pin_hash = hash_secret(pin)
        secrets_set.append("pin")
    if password is not None:
        user.password_hash, user.password_changed_at = hash_secret(password), utcnow()
        secrets_set.append("password")
    if unlock:
        user.failed_sign_ins, user.locked_until = 0, None
    session.flush()
    if user.role in ("cashier", "store_manager"):
        record_change(session, "user", user.id, user_doc(user), store_id=user.store_id)
    return secrets_set


def set_role_limit(session: Session, role: str, max_discount_bp: int,
                   max_refund_minor: int) -> RoleLimit:
    if role not in ROLES:
        raise Invalid("Unknown role %(role)s.", code="bad_role", role=repr(role))
    if not 0 <= max_discount_bp <= 10000 or max_refund_minor < 0:
        raise Invalid("Limits must be a 0-100 % discount and a non-negative refund.",
                      code="bad_limit")
    limit = session.get(RoleLimit, role) or RoleLimit(role=role)
    limit.max_discount_bp, limit.max_refund_minor = max_discount_bp, max_refund_minor
    session.add(limit)
    session.flush()
    record_change(session, "role_limit", role, role_limit_doc(limit))
    return limit
