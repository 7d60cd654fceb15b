"""The node's background sync: an APScheduler interval job that runs ``sync_now``.

One owner (the ``kassa pos serve`` process) starts it and stops it; at most one run is in
flight; runs are spread with jitter so a chain's tills do not all call central at once. A failed
run is recorded on the node (``last_sync_error``, shown by the till's badge) and the next runs
back off exponentially (interval x 2^failures, capped, with jitter) so a chain of tills does not
hammer a central that is coming back up; when central sheds load it says when to come back
(``Retry-After``) and the till waits at least that long, plus jitter. ``trigger()`` ("sync
now" at the till) runs at once and forgets the back-off. After a good run the outbox's
acknowledged events older than the retention are pruned (``outbox.prune``), once an hour.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from kassa.common.db import Database
from kassa.pos_node.replication import outbox
from kassa.pos_node.replication.client import SyncError, sync_now

log = logging.getLogger(__name__)


PRUNE_EVERY_S = 3600.0


def backoff_delay(failures: int, interval_s: float, max_s: float, rng=random,
                  retry_after: float | None = None) -> float:
    """Seconds to wait after ``failures`` failed runs in a row: doubling from the interval up
    to ``max_s``, then a random 50-100 % of that (so tills that failed together spread out).
    Central's ``retry_after`` is a floor: never sooner than it said, and spread over up to half
    as long again, so tills it turned away together do not come back together."""
    if failures <= 0:
        return 0.0
    delay = min(interval_s * 2 ** failures, max_s) * rng.uniform(0.5, 1.0)
    if retry_after is not None:
        delay = max(delay, retry_after * rng.uniform(1.0, 1.5))
    return delay


class SyncScheduler:
    def __init__(self, db: Database, interval_s: float, timeout_s: float, batch_size: int,
                 backoff_max_s: float = 300.0, outbox_keep: timedelta = timedelta(days=7)):
        self.db = db
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.backoff_max_s = backoff_max_s
        self.failures = 0
        self.not_before = 0.0  # time.monotonic() before which scheduled runs are skipped
        self.outbox_keep = outbox_keep
        self.pruned_at: float | None = None  # time.monotonic() of the last pruning
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(daemon=True)

    def start(self) -> None:
        self.scheduler.add_job(self._scheduled, "interval", seconds=self.interval_s,
                               jitter=max(1, int(self.interval_s * 0.2)), max_instances=1,
                               coalesce=True, id="sync",
                               next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()

    def _scheduled(self) -> None:
        if time.monotonic() < self.not_before:
            return  # backing off after failures
        self.run_once()

    def run_once(self) -> bool:
        """One sync; returns whether it succeeded. Never raises (the schedule must live on)."""
        with self._lock:
            try:
                result = sync_now(self.db, self.timeout_s, self.batch_size)
                log.info("sync: pulled %d, pushed %d", result.pulled, result.pushed)
                self.failures, self.not_before = 0, 0.0
                self._prune()
                return True
            except SyncError as err:
                log.warning("sync failed: %s (%s)", err, err.code)
                retry_after = err.retry_after
            except Exception:  # noqa: BLE001 - keep the schedule alive; the next run retries
                log.exception("sync crashed")
                retry_after = None
            self.failures += 1
            self.not_before = time.monotonic() + backoff_delay(
                self.failures, self.interval_s, self.backoff_max_s, retry_after=retry_after)
            return False

    def _prune(self) -> None:
        now = time.monotonic()
        if self.pruned_at is not None and now - self.pruned_at < PRUNE_EVERY_S:
            return
        self.pruned_at = now
        try:
            with self.db.transaction() as session:
                pruned = outbox.prune(session, self.outbox_keep)
            if pruned:
                log.info("outbox: pruned %d acknowledged events", pruned)
        except Exception:  # noqa: BLE001 - housekeeping never stops the selling
            log.exception("outbox pruning failed")

    def trigger(self) -> None:
        """Run as soon as possible, whatever the back-off."""
        self.not_before = 0.0
        if self.scheduler.running:
            self.scheduler.modify_job("sync", next_run_time=datetime.now(timezone.utc))

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
