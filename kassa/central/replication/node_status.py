"""What central knows about each node: last contact, how far behind it is, why it is refused.

A node reports itself after each sync (``POST /api/v1/sync/status``): its newest outbox seq,
the events it has not had acknowledged, its feed cursor and its own per-day sales counts.
Central adds what it saw itself: the high-water mark, the last signed request, a refusal for
clock skew, held quarantined events, open fraud alerts (points the node claimed beyond the
rules, ``points_claims``). The node status page, the reconciliation report and the
business-day close read from here.
"""

from __future__ import annotations

import logging
import uuid
from datetime import date, datetime, time, timedelta, timezone

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.models import (
    BusinessDay,
    ChangeFeedEntry,
    FraudAlert,
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
from kassa.common.db import utcnow, zone_info
from kassa.common.errors import Conflict, Invalid, NotFound
from kassa.common.runtime.observability import age_seconds, ok_metric
from kassa.sync.payloads import jsonable

# A node not heard from for this long is shown offline (its sync runs every few seconds).
OFFLINE_AFTER = timedelta(minutes=2)

log = logging.getLogger(__name__)


def record_report(session: Session, node_id: str, report: dict) -> dict:
    # One statement writes the report on the node's row and reads its high-water mark: a
    # chain's tills send one a minute each, and loading the whole row as an object cost more
    # than the writing (bench_chain's profile).
    now = utcnow()
    backup = report.get("backup") or {"state": None}
    high_water = session.execute(
        update(Node).where(Node.id == node_id).values(
            reported_at=now, node_seq=report["node_seq"], queue_depth=report["queue_depth"],
            oldest_pending_at=report["oldest_pending_at"], feed_cursor=report["feed_cursor"],
            backup_state=backup["state"], backup_error=backup.get("last_error"),
            backup_lag_seconds=int(backup["lag_seconds"]) if backup["state"] else None)
        .returning(Node.high_water).execution_options(synchronize_session=False)).scalar_one()
    days = report["days"]
    if days:
        session.execute(delete(NodeDayTotal).where(
            NodeDayTotal.node_id == node_id, NodeDayTotal.day.in_([d["day"] for d in days])))
        session.execute(insert(NodeDayTotal), [
            {**d, "node_id": node_id, "reported_at": now} for d in days])
    return {"high_water": high_water, "quarantined": quarantine.held_count(session, node_id)}


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
    alerts = open_alerts(session)
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
            "quarantined": held.get(node.id, 0), "fraud_alerts": alerts.get(node.id, 0),
            "backup_state": node.backup_state, "backup_lag_seconds": node.backup_lag_seconds,
            "backup_error": node.backup_error})
    return out


def open_alerts(session: Session) -> dict[str, int]:
    """Open fraud alerts by node."""
    return dict(session.execute(
        select(FraudAlert.node_id, func.count()).where(FraudAlert.status == "open")
        .group_by(FraudAlert.node_id)).all())


ALERTS_SHOWN = 200


def fraud_alerts(session: Session, user: User, node_id: str | None = None,
                 status: str = "open") -> list[dict]:
    """The newest alerts of the nodes ``user`` may see (a store manager their store's, a
    regional manager their region's), with the node's store."""
    stmt = (select(FraudAlert, Store.code).join(Node, Node.id == FraudAlert.node_id)
            .join(Store, Store.id == Node.store_id).where(FraudAlert.status == status))
    if node_id is not None:
        stmt = stmt.where(FraudAlert.node_id == node_id)
    rows = session.execute(scope_stores(stmt, user)
                           .order_by(FraudAlert.raised_at.desc()).limit(ALERTS_SHOWN))
    return [_alert_shown(alert, code) for alert, code in rows]


def resolve_alert(session: Session, user: User, alert_id: uuid.UUID, note: str) -> dict:
    """Someone looked into the alert; ``note`` says what they found and did. Audited."""
    alert = session.get(FraudAlert, alert_id, with_for_update=True)
    if alert is None or alert.status != "open":
        raise NotFound("No open fraud alert %(alert)s.", code="alert_not_found",
                       alert=str(alert_id))
    alert.status, alert.resolved_at = "resolved", utcnow()
    alert.resolved_by_id, alert.resolution_note = user.id, note
    audit.record(session, "fraud_alert:resolved",
                 f"{alert.node_id} {alert.document_no}: {alert.kind}", actor_id=user.id,
                 reason=note, node_id=alert.node_id)
    session.flush()
    return _alert_shown(alert, session.scalar(select(Store.code).join(
        Node, Node.store_id == Store.id).where(Node.id == alert.node_id)))


