"""Who is calling central: a node (signed request) or a person (user name and password).

Nodes sign every request with their enrolled key (``kassa.common.signing``); central refuses
unknown or revoked nodes, bad signatures, times outside its window and replayed nonces.
People sign in on the web (a session cookie: HttpOnly, SameSite=Strict, Secure unless
configured off, naming a server-side session that signing out ends, with a CSRF token for every
unsafe request), send an API token (stored as a hash, revocable), or use HTTP Basic (scripts:
never asked for, so no browser remembers it, and changes only as JSON or CSV); passwords are
argon2 hashes, and five wrong ones in a row from one client lock that client out of the account
for a while. Roles decide what a person may do; regional scoping lives in the queries.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from functools import wraps

from flask import current_app, g, request, session
from sqlalchemy import bindparam, delete, func, insert, null, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from kassa.central.access import audit as audit_log
from kassa.central.access import region_wall
from kassa.central.handlers import db
from kassa.central.models import (
    ROLES,
    ApiToken,
    ChangeFeedEntry,
    FormSubmission,
    Node,
    NodeNonce,
    SignInFailure,
    Store,
    User,
    WebSession,
)
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
from kassa.common.web import check_csrf

SEEN_EVERY = timedelta(seconds=1)


@dataclass(frozen=True)
class CheckIn:
    """What central knows of a signed request's node as it checks it in: its store and region
    (what of the feed it may see) and the feed's newest version at that moment (a pull that
    finds nothing newer is answered from this alone: most of a chain's pulls)."""

    node_id: str
    store_id: int
    region_id: int
    feed_version: int


def node_signed(view=None, *, reads: bool = False):
    """Require a request signed by an enrolled, active node; sets ``g.node_id`` and
    ``g.check_in`` (:class:`CheckIn`).

    The signature is checked before the time, so a refusal for clock skew is known to come
    from the node itself and is recorded on its row for central's node status. The nonce is
    stored (and the node's last contact moved) in the same short transaction as the key
    lookup, before the view runs; a nonce seen before is a replayed request.

    ``reads``: on PostgreSQL the view runs in the check-in's transaction, its database session
    as ``g.check_in_session`` (else that is None and the view opens its own): a pull is then
    one transaction, not two, its nonce kept only if it is answered.
    """
    if view is None:
        return lambda undecorated: node_signed(undecorated, reads=reads)

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
        g.check_in_session = None
        # One short transaction: the node's keys, the signature, the nonce. Its commit does
        # not wait for the disk on PostgreSQL: a crash could forget the last nonces, reopening
        # a replay only inside the window, and only for requests made just then.
        with ExitStack() as checking_in:
            session = checking_in.enter_context(db().transaction())
            postgresql = session.get_bind().dialect.name == "postgresql"
            try:
                if abs(skew) <= window and postgresql:
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
                session.execute(update(Node).where(Node.id == node_id).values(
                    last_refusal="clock_skew", last_refused_at=now, clock_skew_seconds=skew))
                refusal = Unauthorized(
                    "The node's clock is %(skew)s s from central's (window %(window)s s).",
                    code="clock_skew", details={"skew_seconds": skew},
                    skew=format(skew, "+d"), window=window)
                refusal.commit_anyway = True  # the refusal is noted on the node's row
                raise refusal
            g.node_id = node_id
            g.check_in = CheckIn(node_id, node.store_id, node.region_id, node.feed_version)
            if reads and postgresql:
                g.check_in_session = session
                return view(*args, **kwargs)
        return view(*args, **kwargs)

    return wrapper


# Read with the node's keys, in the same statement: see CheckIn.
_FEED_VERSION = (select(func.coalesce(func.max(ChangeFeedEntry.version), 0))
                 .scalar_subquery().label("feed_version"))
