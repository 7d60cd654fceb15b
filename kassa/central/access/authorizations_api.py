"""Authorizations over HTTP: tills ask and wait (signed requests, long-poll), staff decide."""

from __future__ import annotations

import threading
import time

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access import authorizations
from kassa.central.access.auth import node_signed, require_role
from kassa.central.handlers import db

bp = Blueprint("authorizations", __name__, url_prefix="/api/v1/authorizations",
               description="Decisions a till may not take alone")

MAX_WAIT_S = 25  # a long-poll answers at the latest after this, decided or not
POLL_S = 0.2


class RequestSchema(ma.Schema):
    kind = fields.String(required=True, validate=validate.OneOf(authorizations.KINDS))
    amount = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=0, max=10**12),
                            metadata={"description": "minor units (refunds) or basis points "
                                                     "(discounts)"})
    subject = fields.String(required=True, validate=validate.Length(min=1, max=200))
    cashier_id = fields.Integer(load_default=None, allow_none=True, strict=True)


class AuthorizationSchema(ma.Schema):
    id = fields.UUID()
    node_id = fields.String()
    store_id = fields.Integer()
    kind = fields.String()
    amount = fields.Integer()
    subject = fields.String()
    status = fields.String(metadata={"description": "pending | approved | declined | expired"})
    policy = fields.String(metadata={"description": "the policy that decided (or queued) it"})
    level = fields.String(allow_none=True, metadata={"description": "the role asked now"})
    requested_at = fields.AwareDateTime()
    expires_at = fields.AwareDateTime(allow_none=True)
    decided_at = fields.AwareDateTime(allow_none=True)
    reason = fields.String()


class QueueSchema(ma.Schema):
    authorizations = fields.List(fields.Nested(AuthorizationSchema))


class WaitSchema(ma.Schema):
    wait = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_WAIT_S))


class QueueArgsSchema(ma.Schema):
    status = fields.String(load_default="pending", validate=validate.OneOf(
        ("pending", "approved", "declined", "expired")))


class DecisionSchema(ma.Schema):
    approve = fields.Boolean(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


@bp.route("")
class Requests(MethodView):
    @node_signed
    @bp.arguments(RequestSchema)
    @bp.response(201, AuthorizationSchema)
    def post(self, body):
        """A till asks: decided at once by the policy, or ``pending`` for staff."""
        with db().transaction() as session:
            return authorizations.request(session, g.node_id, body["kind"], body["amount"],
                                          body["subject"], body["cashier_id"])

    @require_role(*authorizations.DECIDERS)
    @bp.arguments(QueueArgsSchema, location="query")
    @bp.response(200, QueueSchema)
    def get(self, args):
        """The requests the signed-in person may see (a regional manager: their region's)."""
        with db().read() as session:
            return {"authorizations": authorizations.queue(session, g.user, args["status"])}


@bp.route("/<uuid:auth_id>")
class OneRequest(MethodView):
    decorators = [node_signed]

    @bp.arguments(WaitSchema, location="query")
    @bp.response(200, AuthorizationSchema)
    def get(self, args, auth_id):
        """The till's request; with ``wait=N`` the answer comes as soon as it is decided, or
        after N seconds still ``pending``."""
        deadline = time.monotonic() + args["wait"]
        pause = threading.Event()
        while True:
            with db().read() as session:
                auth = authorizations.for_node(session, auth_id, g.node_id)
            if auth.status != "pending" or time.monotonic() >= deadline:
                return auth
            pause.wait(POLL_S)


@bp.route("/<uuid:auth_id>/decision")
class Decision(MethodView):
    decorators = [require_role(*authorizations.DECIDERS)]

    @bp.arguments(DecisionSchema)
    @bp.response(200, AuthorizationSchema)
    def post(self, body, auth_id):
        """Approve or decline a pending request (staff at its level, in its region)."""
        with db().transaction() as session:
            return authorizations.decide(session, auth_id, g.user, body["approve"],
                                         body["reason"])
