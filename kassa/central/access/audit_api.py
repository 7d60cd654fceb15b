"""The audit log, read: filtered by action, node, person and time, as JSON or CSV. The log is
append-only: nothing in central updates or deletes its rows."""

from __future__ import annotations

import csv
import io
import json

import marshmallow as ma
from flask import Response, g
from flask.views import MethodView
from flask_smorest import Blueprint
from marshmallow import fields, validate
from sqlalchemy import or_, select

from kassa.central.access.auth import require_role
from kassa.central.handlers import STAFF, db
from kassa.central.models import AuditEntry, Node, Store, User
from kassa.common.formats.spreadsheet import cell
from kassa.common.web import CSV_TEXT

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit",
               description="Who allowed what, and why")
COLUMNS = ("id", "at", "action", "node_id", "actor", "on_behalf_of", "subject", "reason",
           "reference_id", "details")


class AuditQuerySchema(ma.Schema):
    action = fields.String(load_default=None, validate=validate.Length(max=32),
                           metadata={"description": "exact, or a prefix ending in ':'"})
    node_id = fields.String(load_default=None, validate=validate.Length(max=32))
    user = fields.String(load_default=None, validate=validate.Length(max=64))
    since = fields.AwareDateTime(load_default=None)
    until = fields.AwareDateTime(load_default=None)
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=100_000))
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")))


class AuditEntrySchema(ma.Schema):
    id = fields.Integer()
    at = fields.AwareDateTime()
    action = fields.String()
    node_id = fields.String(allow_none=True)
    actor = fields.String(allow_none=True)
    on_behalf_of = fields.String(allow_none=True)
    subject = fields.String()
    reason = fields.String()
    reference_id = fields.UUID(allow_none=True)
    details = fields.Dict(allow_none=True, metadata={
        "description": "a master-data change: the record before and after"})


class AuditListSchema(ma.Schema):
    entries = fields.List(fields.Nested(AuditEntrySchema))


def entries(session, user: User, args: dict) -> list[dict]:
    """Newest first; a regional manager sees their region's nodes and the central entries
    about people of their region only."""
    actor, behalf = User.__table__.alias("actor"), User.__table__.alias("behalf")
    stmt = (select(AuditEntry, actor.c.username, behalf.c.username)
            .outerjoin(actor, actor.c.id == AuditEntry.actor_id)
            .outerjoin(behalf, behalf.c.id == AuditEntry.on_behalf_of_id)
            .order_by(AuditEntry.id.desc()).limit(args["limit"]))
    if args["action"]:
        action = args["action"]
        stmt = stmt.where(AuditEntry.action.startswith(action) if action.endswith(":")
                          else AuditEntry.action == action)
    if args["node_id"]:
        stmt = stmt.where(AuditEntry.node_id == args["node_id"])
    if args["user"]:
        stmt = stmt.where(or_(actor.c.username == args["user"],
                              behalf.c.username == args["user"]))
    if args["since"]:
        stmt = stmt.where(AuditEntry.at >= args["since"])
    if args["until"]:
        stmt = stmt.where(AuditEntry.at < args["until"])
    if user.role == "regional_manager":
        region_nodes = select(Node.id).join(Store, Store.id == Node.store_id).where(
            Store.region_id == user.region_id)
        stmt = stmt.where(or_(AuditEntry.node_id.in_(region_nodes),
                              AuditEntry.actor_id == user.id))
    return [{"id": e.id, "at": e.at, "action": e.action, "node_id": e.node_id,
             "actor": who, "on_behalf_of": behalf_of, "subject": e.subject,
             "reason": e.reason, "reference_id": e.reference_id, "details": e.details}
            for e, who, behalf_of in session.execute(stmt)]


def _cell(value) -> str:
    """Every audit cell is text (ids, amounts as written): formula-safe."""
    return str(cell("" if value is None else str(value)))


@bp.route("")
class Audit(MethodView):
    decorators = [require_role(*STAFF)]

    @bp.arguments(AuditQuerySchema, location="query")
    @bp.response(200, AuditListSchema)
    @bp.alt_response(200, schema=CSV_TEXT, description="with format=csv: the same rows as CSV",
                     content_type="text/csv", success=True)
    def get(self, args):
        """The audit log, newest first (``format=csv`` downloads it)."""
        with db().read() as session:
            rows = entries(session, g.user, args)
        if args["format"] == "csv":
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(COLUMNS)
            for row in rows:
                writer.writerow([row[c].isoformat() if c == "at" else
                                 json.dumps(row[c], sort_keys=True) if c == "details" and row[c]
                                 else _cell(row[c]) for c in COLUMNS])
            return Response(out.getvalue(), mimetype="text/csv", headers={
                "Content-Disposition": "attachment; filename=audit.csv"})
        return {"entries": rows}
