"""Who is calling central: a node (signed request) or a person (user name and password).

Nodes sign every request with their enrolled key (``kassa.common.signing``); central refuses
unknown or revoked nodes, bad signatures, times outside its window and replayed nonces.
People sign in on the web (a session cookie: HttpOnly, SameSite=Strict, Secure unless
configured off, with a CSRF token for every unsafe request), send an API token (stored as a
hash, revocable), or use HTTP Basic (scripts); passwords are argon2 hashes, and five wrong ones
in a row lock the user out for a while. Roles decide what a person may do; regional scoping
lives in the queries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import timedelta
from functools import wraps

from flask import current_app, g, request, session
from sqlalchemy import bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy.exc import IntegrityError

from kassa.central.access import audit as audit_log
from kassa.central.access import region_wall
from kassa.central.handlers import db
from kassa.central.models import ApiToken, Node, NodeNonce, User
from kassa.common.db import table, utcnow
from kassa.common.errors import Forbidden, NotFound, Unauthorized
from kassa.common.passwords import verify_secret
from kassa.common.signing import (
    HEADER_NODE,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIME,
    NONCE_FORMAT,
    verify_request,
)

SEEN_EVERY = timedelta(seconds=1)


def node_signed(view):
    """Require a request signed by an enrolled, active node; sets ``g.node_id``.

    The signature is checked before the time, so a refusal for clock skew is known to come
    from the node itself and is recorded on its row for central's node status. The nonce is
    stored (and the node's last contact moved) in the same short transaction as the key
    lookup, before the view runs; a nonce seen before is a replayed request.
    """

    @wraps(view)
    def wrapper(*args, **kwargs):
        node_id = request.headers.get(HEADER_NODE, "")
        signature = request.headers.get(HEADER_SIGNATURE, "")
        nonce = request.headers.get(HEADER_NONCE, "")
        try:
            stamp = int(request.headers.get(HEADER_TIME, ""))
        except ValueError:
            raise Unauthorized("The request is not signed.", code="unsigned_request") from None
        if not node_id or not signature or not NONCE_FORMAT.fullmatch(nonce):
            raise Unauthorized("The request is not signed.", code="unsigned_request")
        path_qs = request.path + (f"?{request.query_string.decode()}"
                                  if request.query_string else "")
        window = current_app.config["KASSA"].clock_skew_seconds
        now = utcnow()
        skew = stamp - int(now.timestamp())
        try:
            # One short transaction: the node's keys, the signature, the nonce. Its commit
            # does not wait for the disk on PostgreSQL: a crash could forget the last nonces,
            # reopening a replay only inside the window, and only for requests made just then.
            with db().transaction() as session:
                if abs(skew) <= window and session.get_bind().dialect.name == "postgresql":
                    node = _check_in_pg(session, node_id, nonce, now)
                else:
                    node = session.execute(_NODE_KEYS, {"id": node_id}).first()
                keys = _verifying_keys(node)
                if not keys:
                    raise Unauthorized("Node %(node_id)s is unknown, revoked or not enrolled.",
                                       code="unknown_node", node_id=repr(node_id))
                if not any(verify_request(key, signature, request.method, path_qs, stamp,
                                          nonce, g.raw_body) for key in keys):
                    raise Unauthorized("The request signature does not verify.",
                                       code="bad_signature")
                if abs(skew) <= window:
                    _remember_nonce(session, node_id, nonce, now, window)
        except IntegrityError:
            raise Unauthorized("This request was sent before (its nonce is used).",
                               code="replayed_request") from None
        if abs(skew) > window:
            with db().transaction() as session:
                session.execute(update(Node).where(Node.id == node_id).values(
                    last_refusal="clock_skew", last_refused_at=now, clock_skew_seconds=skew))
            raise Unauthorized(
                "The node's clock is %(skew)s s from central's (window %(window)s s).",
                code="clock_skew", details={"skew_seconds": skew}, skew=format(skew, "+d"),
                window=window)
        g.node_id = node_id
        return view(*args, **kwargs)

    return wrapper


_NODE_KEYS = select(Node.active, Node.public_key_pem, Node.previous_public_key_pem,
                    Node.previous_key_until).where(Node.id == bindparam("id"))


def _verifying_keys(node) -> list[str]:
    if node is None or not node.active or node.public_key_pem is None:
        return []
    keys = [node.public_key_pem]
    if node.previous_public_key_pem and node.previous_key_until and \
            node.previous_key_until > utcnow():
        keys.append(node.previous_public_key_pem)
    return keys


# On PostgreSQL the key lookup, the nonce and the node's last contact are one statement (the
# busiest path central has: every signed request), and its commit does not wait for the disk.
# Checking the signature after storing the nonce is safe: a bad one rolls the nonce back.
_NONCES, _NODES = table(NodeNonce), table(Node)  # Core: the ORM adds nothing here
_NONCE_CTE = (insert(_NONCES).values(node_id=bindparam("node"), nonce=bindparam("nonce"),
                                     seen_at=bindparam("now"))
              .returning(_NONCES.c.node_id).cte("nonce"))
_SEEN_CTE = (update(_NODES).where(_NODES.c.id == bindparam("node"), or_(
    _NODES.c.last_seen_at.is_(None), _NODES.c.last_seen_at < bindparam("stale"),
    _NODES.c.clock_skew_seconds.is_not(None)))
    .values(last_seen_at=bindparam("now"), clock_skew_seconds=null())
    .returning(_NODES.c.id).cte("seen"))
_CHECK_IN_PG = (select(_NODES.c.active, _NODES.c.public_key_pem,
                       _NODES.c.previous_public_key_pem, _NODES.c.previous_key_until,
                       func.set_config("synchronous_commit", "off", True).label("async_commit"))
                .where(_NODES.c.id == bindparam("node")).add_cte(_NONCE_CTE).add_cte(_SEEN_CTE))


def _check_in_pg(session, node_id: str, nonce: str, now):
    """The node's keys, with its nonce stored and its contact noted (see above)."""
    try:
        return session.execute(_CHECK_IN_PG, {"node": node_id, "nonce": nonce, "now": now,
                                              "stale": now - SEEN_EVERY}).first()
    except IntegrityError as err:
        if getattr(err.orig, "sqlstate", None) == "23503":  # no such node for the nonce
            raise Unauthorized("Node %(node_id)s is unknown, revoked or not enrolled.",
                               code="unknown_node", node_id=repr(node_id)) from None
        raise


def _remember_nonce(session, node_id: str, nonce: str, now, window: int) -> None:
    if session.get_bind().dialect.name != "postgresql":  # there, _check_in_pg did it
        _store_nonce(session, node_id, nonce, now)
    if secrets.randbelow(200) == 0:
        # Older than twice the window: their times are refused anyway.
        session.execute(delete(NodeNonce).where(
            NodeNonce.seen_at < now - timedelta(seconds=2 * window)))


def _store_nonce(session, node_id: str, nonce: str, now) -> None:
    session.execute(insert(NodeNonce).values(node_id=node_id, nonce=nonce, seen_at=now))
    # The node's row is written at most once a second per node: busy tills sending many
    # requests at once would otherwise queue on its row lock.
    session.execute(update(Node).where(
        Node.id == node_id,
        or_(Node.last_seen_at.is_(None), Node.last_seen_at < now - SEEN_EVERY,
            Node.clock_skew_seconds.is_not(None)))
        .values(last_seen_at=now, clock_skew_seconds=None))


class SignInRequired(Unauthorized):
    """A person's request without (valid) credentials: the challenge makes a browser ask."""

    headers = {"WWW-Authenticate": 'Basic realm="kassa central", charset="UTF-8"'}


MAX_FAILURES = 5  # wrong passwords in a row before the user is locked out
LOCKOUT = timedelta(minutes=15)
TOKEN = re.compile(r"kassa_(\d{1,9})_([A-Za-z0-9_-]{20,100})")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def check_password(username: str, password: str, *, audit: bool = False) -> User:
    """The user with this name and password, counting failures: after ``MAX_FAILURES`` wrong
    passwords in a row the user is locked out for ``LOCKOUT`` (the count is committed even
    though the sign-in is refused). ``audit`` writes the sign-in (or its refusal) to the audit
    log: web sign-ins do, each HTTP Basic request does not."""
    now = utcnow()
    with db().transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        if user is not None and user.locked_until is not None and user.locked_until > now:
            outcome = "locked"
        elif user is None or not user.active or not verify_secret(user.password_hash,
                                                                   password):
            outcome = "wrong"
            if user is not None:
                user.failed_sign_ins += 1
                if user.failed_sign_ins >= MAX_FAILURES:
                    user.locked_until, user.failed_sign_ins = now + LOCKOUT, 0
                    outcome = "locked"
        else:
            outcome = "ok"
            user.failed_sign_ins, user.locked_until = 0, None
        if audit or outcome == "locked":
            audit_log.record(session, f"sign_in:{outcome}", f"user {username}", at=now,
                         actor_id=user.id if user else None, reason=request.remote_addr or "")
    if outcome == "locked":
        raise SignInRequired("Too many wrong passwords: %(username)s is locked out for "
                             "%(minutes)s minutes.", code="account_locked", username=username,
                             minutes=int(LOCKOUT.total_seconds() // 60))
    if outcome == "wrong":
        raise SignInRequired("User name or password is wrong.", code="bad_credentials")
    assert user is not None  # outcome "ok" is only reached with a user
    return user


def password_stamp(user: User) -> str:
    """Changes when the password does: sessions made before a change stop working."""
    return user.password_changed_at.isoformat() if user.password_changed_at else "-"


def current_user() -> User:
    """The person behind the request: an API token (``Authorization: Bearer``), a web session
    (its unsafe requests must carry the session's CSRF token) or HTTP Basic; 401 otherwise."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return _token_user(auth[7:].strip())
    if request.authorization is not None and request.authorization.type == "basic":
        basic = request.authorization
        if not basic.username:
            raise SignInRequired("Sign in with your user name and password.",
                                 code="auth_required")
        return check_password(basic.username, basic.password or "")
    uid = session.get("uid")
    if isinstance(uid, int):
        with db().read() as db_session:
            user = db_session.get(User, uid)
        if user is not None and user.active and session.get("pwd") == password_stamp(user):
            sent = request.headers.get("X-CSRF-Token") or (
                request.form.get("csrf", "") if request.mimetype ==
                "application/x-www-form-urlencoded" else "")
            if request.method not in SAFE_METHODS and not hmac.compare_digest(
                    sent, session.get("csrf", "") or "-"):
                raise Forbidden("The request lacks this session's CSRF token.",
                                code="csrf_failed")
            return user
        session.clear()
    raise SignInRequired("Sign in with your user name and password.", code="auth_required")


def _token_user(raw: str) -> User:
    match = TOKEN.fullmatch(raw)
    if match is None:
        raise SignInRequired("That is not a kassa API token.", code="bad_token")
    token_id, secret = int(match.group(1)), match.group(2)
    now = utcnow()
    with db().transaction() as db_session:
        token = db_session.get(ApiToken, token_id)
        if token is None or token.revoked_at is not None or not hmac.compare_digest(
                token.secret_sha256, hashlib.sha256(secret.encode()).hexdigest()):
            raise SignInRequired("The API token is unknown or revoked.", code="bad_token")
        user = db_session.get(User, token.user_id)
        if user is None or not user.active:
            raise SignInRequired("The token's user is no longer active.", code="bad_token")
        if token.last_used_at is None or token.last_used_at < now - timedelta(minutes=1):
            token.last_used_at = now
    return user


def new_token(db_session, user: User, name: str) -> tuple[ApiToken, str]:
    """A new API token for ``user``; the full token is returned once and never stored."""
    secret = secrets.token_urlsafe(32)
    token = ApiToken(user_id=user.id, name=name[:100],
                     secret_sha256=hashlib.sha256(secret.encode()).hexdigest())
    db_session.add(token)
    db_session.flush()
    return token, f"kassa_{token.id}_{secret}"


def create_token(db_session, actor: User, name: str) -> tuple[ApiToken, str]:
    """``new_token`` for the person themselves, audited (never the secret)."""
    token, secret = new_token(db_session, actor, name)
    audit_log.record(db_session, "api_token_created", f"token {token.id} {token.name}",
                     actor_id=actor.id)
    return token, secret


def revoke_token(db_session, actor: User, token_id: int) -> ApiToken:
    """Revoke a token (one's own; an admin: anyone's); it stops working at once."""
    token = db_session.get(ApiToken, token_id)
    if token is None or (token.user_id != actor.id and actor.role != "admin"):
        raise NotFound("No such token.", code="token_not_found")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit_log.record(db_session, "api_token_revoked", f"token {token.id} {token.name}",
                         actor_id=actor.id, at=token.revoked_at)
    return token


def require_role(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user.role not in roles:
                raise Forbidden("The %(role)s role may not do this.", code="role_forbidden",
                                role=user.role)
            g.user = user
            # From here on, a regional manager's queries run behind row-level security too.
            region_wall.scope_request(user.region_id if user.role == "regional_manager"
                                      else None)
            return view(*args, **kwargs)
        return wrapper
    return decorator
