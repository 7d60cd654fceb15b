"""Writing to the audit log: one line per decision or change, never updated or deleted
(``kassa.central.access.audit_api`` reads it back). Fields are cut to their columns' lengths here,
so no caller has to."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session

from kassa.central.models import AuditEntry
from kassa.common.db import utcnow


def entry(action: str, subject: str, *, reason: str = "", actor_id: int | None = None,
          on_behalf_of_id: int | None = None, node_id: str | None = None,
          reference_id: uuid.UUID | None = None, details: dict | None = None,
          at: datetime | None = None) -> AuditEntry:
    return AuditEntry(at=at or utcnow(), node_id=node_id, action=action[:32],
                      actor_id=actor_id, on_behalf_of_id=on_behalf_of_id,
                      subject=subject[:200], reason=(reason or "")[:200],
                      reference_id=reference_id, details=details)


def record(session: Session, action: str, subject: str, **kwargs) -> AuditEntry:
    """Add one line (see ``entry``) to the caller's transaction."""
    line = entry(action, subject, **kwargs)
    session.add(line)
    return line


def change(session: Session, actor_id: int | None, entity: str, key, before: dict | None,
           after: dict | None, *, via: str | None = None) -> None:
    """One master-data change, with the record before and after (``None``: created, deleted).
    ``via`` says where it was done when not by a signed-in person (``command line``)."""
    reason = "created" if before is None else "deleted" if after is None else "changed"
    details: dict = {"before": before, "after": after}
    if via is not None:
        details["via"] = via
    record(session, f"masterdata:{entity}", f"{entity} {key}", actor_id=actor_id, reason=reason,
           details=details)


@contextmanager
def change_of(session: Session, actor_id: int, entity: str, key,
              view: Callable[[], dict]) -> Iterator[None]:
    """Audit what the block changes: the record's ``view()`` before it and after it, and a
    line of ``change`` when the two differ (nothing when the block changed nothing)."""
    before = view()
    yield
    session.flush()
    after = view()
    if after != before:
        change(session, actor_id, entity, key, before, after)
