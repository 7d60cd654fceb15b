"""Central's side of the push: apply a node's events exactly once and in seq order.

One batch is one transaction. The node row is locked first, so two pushes from the same node
(a retry racing the original) run one after the other. Events at or below the high-water mark
are already held and are skipped after checking they are the same events; the next new event
must be exactly high-water + 1, else the batch is refused with ``seq_gap`` and the node resends
from there. ``received_events`` keeps ``(node_id, seq)`` forever, as a second wall.
"""

from __future__ import annotations

from collections import defaultdict

import marshmallow as ma
from sqlalchemy import Table, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kassa.central.models import Node, Payment, Product, ReceivedEvent, Sale, SaleLine
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, KassaError
from kassa.sync.protocol import EVENT_PAYLOADS


class SeqGap(KassaError):
    status = 409
    code = "seq_gap"


class RowBuffer:
    """Rows to insert, per table, written with one multi-row INSERT each at the batch's end."""

    def __init__(self):
        self.rows: dict[Table, list[dict]] = defaultdict(list)

    def add(self, table: Table, row: dict) -> None:
        self.rows[table].append(row)

    def write(self, session: Session) -> None:
        # Parents first: dict order is the order handlers first added each table.
        for table, rows in self.rows.items():
            session.execute(insert(table), rows)


def apply_batch(session: Session, node_id: str, events: list[dict]) -> tuple[int, int]:
    """Returns ``(high_water, applied)``; raises and rolls back everything on any refusal."""
    node = session.get(Node, node_id, with_for_update=True)
    high_water = node.high_water
    fresh = []
    for event in sorted(events, key=lambda e: e["seq"]):
        seq = event["seq"]
        if seq <= high_water:
            _check_same_as_held(session, node_id, event)
            continue
        if seq != high_water + 1:
            raise SeqGap(f"Central holds events up to {high_water}; got {seq}.",
                         details={"high_water": high_water, "expected": high_water + 1})
        fresh.append((event, _load_payload(event)))
        high_water = seq
    buffer = RowBuffer()
    prepared = {kind: handler.prepare(session, [p for e, p in fresh if e["kind"] == kind])
                for kind, handler in HANDLERS.items()}
    for event, payload in fresh:
        handler = HANDLERS[event["kind"]]
        handler.check(node, payload, prepared[event["kind"]])
        handler.rows(node, payload, buffer)
        buffer.add(ReceivedEvent.__table__, {
            "node_id": node_id, "seq": event["seq"], "event_id": event["event_id"],
            "kind": event["kind"], "occurred_at": event["occurred_at"], "received_at": utcnow()})
    try:
        buffer.write(session)
    except IntegrityError as err:
        # e.g. a sale id or receipt number central already has under another seq
        raise Conflict("The batch repeats a fact central already holds under another event.",
                       code="duplicate_fact") from err
    node.high_water = high_water
    node.last_seen_at = utcnow()
    return high_water, len(fresh)


def _check_same_as_held(session: Session, node_id: str, event: dict) -> None:
    held = session.get(ReceivedEvent, (node_id, event["seq"]))
    if held is not None and held.event_id != event["event_id"]:
        raise Conflict(f"Event {event['seq']} differs from the one central already holds.",
                       code="seq_conflict", details={"seq": event["seq"]})


_SCHEMAS = {kind: schema() for kind, schema in EVENT_PAYLOADS.items()}


def _load_payload(event: dict) -> dict:
    schema = _SCHEMAS.get(event["kind"])
    if schema is None or event["kind"] not in HANDLERS:
        raise Invalid(f"Event {event['seq']}: unknown kind {event['kind']!r}.",
                      code="unknown_event_kind", details={"seq": event["seq"]})
    try:
        return schema.load(event["payload"])
    except ma.ValidationError as err:
        raise Invalid(f"Event {event['seq']}: payload does not match its kind.",
                      code="bad_event",
                      details={"seq": event["seq"], "fields": err.messages}) from err


class SaleCompleted:
    """``sale.completed``: the sale, its lines and payments, as the node recorded them."""

    @staticmethod
    def prepare(session: Session, payloads: list[dict]) -> set[int]:
        """The product ids these sales mention that central knows: one query per batch."""
        wanted = {ln["product_id"] for p in payloads for ln in p["lines"]}
        if not wanted:
            return set()
        return set(session.scalars(select(Product.id).where(Product.id.in_(wanted))))

    @staticmethod
    def check(node: Node, p: dict, known: set[int]) -> None:
        if p["store_id"] != node.store_id:
            raise Invalid(f"Sale {p['receipt_no']} names store {p['store_id']}, "
                          f"but node {node.id} belongs to store {node.store_id}.",
                          code="bad_event")
        missing = {ln["product_id"] for ln in p["lines"]} - known
        if missing:
            raise Invalid(f"Sale {p['receipt_no']} refers to unknown products "
                          f"{sorted(missing)}.", code="unknown_reference")

    @staticmethod
    def rows(node: Node, p: dict, buffer: RowBuffer) -> None:
        buffer.add(Sale.__table__, {
            "id": p["sale_id"], "receipt_no": p["receipt_no"], "node_id": node.id,
            "store_id": p["store_id"], "customer_id": p["customer_id"], "sold_at": p["sold_at"],
            "received_at": utcnow(), "total_minor": p["total_minor"],
            "vat_minor": p["vat_minor"]})
        for ln in p["lines"]:
            buffer.add(SaleLine.__table__, {**ln, "sale_id": p["sale_id"]})
        for pay in p["payments"]:
            buffer.add(Payment.__table__, {**pay, "sale_id": p["sale_id"]})


HANDLERS = {
    "sale.completed": SaleCompleted,
}
