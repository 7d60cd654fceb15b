"""Central's side of the push: apply a node's events exactly once and in seq order.

One batch is one transaction. The node row is locked first, so two pushes from the same node
(a retry racing the original) run one after the other. Events at or below the high-water mark
are already held and are skipped after checking they are the same events; the next new event
must be exactly high-water + 1, else the batch is refused with ``seq_gap`` and the node resends
from there. ``received_events`` keeps ``(node_id, seq)`` forever, as a second wall.
"""

from __future__ import annotations

from typing import Callable

import marshmallow as ma
from sqlalchemy.orm import Session

from kassa.central.models import Node, Payment, Product, ReceivedEvent, Sale, SaleLine
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, KassaError
from kassa.sync.protocol import EVENT_PAYLOADS


class SeqGap(KassaError):
    status = 409
    code = "seq_gap"


def apply_batch(session: Session, node_id: str, events: list[dict]) -> tuple[int, int]:
    """Returns ``(high_water, applied)``; raises and rolls back everything on any refusal."""
    node = session.get(Node, node_id, with_for_update=True)
    high_water = node.high_water
    applied = 0
    for event in sorted(events, key=lambda e: e["seq"]):
        seq = event["seq"]
        if seq <= high_water:
            held = session.get(ReceivedEvent, (node_id, seq))
            if held is not None and held.event_id != event["event_id"]:
                raise Conflict(f"Event {seq} differs from the one central already holds.",
                               code="seq_conflict", details={"seq": seq})
            continue
        if seq != high_water + 1:
            raise SeqGap(f"Central holds events up to {high_water}; got {seq}.",
                         details={"high_water": high_water, "expected": high_water + 1})
        _apply_one(session, node, event)
        session.add(ReceivedEvent(node_id=node_id, seq=seq, event_id=event["event_id"],
                                  kind=event["kind"], occurred_at=event["occurred_at"]))
        session.flush()
        high_water = seq
        applied += 1
    node.high_water = high_water
    node.last_seen_at = utcnow()
    return high_water, applied


def _apply_one(session: Session, node: Node, event: dict) -> None:
    handler = HANDLERS.get(event["kind"])
    if handler is None:
        raise Invalid(f"Event {event['seq']}: unknown kind {event['kind']!r}.",
                      code="unknown_event_kind", details={"seq": event["seq"]})
    try:
        payload = EVENT_PAYLOADS[event["kind"]]().load(event["payload"])
    except ma.ValidationError as err:
        raise Invalid(f"Event {event['seq']}: payload does not match its kind.",
                      code="bad_event", details={"seq": event["seq"], "fields": err.messages})
    handler(session, node, payload)


def _sale_completed(session: Session, node: Node, p: dict) -> None:
    if p["store_id"] != node.store_id:
        raise Invalid(f"Sale {p['receipt_no']} names store {p['store_id']}, "
                      f"but node {node.id} belongs to store {node.store_id}.", code="bad_event")
    missing = {ln["product_id"] for ln in p["lines"]} - {
        pid for (pid,) in session.query(Product.id).filter(
            Product.id.in_([ln["product_id"] for ln in p["lines"]]))}
    if missing:
        raise Invalid(f"Sale {p['receipt_no']} refers to unknown products {sorted(missing)}.",
                      code="unknown_reference")
    sale = Sale(id=p["sale_id"], receipt_no=p["receipt_no"], node_id=node.id,
                store_id=p["store_id"], customer_id=p["customer_id"], sold_at=p["sold_at"],
                total_minor=p["total_minor"], vat_minor=p["vat_minor"])
    sale.lines = [SaleLine(**ln) for ln in p["lines"]]
    sale.payments = [Payment(**pay) for pay in p["payments"]]
    session.add(sale)


HANDLERS: dict[str, Callable[[Session, Node, dict], None]] = {
    "sale.completed": _sale_completed,
}
