"""Sync endpoints at central: nodes push their events and pull the change feed (signed)."""

from __future__ import annotations

from flask import current_app, g
from flask.views import MethodView
from flask_smorest import Blueprint

from kassa.central import feed, returns_view
from kassa.central.auth import node_signed
from kassa.common.errors import Forbidden
from kassa.sync.apply import apply_batch
from kassa.sync.protocol import (
    ChangesPageSchema,
    ChangesQuerySchema,
    PushRequestSchema,
    PushResponseSchema,
)

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync",
               description="Replication between POS nodes and central")


@bp.route("/push")
class Push(MethodView):
    decorators = [node_signed]

    @bp.arguments(PushRequestSchema)
    @bp.response(200, PushResponseSchema)
    def post(self, batch):
        """Apply a batch of a node's outbox events, exactly once, in seq order."""
        if batch["node_id"] != g.node_id:
            raise Forbidden("A node may push only its own events.", code="node_mismatch")
        with current_app.extensions["kassa_db"].transaction() as session:
            high_water, applied = apply_batch(session, g.node_id, batch["events"])
        return {"high_water": high_water, "applied": applied}


@bp.route("/changes")
class Changes(MethodView):
    decorators = [node_signed]

    @bp.arguments(ChangesQuerySchema, location="query")
    @bp.response(200, ChangesPageSchema)
    def get(self, args):
        """A page of the change feed after version ``since``."""
        with current_app.extensions["kassa_db"].transaction() as session:
            return feed.page(session, args["since"], args["limit"])


@bp.route("/sales/<string:receipt_no>")
class SaleForReturn(MethodView):
    decorators = [node_signed]

    def get(self, receipt_no):
        """A sale by receipt number, with what returns took back so far (for a return at
        another till of the same store chain)."""
        with current_app.extensions["kassa_db"].transaction() as session:
            return returns_view.sale_for_return(session, receipt_no)
