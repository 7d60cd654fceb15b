"""Central's change feed: every change to master data, numbered in commit order.

Versions come from a sequence, and on PostgreSQL two transactions could commit out of number
order, letting a node's cursor pass a version that was still invisible. Writers therefore take
a transaction-scoped advisory lock first, so versions become visible in order. Master data
changes rarely, but a push that moves loyalty points publishes the accounts it touched, so
such pushes take their turn for the lock too (decisions 5 and 28). On SQLite,
``BEGIN IMMEDIATE`` already serializes writers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import and_, bindparam, func, or_, select, text, true
from sqlalchemy.orm import Session

from kassa.central.models import ChangeFeedEntry, Customer, Store
from kassa.common.db import table, utcnow
from kassa.common.storage.bulk import JsonText, copy_columns

FEED_LOCK_ID = 0x4B415353  # "KASS"
# Entities a region's entries of which only that region's nodes get (customers too, where the
# feed rule says so: ``KASSA_FEED_CUSTOMERS``).
REGION_ENTITIES = frozenset({"price"})


def record_change(session: Session, entity: str, key: object, data: dict | None, *,
                  store_id: int | None = None, region_id: int | None = None) -> None:
    """Append one change; ``data=None`` is a tombstone. ``store_id`` / ``region_id`` say which
    nodes need it (``None``: every node)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FEED_LOCK_ID})
    session.add(ChangeFeedEntry(entity=entity, entity_key=str(key), deleted=data is None,
                                payload=data, store_id=store_id, region_id=region_id))
    session.flush()


def record_changes(
        session: Session, entity: str,
        changes: Sequence[tuple[object, dict | JsonText | None, int | None, int | None]]
) -> None:
    """``record_change`` for many keys at once: ``[(key, data, store_id, region_id)]``, one
    lock and one multi-row INSERT (a sync batch publishing a hundred accounts). ``data`` may
    be JSON already written (``JsonText``)."""
    if not changes:
        return
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": FEED_LOCK_ID})
    now = utcnow()
    copy_columns(session, table(ChangeFeedEntry), _FEED_COLUMNS, (
        (entity, str(key), data is None, data, store_id, region_id, now)
        for key, data, store_id, region_id in changes))


_FEED_COLUMNS = ("entity", "entity_key", "deleted", "payload", "store_id", "region_id",
                 "changed_at")


def customer_scope(session: Session, c: Customer) -> dict:
    """Customers are tagged with their home store's region; whether nodes of other regions
    still get them is the feed rule (``KASSA_FEED_CUSTOMERS``), applied when reading."""
    region = (session.scalar(select(Store.region_id).where(Store.id == c.home_store_id))
              if c.home_store_id else None)
    return {"region_id": region}


@dataclass(frozen=True)
class NodeScope:
    """What one node receives: its store's entries, its region's where the rule scopes an
    entity by region, and everything addressed to all nodes."""

    store_id: int
    region_id: int
    region_entities: frozenset[str] = frozenset()

    def clause(self):
        return _scope_clause(ChangeFeedEntry.store_id == self.store_id,
                             ChangeFeedEntry.region_id == self.region_id, self.region_entities)

    @property
    def params(self) -> dict:
        return {"store": self.store_id, "region": self.region_id}


def _scope_clause(own_store, own_region, region_entities: frozenset[str]):
    return and_(
        or_(ChangeFeedEntry.store_id.is_(None), own_store),
        or_(ChangeFeedEntry.region_id.is_(None), own_region,
            ChangeFeedEntry.entity.not_in(region_entities) if region_entities else true()))


# A page of the feed, built once: every till's pull runs it (building and keying the
# statement anew each time, and loading ORM objects, was a third of a pull's CPU).
_PAGE = (select(ChangeFeedEntry.version, ChangeFeedEntry.entity, ChangeFeedEntry.entity_key,
                ChangeFeedEntry.deleted, ChangeFeedEntry.payload)
         .where(ChangeFeedEntry.version > bindparam("since"))
         .order_by(ChangeFeedEntry.version).limit(bindparam("rows")))


@lru_cache(maxsize=8)
def _scoped_page(region_entities: frozenset[str]):
    return _PAGE.where(_scope_clause(ChangeFeedEntry.store_id == bindparam("store"),
                                     ChangeFeedEntry.region_id == bindparam("region"),
                                     region_entities))


def page(session: Session, since: int, limit: int, scope: NodeScope | None = None,
         newest: int | None = None) -> dict:
    """Entries after ``since`` for this node. ``next_since`` moves past entries meant for other
    nodes too, so a node whose pages are all filtered out still advances: to ``newest`` if
    given (a version read earlier, so not past what this transaction sees), else to the newest
    this transaction sees."""
    if scope is None:
        rows = session.execute(_PAGE, {"since": since, "rows": limit + 1}).all()
    else:
        rows = session.execute(_scoped_page(scope.region_entities),
                               {"since": since, "rows": limit + 1, **scope.params}).all()
    more = len(rows) > limit
    rows = rows[:limit]
    if more or rows:
        next_since = rows[-1].version
    else:
        # Nothing more for this node: skip past what it was not meant to have.
        if newest is None:
            newest = session.scalar(select(func.max(ChangeFeedEntry.version))) or 0
        next_since = max(since, newest)
    return {
        "changes": [{"version": r.version, "entity": r.entity, "key": r.entity_key,
                     "deleted": r.deleted, "data": r.payload} for r in rows],
        "next_since": next_since,
        "more": more,
    }
