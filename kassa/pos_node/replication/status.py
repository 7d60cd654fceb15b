"""What the till shows of its sync: the badge (online, offline, or why central refuses it,
and how many events wait to go up) at ``/api/v1/status`` and on the cashier's screen, and the
same as Prometheus metrics when ``/metrics`` is scraped (``NodeCollector``)."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select

from kassa.common.db import Database, utcnow
from kassa.common.runtime.observability import age_seconds, ok_metric
from kassa.common.storage import backup
from kassa.pos_node.models import NodeIdentity, OutboxEvent

log = logging.getLogger(__name__)


def node_status(db: Database, sync_interval: float) -> dict:
    """What the till's badge shows: online or not, and how many events wait to go up."""
    with db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).first()
        unsent = session.scalar(select(func.count()).select_from(OutboxEvent)
                                .where(OutboxEvent.acked_at.is_(None)))
    if node is None:
        return {"initialized": False, "online": False, "pending_events": unsent}
    fresh = timedelta(seconds=max(60.0, 3 * sync_interval))
    online = (node.last_contact_at is not None and node.last_sync_error is None
              and utcnow() - node.last_contact_at < fresh)
    state, label = sync_state(node, online)
    return {
        "initialized": True, "node_id": node.node_id, "store_id": node.store_id,
        "central_url": node.central_url, "feed_cursor": node.feed_cursor,
        "pending_events": unsent, "online": online, "state": state, "state_label": label,
        "clock_skew_seconds": node.clock_skew_seconds,
        "last_contact_at": node.last_contact_at and node.last_contact_at.isoformat(),
        "last_push_at": node.last_push_at and node.last_push_at.isoformat(),
        "last_pull_at": node.last_pull_at and node.last_pull_at.isoformat(),
        "last_sync_error": node.last_sync_error,
        "backup": backup.read_state(backup.sqlite_path(db.url)),
    }


def sync_state(node: NodeIdentity, online: bool) -> tuple[str, str]:
    """The badge: ``online``, ``offline``, or why central refuses this till (which the cashier
    cannot fix, but the manager should call about): its clock is off, or its key is not
    trusted. Selling goes on in every state."""
    code = node.sync_error_code
    if code == "clock_skew":
        skew = node.clock_skew_seconds or 0
        hours = abs(skew) / 3600
        off = f"{hours:.0f} h" if hours >= 1 else f"{abs(skew)} s"
        return "clock_skew", f"clock skew: {off} {'ahead' if skew > 0 else 'behind'}"
    if code in ("unknown_node", "bad_signature", "replayed_request"):
        return "refused", "refused by central"
    return ("online", "online") if online else ("offline", "offline")


class NodeCollector:
    """The till's queue and sync lag, from what its status endpoint shows."""

    def __init__(self, db, sync_interval: float):
        self.db = db
        self.sync_interval = sync_interval

    def own_node_id(self) -> str | None:
        try:
            with self.db.read() as session:
                return session.scalar(select(NodeIdentity.node_id).limit(1))
        except Exception:  # noqa: BLE001 - not migrated yet; the next request asks again
            return None

    def collect(self):
        try:
            status = node_status(self.db, self.sync_interval)
            with self.db.read() as session:
                oldest = session.scalar(select(func.min(OutboxEvent.occurred_at))
                                        .where(OutboxEvent.acked_at.is_(None)))
        except Exception:  # noqa: BLE001 - a scrape must answer even when the database fails
            log.warning("metrics: node status failed", exc_info=True)
            yield ok_metric(False)
            return
        yield ok_metric(True)
        now = utcnow()
        node = status.get("node_id") or ""

        def gauge(name, text, value, **labels):
            family = GaugeMetricFamily(name, text, labels=["node_id", *labels])
            family.add_metric([node, *labels.values()], value)
            return family

        yield gauge("kassa_node_outbox_pending_events",
                    "Events in the outbox not yet acknowledged by central (queue depth)",
                    status["pending_events"])
        yield gauge("kassa_node_oldest_pending_event_age_seconds",
                    "Age of the oldest unacknowledged event (0: none waiting)",
                    age_seconds(oldest, now) or 0.0)
        last = status.get("last_contact_at")
        since = age_seconds(datetime.fromisoformat(last), now) if last else None
        if since is not None:
            yield gauge("kassa_node_seconds_since_last_sync",
                        "Seconds since the last successful push or pull", since)
        yield gauge("kassa_node_online", "1 when the till syncs with central now",
                    1 if status["online"] else 0)
        if status.get("state"):
            yield gauge("kassa_node_sync_state", "The badge's state (always 1)", 1,
                        state=status["state"])
        replica = status.get("backup") or {"state": "off"}
        yield gauge("kassa_backup_lag_seconds", "Age of the oldest write the Litestream "
                    "replica does not have yet (0: caught up)", replica.get("lag_seconds", 0.0))
        yield gauge("kassa_backup_state", "The backup's state: ok, behind, alarm, down, off, "
                    "starting (always 1)", 1, state=replica["state"])
