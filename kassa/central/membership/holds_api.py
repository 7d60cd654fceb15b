"""Redemption holds for tills online: reserve points, then commit or release them (signed)."""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import node_signed
from kassa.central.handlers import db
from kassa.central.membership import loyalty_accounts
from kassa.common.db import utcnow
from kassa.common.errors import Conflict

bp = Blueprint("loyalty", __name__, url_prefix="/api/v1/loyalty",
               description="Points redemption authorized by central")


class HoldRequestSchema(ma.Schema):
    account_id = fields.UUID(required=True)
    points = fields.Integer(required=True, strict=True,
                            validate=validate.Range(min=1, max=10_000_000))
    sale_id = fields.UUID(load_default=None, allow_none=True)


class HoldSchema(ma.Schema):
    id = fields.UUID()
    account_id = fields.UUID()
    points = fields.Integer()
    status = fields.String(metadata={"description": "held | committed | released | expired"})
    sale_id = fields.UUID(allow_none=True)
    expires_at = fields.AwareDateTime()


class CommitSchema(ma.Schema):
    sale_id = fields.UUID(required=True)


@bp.route("/holds")
class Holds(MethodView):
    decorators = [node_signed]

    @bp.arguments(HoldRequestSchema)
    @bp.response(201, HoldSchema)
    def post(self, body):
        """Reserve points for a sale at this till (``insufficient_points`` when the account
        cannot cover them, counting other tills' holds)."""
        try:
            with db().transaction() as session:
                return loyalty_accounts.hold(session, body["account_id"], g.node_id, body["points"],
                                             body["sale_id"])
        except Conflict:
            with db().transaction() as session:  # the refusal is a decision too
                session.add(loyalty_accounts.hold_audit(
                    g.node_id, body["account_id"], body["points"], "refused", None, utcnow()))
            raise


@bp.route("/holds/<uuid:hold_id>/commit")
class CommitHold(MethodView):
    decorators = [node_signed]

    @bp.arguments(CommitSchema)
    @bp.response(200, HoldSchema)
    def post(self, body, hold_id):
        """The sale completed: burn the held points (a retry changes nothing)."""
        with db().transaction() as session:
            return loyalty_accounts.commit(session, hold_id, g.node_id, body["sale_id"])


@bp.route("/holds/<uuid:hold_id>/release")
class ReleaseHold(MethodView):
    decorators = [node_signed]

    @bp.response(200, HoldSchema)
    def post(self, hold_id):
        """The sale was voided or paid otherwise: free the points."""
        with db().transaction() as session:
            return loyalty_accounts.release(session, hold_id, g.node_id)
