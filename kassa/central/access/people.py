"""Staff accounts and what each role may do alone at the till: one function per change, each
also writing the change feed (till users and role limits reach the tills; office users never
do).

Who may manage whom follows the chain's shape: an admin anyone, central office anyone but
admins, a regional manager the cashiers and store managers of their region's stores, a store
manager their own store's cashiers. ``open_account``, ``change_account`` and
``change_role_limit`` are what the API calls: they check that, and write the audit line with the
record before and after (never a secret or a hash).
"""

from __future__ import annotations

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from kassa.central.access import audit, auth
from kassa.central.models import ROLES, Region, RoleLimit, Store, User
from kassa.central.replication.feed import record_change
from kassa.central.replication.feed_documents import role_limit_doc, user_doc
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Forbidden, Invalid, NotFound
from kassa.common.passwords import MIN_PASSWORD, hash_secret, weakness

# The points each role may add to or take from a customer's account at a time, until central
# sets its own (``role_limits.max_points_adjust``); a cashier adjusts none.
POINTS_ADJUST = {"store_manager": 1000, "regional_manager": 5000, "central_office": 20000,
                 "admin": 20000}

# The roles each role may create and manage.
MANAGES = {
    "admin": frozenset(ROLES),
    "central_office": frozenset(ROLES) - {"admin"},
    "regional_manager": frozenset({"cashier", "store_manager"}),
    "store_manager": frozenset({"cashier"}),
}
TILL_ROLES = ("cashier", "store_manager")
OFFICE_SIGN_IN = auth.CENTRAL_ROLES  # the roles that may have a password for central


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
        if user.role not in OFFICE_SIGN_IN:
            raise Invalid("A cashier signs in at the till with a PIN only.",
                          code="password_not_allowed")
        user.password_hash, user.password_changed_at = hash_secret(password), utcnow()
        secrets_set.append("password")
    if unlock:
        auth.unlock(session, user.username)
    session.flush()
    if user.role in ("cashier", "store_manager"):
        record_change(session, "user", user.id, user_doc(user), store_id=user.store_id)
    return secrets_set


def set_role_limit(session: Session, role: str, max_discount_bp: int,
                   max_refund_minor: int, max_points_adjust: int | None = None) -> RoleLimit:
    """Set a role's limits; ``max_points_adjust`` None keeps the role's (its default for a role
    that had none). Only the till's two go to the tills: the points limit is central's."""
    if role not in ROLES:
        raise Invalid("Unknown role %(role)s.", code="bad_role", role=repr(role))
    if not 0 <= max_discount_bp <= 10000 or max_refund_minor < 0 or (
            max_points_adjust is not None and max_points_adjust < 0):
        raise Invalid("Limits must be a 0-100 % discount and a non-negative refund.",
                      code="bad_limit")
    limit = session.get(RoleLimit, role)
    if limit is None:
        limit = RoleLimit(role=role, max_points_adjust=POINTS_ADJUST.get(role, 0))
    limit.max_discount_bp, limit.max_refund_minor = max_discount_bp, max_refund_minor
    if max_points_adjust is not None:
        limit.max_points_adjust = max_points_adjust
    session.add(limit)
    session.flush()
    record_change(session, "role_limit", role, role_limit_doc(limit))
    return limit


def points_adjust_limit(session: Session, role: str) -> int:
    """The most points a person of ``role`` may add to or take from an account at a time."""
    limit = session.get(RoleLimit, role)
    return limit.max_points_adjust if limit is not None else POINTS_ADJUST.get(role, 0)


def role_limit_view(limit: RoleLimit) -> dict:
    """A role's limits as the API shows them: the till's two and central's points limit."""
    return {**role_limit_doc(limit), "max_points_adjust": limit.max_points_adjust}


