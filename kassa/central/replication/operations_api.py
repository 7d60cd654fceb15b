"""Operating the sync: node status, quarantined events, fraud alerts, business-day close, node
revocation.

People sign in (HTTP Basic for now); what they see is scoped like the reports. The manager pages
(``/ops/...``) call these endpoints with JSON, so a form on another site cannot post to them.
"""

from __future__ import annotations

import marshmallow as ma
from flask import g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate

from kassa.central.access.auth import require_role
from kassa.central.catalog.stores import store_by_code
from kassa.central.handlers import OPERATORS, PEOPLE, STAFF, db
from kassa.central.models import Store
from kassa.central.replication import node_status, quarantine
from kassa.central.replication.nodes import revoke_node
from kassa.common.errors import NotFound

bp = Blueprint("operations", __name__, url_prefix="/api/v1",
               description="Node status, quarantine, business days")



class NodeStatusSchema(ma.Schema):
    node_id = fields.String()
    store_code = fields.String()
    region_code = fields.String()
    state = fields.String(metadata={"description": "online | offline | clock_skew | revoked | "
                                                   "never_seen | not_enrolled"})
    last_contact_at = fields.AwareDateTime(allow_none=True)
    lag_seconds = fields.Integer(allow_none=True)
    high_water = fields.Integer()
    node_seq = fields.Integer(allow_none=True)
    events_behind = fields.Integer(allow_none=True)
    queue_depth = fields.Integer(allow_none=True)
    oldest_pending_at = fields.AwareDateTime(allow_none=True)
    reported_at = fields.AwareDateTime(allow_none=True)
    feed_cursor = fields.Integer(allow_none=True)
    feed_head = fields.Integer()
    clock_skew_seconds = fields.Integer(allow_none=True)
    last_refusal = fields.String(allow_none=True)
    last_refused_at = fields.AwareDateTime(allow_none=True)
    quarantined = fields.Integer()
    fraud_alerts = fields.Integer(metadata={
        "description": "open fraud alerts: points the node claimed that central did not post"})
    backup_state = fields.String(allow_none=True, metadata={
        "description": "the node's Litestream backup: ok | behind | alarm | down | off | "
                       "starting; null before it reported one"})
    backup_lag_seconds = fields.Integer(allow_none=True)
    backup_error = fields.String(allow_none=True)


class NodeStatusListSchema(ma.Schema):
    nodes = fields.List(fields.Nested(NodeStatusSchema))


