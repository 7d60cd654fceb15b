"""Node enrolment: a new till trades its one-time code for a registered public key."""

from __future__ import annotations

import marshmallow as ma
from flask import current_app
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.masterdata import enroll_node

bp = Blueprint("nodes", __name__, url_prefix="/api/v1/nodes", description="POS node enrolment")


class EnrollSchema(ma.Schema):
    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    code = fields.String(required=True, validate=validate.Length(min=1, max=200))
    public_key_pem = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class EnrolledSchema(ma.Schema):
    node_id = fields.String()
    store_id = fields.Integer()


@bp.route("/enroll")
class Enroll(MethodView):
    @bp.arguments(EnrollSchema)
    @bp.response(200, EnrolledSchema)
    def post(self, body):
        """Register the node's public key with its one-time enrolment code."""
        with current_app.extensions["kassa_db"].transaction() as session:
            node = enroll_node(session, body["node_id"], body["code"], body["public_key_pem"])
            return {"node_id": node.id, "store_id": node.store_id}
