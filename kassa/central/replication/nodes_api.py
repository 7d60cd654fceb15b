"""Nodes as master data: central office registers a till for a store and hands its one-time
enrolment code to whoever installs it; the till trades the code for a registered public key."""

from __future__ import annotations

from datetime import timedelta

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import client_hash, note_refusal, refused_lately, require_role
from kassa.central.handlers import OPERATORS, db
from kassa.central.replication import node_status, nodes
from kassa.central.replication.nodes import enroll_node
from kassa.common.errors import KassaError, Unauthorized
from kassa.common.web import ErrorSchema

ENROLL_REFUSALS = (timedelta(minutes=15), 10)  # refused enrolments per client address
bp = Blueprint("nodes", __name__, url_prefix="/api/v1/nodes", description="POS node enrolment")


class EnrollSchema(ma.Schema):
    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))
    public_key_pem = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class EnrolledSchema(ma.Schema):
    node_id = fields.String()
    store_id = fields.Integer()
    # A re-enrolled node's new database goes on after what central already holds of it.
    high_water = fields.Integer(metadata={"description": "the node's events central holds"})
    last_receipt_no = fields.String(allow_none=True)
    last_return_no = fields.String(allow_none=True)


@bp.route("/enroll")
class Enroll(MethodView):
    @bp.arguments(EnrollSchema)
    @bp.response(200, EnrolledSchema)
    @bp.alt_response(429, schema=ErrorSchema, description="rate_limited")
    def post(self, body):
        """Register the node's public key with its one-time enrolment code. After
        ``ENROLL_REFUSALS`` refusals from one address within their window, that address is
        refused (429) before any code is checked."""
        client = client_hash("enroll")
        window, most = ENROLL_REFUSALS
        with db().read() as session:
            if refused_lately(session, client, window) >= most:
                raise KassaError("Too many refused enrolments from here; try again later.",
                                 code="rate_limited", status=429,
                                 details={"retry_after_s": int(window.total_seconds())})
        try:
            with db().transaction() as session:
                node = enroll_node(session, body["node_id"], body["code"],
                                   body["public_key_pem"])
                return {"node_id": node.id, "store_id": node.store_id,
                        **node_status.position(session, node)}
        except Unauthorized:
            with db().transaction() as session:
                note_refusal(session, client, window)
            raise


class NewNodeSchema(ma.Schema):
    node_id = fields.String(required=True, validate=validate.Regexp(
        r"^[a-z0-9][a-z0-9-]{1,31}\Z", error="2-32 lower-case letters, digits or dashes"))
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))


class EnrolmentCodeSchema(ma.Schema):
    node_id = fields.String()
    store_code = fields.String()
    enroll_code = fields.String(metadata={"description": "shown once; valid for 7 days"})


@bp.route("")
class Nodes(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(NewNodeSchema)
    @bp.response(201, EnrolmentCodeSchema)
    def post(self, body):
        """Register a till for a store; answers its one-time enrolment code."""
        with db().transaction() as session:
            return nodes.register_node(session, g.user, body["node_id"], body["store_code"])


@bp.route("/<string:node_id>/reenroll")
class Reenroll(MethodView):
    decorators = [require_role("admin")]

    @bp.response(200, EnrolmentCodeSchema)
    def post(self, node_id):
        """A new one-time code for a revoked node or one rebuilt from scratch."""
        with db().transaction() as session:
            return nodes.new_enrolment_code(session, g.user, node_id)
