"""Central's operator pages: node status and the quarantine of events.

The pages are server-rendered shells; their tables come from the JSON API (``/api/v1/nodes/
status``, ``/api/v1/quarantine``) through a little JavaScript that posts JSON, so a form on
another site cannot act with the operator's credentials. People sign in with HTTP Basic for now
(the browser asks); web sessions come with the manager UI issue.
"""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, render_template

from kassa.central.auth import current_user
from kassa.common.errors import Forbidden, Unauthorized

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates",
               static_folder="static", static_url_path="/static")


def page_for(*roles: str):
    """Like ``require_role`` for a page: a missing sign-in makes the browser ask for one."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                user = current_user()
            except Unauthorized as err:
                return (render_template("ops_denied.html", message=str(err)), 401,
                        {"WWW-Authenticate": 'Basic realm="kassa central", charset="UTF-8"'})
            if user.role not in roles:
                raise Forbidden(f"The {user.role} role may not open this page.",
                                code="role_forbidden")
            return view(user, *args, **kwargs)
        return wrapper
    return decorator


@bp.get("/nodes")
@page_for("admin", "central_office", "regional_manager", "store_manager")
def nodes(user):
    """Every node the reader may see, refreshed every few seconds."""
    return render_template("ops_nodes.html", user=user, page="nodes")


@bp.get("/authorizations")
@page_for("admin", "central_office", "regional_manager")
def authorizations(user):
    """Requests from tills waiting for a decision, refreshed every few seconds."""
    return render_template("ops_authorizations.html", user=user, page="authorizations")


@bp.get("/quarantine")
@page_for("admin", "central_office")
def quarantine(user):
    """Held events with their reasons; replay (optionally repaired) or discard."""
    return render_template("ops_quarantine.html", user=user, page="quarantine")
