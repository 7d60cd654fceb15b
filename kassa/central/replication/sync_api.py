"""Sync endpoints at central: nodes push their events and pull the change feed (signed)."""

from __future__ import annotations

import random
import threading
from contextlib import ExitStack
from functools import wraps

import marshmallow as ma
from flask import Response, current_app, g, stream_with_context
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import CheckIn, node_signed
from kassa.central.handlers import db
from kassa.central.replication import feed, node_status, returns_view, snapshot
from kassa.central.replication.ingest import apply_batch
from kassa.central.replication.nodes import rotate_node_key
from kassa.common.errors import Forbidden, KassaError
from kassa.sync.protocol import (
    ChangesPageSchema,
    ChangesQuerySchema,
    NodeStatusAnswerSchema,
    NodeStatusReportSchema,
    PushRequestSchema,
    PushResponseSchema,
    RestoredAnswerSchema,
    RestoredReportSchema,
)

bp = Blueprint("sync", __name__, url_prefix="/api/v1/sync",
               description="Replication between POS nodes and central")

class Busy(KassaError):
    status = 503
    code = "busy"


def sync_gate(app) -> threading.BoundedSemaphore:
    """The process's gate for tills' sync work (``KASSA_SYNC_CONCURRENCY`` at once)."""
    gate = app.extensions.get("kassa_sync_gate")
    if gate is None:
        gate = app.extensions["kassa_sync_gate"] = threading.BoundedSemaphore(
            app.config["KASSA"].sync_concurrency)
    return gate


def shed_load(view):
    """Turn a till away (503, ``Retry-After``) when this process already works on as many
    tills' syncs as it may and none ends within ``KASSA_SYNC_WAIT``: before its signature is
    checked or its body read, so a reconnect storm costs central little, and staff still find
    a thread. Tills wait at least that long, with jitter
    (``kassa.pos_node.replication.scheduler``)."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        gate = sync_gate(current_app)
        # A short wait for a place first: syncs take milliseconds, and a steady chain's calls
        # arrive in bursts; turned away at once, 8 % of 1,000 tills' calls were, at p99 41 ms.
        if not gate.acquire(timeout=current_app.config["KASSA"].sync_wait):
            refusal = Busy("Central is busy: try again in a few seconds.")
            low, high = current_app.config["KASSA"].sync_retry_after
            refusal.headers = {"Retry-After": str(random.randint(low, high))}
            raise refusal
        try:
            return view(*args, **kwargs)
        finally:
            gate.release()
    return wrapper


@bp.route("/push")
class Push(MethodView):
    decorators = [node_signed, shed_load]  # shed_load runs first

    @bp.arguments(PushRequestSchema)
    @bp.response(200, PushResponseSchema)
    def post(self, batch):
        """Apply a batch of a node's outbox events, exactly once, in seq order."""
        if batch["node_id"] != g.node_id:
            raise Forbidden("A node may push only its own events.", code="node_mismatch")
        with db().transaction() as session:
            high_water, applied = apply_batch(session, g.node_id, batch["events"])
        return {"high_water": high_water, "applied": applied}


@bp.route("/changes")
class Changes(MethodView):
    # shed_load runs first; on PostgreSQL the page is read in the check-in's transaction.
    decorators = [node_signed(reads=True), shed_load]

    @bp.arguments(ChangesQuerySchema, location="query")
    @bp.response(200, ChangesPageSchema)
    def get(self, args):
        """A page of the change feed after version ``since``."""
        # Most pulls of a chain's tills find nothing new: the feed's newest version, read as
        # the request was checked in, answers them without another query (bench_chain).
        if g.check_in.feed_version <= args["since"]:
            return {"changes": [], "next_since": args["since"], "more": False}
        with ExitStack() as reading:
            session = g.check_in_session or reading.enter_context(db().read())
            # Most of a live chain's pulls find the feed moved by other stores' customers
            # only: skipped to the version read at check-in, without asking again.
            return feed.page(session, args["since"], args["limit"], _scope(g.check_in),
                             newest=g.check_in.feed_version)