_NODE_KEYS = (select(Node.active, Node.public_key_pem, Node.previous_public_key_pem,
                     Node.previous_key_until, Node.store_id, Store.region_id, _FEED_VERSION)
              .join(Store, Store.id == Node.store_id).where(Node.id == bindparam("id")))


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
_NONCES, _NODES, _STORES = table(NodeNonce), table(Node), table(Store)  # Core: no ORM needed
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
                       _NODES.c.store_id, _STORES.c.region_id, _FEED_VERSION,
                       func.set_config("synchronous_commit", "off", True).label("async_commit"))
                .select_from(_NODES.join(_STORES, _STORES.c.id == _NODES.c.store_id))
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
    """A person's request without (valid) credentials. No ``WWW-Authenticate: Basic``
    challenge: a browser that answered one would send the password with every request after,
    cross-site forms' too. Scripts send Basic unasked, or better an API token."""


MAX_FAILURES = 5  # wrong passwords in a row, from one client, before it is locked out
LOCKOUT = timedelta(minutes=15)
TOKEN = re.compile(r"kassa_(\d{1,9})_([A-Za-z0-9_-]{20,100})")
# Cashiers work at tills only: a password given to one is never checked here.
CENTRAL_ROLES = frozenset(ROLES) - {"cashier"}


def client_hash(purpose: str = "staff") -> str:
    """The calling client (its address as central sees it), hashed with the app's secret."""
    secret = current_app.secret_key or ""
    return hashlib.sha256(f"{secret!s}|{purpose}|{request.remote_addr}".encode()).hexdigest()


def refused_lately(session, client: str, window: timedelta) -> int:
    """How many refusals ``note_refusal`` noted for this client within ``window``."""
    count = session.scalar(select(func.count()).where(
        FormSubmission.client_hash == client, FormSubmission.at > utcnow() - window))
    return int(count or 0)


def note_refusal(session, client: str, window: timedelta) -> None:
    """Note a refusal for the client (a rate limit counts them with ``refused_lately``)."""
    now = utcnow()
    session.add(FormSubmission(client_hash=client, at=now))
    if secrets.randbelow(20) == 0:
        session.execute(delete(FormSubmission).where(FormSubmission.client_hash == client,
                                                     FormSubmission.at < now - window))


