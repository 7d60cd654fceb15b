"""The node's outbox: every fact appended in the same transaction as the fact itself.

``seq`` comes from the ``outbox_seq`` counter, not from the table, so it stays gap-free and
increasing even after acknowledged rows are pruned. SQLite's ``BEGIN IMMEDIATE`` (see
``kassa.common.db``) serializes writers, so two sales can never take the same number.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, delete, func, select, update
from sqlalchemy.dialects.sqlite import insert
from sqlalchemy.orm import Session

from kassa.common.db import rowcount, utcnow
from kassa.pos_node.models import Counter, OutboxEvent
from kassa.sync.payloads import EVENT_PAYLOADS, jsonable

_BUMP = (insert(Counter).values(name=bindparam("name"), value=1)
         .on_conflict_do_update(index_elements=[Counter.name], set_={"value": Counter.value + 1})
         .returning(Counter.value))


def prune(session: Session, keep: timedelta, now: datetime | None = None) -> int:
    """Delete events central acknowledged more than ``keep`` ago; answers how many. Kept
    within ``keep`` because a central restored from a backup older than its acknowledgement
    asks for them again (``seq_gap``): the retention must exceed central's recovery point
    (``KASSA_OUTBOX_KEEP_DAYS``, docs/operations.md). Never an unacknowledged event, and never
    the last acknowledged one: the till counts from it what central holds (the badge, the
    points it stops adding on top of central's balance)."""
    last = (select(func.max(OutboxEvent.seq)).where(OutboxEvent.acked_at.is_not(None))
            .scalar_subquery())
    result = session.execute(delete(OutboxEvent).where(
        OutboxEvent.acked_at.is_not(None), OutboxEvent.acked_at < (now or utcnow()) - keep,
        OutboxEvent.seq < last))
    return rowcount(result)


def next_counter(session: Session, name: str) -> int:
    """Increment and return a gap-free counter inside the caller's transaction: one upsert
    that answers the new value, sent on the session's connection (no ORM round)."""
    return session.connection().execute(_BUMP, {"name": name}).scalar_one()


def append_event(session: Session, kind: str, payload: dict,
                 occurred_at: datetime | None = None) -> OutboxEvent:
    if kind not in EVENT_PAYLOADS:
        raise ValueError(f"unknown event kind {kind!r}")
    document = jsonable(payload)
    event = OutboxEvent(seq=next_counter(session, "outbox_seq"), event_id=uuid.uuid4(), kind=kind,
                        payload=document, occurred_at=occurred_at or utcnow(), acked_at=None)
    # Written at once on the session's connection (it never changes after this).
    session.connection().execute(insert(OutboxEvent).values(
        seq=event.seq, event_id=event.event_id, kind=kind, payload=document,
        occurred_at=event.occurred_at, acked_at=None))
    return event


_PENDING = (select(OutboxEvent.seq, OutboxEvent.event_id, OutboxEvent.kind,
                   OutboxEvent.occurred_at, OutboxEvent.payload)
            .where(OutboxEvent.acked_at.is_(None)).order_by(OutboxEvent.seq)
            .limit(bindparam("limit")))


def pending(session: Session, limit: int) -> list[dict]:
    """The next unacknowledged events as the push request carries them (``EventSchema``)."""
    return [{"seq": seq, "event_id": str(event_id), "kind": kind,
             "occurred_at": occurred_at.isoformat(), "payload": payload}
            for seq, event_id, kind, occurred_at, payload
            in session.execute(_PENDING, {"limit": limit})]


def acknowledge(session: Session, high_water: int) -> int:
    """Mark everything central holds (seq <= high_water) as acknowledged."""
    result = session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.seq <= high_water, OutboxEvent.acked_at.is_(None))
        .values(acked_at=utcnow()))
    return rowcount(result)
