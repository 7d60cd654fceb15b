"""The node's background sync: an APScheduler interval job that runs ``sync_now``.

One owner (the ``kassa pos serve`` process) starts it and stops it; at most one run is in
flight; runs are spread with jitter so a chain's tills do not all call central at once.
A failed run is recorded on the node (``last_sync_error``, shown by the till's badge) and the
next interval tries again. (Exponential back-off and "sync now" from the till come with the
sync issue.)
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from kassa.common.db import Database
from kassa.sync.client import SyncError, sync_now

log = logging.getLogger(__name__)


class SyncScheduler:
    def __init__(self, db: Database, interval_s: float, timeout_s: float, batch_size: int):
        self.db = db
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.batch_size = batch_size
        self.scheduler = BackgroundScheduler(daemon=True)

    def start(self) -> None:
        self.scheduler.add_job(self.run_once, "interval", seconds=self.interval_s,
                               jitter=max(1, int(self.interval_s * 0.2)), max_instances=1,
                               coalesce=True, id="sync",
                               next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()

    def run_once(self) -> None:
        try:
            result = sync_now(self.db, self.timeout_s, self.batch_size)
            log.info("sync: pulled %d, pushed %d", result.pulled, result.pushed)
        except SyncError as err:
            log.warning("sync failed: %s (%s)", err, err.code)
        except Exception:  # noqa: BLE001 - keep the schedule alive; the next run retries
            log.exception("sync crashed")

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
