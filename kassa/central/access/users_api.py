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

from kassa.central.access import audit, people
from kassa.central.access.account_api import TokenListSchema, TokenSchema
from kassa.central.access.auth import require_role, revoke_token, tokens_of
from kassa.central.handlers import PEOPLE, db
from kassa.central.models import ROLES, ApiToken, User
from kassa.common.errors import NotFound
from kassa.common.passwords import MIN_PASSWORD

bp = Blueprint("users", __name__, url_prefix="/api/v1/users", description="Staff accounts")
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


@bp.route("")
class Users(MethodView):
    @require_role(*PEOPLE)
    @bp.response(200, UserListSchema)
    def get(self):
        """Staff accounts the signed-in person may see."""
        with db().read() as session:
            return {"users": people.accounts(session, g.user)}

    @require_role(*PEOPLE)
    @bp.arguments(NewUserSchema)
    @bp.response(201, UserSchema)
    def post(self, body):
        """Open an account: office roles with a password, till roles with a PIN."""
        with db().transaction() as session:
            return people.open_account(session, g.user, **body)


@bp.route("/<int(min=1, max=2147483647):user_id>")
class OneUser(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(UserPatchSchema)
    @bp.response(200, UserSchema)
    def patch(self, body, user_id):
        """Rename, deactivate or reactivate an account, set a till user's PIN, reset a
        password or clear a lockout."""
        with db().transaction() as session:
            return people.change_account(session, g.user, user_id, body)


@bp.route("/<int(min=1, max=2147483647):user_id>/tokens")
class UserTokens(MethodView):
    decorators = [require_role("admin")]

    @bp.response(200, TokenListSchema)
    def get(self, user_id):
        """An administrator: the user's API tokens, live and revoked (never their secrets);
        the look is audited."""
        with db().transaction() as session:
            user = session.get(User, user_id)
            if user is None:
                raise NotFound("No such user.", code="user_not_found")
            audit.record(session, "api_tokens_listed", f"user {user.username}",
                         actor_id=g.user.id)
            return {"tokens": tokens_of(session, user_id)}


@bp.route("/<int(min=1, max=2147483647):user_id>/tokens/<int(min=1, max=2147483647):token_id>")
class UserToken(MethodView):
    decorators = [require_role("admin")]

    @bp.response(200, TokenSchema)
    def delete(self, user_id, token_id):
        """An administrator: revoke one of the user's API tokens; it stops working at once
        (audited)."""
        with db().transaction() as session:
            token = session.get(ApiToken, token_id)
            if token is None or token.user_id != user_id:
                raise NotFound("No such token.", code="token_not_found")
            return revoke_token(session, g.user, token_id)
