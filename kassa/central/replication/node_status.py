"""What central knows about each node: last contact, how far behind it is, why it is refused.

A node reports itself after each sync (``POST /api/v1/sync/status``): its newest outbox seq,
the events it has not had acknowledged, its feed cursor and its own per-day sales counts.
Central adds what it saw itself: the high-water mark, the last signed request, a refusal for
clock skew, held quarantined events. The node status page, the reconciliation report and the
business-day close read from here.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import (
    BusinessDay,
    ChangeFeedEntry,
    Node,
    NodeDayTotal,
    Region,
    Return,
    Sale,
    Store,
    User,
)
from kassa.central.replication import quarantine
from kassa.central.reporting.operational_reports import scope_stores
from kassa.common.db import utcnow
from kassa.common.errors import Conflict, Invalid
from kassa.sync.payloads import jsonable

# A node not heard from for this long is shown offline (its sync runs every few seconds).
OFFLINE_AFTER = timedelta(minutes=2)


def record_report(session: Session, node_id: str, report: dict) -> dict:
    node = session.get(Node, node_id, with_for_update=True)
    node.reported_at = utcnow()
    node.node_seq, node.queue_depth = report["node_seq"], report["queue_depth"]
    node.oldest_pending_at, node.feed_cursor = report["oldest_pending_at"], report["feed_cursor"]
    backup = report.get("backup") or {"state": None}
    node.backup_state, node.backup_error = backup["state"], backup.get("last_error")
    node.backup_lag_seconds = int(backup["lag_seconds"]) if backup["state"] else None
    days = report["days"]
    if days:
        session.execute(delete(NodeDayTotal).where(
            NodeDayTotal.node_id == node_id, NodeDayTotal.day.in_([d["day"] for d in days])))
        session.execute(insert(NodeDayTotal), [
            {**d, "node_id": node_id, "reported_at": node.reported_at} for d in days])
    held = quarantine.held_counts(session).get(node_id, 0)
    return {"high_water": node.high_water, "quarantined": held}


def state_of(node: Node, now: datetime) -> str:
    if not node.active:
        return "revoked"
    if node.public_key_pem is None:
        return "not_enrolled"
    if node.last_refused_at and (node.last_seen_at is None
                                 or node.last_refused_at > node.last_seen_at):
        return node.last_refusal or "refused"
    if node.last_seen_at is None:
        return "never_seen"
    return "online" if now - node.last_seen_at <= OFFLINE_AFTER else "offline"


def statuses(session: Session, user: User | None) -> list[dict]:
    """Every node ``user`` may see (``None``: all of them, for the operator's CLI)."""
    now = utcnow()
    feed_head = session.scalar(select(func.max(ChangeFeedEntry.version))) or 0
    held = quarantine.held_counts(session)
    stmt = (select(Node, Store.code, Region.code).join(Store, Store.id == Node.store_id)
            .join(Region, Region.id == Store.region_id))
    if user is not None:
        stmt = scope_stores(stmt, user)
    out = []
    for node, store_code, region_code in session.execute(stmt.order_by(Node.id)):
        unsent = None
        if node.node_seq is not None:
            unsent = max(node.node_seq - node.high_water, 0)
        out.append({
            "node_id": node.id, "store_code": store_code, "region_code": region_code,
            "state": state_of(node, now), "last_contact_at": node.last_seen_at,
            "lag_seconds": int((now - node.last_seen_at).total_seconds())
            if node.last_seen_at else None,
            "high_water": node.high_water, "node_seq": node.node_seq,
            "events_behind": unsent, "queue_depth": node.queue_depth,
            "oldest_pending_at": node.oldest_pending_at, "reported_at": node.reported_at,
            "feed_cursor": node.feed_cursor, "feed_head": feed_head,
            "clock_skew_seconds": node.clock_skew_seconds if node.last_refusal == "clock_skew"
            else None,
            "last_refusal": node.last_refusal, "last_refused_at": node.last_refused_at,
            "quarantined": held.get(node.id, 0),
            "backup_state": node.backup_state, "backup_lag_seconds": node.backup_lag_seconds,
            "backup_error": node.backup_error})
    return out


def position(session: Session, node: Node) -> dict:
    """What central holds of a node: its events up to ``high_water``, the newest seq it last
    reported, and its newest receipt and return numbers. A till that starts over (restored
    from its backup, or a new database for a re-enrolled node) goes on after these."""
    last_receipt = session.scalar(select(func.max(Sale.receipt_no))
                                  .where(Sale.node_id == node.id))
    last_return = session.scalar(select(func.max(Return.return_no))
                                 .where(Return.node_id == node.id))
    return {"high_water": node.high_water, "node_seq": node.node_seq,
            "reported_at": node.reported_at, "last_receipt_no": last_receipt,
            "last_return_no": last_return}


def record_restore(session: Session, node_id: str, report: dict) -> dict:
    """A node was rebuilt from its replica: say in the audit log how far its copy reaches
    against what central holds, and answer what it needs to go on without reusing a seq
    central holds or a receipt number a customer may hold."""
    node = session.get(Node, node_id, with_for_update=True)
    answer = position(session, node)
    audit.record(session, "node.restored", f"node {node_id}",
                 reason=f"restored up to seq {report['restored_seq']}; central holds up to "
                        f"{node.high_water}",
                 node_id=node_id, details=jsonable({**report, "central": answer}))
    return answer


def unsynced_nodes(session: Session, store_id: int, day: date) -> list[dict]:
    """Nodes of a store that may still hold events of ``day``: they have unsent events, or have
    not reported since the day ended, so central cannot know."""
    day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=timezone.utc)
    out = []
    for node in session.scalars(select(Node).where(Node.store_id == store_id,
                                                   Node.active.is_(True))
                                .order_by(Node.id)):
        if node.public_key_pem is None:
            continue
        behind = (node.node_seq or 0) - node.high_water
        if node.reported_at is None or node.reported_at < day_end:
            out.append({"node_id": node.id, "reason": "not_reported_since_day_end",
                        "reported_at": node.reported_at, "events_behind": max(behind, 0)})
        elif behind > 0 or (node.queue_depth or 0) > 0:
            out.append({"node_id": node.id, "reason": "unsent_events",
                        "reported_at": node.reported_at,
                        "events_behind": max(behind, node.queue_depth or 0)})
    return out


def close_day(session: Session, store: Store, day: date, user: User | None,
              force: bool = False) -> dict:
    """Close a store's business day (UTC dates until stores carry a time zone). Nodes that may
    still hold the day's events are named; without ``force`` the close is refused with them.
    Sales that arrive for a closed day later are flagged ``day_closed``."""
    if day >= utcnow().date():
        raise Invalid("Only a past day can be closed.", code="day_not_over")
    if session.get(BusinessDay, (store.id, day)) is not None:
        raise Conflict("%(store)s %(day)s is closed already.", code="day_closed",
                       store=store.code, day=day)
    unsynced = unsynced_nodes(session, store.id, day)
    if unsynced and not force:
        raise Conflict("%(nodes)s node(s) of %(store)s may still hold events of %(day)s.",
                       code="unsynced_nodes", details={"nodes": jsonable(unsynced)},
                       nodes=len(unsynced), store=store.code, day=day)
    session.add(BusinessDay(store_id=store.id, day=day, closed_at=utcnow(),
                            closed_by_id=user.id if user else None,
                            unsynced_nodes=jsonable(unsynced)))
    session.flush()
    return {"store_code": store.code, "day": day, "unsynced_nodes": unsynced}
