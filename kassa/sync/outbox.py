"""The node's outbox: every fact appended in the same transaction as the fact itself.

``seq`` comes from the ``outbox_seq`` counter, not from the table, so it stays gap-free and
increasing even after acknowledged rows are pruned. SQLite's ``BEGIN IMMEDIATE`` (see
``kassa.common.db``) serializes writers, so two sales can never take the same number.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from kassa.common.db import utcnow
from kassa.pos_node.models import Counter, OutboxEvent
from kassa.sync.protocol import EVENT_PAYLOADS


def next_counter(session: Session, name: str) -> int:
    """Increment and return a gap-free counter inside the caller's transaction (one
    statement: an upsert that answers the new value)."""
    return session.execute(
        insert(Counter).values(name=name, value=1)
        .on_conflict_do_update(index_elements=[Counter.name],
                               set_={"value": Counter.value + 1})
        .returning(Counter.value)).scalar_one()


_SCHEMAS = {kind: schema() for kind, schema in EVENT_PAYLOADS.items()}


def append_event(session: Session, kind: str, payload: dict,
                 occurred_at: datetime | None = None) -> OutboxEvent:
    # Dumped through the kind's schema: the stored payload is the JSON central will load.
    document = _SCHEMAS[kind].dump(payload)
    event = OutboxEvent(seq=next_counter(session, "outbox_seq"), event_id=uuid.uuid4(), kind=kind,
                        payload=document, occurred_at=occurred_at or utcnow())
    session.add(event)
    return event


def pending(session: Session, limit: int) -> list[OutboxEvent]:
    return list(session.scalars(
        select(OutboxEvent).where(OutboxEvent.acked_at.is_(None))
        .order_by(OutboxEvent.seq).limit(limit)))


def acknowledge(session: Session, high_water: int) -> int:
    """Mark everything central holds (seq <= high_water) as acknowledged."""
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.seq <= high_water, OutboxEvent.acked_at.is_(None))
        .values(acked_at=utcnow()))
    return result.rowcount
