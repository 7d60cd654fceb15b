"""Asking central for a decision beyond the store manager's limit, at the till's API: the
till signs the request to central, keeps the answer, and lets the screen wait for it."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.common.errors import KassaError
from kassa.pos_node.replication.client import SyncError, ask
from kassa.pos_node.sale import approvals
from kassa.pos_node.screens.signed_in import db, till_user, work

bp = Blueprint("authorization", __name__, url_prefix="/api/v1/authorizations",
               description="Central's approval for what the store may not decide")

MAX_WAIT_S = 20


class AskSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(approvals.KINDS))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=0,
                                                                                max=10**12))
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))


class WaitSchema(ma.Schema):
    wait = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_WAIT_S))


class AnswerSchema(ma.Schema):
    id = fields.UUID()
    kind = fields.String()
    amount = fields.Integer()
    subject = fields.String()
    status = fields.String(metadata={"description": "pending | approved | declined | expired"})
    policy = fields.String()
    level = fields.String(allow_none=True)
    reason = fields.String()


def _central(method: str, path: str, body: dict | None = None, timeout: float = 5) -> dict:
    try:
        answer = ask(db(), method, path, body, timeout=timeout)
    except SyncError as err:
        if err.unanswered:
            raise KassaError("Central cannot be reached, and only central may approve this. "
                             "Try again when the till is online.", code="central_unreachable",
                             status=503) from None
        raise KassaError(str(err), code=err.code, status=422) from None
    with work() as s:
        approvals.remember(s, answer)
    return answer


@bp.route("")
class Ask(MethodView):
    decorators = [till_user]

    @bp.arguments(AskSchema)
    @bp.response(201, AnswerSchema)
    def post(self, body):
        """Ask central (the answer may be ``pending``: then wait on it)."""
        return _central("POST", "/api/v1/authorizations", {**body, "cashier_id": g.uid})


@bp.route("/<uuid:auth_id>")
class Wait(MethodView):
    decorators = [till_user]

    @bp.arguments(WaitSchema, location="query")
    @bp.response(200, AnswerSchema)
    def get(self, args, auth_id):
        """Central's answer; with ``wait=N`` as soon as it is given (at most N seconds)."""
        return _central("GET", f"/api/v1/authorizations/{auth_id}?wait={args['wait']}",
                        timeout=args["wait"] + 5)
