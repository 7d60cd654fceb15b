"""Central's side of the push: apply a node's events exactly once and in seq order.

One batch is one transaction. The node row is locked first, so two pushes from the same node
(a retry racing the original) run one after the other. Events at or below the high-water mark
are already held and are skipped after checking they are the same events; the next new event
must be exactly high-water + 1, else the batch is refused with ``seq_gap`` and the node resends
from there. ``received_events`` keeps ``(node_id, seq)`` forever, as a second wall.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import marshmallow as ma
from sqlalchemy import Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kassa.central.models import (
    AuditEntry,
    Node,
    Payment,
    Product,
    ReceivedEvent,
    Refund,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    Shift,
    User,
)
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, KassaError
from kassa.sync.protocol import EVENT_PAYLOADS


class SeqGap(KassaError):
    status = 409
    code = "seq_gap"


class RowBuffer:
    """Rows to insert, per table, written with one multi-row INSERT each; a handler that must
    update a row written earlier in the batch calls ``flush`` first."""

    def __init__(self):
        self.rows: dict[Table, list[dict]] = defaultdict(list)

    def add(self, table: Table, row: dict) -> None:
        self.rows[table].append(row)

    def flush(self, session: Session) -> None:
        # Parents first: dict order is the order handlers first added each table.
        for table, rows in self.rows.items():
            session.execute(insert(table), rows)
        self.rows.clear()


@dataclass
class Known:
    """Which of the ids a batch mentions central knows: one query per kind of id."""

    products: set[int] = field(default_factory=set)
    users: set[int] = field(default_factory=set)

    @classmethod
    def load(cls, session: Session, payloads: list[dict]) -> "Known":
        products = {ln["product_id"] for p in payloads
                    if isinstance(p.get("lines"), list) for ln in p["lines"]}
        users = {p[k] for p in payloads for k in ("cashier_id", "manager_id", "user_id",
                                                   "closed_by") if p.get(k) is not None}
        return cls(
            set(session.scalars(select(Product.id).where(Product.id.in_(products))))
            if products else set(),
            set(session.scalars(select(User.id).where(User.id.in_(users)))) if users else set())

    def check(self, what: str, payload: dict) -> None:
        lines = payload.get("lines")
        missing_products = ({ln["product_id"] for ln in lines} - self.products
                            if isinstance(lines, list) else set())
        missing_users = {payload[k] for k in ("cashier_id", "manager_id", "user_id", "closed_by")
                         if payload.get(k) is not None} - self.users
        if missing_products or missing_users:
            raise Invalid(f"{what} refers to unknown products {sorted(missing_products)} or "
                          f"users {sorted(missing_users)}.", code="unknown_reference")


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
    known = Known.load(session, [p for _e, p in fresh])
    for event, payload in fresh:
        known.check(f"Event {event['seq']} ({event['kind']})", payload)
        HANDLERS[event["kind"]](session, node, payload, buffer)
        buffer.add(ReceivedEvent.__table__, {
            "node_id": node_id, "seq": event["seq"], "event_id": event["event_id"],
            "kind": event["kind"], "occurred_at": event["occurred_at"], "received_at": utcnow()})
    try:
        buffer.flush(session)
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


def _sale_completed(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    if p["store_id"] != node.store_id:
        raise Invalid(f"Sale {p['receipt_no']} names store {p['store_id']}, "
                      f"but node {node.id} belongs to store {node.store_id}.", code="bad_event")
    buffer.add(Sale.__table__, {
        "id": p["sale_id"], "receipt_no": p["receipt_no"], "node_id": node.id,
        "store_id": p["store_id"], "customer_id": p["customer_id"], "sold_at": p["sold_at"],
        "received_at": utcnow(), "status": "completed", "shift_id": p["shift_id"],
        "cashier_id": p["cashier_id"], "gross_minor": p["gross_minor"] or p["total_minor"],
        "discount_minor": p["discount_minor"], "total_minor": p["total_minor"],
        "vat_minor": p["vat_minor"]})
    for ln in p["lines"]:
        buffer.add(SaleLine.__table__, {**ln, "sale_id": p["sale_id"],
                                        "gross_minor": ln["gross_minor"] or ln["amount_minor"]})
    for pay in p["payments"]:
        buffer.add(Payment.__table__, {**pay, "sale_id": p["sale_id"]})


def _sale_voided(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    buffer.add(AuditEntry.__table__, {
        "at": p["at"], "node_id": node.id, "action": "void", "actor_id": p["cashier_id"],
        "on_behalf_of_id": None, "reference_id": p["sale_id"], "reason": p["reason"][:200],
        "subject": f"open sale, {p['line_count']} lines, {p['total_minor'] / 100:.2f}"})


def _sale_post_voided(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    buffer.flush(session)
    done = session.execute(update(Sale).where(Sale.id == p["sale_id"], Sale.node_id == node.id)
                           .values(status="post_voided")).rowcount
    if not done:
        raise Invalid(f"Post-void of unknown sale {p['receipt_no']}.", code="unknown_reference")


def _return_completed(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    buffer.add(Return.__table__, {
        "id": p["return_id"], "return_no": p["return_no"], "node_id": node.id,
        "store_id": node.store_id, "original_sale_id": p["original_sale_id"],
        "original_receipt_no": p["original_receipt_no"], "shift_id": p["shift_id"],
        "cashier_id": p["cashier_id"], "override_id": p["override_id"], "reason": p["reason"],
        "returned_at": p["returned_at"], "total_minor": p["total_minor"],
        "vat_minor": p["vat_minor"]})
    for ln in p["lines"]:
        buffer.add(ReturnLine.__table__, {**ln, "return_id": p["return_id"]})
    for r in p["refunds"]:
        buffer.add(Refund.__table__, {**r, "return_id": p["return_id"]})


def _shift_opened(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    buffer.add(Shift.__table__, {
        "id": p["shift_id"], "node_id": node.id, "number": p["number"],
        "cashier_id": p["cashier_id"], "opened_at": p["opened_at"], "closed_at": None,
        "opening_float_minor": p["opening_float_minor"], "expected_cash_minor": None,
        "counted_cash_minor": None, "cash_in_minor": 0, "cash_out_minor": 0})


def _shift_update(session: Session, node: Node, shift_id, values: dict, buffer: RowBuffer):
    buffer.flush(session)
    done = session.execute(update(Shift).where(Shift.id == shift_id, Shift.node_id == node.id)
                           .values(**values)).rowcount
    if not done:
        raise Invalid(f"Unknown shift {shift_id}.", code="unknown_reference")


def _shift_closed(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    _shift_update(session, node, p["shift_id"], {
        "closed_at": p["closed_at"], "expected_cash_minor": p["expected_cash_minor"],
        "counted_cash_minor": p["counted_cash_minor"], "cash_in_minor": p["cash_in_minor"],
        "cash_out_minor": p["cash_out_minor"]}, buffer)


def _cash_moved(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    column = Shift.cash_in_minor if p["kind"] == "in" else Shift.cash_out_minor
    _shift_update(session, node, p["shift_id"], {column.key: column + p["amount_minor"]}, buffer)


def _override_granted(session: Session, node: Node, p: dict, buffer: RowBuffer) -> None:
    buffer.add(AuditEntry.__table__, {
        "at": p["at"], "node_id": node.id, "action": f"override:{p['action']}"[:32],
        "actor_id": p["manager_id"], "on_behalf_of_id": p["cashier_id"],
        "reference_id": p["override_id"], "subject": p["subject"][:200],
        "reason": p["reason"][:200]})


HANDLERS = {
    "sale.completed": _sale_completed,
    "sale.voided": _sale_voided,
    "sale.post_voided": _sale_post_voided,
    "return.completed": _return_completed,
    "shift.opened": _shift_opened,
    "shift.closed": _shift_closed,
    "cash.moved": _cash_moved,
    "override.granted": _override_granted,
}
