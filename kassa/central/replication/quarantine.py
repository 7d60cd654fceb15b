"""Events central could not apply, held until an operator repairs and replays them.

``kassa.central.replication.ingest`` puts an event here with its reason instead of stopping the
node's queue. The operator fixes the cause (adds the missing product, corrects the payload) and
replays the event; it is then applied exactly as it would have been, under its original seq. Events
held because they depend on another held event are replayed after it (``replay_node`` goes in seq
order). An event may also be discarded, with a reason, which the audit log keeps: nothing leaves
quarantine silently.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import Node, QuarantinedEvent
from kassa.central.replication import ingest
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid, NotFound


def held(session: Session, node_id: str | None = None, status: str = "held") -> list:
    stmt = select(QuarantinedEvent).where(QuarantinedEvent.status == status)
    if node_id:
        stmt = stmt.where(QuarantinedEvent.node_id == node_id)
    return list(session.scalars(stmt.order_by(QuarantinedEvent.node_id, QuarantinedEvent.seq)))


def held_counts(session: Session) -> dict[str, int]:
    return dict(session.execute(
        select(QuarantinedEvent.node_id, func.count()).where(QuarantinedEvent.status == "held")
        .group_by(QuarantinedEvent.node_id)).all())


def held_count(session: Session, node_id: str) -> int:
    """One node's held events (its status report asks for this, once a minute per till)."""
    return session.scalar(select(func.count()).where(
        QuarantinedEvent.node_id == node_id, QuarantinedEvent.status == "held")) or 0


def _get_held(session: Session, event_id: int) -> QuarantinedEvent:
    event = session.get(QuarantinedEvent, event_id)
    if event is None:
        raise NotFound("No quarantined event %(event_id)s.", code="quarantine_not_found",
                       event_id=event_id)
    if event.status != "held":
        raise Conflict("Event %(event_id)s was %(event_status)s already.", code="not_held",
                       details={"status": event.status}, event_id=event_id,
                       event_status=event.status)
    return event


def replay(session: Session, event_id: int, actor: str, payload: dict | None = None,
           note: str = "") -> QuarantinedEvent:
    """Apply a held event now (with a repaired ``payload`` if given); raises ``Invalid`` with the
    reason, leaving it held, if it still cannot be applied."""
    event = _get_held(session, event_id)
    node = session.get(Node, event.node_id, with_for_update=True)
    blocker = session.scalar(select(QuarantinedEvent.seq).where(
        QuarantinedEvent.node_id == event.node_id, QuarantinedEvent.status == "held",
        QuarantinedEvent.seq < event.seq,
        QuarantinedEvent.seq == event.depends_on_seq))
    if blocker is not None:
        raise Conflict("Replay event %(seq)s first: this one depends on it.",
                       code="dependency_held", details={"seq": blocker}, seq=blocker)
    document = {"seq": event.seq, "event_id": event.event_id, "kind": event.kind,
                "occurred_at": event.occurred_at,
                "payload": event.payload if payload is None else payload}
    loaded = ingest._load_payload(document)
    buffer = ingest.RowBuffer()
    known = ingest.Known.load(session, [loaded])
    try:
        with session.begin_nested():
            error = ingest._try_apply(session, node, document, loaded, known, buffer)
            if error is not None:
                raise error
            buffer.flush(session)
    except IntegrityError as err:
        raise Conflict("The event repeats a fact central already holds.",
                       code="duplicate_fact") from err
    except ingest.BUG_ERRORS as err:
        raise Invalid("The event still cannot be applied: %(error)s: %(reason)s",
                      code="apply_failed", error=err.__class__.__name__,
                      reason=str(err)) from err
    if payload is not None:
        event.payload = payload
    _resolve(session, event, "replayed", actor, note)
    return event


def discard(session: Session, event_id: int, actor: str, reason: str) -> QuarantinedEvent:
    """Give up on a held event, for a stated reason (kept in the audit log)."""
    if not reason.strip():
        raise Invalid("Say why the event is discarded.", code="reason_required")
    event = _get_held(session, event_id)
    _resolve(session, event, "discarded", actor, reason)
    return event


def _resolve(session: Session, event: QuarantinedEvent, status: str, actor: str,
             note: str) -> None:
    event.status, event.resolved_at = status, utcnow()
    event.resolved_by, event.resolution_note = actor[:64], note
    event.attempts += 1
    audit.record(session, f"quarantine:{status}", f"{event.kind} seq {event.seq} by {actor}",
                 reason=note or event.reason, node_id=event.node_id,
                 reference_id=event.event_id)
    session.flush()


def replay_node(session_factory, node_id: str, actor: str) -> list[tuple[int, str]]:
    """Replay every held event of a node in seq order, each in its own transaction; returns
    ``(seq, outcome)`` pairs ("replayed" or the error code)."""
    with session_factory.read() as session:
        ids = [(e.id, e.seq) for e in held(session, node_id)]
    outcomes = []
    for event_id, seq in ids:
        try:
            with session_factory.transaction() as session:
                replay(session, event_id, actor)
            outcomes.append((seq, "replayed"))
        except (Invalid, Conflict) as err:
            outcomes.append((seq, getattr(err, "code", "invalid")))
    return outcomes
