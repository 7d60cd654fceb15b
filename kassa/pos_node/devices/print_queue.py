"""The till's print queue: what the printer has to do, kept in the till's database.

A job is written by the service that makes what it prints, in the same transaction (a sale
and its receipt, a cash movement and its slip, a closed shift and its Z report), so a
printer that is off, out of paper or with its cover open never loses or blocks anything: the
job waits, and the worker (``print_worker``) prints it when the printer can. A till without
a printer (``KASSA_PRINTER=off``) writes no jobs: ``enable(db)`` switches them on for the
sessions of a database, with the worker's wake-up to call once a job is committed.

A drawer kick is a job too, but one that goes stale: a drawer that opens minutes after the
sale, when nobody stands at it, is worse than one that does not open (``KICK_FRESH``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import delete, event, func, select
from sqlalchemy.orm import Session

from kassa.common.db import Database, utcnow
from kassa.pos_node.models import PrintJob

KICK_FRESH = timedelta(seconds=60)
PRINTING = "kassa_printing"  # Session.info key: the worker's wake-up, when jobs are written


def enable(db: Database, wake: Callable[[], None]) -> None:
    """Write print jobs in this database's units of work; ``wake`` after each commit."""
    for maker in (db.sessions, db.read_sessions):
        maker.configure(info={PRINTING: wake})


def enqueue(session: Session, kind: str, ref: str = "", *, copy: bool = False,
            payload: dict | None = None) -> PrintJob | None:
    wake = session.info.get(PRINTING)
    if wake is None:
        return None
    job = PrintJob(kind=kind, ref=ref, copy=copy, payload=payload, created_at=utcnow(),
                   status="queued", attempts=0)
    session.add(job)
    if not session.info.get("kassa_print_wake"):
        session.info["kassa_print_wake"] = True
        event.listen(session, "after_commit", lambda _s: wake(), once=True)
    return job


def receipt(session: Session, number: str, *, cash: bool, copy: bool = False) -> None:
    """A sale's or a return's receipt; with ``cash`` the drawer opens first."""
    if cash and not copy:
        enqueue(session, "drawer", number)
    enqueue(session, "receipt", number, copy=copy)


def cash_movement(session: Session, movement_id: uuid.UUID) -> None:
    enqueue(session, "drawer", f"cash {movement_id}")
    enqueue(session, "cash_movement", str(movement_id))


def x_report(session: Session, report: dict) -> None:
    """The X report as it stands now (later it will have changed)."""
    enqueue(session, "x_report", str(report["shift_id"]), payload=_jsonable(report))


def z_report(session: Session, shift_id: uuid.UUID) -> None:
    enqueue(session, "drawer", f"shift {shift_id}")
    enqueue(session, "z_report", str(shift_id))


def drawer(session: Session, why: str) -> None:
    enqueue(session, "drawer", why[:64])


def _jsonable(report: dict) -> dict:
    """The report as JSON keeps it (ids and moments as text; the slip reads amounts only)."""
    return json.loads(json.dumps(report, default=lambda v: v.isoformat()
                                 if hasattr(v, "isoformat") else str(v)))


def pending(session: Session) -> list[PrintJob]:
    return list(session.scalars(select(PrintJob).where(PrintJob.status == "queued")
                                .order_by(PrintJob.id)))


def waiting(session: Session) -> int:
    """Jobs not printed yet (the badge's count)."""
    return session.scalar(select(func.count()).select_from(PrintJob)
                          .where(PrintJob.status == "queued", PrintJob.kind != "drawer")) or 0


def enabled(session: Session) -> bool:
    """Whether this till prints (``KASSA_PRINTER`` is not ``off``)."""
    return session.info.get(PRINTING) is not None


KEEP_DONE = timedelta(days=30)


def prune(session: Session) -> None:
    """Forget jobs done more than ``KEEP_DONE`` ago (the queue is not the sales' record)."""
    session.execute(delete(PrintJob).where(PrintJob.status != "queued",
                                           PrintJob.done_at < utcnow() - KEEP_DONE))