def _scope(check_in: CheckIn) -> feed.NodeScope:
    rule = current_app.config["KASSA"].feed_customers
    return feed.NodeScope(check_in.store_id, check_in.region_id,
                          feed.REGION_ENTITIES | ({"customer"} if rule == "region" else set()))


@bp.route("/status")
class Status(MethodView):
    decorators = [node_signed, shed_load]  # shed_load runs first

    @bp.arguments(NodeStatusReportSchema)
    @bp.response(200, NodeStatusAnswerSchema)
    def post(self, report):
        """The node's own account of itself: its newest seq, unsent events, feed cursor and
        per-day sales counts (for the node status page and the reconciliation report)."""
        if report["node_id"] != g.node_id:
            raise Forbidden("A node may report only on itself.", code="node_mismatch")
        with db().transaction() as session:
            return node_status.record_report(session, g.node_id, report)


@bp.route("/restored")
class Restored(MethodView):
    decorators = [node_signed]

    @bp.arguments(RestoredReportSchema)
    @bp.response(200, RestoredAnswerSchema)
    def post(self, report):
        """A node rebuilt from its backup (``kassa pos restore``) says how far its copy reaches
        and learns what central holds of it, so it goes on with no seq gap, no seq central
        holds twice, and no receipt number issued before. Recorded in the audit log."""
        if report["node_id"] != g.node_id:
            raise Forbidden("A node may report only on itself.", code="node_mismatch")
        with db().transaction() as session:
            return node_status.record_restore(session, g.node_id, report)


class RotateKeySchema(ma.Schema):
    public_key_pem = fields.String(required=True, validate=validate.Length(min=1, max=2000))


class RotatedSchema(ma.Schema):
    node_id = fields.String()
    previous_key_valid_until = fields.AwareDateTime(allow_none=True)


@bp.route("/rotate-key")
class RotateKey(MethodView):
    decorators = [node_signed]

    @bp.arguments(RotateKeySchema)
    @bp.response(200, RotatedSchema)
    def post(self, body):
        """Replace the calling node's key with a new public key (signed with the current one);
        the old key keeps verifying for ``KASSA_KEY_GRACE`` seconds."""
        grace = current_app.config["KASSA"].key_grace_seconds
        with db().transaction() as session:
            node = rotate_node_key(session, g.node_id, body["public_key_pem"], grace)
            return {"node_id": node.id, "previous_key_valid_until": node.previous_key_until}


@bp.route("/sales/<string:receipt_no>")
class SaleForReturn(MethodView):
    decorators = [node_signed]

    @bp.response(200, description="the sale, its lines and payments, and the returns' ids")
    def get(self, receipt_no):
        """A sale by receipt number, with what returns took back so far (for a return at
        another till of the same store chain)."""
        with db().transaction() as session:
            return returns_view.sale_for_return(session, receipt_no)


class SnapshotQuerySchema(ma.Schema):
    """No parameters: the snapshot is always of the calling node's share. Unknown ones are
    refused (422), so a client asking for something this central cannot give learns it."""


@bp.route("/snapshot")
class Snapshot(MethodView):
    decorators = [node_signed, shed_load]  # shed_load runs first

    @bp.arguments(SnapshotQuerySchema, location="query", unknown=ma.RAISE)
    @bp.response(200, {"type": "string", "format": "binary"}, content_type="application/gzip",
                 description="gzip-compressed NDJSON: header line, one line per row, trailer")
    def get(self, _args):
        """Everything this node replicates, read in one consistent transaction, as one file
        (``kassa.central.replication.snapshot``); the node then pulls the feed from its
        ``feed_version``.

        Served as ``application/gzip`` without ``Content-Encoding``: the body is the file
        itself, byte for byte, and no HTTP client or proxy decompresses it on the way."""
        return Response(stream_with_context(snapshot.stream(db(), _scope(g.check_in),
                                                            g.node_id)),
                        mimetype="application/gzip")
