"""Who is calling central: a node (signed request) or a person (user name and password).

Nodes sign every request with their enrolled key (``kassa.common.signing``); central refuses
unknown or inactive nodes, bad signatures and times outside its window. People authenticate
with HTTP Basic against argon2 hashes for now; web sessions and API tokens come with the
manager UI. Roles decide what a person may read; regional scoping lives in the queries.
"""

from __future__ import annotations

import time
from functools import wraps

from flask import current_app, g, request
from sqlalchemy import select

from kassa.central.models import Node, User
from kassa.common.errors import Forbidden, Unauthorized
from kassa.common.passwords import verify_secret
from kassa.common.signing import HEADER_NODE, HEADER_SIGNATURE, HEADER_TIME, verify_request


def _db():
    return current_app.extensions["kassa_db"]


def node_signed(view):
    """Require a request signed by an enrolled, active node; sets ``g.node_id``."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        node_id = request.headers.get(HEADER_NODE, "")
        signature = request.headers.get(HEADER_SIGNATURE, "")
        try:
            stamp = int(request.headers.get(HEADER_TIME, ""))
        except ValueError:
            raise Unauthorized("The request is not signed.", code="unsigned_request") from None
        if not node_id or not signature:
            raise Unauthorized("The request is not signed.", code="unsigned_request")
        with _db().transaction() as session:
            node = session.get(Node, node_id)
            key = node.public_key_pem if node is not None and node.active else None
        if key is None:
            raise Unauthorized(f"Node {node_id!r} is unknown, inactive or not enrolled.",
                               code="unknown_node")
        skew = stamp - int(time.time())
        window = current_app.config["KASSA"].clock_skew_seconds
        if abs(skew) > window:
            raise Unauthorized(
                f"The node's clock is {skew:+d} s from central's (window {window} s).",
                code="clock_skew", details={"skew_seconds": skew})
        path_qs = request.path + (f"?{request.query_string.decode()}"
                                  if request.query_string else "")
        if not verify_request(key, signature, request.method, path_qs, stamp, g.raw_body):
            raise Unauthorized("The request signature does not verify.", code="bad_signature")
        g.node_id = node_id
        return view(*args, **kwargs)

    return wrapper


def current_user() -> User:
    """The person behind the request, by HTTP Basic credentials; 401 otherwise."""
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username:
        raise Unauthorized("Sign in with your user name and password.", code="auth_required")
    with _db().transaction() as session:
        user = session.scalars(select(User).where(User.username == auth.username)).first()
    if user is None or not user.active or not verify_secret(user.password_hash,
                                                            auth.password or ""):
        raise Unauthorized("User name or password is wrong.", code="bad_credentials")
    return user


def require_role(*roles: str):
    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            user = current_user()
            if user.role not in roles:
                raise Forbidden(f"The {user.role} role may not do this.", code="role_forbidden")
            g.user = user
            return view(*args, **kwargs)
        return wrapper
    return decorator
