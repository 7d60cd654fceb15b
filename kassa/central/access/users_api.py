"""People over HTTP: staff accounts with their role and where they work.

Who may manage whom follows the chain's shape: an admin anyone, central office anyone but
admins, a regional manager the cashiers and store managers of their region's stores, a store
manager their own store's cashiers. Till users (cashiers, store managers) carry a PIN and reach
their store's tills through the change feed; office users sign in with a password at central
only. Every change is in the audit log with its before and after (never a secret or a hash).
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from kassa.central.access import audit, people
from kassa.central.access.auth import require_role
from kassa.central.handlers import PEOPLE, db
from kassa.central.models import ROLES, Region, Store, User
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Forbidden, Invalid, NotFound

bp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Staff accounts")
MIN_PASSWORD = 12
# The roles each role may create and manage.
MANAGES = {
    "admin": frozenset(ROLES),
    "central_office": frozenset(ROLES) - {"admin"},
    "regional_manager": frozenset({"cashier", "store_manager"}),
    "store_manager": frozenset({"cashier"}),
}
PIN = validate.Regexp(r"^\d{4,8}\Z", error="4 to 8 digits")


class UserSchema(ma.Schema):
    id = fields.Integer()
    username = fields.String()
    full_name = fields.String()
    role = fields.String()
    region_code = fields.String(allow_none=True)
    store_code = fields.String(allow_none=True)
    email = fields.String(allow_none=True)
    active = fields.Boolean()
    locked = fields.Boolean(metadata={"description": "locked out after failed sign-ins"})


class UserListSchema(ma.Schema):
    users = fields.List(fields.Nested(UserSchema))


class NewUserSchema(ma.Schema):
    username = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9._-]{1,63}\Z", error="2-64 lower-case letters, digits, . _ -"))
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    full_name = fields.String(load_default="", validate=validate.Length(max=200))
    email = fields.Email(load_default=None, allow_none=True, validate=validate.Length(max=200),
                         metadata={"description": "where notices (overdue tasks) go"})
    password = fields.String(load_default=None, allow_none=True,
                             validate=validate.Length(min=MIN_PASSWORD, max=200))
    pin = fields.String(load_default=None, allow_none=True, validate=PIN)
    region_code = fields.String(load_default=None, allow_none=True,
                                validate=validate.Length(min=1, max=32))
    store_code = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(min=1, max=32))


class UserPatchSchema(ma.Schema):
    full_name = fields.String(validate=validate.Length(max=200))
    email = fields.Email(allow_none=True, validate=validate.Length(max=200))
    active = fields.Boolean()
    pin = fields.String(validate=PIN)
    password = fields.String(validate=validate.Length(min=MIN_PASSWORD, max=200), metadata={
        "description": "a reset by someone who manages this user; their sessions end"})
    unlock = fields.Boolean(metadata={"description": "clear a sign-in lockout"})


def _scope(stmt, user: User):
    """Users the signed-in person manages or may see."""
    if user.role == "regional_manager":
        in_region = select(Store.id).where(Store.region_id == user.region_id)
        return stmt.where(or_(User.store_id.in_(in_region), User.id == user.id))
    if user.role == "store_manager":
        return stmt.where(User.store_id == user.store_id)
    return stmt


def _view(session: Session, u: User) -> dict:
    region = session.get(Region, u.region_id) if u.region_id else None
    store = session.get(Store, u.store_id) if u.store_id else None
    return {"id": u.id, "username": u.username, "full_name": u.full_name, "role": u.role,
            "region_code": region.code if region else None,
            "store_code": store.code if store else None, "email": u.email, "active": u.active,
            "locked": bool(u.locked_until and u.locked_until > utcnow())}


def _may_manage(actor: User, role: str) -> None:
    if role not in MANAGES[actor.role]:
        raise Forbidden("A %(actor_role)s may not manage %(role)s accounts.",
                        code="role_not_manageable", actor_role=actor.role, role=role)


def _place(session: Session, actor: User, body: dict) -> tuple[Region | None, Store | None]:
    """The region and store a new account belongs to, within the actor's reach (out of reach
    answers as if it did not exist)."""
    region = store = None
    if body["store_code"]:
        store = session.scalars(select(Store).where(Store.code == body["store_code"])).first()
        if store is None or (actor.role == "regional_manager"
                             and store.region_id != actor.region_id) or (
                actor.role == "store_manager" and store.id != actor.store_id):
            raise NotFound("No store %(store)s.", code="store_not_found", store=body["store_code"])
    if body["region_code"]:
        region = session.scalars(select(Region).where(
            Region.code == body["region_code"])).first()
        if region is None:
            raise NotFound("No region %(region)s.", code="region_not_found",
                           region=body["region_code"])
    return region, store


@bp.route("")
class Users(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, UserListSchema)
    def get(self):
        """Staff accounts the signed-in person may see."""
        with db().read() as session:
            users = session.scalars(_scope(select(User), g.user).order_by(User.username))
            return {"users": [_view(session, u) for u in users]}

    @require_role(*PEOPLE)
    @bp.arguments(NewUserSchema)
    @bp.response(201, UserSchema)
    def post(self, body):
        """Open an account: office roles with a password, till roles with a PIN."""
        _may_manage(g.user, body["role"])
        with db().transaction() as session:
            if session.scalar(select(User.id).where(User.username == body["username"])):
                raise Conflict("User %(username)s exists already.",
                               code="duplicate_user", username=body["username"])
            region, store = _place(session, g.user, body)
            till = body["role"] in ("cashier", "store_manager")
            if till and not body["pin"]:
                raise Invalid("A till user needs a PIN.", code="pin_required")
            if not till and not body["password"]:
                raise Invalid("An office user needs a password.", code="password_required")
            user = people.create_user(session, body["username"], body["role"],
                                      password=body["password"], pin=body["pin"],
                                      full_name=body["full_name"], region=region, store=store,
                                      email=body["email"])
            after = _view(session, user)
            audit.change(session, g.user.id, "user", user.username, None, after)
            return after


@bp.route("/<int(min=1, max=2147483647):user_id>")
class OneUser(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(UserPatchSchema)
    @bp.response(200, UserSchema)
    def patch(self, body, user_id):
        """Rename, deactivate or reactivate an account, set a till user's PIN, reset a
        password or clear a lockout."""
        with db().transaction() as session:
            user = session.scalars(_scope(select(User), g.user).where(User.id == user_id)
                                   .with_for_update()).first()
            if user is None:
                raise NotFound("No such user.", code="user_not_found")
            _may_manage(g.user, user.role)
            if user.id == g.user.id and body.get("active") is False:
                raise Invalid("You cannot deactivate your own account.", code="self_lockout")
            before = _view(session, user)
            secrets = people.update_user(session, user, **body)
            after = _view(session, user)
            if after != before or secrets:
                audit.change(session, g.user.id, "user", user.username, before,
                             {**after, "changed": secrets} if secrets else after)
            return after
