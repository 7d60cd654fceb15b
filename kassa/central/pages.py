"""Central's pages: the operator pages under ``/ops`` (sign-in, password, nodes,
authorizations, audit, customers, reports, analytics, master data, quarantine) and the
customer's own page under ``/my``.

The pages are server-rendered shells; their tables come from the JSON API through a little
JavaScript that posts JSON, so a form on another site cannot act with the operator's
credentials. People sign in on ``/ops/signin`` (a session cookie; forms carry the session's
CSRF token, scripts send it as a header); customers sign in on ``/my/`` through
``/api/v1/me`` (``kassa.central.selfservice.my_account_api``).
"""

from __future__ import annotations

import functools
import hmac
import secrets
from functools import wraps

from flask import (
    Blueprint,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext

from kassa.central.access import audit as audit_log
from kassa.central.access.auth import (
    check_password,
    current_user,
    end_web_session,
    end_web_sessions,
    open_web_session,
)
from kassa.central.access.people import points_adjust_limit, require_strong_password
from kassa.central.handlers import db
from kassa.central.models import User
from kassa.common.db import utcnow
from kassa.common.errors import Forbidden, KassaError, Unauthorized
from kassa.common.passwords import MIN_PASSWORD, hash_secret, verify_secret

bp = Blueprint("ops", __name__, url_prefix="/ops", template_folder="templates",
               static_folder="static", static_url_path="/static")
# The customer's page: a shell the script fills from /api/v1/me (not in the OpenAPI spec).
my = Blueprint("my", __name__, url_prefix="/my", template_folder="templates",
               static_folder="static", static_url_path="/static")


@bp.app_context_processor
def _csrf():
    return {"csrf_token": csrf_token}


def page_for(*roles: str):
    """Like ``require_role`` for a page: without a sign-in, the sign-in page (then back)."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            try:
                user = current_user()
            except Unauthorized:
                return redirect(url_for("ops.signin", next=request.path))
            if user.role not in roles:
                raise Forbidden("The %(role)s role may not open this page.",
                                code="role_forbidden", role=user.role)
            return view(user, *args, **kwargs)
        return wrapper
    return decorator


def csrf_token() -> str:
    """This session's CSRF token (made on first use): forms send it as a field, scripts as the
    ``X-CSRF-Token`` header."""
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _form_csrf_ok() -> bool:
    return hmac.compare_digest(request.form.get("csrf", ""), session.get("csrf", "") or "-")


def _next_page() -> str:
    """Where to go after signing in: a path on this site only."""
    target = request.values.get("next", "")
    return target if target.startswith("/ops/") and "//" not in target else \
        url_for("ops.nodes")


@bp.route("/signin", methods=["GET", "POST"])
def signin():
    """The sign-in form; five wrong passwords in a row lock the user out for a while."""
    error, status = None, 200
    if request.method == "POST":
        if not _form_csrf_ok():
            error, status = gettext("The form expired; try again."), 400
        else:
            try:
                user = check_password(request.form.get("username", "").strip(),
                                      request.form.get("password", ""), audit=True)
            except Unauthorized as err:
                error, status = err.to_dict(gettext)["message"], 401
            else:
                lang = user.locale or session.get("lang")  # their own, else what they chose
                with db().transaction() as db_session:
                    sid = open_web_session(db_session, user)
                session.clear()
                session.permanent = True
                session.update(uid=user.id, sid=sid, csrf=secrets.token_urlsafe(24), lang=lang)
                return redirect(_next_page())
    return render_template("ops_signin.html", error=error, csrf=csrf_token(),
                           next=request.values.get("next", "")), status


@bp.post("/signout")
def signout():
    """End this browser's session on the server too: a copy of its cookie stops working."""
    if _form_csrf_ok():
        end_web_session(session.get("sid"))
        session.clear()
    return redirect(url_for("ops.signin"))


@bp.route("/password", methods=["GET", "POST"])
@page_for("admin", "central_office", "regional_manager", "store_manager")
def password(user):
    """Change one's own password (12 characters at least); the person's other sessions end
    (this one goes on)."""
    error, done, status = None, False, 200
    if request.method == "POST":
        new = request.form.get("new", "")
        if not _form_csrf_ok():
            error, status = gettext("The form expired; try again."), 400
        elif not verify_secret(user.password_hash, request.form.get("current", "")):
            error, status = gettext("The current password is wrong."), 422
        elif len(new) < MIN_PASSWORD or new != request.form.get("repeat", ""):
            error, status = gettext("The new password needs %(n)s characters at least, typed "
                                    "the same twice.", n=MIN_PASSWORD), 422
        elif (weak := _weak(new, user.username)) is not None:
            error, status = weak, 422
        else:
            with db().transaction() as db_session:
                row = db_session.get(User, user.id)
                row.password_hash, row.password_changed_at = hash_secret(new), utcnow()
                audit_log.record(db_session, "password_changed", f"user {row.username}",
                             actor_id=row.id, reason="by the user", at=row.password_changed_at)
                end_web_sessions(db_session, row.id, keep=session.get("sid"))
            done = True
    return render_template("ops_password.html", user=user, page="password", error=error,
                           done=done, csrf=csrf_token()), status


def _weak(password: str, username: str) -> str | None:
    """The refusal's sentence, in the page's language, when the password is easy to guess."""
    try:
        require_strong_password(password, username)
    except KassaError as err:
        message: str = err.to_dict(gettext)["message"]
        return message
    return None


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


@bp.get("/audit")
@page_for("admin", "central_office", "regional_manager")
def audit(user):
    """The audit log with filters; the same rows download as CSV."""
    return render_template("ops_audit.html", user=user, page="audit")


@bp.get("/customers")
@page_for("admin", "central_office", "regional_manager", "store_manager")
def customers(user):
    """Find a customer; everything about them; their details, consents, cards and points,
    contacts. The customer shown is in the address (``?id=``), so a language switch keeps
    them."""
    with db().read() as session:
        limit = points_adjust_limit(session, user.role)
    return render_template("ops_customers.html", user=user, page="customers",
                           points_limit=limit)


@bp.get("/reports")
@page_for("admin", "central_office", "regional_manager", "store_manager")
def reports(user):
    """The managers' morning reports with charts; every table downloads as CSV."""
    from kassa.central.reporting.manager_reports import stores_today
    with db().read() as session:
        today = stores_today(session, user)
    return render_template("ops_reports.html", user=user, page="reports", today=today)


@bp.get("/analytics")
@page_for("admin", "central_office", "regional_manager", "store_manager")
def analytics(user):
    """Customer segments over time and how customers move; a product's demand and forecast."""
    return render_template("ops_analytics.html", user=user, page="analytics")


@bp.get("/vendor/plotly.min.js")
def plotly_js():
    """The chart library, from the installed plotly package: no CDN, works offline."""
    response = make_response(_plotly())
    response.mimetype = "application/javascript"
    response.cache_control.public, response.cache_control.max_age = True, 86400
    return response


@functools.cache
def _plotly() -> bytes:
    from plotly.offline import get_plotlyjs  # only when a page first asks for it

    return get_plotlyjs().encode()


@bp.get("/masterdata")
@page_for("admin", "central_office", "regional_manager", "store_manager")
def masterdata(user):
    """Prices, people, stores, tills, promotions, role limits and loyalty rules (a store
    manager: their store's people, to add a cashier or reset a forgotten PIN)."""
    return render_template("ops_masterdata.html", user=user, page="masterdata")


@bp.get("/quarantine")
@page_for("admin", "central_office")
def quarantine(user):
    """Held events with their reasons; replay (optionally repaired) or discard."""
    return render_template("ops_quarantine.html", user=user, page="quarantine")


@my.get("/")
def my_page() -> str:
    """The customer's page; signed in, it carries the session's CSRF token for the script."""
    me = session.get("me")
    if isinstance(me, dict):
        return render_template("my.html", signed_in=True, csrf=me["csrf"])
    return render_template("my.html", signed_in=False, csrf="")
