"""Who is at the till: the signed-in cashier or manager, from the till's session cookie.

The cookie is signed with the node's own secret, HttpOnly and SameSite=Strict; the API takes
only JSON bodies, so another site cannot post to the till in the cashier's name.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import wraps

from flask import current_app, g, session
from sqlalchemy.orm import Session

from kassa.common.errors import Unauthorized
from kassa.pos_node.models import User


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
        if not isinstance(uid, int):
            session.clear()
            raise Unauthorized("Sign in with your PIN first.", code="signed_out")
        g.uid = uid
        return view(*args, **kwargs)

    return wrapper


@contextmanager
def work(read_only: bool = False) -> Iterator[Session]:
    """The request's unit of work, with the signed-in user checked and put in ``g.user``."""
    with (db().read() if read_only else db().transaction()) as s:
        user = s.get(User, g.uid)
        if user is None or not user.active:
            session.clear()
            raise Unauthorized("Sign in with your PIN first.", code="signed_out")
        g.user = user
        yield s
