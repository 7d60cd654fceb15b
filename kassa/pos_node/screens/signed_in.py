"""Who is at the till: the signed-in cashier or manager, from the till's session cookie.

The cookie is signed with the node's own secret, HttpOnly and SameSite=Strict, and names a
session kept in the till's database, which signing out deletes (a copy of the cookie is then
worthless). Every change needs the session's CSRF token (the pages send it) or a JSON body
(scripts): a page on another site, another port of the same host included, can send neither.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps

from flask import current_app, g, session
from sqlalchemy import delete
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.common.errors import Unauthorized
from kassa.common.web import check_csrf
from kassa.pos_node.models import TillSession, User


def db():
    return current_app.extensions["kassa_db"]


def fiscal_register():
    """The till's fiscal register (``KASSA_FISCAL``), or None: a till without one."""
    return current_app.extensions.get("kassa_fiscal")


def till_user(view):
    """Require a till session cookie; the user behind it is loaded by ``work()``, in the
    handler's own transaction (one transaction per request, not two)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        uid = session.get("uid")
        if not isinstance(uid, int) or not isinstance(session.get("sid"), str):
            session.clear()
            raise Unauthorized("Sign in with your PIN first.", code="signed_out")
        g.uid = uid
        return view(*args, **kwargs)

    return wrapper


@contextmanager
def work(read_only: bool = False) -> Iterator[Session]:
    """The request's unit of work, with the signed-in user checked and put in ``g.user``."""
    with (db().read() if read_only else db().transaction()) as s:
        user = signed_in_user(s)
        if user is None:
            session.clear()
            raise Unauthorized("Sign in with your PIN first.", code="signed_out")
        g.user = user
        yield s


def signed_in_user(s: Session) -> User | None:
    """The active user whose live till session this browser's cookie names, else None."""
    uid, sid = session.get("uid"), session.get("sid")
    if not isinstance(uid, int) or not isinstance(sid, str):
        return None
    row = s.get(TillSession, _sha256(sid))
    if row is None or row.user_id != uid or row.expires_at <= utcnow():
        return None
    user = s.get(User, uid)
    return user if user is not None and user.active else None


def open_session(s: Session, user: User) -> None:
    """Sign this browser in as ``user``: a new session row, a new cookie, a new CSRF token."""
    sid = secrets.token_urlsafe(32)
    now = utcnow()
    s.add(TillSession(id_sha256=_sha256(sid), user_id=user.id, created_at=now,
                      expires_at=now + current_app.permanent_session_lifetime))
    s.execute(delete(TillSession).where(TillSession.expires_at < now))
    session.clear()
    session.permanent = True
    session.update(uid=user.id, sid=sid, csrf=secrets.token_urlsafe(24))


def close_session() -> None:
    """Sign this browser out: its session row goes, then the cookie."""
    sid = session.get("sid")
    if isinstance(sid, str):
        with db().transaction() as s:
            s.execute(delete(TillSession).where(TillSession.id_sha256 == _sha256(sid)))
    session.clear()


def csrf_token() -> str:
    """This browser's CSRF token (made on first use), for the pages' scripts."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    token: str = session["csrf"]
    return token


def refuse_forged_changes() -> None:
    """Before every request of a signed-in browser: a change without the CSRF token or a
    JSON body is refused. (Signed out, every change but signing in answers ``signed_out``,
    and signing in takes JSON only.)"""
    if "uid" in session:
        check_csrf(session.get("csrf"), scripts_may=True)


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()