def _alert_shown(alert: FraudAlert, store_code: str | None) -> dict:
    return {**{c.key: getattr(alert, c.key) for c in FraudAlert.__table__.columns},
            "store_code": store_code}


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
    assert node is not None  # the request was signed by this node (auth.node_signed)
    answer = position(session, node)
    audit.record(session, "node.restored", f"node {node_id}",
                 reason=f"restored up to seq {report['restored_seq']}; central holds up to "
                        f"{node.high_water}",
                 node_id=node_id, details=jsonable({**report, "central": answer}))
    return answer


def unsynced_nodes(session: Session, store_id: int, day: date) -> list[dict]:
    """Nodes of a store that may still hold events of ``day`` (the store's local day): they
    have unsent events, or have not reported since the day ended, so central cannot know."""
    store = session.get(Store, store_id)
    day_end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone_info(
        store.timezone if store else None)).astimezone(timezone.utc)
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
    """Close a store's business day (a day on the store's wall clock). Nodes that may still
    hold the day's events are named; without ``force`` the close is refused with them. Sales
    that arrive for a closed day later are flagged ``day_closed``."""
    if day >= utcnow().astimezone(zone_info(store.timezone)).date():
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


class CentralCollector:
    """Every node's sync state as central's node status page shows it."""

    def __init__(self, db):
        self.db = db

    def own_node_id(self) -> None:
        return None

    def collect(self):
        try:
            with self.db.read() as session:
                nodes = statuses(session, None)
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database fails
            log.warning("metrics: node statuses failed", exc_info=True)
            yield ok_metric(False)
            return
        yield ok_metric(True)
        now = utcnow()
        families = {
            "high_water": GaugeMetricFamily(
                "kassa_central_node_high_water", "Highest seq central holds of the node",
                labels=["node_id"]),
            "lag": GaugeMetricFamily(
                "kassa_central_node_seconds_since_seen",
                "Seconds since the node's last signed request (absent: never seen)",
                labels=["node_id"]),
            "behind": GaugeMetricFamily(
                "kassa_central_node_events_behind",
                "Events the node reported that central does not hold yet", labels=["node_id"]),
            "queue": GaugeMetricFamily(
                "kassa_central_node_queue_depth", "Unsent events the node last reported",
                labels=["node_id"]),
            "oldest": GaugeMetricFamily(
                "kassa_central_node_oldest_pending_age_seconds",
                "Age of the oldest event the node last reported unsent (sync lag; 0: none)",
                labels=["node_id"]),
            "feed": GaugeMetricFamily(
                "kassa_central_node_feed_behind",
                "Change-feed versions the node has not pulled yet", labels=["node_id"]),
            "held": GaugeMetricFamily(
                "kassa_central_quarantined_events",
                "The node's events held in quarantine, waiting for repair", labels=["node_id"]),
            "state": GaugeMetricFamily(
                "kassa_central_node_state", "The node's state (always 1)",
                labels=["node_id", "state"]),
            "backup": GaugeMetricFamily(
                "kassa_central_node_backup_lag_seconds",
                "The node's backup lag as it last reported (its Litestream replica)",
                labels=["node_id", "state"]),
        }
        for row in nodes:
            nid = row["node_id"]
            families["high_water"].add_metric([nid], row["high_water"])
            if row["lag_seconds"] is not None:
                families["lag"].add_metric([nid], row["lag_seconds"])
            if row["events_behind"] is not None:
                families["behind"].add_metric([nid], row["events_behind"])
            if row["queue_depth"] is not None:
                families["queue"].add_metric([nid], row["queue_depth"])
            if row["reported_at"] is not None:
                families["oldest"].add_metric(
                    [nid], age_seconds(row["oldest_pending_at"], now) or 0.0)
            families["feed"].add_metric([nid], max(row["feed_head"] - (row["feed_cursor"] or 0),
                                                   0))
            families["held"].add_metric([nid], row["quarantined"])
            families["state"].add_metric([nid, row["state"]], 1)
            if row["backup_state"] is not None:
                families["backup"].add_metric([nid, row["backup_state"]],
                                              row["backup_lag_seconds"] or 0)
        yield from families.values()