@bp.route("/nodes/status")
class NodesStatus(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.response(200, NodeStatusListSchema)
    def get(self):
        """Every node the reader may see: state, last contact, lag, queue depth, skew."""
        with db().read() as session:
            return {"nodes": node_status.statuses(session, g.user)}


@bp.route("/nodes/<string:node_id>/revoke")
class RevokeNode(MethodView):
    decorators = [require_role("admin")]

    @bp.response(200, NodeStatusListSchema)
    def post(self, node_id):
        """Stop trusting a node's key at once (lost or stolen till)."""
        with db().transaction() as session:
            revoke_node(session, node_id)
        with db().read() as session:
            return {"nodes": [s for s in node_status.statuses(session, g.user)
                              if s["node_id"] == node_id]}


class QuarantinedSchema(ma.Schema):
    id = fields.Integer()
    node_id = fields.String()
    seq = fields.Integer()
    event_id = fields.UUID()
    kind = fields.String()
    occurred_at = fields.AwareDateTime()
    payload = fields.Dict()
    reason = fields.String()
    message = fields.String()
    depends_on_seq = fields.Integer(allow_none=True)
    status = fields.String()
    quarantined_at = fields.AwareDateTime()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by = fields.String(allow_none=True)
    resolution_note = fields.String(allow_none=True)


class QuarantineQuerySchema(ma.Schema):
    node_id = fields.String(load_default=None, validate=validate.Length(max=32))
    status = fields.String(load_default="held",
                           validate=validate.OneOf(("held", "replayed", "discarded")))


class QuarantineListSchema(ma.Schema):
    events = fields.List(fields.Nested(QuarantinedSchema))


class ReplaySchema(ma.Schema):
    payload = fields.Dict(load_default=None, metadata={
        "description": "the repaired payload; omitted: replay the event as it is"})
    note = fields.String(load_default="", validate=validate.Length(max=500))


class DiscardSchema(ma.Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


@bp.route("/quarantine")
class QuarantineList(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(QuarantineQuerySchema, location="query")
    @bp.response(200, QuarantineListSchema)
    def get(self, args):
        """Events central could not apply, with their reasons (held ones by default)."""
        with db().read() as session:
            return {"events": quarantine.held(session, args["node_id"], args["status"])}


@bp.route("/quarantine/<int(min=1, max=2147483647):event_id>/replay")
class QuarantineReplay(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(ReplaySchema)
    @bp.response(200, QuarantinedSchema)
    def post(self, body, event_id):
        """Apply a held event now, as it is or with a repaired payload."""
        with db().transaction() as session:
            return quarantine.replay(session, event_id, g.user.username, body["payload"],
                                     body["note"])


@bp.route("/quarantine/<int(min=1, max=2147483647):event_id>/discard")
class QuarantineDiscard(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(DiscardSchema)
    @bp.response(200, QuarantinedSchema)
    def post(self, body, event_id):
        """Give up on a held event, saying why (the audit log keeps it)."""
        with db().transaction() as session:
            return quarantine.discard(session, event_id, g.user.username, body["reason"])


class FraudAlertSchema(ma.Schema):
    id = fields.UUID()
    node_id = fields.String()
    store_code = fields.String(allow_none=True)
    kind = fields.String(metadata={"description": "earn | burn | refund | reversal"})
    event_kind = fields.String()
    document_id = fields.UUID(metadata={"description": "the sale or return"})
    document_no = fields.String(metadata={"description": "its receipt or return number"})
    account_id = fields.UUID(allow_none=True)
    claimed = fields.Integer(metadata={"description": "points the till said"})
    posted = fields.Integer(metadata={"description": "points central posted"})
    reason = fields.String()
    details = fields.Dict()
    occurred_at = fields.AwareDateTime()
    raised_at = fields.AwareDateTime()
    status = fields.String()
    resolved_at = fields.AwareDateTime(allow_none=True)
    resolved_by_id = fields.Integer(allow_none=True)
    resolution_note = fields.String(allow_none=True)


class FraudAlertQuerySchema(ma.Schema):
    node_id = fields.String(load_default=None, validate=validate.Length(max=32))
    status = fields.String(load_default="open", validate=validate.OneOf(("open", "resolved")))


class FraudAlertListSchema(ma.Schema):
    alerts = fields.List(fields.Nested(FraudAlertSchema))


class ResolveAlertSchema(ma.Schema):
    note = fields.String(required=True, validate=validate.Length(min=1, max=500))


@bp.route("/fraud-alerts")
class FraudAlerts(MethodView):
    decorators = [require_role(*PEOPLE)]

    @bp.arguments(FraudAlertQuerySchema, location="query")
    @bp.response(200, FraudAlertListSchema)
    def get(self, args):
        """Points tills claimed that central did not post as claimed, newest first, for the
        nodes the reader may see (open ones by default)."""
        with db().read() as session:
            return {"alerts": node_status.fraud_alerts(session, g.user, args["node_id"],
                                                       args["status"])}


@bp.route("/fraud-alerts/<uuid:alert_id>/resolve")
class ResolveFraudAlert(MethodView):
    decorators = [require_role(*OPERATORS)]

    @bp.arguments(ResolveAlertSchema)
    @bp.response(200, FraudAlertSchema)
    def post(self, body, alert_id):
        """Close an alert someone has looked into, saying what they found and did (the audit
        log keeps it)."""
        with db().transaction() as session:
            return node_status.resolve_alert(session, g.user, alert_id, body["note"])


class CloseDaySchema(ma.Schema):
    store_code = fields.String(required=True, validate=validate.Length(min=1, max=32))
    day = fields.Date(required=True)
    force = fields.Boolean(load_default=False)


class UnsyncedNodeSchema(ma.Schema):
    node_id = fields.String()
    reason = fields.String()
    reported_at = fields.AwareDateTime(allow_none=True)
    events_behind = fields.Integer()


class ClosedDaySchema(ma.Schema):
    store_code = fields.String()
    day = fields.Date()
    unsynced_nodes = fields.List(fields.Nested(UnsyncedNodeSchema))


@bp.route("/business-days/close")
class CloseDay(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(CloseDaySchema)
    @bp.response(200, ClosedDaySchema)
    def post(self, body):
        """Close a store's business day. Refused with ``unsynced_nodes`` (naming them) while a
        node may still hold the day's events, unless ``force``."""
        with db().transaction() as session:
            store = _store_in_scope(session, body["store_code"])
            return node_status.close_day(session, store, body["day"], g.user, body["force"])


def _store_in_scope(session, code: str) -> Store:
    store = store_by_code(session, code)
    if g.user.role == "regional_manager" and store.region_id != g.user.region_id:
        raise NotFound("No store %(store)s.", code="store_not_found", store=code)
    return store