def user_view(session: Session, user: User, locked: set[str] | None = None) -> dict:
    """An account as the API shows it; ``locked``: the locked-out names, when known."""
    region = session.get(Region, user.region_id) if user.region_id else None
    store = session.get(Store, user.store_id) if user.store_id else None
    return {"id": user.id, "username": user.username, "full_name": user.full_name,
            "role": user.role, "region_code": region.code if region else None,
            "store_code": store.code if store else None, "email": user.email,
            "active": user.active, "locked": user.username in (
                locked if locked is not None else auth.locked_names(session, [user.username]))}


def seen_by(stmt: Select, user: User) -> Select:
    """``stmt`` over users, narrowed to those the person manages or may see."""
    if user.role == "regional_manager":
        in_region = select(Store.id).where(Store.region_id == user.region_id)
        return stmt.where(or_(User.store_id.in_(in_region), User.id == user.id))
    if user.role == "store_manager":
        return stmt.where(User.store_id == user.store_id)
    return stmt


def accounts(session: Session, actor: User) -> list[dict]:
    """Staff accounts the person may see, by user name."""
    users = list(session.scalars(seen_by(select(User), actor).order_by(User.username)))
    locked = auth.locked_names(session, [u.username for u in users])
    return [user_view(session, u, locked) for u in users]


def _may_manage(actor: User, role: str) -> None:
    if role not in MANAGES[actor.role]:
        raise Forbidden("A %(actor_role)s may not manage %(role)s accounts.",
                        code="role_not_manageable", actor_role=actor.role, role=role)


def _place(session: Session, actor: User, store_code: str | None,
           region_code: str | None) -> tuple[Region | None, Store | None]:
    """The region and store a new account belongs to, within the actor's reach (out of reach
    answers as if it did not exist)."""
    region = store = None
    if store_code:
        store = session.scalars(select(Store).where(Store.code == store_code)).first()
        if store is None or (actor.role == "regional_manager"
                             and store.region_id != actor.region_id) or (
                actor.role == "store_manager" and store.id != actor.store_id):
            raise NotFound("No store %(store)s.", code="store_not_found", store=store_code)
    if region_code:
        region = session.scalars(select(Region).where(Region.code == region_code)).first()
        reach = actor.region_id if actor.role == "regional_manager" else \
            _store_region(session, actor) if actor.role == "store_manager" else None
        if region is None or (reach is not None and region.id != reach) or (
                store is not None and region.id != store.region_id):
            raise NotFound("No region %(region)s.", code="region_not_found", region=region_code)
    return region, store


def _store_region(session: Session, actor: User) -> int | None:
    store = session.get(Store, actor.store_id) if actor.store_id else None
    return store.region_id if store else None


def open_account(session: Session, actor: User, *, username: str, role: str, full_name: str,
                 email: str | None, password: str | None, pin: str | None,
                 region_code: str | None, store_code: str | None) -> dict:
    """Open an account: office roles with a password, till roles with a PIN."""
    _may_manage(actor, role)
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict("User %(username)s exists already.", code="duplicate_user",
                       username=username)
    region, store = _place(session, actor, store_code, region_code)
    if role in TILL_ROLES and not pin:
        raise Invalid("A till user needs a PIN.", code="pin_required")
    if role not in TILL_ROLES and not password:
        raise Invalid("An office user needs a password.", code="password_required")
    if password is not None and role not in OFFICE_SIGN_IN:
        raise Invalid("A cashier signs in at the till with a PIN only.",
                      code="password_not_allowed")
    if password is not None:
        require_strong_password(password, username)
    user = create_user(session, username, role, password=password, pin=pin,
                       full_name=full_name, region=region, store=store, email=email)
    after = user_view(session, user)
    audit.change(session, actor.id, "user", user.username, None, after)
    return after


