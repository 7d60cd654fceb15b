"""Who is at the till: the signed-in cashier or manager, from the till's session cookie.

The cookie is signed with the node's own secret, HttpOnly and SameSite=Strict; the API takes
only JSON bodies, so another site cannot post to the till in the cashier's name.
"""

from __future__ import annotations

from functools import wraps

from flask import current_app, g, session

from kassa.common.errors import Unauthorized
from kassa.pos_node.models import User


def db():
    return current_app.extensions["kassa_db"]


def till_user(view):
    """Require a signed-in till user; loads them into ``g.user`` (a detached snapshot)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        uid = session.get("uid")
        user = None
        if uid is not None:
            with db().transaction() as s:
                user = s.get(User, uid)
        if user is None or not user.active:
            session.clear()
            raise Unauthorized("Sign in with your PIN first.", code="signed_out")
        g.user = user
        return view(*args, **kwargs)

    return wrapper
