"""The signed-in person's own settings: their language for central's pages, and API tokens
for integrations (made for themself, shown once, stored as a hash, revocable at once)."""

from __future__ import annotations

import marshmallow as ma
from flask import g, session
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import select

from kassa.central.access.auth import create_token, require_role, revoke_token
from kassa.central.handlers import PEOPLE, db
from kassa.central.models import ApiToken, User
from kassa.common.i18n import LOCALES

bp = Blueprint("account", __name__, url_prefix="/api/v1/account",
               description="The signed-in person's language and API tokens")


class TokenInSchema(ma.Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class TokenSchema(ma.Schema):
    id = fields.Integer()
    name = fields.String()
    created_at = fields.AwareDateTime()
    last_used_at = fields.AwareDateTime(allow_none=True)
    revoked_at = fields.AwareDateTime(allow_none=True)


class NewTokenSchema(TokenSchema):
    token = fields.String(metadata={"description": "send as `Authorization: Bearer <token>`; "
                                                   "shown this once"})


class TokenListSchema(ma.Schema):
    tokens = fields.List(fields.Nested(TokenSchema))


class LanguageSchema(ma.Schema):
    locale = fields.String(required=True, allow_none=True, validate=validate.OneOf(LOCALES),
                           metadata={"description": "null: the browser's language"})


@bp.route("/language")
class Language(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, LanguageSchema)
    def get(self):
        """The language central's pages speak to the signed-in person (null: the browser's)."""
        return {"locale": g.user.locale}

    @bp.arguments(LanguageSchema)
    @bp.response(200, LanguageSchema)
    def put(self, body):
        """Set the signed-in person's language for central's pages."""
        with db().transaction() as db_session:
            db_session.get(User, g.user.id).locale = body["locale"]
        if session.get("uid") == g.user.id:  # this browser follows at once
            session["lang"] = body["locale"]
        return {"locale": body["locale"]}


@bp.route("/tokens")
class Tokens(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, TokenListSchema)
    def get(self):
        """The signed-in person's tokens (never their secrets)."""
        with db().read() as session:
            return {"tokens": list(session.scalars(select(ApiToken).where(
                ApiToken.user_id == g.user.id).order_by(ApiToken.id)))}

    @bp.arguments(TokenInSchema)
    @bp.response(201, NewTokenSchema)
    def post(self, body):
        """A new token acting as the signed-in person, with their role and region."""
        with db().transaction() as session:
            token, secret = create_token(session, g.user, body["name"])
            return {"id": token.id, "name": token.name, "created_at": token.created_at,
                    "last_used_at": None, "revoked_at": None, "token": secret}


@bp.route("/tokens/<int(min=1, max=2147483647):token_id>")
class OneToken(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, TokenSchema)
    def delete(self, token_id):
        """Revoke a token (one's own; an admin: anyone's); it stops working at once."""
        with db().transaction() as session:
            return revoke_token(session, g.user, token_id)