def open_account_on_console(session: Session, *, username: str, role: str, secret: str,
                            full_name: str = "", email: str | None = None,
                            region_code: str | None = None,
                            store_code: str | None = None) -> dict:
    """What ``kassa central create-user`` does: open any account, the first administrator on an
    empty database included, for someone at the server's command line (there is nobody signed
    in whose reach to check). ``secret`` is the password of an office user, the PIN of a till
    user. Audited as done on the command line."""
    if role not in ROLES:
        raise Invalid("Unknown role %(role)s.", code="bad_role", role=repr(role))
    if session.scalar(select(User.id).where(User.username == username)):
        raise Conflict("User %(username)s exists already.", code="duplicate_user",
                       username=username)
    store = region = None
    if store_code:
        store = session.scalars(select(Store).where(Store.code == store_code)).first()
        if store is None:
            raise NotFound("No store %(store)s.", code="store_not_found", store=store_code)
    if region_code:
        region = session.scalars(select(Region).where(Region.code == region_code)).first()
        if region is None:
            raise NotFound("No region %(region)s.", code="region_not_found", region=region_code)
    if role in TILL_ROLES:
        if not (secret.isdigit() and 4 <= len(secret) <= 8):
            raise Invalid("A PIN is 4 to 8 digits.", code="bad_pin")
        password, pin = None, secret
    else:
        require_strong_password(secret, username)
        password, pin = secret, None
    user = create_user(session, username, role, password=password, pin=pin,
                       full_name=full_name, region=region, store=store, email=email)
    after = user_view(session, user)
    audit.change(session, None, "user", user.username, None, after, via="command line")
    return after


def require_strong_password(password: str, username: str) -> None:
    """Refuse a password that is short or easy to guess (``weak_password``, with a hint)."""
    hint = weakness(password, related=(username, "kassa"))
    if hint is not None:
        raise Invalid("This password is too easy to guess: use %(n)s characters or more, "
                      "several uncommon words or a long mix of letters, digits and signs.",
                      code="weak_password", details={"hint": hint}, n=MIN_PASSWORD)


def change_account(session: Session, actor: User, user_id: int, changes: dict) -> dict:
    """Rename, deactivate or reactivate an account, set a till user's PIN, reset a password
    or clear a lockout (the audit line says which secrets changed, never what to). A reset
    password ends the user's browser sessions and revokes their API tokens."""
    user = session.scalars(seen_by(select(User), actor).where(User.id == user_id)
                           .with_for_update()).first()
    if user is None:
        raise NotFound("No such user.", code="user_not_found")
    _may_manage(actor, user.role)
    if user.id == actor.id and changes.get("active") is False:
        raise Invalid("You cannot deactivate your own account.", code="self_lockout")
    if changes.get("password") is not None:
        require_strong_password(changes["password"], user.username)
    before = user_view(session, user)
    secrets_set = update_user(session, user, **changes)
    if "password" in secrets_set:
        auth.end_web_sessions(session, user.id)
        auth.revoke_tokens_of(session, actor, user.id, reason="password reset")
    after = user_view(session, user)
    if after != before or secrets_set:
        audit.change(session, actor.id, "user", user.username, before,
                     {**after, "changed": secrets_set} if secrets_set else after)
    return after


def change_role_limit(session: Session, actor: User, role: str, max_discount_bp: int,
                      max_refund_minor: int, max_points_adjust: int | None = None) -> dict:
    """Set a role's discount and refund limits (tills get them at their next pull) and, when
    given, the points it may adjust at a time."""
    if role not in ROLES:
        raise NotFound("No role %(role)s.", code="role_not_found", role=repr(role))
    old = session.get(RoleLimit, role)
    before = role_limit_view(old) if old else None
    after = role_limit_view(set_role_limit(session, role, max_discount_bp, max_refund_minor,
                                           max_points_adjust))
    if after != before:
        audit.change(session, actor.id, "role_limit", role, before, after)
    return after


def role_limits(session: Session) -> list[dict]:
    return [role_limit_view(r)
            for r in session.scalars(select(RoleLimit).order_by(RoleLimit.role))]
