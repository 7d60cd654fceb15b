"""The wire format of sync, as marshmallow schemas both ends load and dump.

Up: ``POST /api/v1/sync/push`` with a batch of outbox events, answered with central's
high-water mark for the node. Down: ``GET /api/v1/sync/changes?since=V`` answered with a page of
change-feed entries. Event payloads have a schema per kind, checked again at central.
"""

from __future__ import annotations

import marshmallow as ma
from marshmallow import fields, validate

MAX_BATCH = 1000
MAX_PAGE = 1000


class EventSchema(ma.Schema):
    seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=1))
    event_id = fields.UUID(required=True)
    kind = fields.String(required=True, validate=validate.Length(min=1, max=64))
    occurred_at = fields.AwareDateTime(required=True)
    payload = fields.Dict(required=True)


class PushRequestSchema(ma.Schema):
    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    events = fields.List(fields.Nested(EventSchema), required=True,
                         validate=validate.Length(max=MAX_BATCH))


class PushResponseSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    high_water = fields.Integer(required=True)
    applied = fields.Integer(required=True)


class DayTotalsSchema(ma.Schema):
    day = fields.Date(required=True)
    sales_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    sales_minor = fields.Integer(required=True, strict=True)
    returns_count = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    returns_minor = fields.Integer(required=True, strict=True)


BACKUP_STATES = ("off", "starting", "ok", "behind", "alarm", "down")


class BackupReportSchema(ma.Schema):
    """The node's Litestream backup as its supervisor last saw it
    (``kassa.common.storage.backup``)."""

    class Meta:
        unknown = ma.EXCLUDE

    state = fields.String(required=True, validate=validate.OneOf(BACKUP_STATES))
    lag_seconds = fields.Float(load_default=0.0, validate=validate.Range(min=0, max=1e9))
    last_error = fields.String(load_default=None, allow_none=True,
                               validate=validate.Length(max=500))


class NodeStatusReportSchema(ma.Schema):
    """What a node says about itself after each sync: how far it is, what it counted."""

    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    node_seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    queue_depth = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    oldest_pending_at = fields.AwareDateTime(allow_none=True, load_default=None)
    feed_cursor = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    days = fields.List(fields.Nested(DayTotalsSchema), load_default=list,
                       validate=validate.Length(max=62))
    backup = fields.Nested(BackupReportSchema, load_default=None, allow_none=True)


class NodeStatusAnswerSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    high_water = fields.Integer(required=True)
    quarantined = fields.Integer(required=True)


class RestoredReportSchema(ma.Schema):
    """A node rebuilt from its replica says how far its copy reaches (``kassa pos restore``)."""

    node_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    restored_seq = fields.Integer(required=True, strict=True, validate=validate.Range(min=0))
    replica_at = fields.AwareDateTime(required=True, allow_none=True)
    last_receipt_no = fields.String(load_default=None, allow_none=True,
                                    validate=validate.Length(max=64))


class RestoredAnswerSchema(ma.Schema):
    """What central holds of the node: its events up to ``high_water``, the newest seq the
    node last reported (``node_seq``, when), and its newest receipt and return numbers."""

    class Meta:
        unknown = ma.EXCLUDE

    high_water = fields.Integer(required=True)
    node_seq = fields.Integer(allow_none=True)
    reported_at = fields.AwareDateTime(allow_none=True)
    last_receipt_no = fields.String(allow_none=True)
    last_return_no = fields.String(allow_none=True)


class ChangesQuerySchema(ma.Schema):
    since = fields.Integer(load_default=0, validate=validate.Range(min=0))
    limit = fields.Integer(load_default=500, validate=validate.Range(min=1, max=MAX_PAGE))


class ChangeSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    version = fields.Integer(required=True)
    entity = fields.String(required=True)
    key = fields.String(required=True)
    deleted = fields.Boolean(required=True)
    data = fields.Dict(allow_none=True)


class ChangesPageSchema(ma.Schema):
    class Meta:
        unknown = ma.EXCLUDE  # answers may grow; an older node reads what it knows

    changes = fields.List(fields.Nested(ChangeSchema), required=True)
    next_since = fields.Integer(required=True)
    more = fields.Boolean(required=True)