def check_password(username: str, password: str, *, audit: bool = False) -> User:
    """The user with this name and password. ``MAX_FAILURES`` wrong passwords in a row from
    one client lock that client out of the name for ``LOCKOUT`` (the count is committed though
    the sign-in is refused); other clients are not locked out. Unknown names, inactive users
    and cashiers count and lock the same way, and each attempt checks one argon2 hash, so
    neither the answer nor its time tells which names exist. ``audit`` writes the sign-in (or
    its refusal) to the audit log: web sign-ins do, each HTTP Basic request does not; a
    lockout always does."""
    now, client, name = utcnow(), client_hash(), username[:64]
    with db().transaction() as session:
        user = session.scalars(select(User).where(User.username == username)).first()
        usable = user is not None and user.active and user.role in CENTRAL_ROLES
        right = verify_secret(user.password_hash if user and usable else None, password)
        failure = session.get(SignInFailure, (name, client))
        if failure is not None and failure.locked_until is not None and \
                failure.locked_until > now:
            outcome = "locked"
        elif right:
            outcome = "ok"
            if failure is not None:
                session.delete(failure)
        else:
            outcome = "wrong" if _count_failure(session, name, client, now) else "locked"
        if audit or outcome == "locked":
            audit_log.record(session, f"sign_in:{outcome}", f"user {username}", at=now,
                             actor_id=user.id if user else None,
                             reason=request.remote_addr or "")
    if outcome == "locked":
        raise SignInRequired("Too many wrong passwords: %(username)s is locked out for "
                             "%(minutes)s minutes from here.", code="account_locked",
                             username=username, minutes=int(LOCKOUT.total_seconds() // 60))
    if outcome == "wrong":
        raise SignInRequired("User name or password is wrong.", code="bad_credentials")
    assert user is not None  # outcome "ok" is only reached with a user
    return user


def _count_failure(session, name: str, client: str, now) -> bool:
    """Count a wrong password for this name from this client, in one statement (parallel
    requests each count); False when it locks the client out."""
    upsert = (pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert)
    stmt = upsert(SignInFailure).values(username=name, client_hash=client, failures=1,
                                        last_at=now)
    failures = session.scalar(stmt.on_conflict_do_update(
        index_elements=[SignInFailure.username, SignInFailure.client_hash],
        set_={"failures": stmt.excluded.failures + SignInFailure.failures,
              "last_at": now}).returning(SignInFailure.failures))
    if secrets.randbelow(100) == 0:  # a day without a wrong password: forgotten
        session.execute(delete(SignInFailure).where(
            SignInFailure.last_at < now - timedelta(days=1),
            or_(SignInFailure.locked_until.is_(None), SignInFailure.locked_until < now)))
    if failures < MAX_FAILURES:
        return True
    session.execute(update(SignInFailure).where(
        SignInFailure.username == name, SignInFailure.client_hash == client)
        .values(locked_until=now + LOCKOUT, failures=0))
    return False


def locked_names(session, usernames) -> set[str]:
    """Which of these user names some client is locked out of now."""
    return set(session.scalars(select(SignInFailure.username).where(
        SignInFailure.username.in_(list(usernames)), SignInFailure.locked_until > utcnow())))


def unlock(session, username: str) -> None:
    """Clear every client's lockout and count for this user name."""
    session.execute(delete(SignInFailure).where(SignInFailure.username == username))


def open_web_session(db_session, user: User) -> str:
    """A new server-side session for a browser signing in; returns the id its cookie holds."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    db_session.add(WebSession(id_sha256=_sha256(sid), user_id=user.id, created_at=now,
                              expires_at=now + current_app.permanent_session_lifetime))
    if secrets.randbelow(50) == 0:
        db_session.execute(delete(WebSession).where(WebSession.expires_at < now))
    return sid


def end_web_sessions(db_session, user_id: int, *, keep: str | None = None) -> None:
    """End the user's browser sessions (but the one ``keep`` names): their cookies stop
    working at once."""
    stmt = delete(WebSession).where(WebSession.user_id == user_id)
    if keep:
        stmt = stmt.where(WebSession.id_sha256 != _sha256(keep))
    db_session.execute(stmt)


def end_web_session(sid: object) -> None:
    """Sign this browser out: its session's row goes, so a copy of the cookie is worthless."""
    if isinstance(sid, str):
        with db().transaction() as db_session:
            db_session.execute(delete(WebSession).where(WebSession.id_sha256 == _sha256(sid)))


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def current_user() -> User:
    """The person behind the request: an API token (``Authorization: Bearer``), HTTP Basic
    (a script's; a change must come as JSON or CSV, which no form on another site can send)
    or a web session (its changes must carry the session's CSRF token); 401 otherwise."""
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return _token_user(auth[7:].strip())
    if request.authorization is not None and request.authorization.type == "basic":
        basic = request.authorization
        if not basic.username:
            raise SignInRequired("Sign in with your user name and password.",
                                 code="auth_required")
        check_csrf(None, scripts_may=True)
        return check_password(basic.username, basic.password or "")
    sid = session.get("sid")
    if isinstance(sid, str):
        with db().read() as db_session:
            user = db_session.scalar(select(User).join(
                WebSession, WebSession.user_id == User.id).where(
                WebSession.id_sha256 == _sha256(sid), WebSession.expires_at > utcnow()))
        if user is not None and user.active:
            check_csrf(session.get("csrf"), scripts_may=False)
            return user
    if "sid" in session or "uid" in session:
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


def revoke_tokens_of(db_session, actor: User, user_id: int, *, reason: str) -> int:
    """Revoke every live token of a user (a password reset), each audited; returns how many."""
    now, count = utcnow(), 0
    for token in db_session.scalars(select(ApiToken).where(
            ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))):
        token.revoked_at = now
        audit_log.record(db_session, "api_token_revoked", f"token {token.id} {token.name}",
                         actor_id=actor.id, at=now, reason=reason)
        count += 1
    return count


def tokens_of(db_session, user_id: int) -> list[ApiToken]:
    return list(db_session.scalars(select(ApiToken).where(ApiToken.user_id == user_id)
                                   .order_by(ApiToken.id)))


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
