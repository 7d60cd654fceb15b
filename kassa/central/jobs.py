"""Central's housekeeping, on a schedule: unanswered authorization requests escalate or
expire (every 10 s), mail waiting in the outbox is sent (every 10 s), late follow-up tasks are
told to their assignee's manager (every minute), holds whose time ran out are released (every
minute), points whose lots expired are expired and tiers due for review are reviewed (every
hour; each run is idempotent, by cause).

Each ``kassa central serve`` worker runs the scheduler; on PostgreSQL a run first takes a
transaction-level advisory lock named after the job, so with several workers or app servers
one of them does the work and the others skip that round. SQLite central runs one worker.
``kassa central run-jobs`` runs every job once (cron, drills, tests).
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text
from sqlalchemy.orm import Session

from kassa.central.access import authorizations
from kassa.central.catalog import prices
from kassa.central.crm import mail, tasks
from kassa.central.membership import loyalty_accounts
from kassa.common.db import Database

log = logging.getLogger(__name__)


def _expire(session: Session) -> dict:
    return {"points_expired": loyalty_accounts.expire_points(session),
            "tiers_reviewed": loyalty_accounts.review_tiers(session)}


JOBS: dict[str, tuple[Callable[[Session], object], int]] = {
    "authorizations": (authorizations.escalate_and_expire, 10),
    "expire_holds": (loyalty_accounts.expire_holds, 60),
    "overdue_tasks": (tasks.notice_overdue, 60),
    "send_mail": (mail.send_pending, 10),
    "expire_points": (_expire, 3600),
    "prune_prices": (prices.prune_superseded, 86400),
}


def run(db: Database, name: str):
    """Run one job in one transaction; None when another process holds it right now."""
    job, _every = JOBS[name]
    with db.transaction() as session:
        if session.get_bind().dialect.name == "postgresql":
            key = zlib.crc32(f"kassa-job:{name}".encode())
            if not session.execute(text("SELECT pg_try_advisory_xact_lock(:k)"),
                                   {"k": key}).scalar():
                return None
        return job(session)


def run_all(db: Database) -> dict:
    return {name: run(db, name) for name in JOBS}


# The warehouse's work (kassa.central.reporting.warehouse.analytics), when central has one: every 15
# minutes what changed is loaded; once a day customers are scored and offers made (the first
# time ANALYZE_AFTER_START after start, which refreshes too; the first plain refresh comes a
# round later). Not at start itself: a central restarted while its tills reconnect at once
# serves them first (bench_catchup: 31.4 s with the analysis beside the catch-up, 24.1 s
# without), and a process that lives minutes (a command's, a test's) never pays for it. A
# file lock beside the warehouse lets one process of several do it; one that finds it busy
# tries again in a few minutes rather than a whole round later.
WAREHOUSE_JOBS = {"warehouse_refresh": ("refresh", 900), "warehouse_analyze": ("analyze", 86400)}
ANALYZE_AFTER_START = timedelta(minutes=10)
RETRY_AFTER = timedelta(minutes=3)


class Jobs:
    """The scheduler a serving central process owns."""

    def __init__(self, db: Database, warehouse_path: Path | None = None):
        self.db = db
        self.warehouse_path = warehouse_path
        self.scheduler = BackgroundScheduler(daemon=True)

    def start(self) -> "Jobs":
        for name, (_job, every) in JOBS.items():
            self._add(self._run, name, every)
        if self.warehouse_path is not None:
            for name, (_work, every) in WAREHOUSE_JOBS.items():
                self._add(self._run_warehouse, name, every,
                          first=ANALYZE_AFTER_START if name == "warehouse_analyze"
                          else timedelta(seconds=every))
        self.scheduler.start()
        return self

    def _add(self, run_one, name: str, every: int, first: timedelta | None = None) -> None:
        self.scheduler.add_job(run_one, "interval", args=[name], seconds=every,
                               jitter=max(1, every // 10), max_instances=1, coalesce=True,
                               id=name,
                               next_run_time=datetime.now(timezone.utc) + (first or timedelta()))

    def _run_warehouse(self, name: str) -> None:
        from kassa.central.reporting.warehouse import analytics
        try:
            work = getattr(analytics, WAREHOUSE_JOBS[name][0])
            log.info("job %s: %s", name, work(self.db, self.warehouse_path))
        except (analytics.Busy, duckdb.IOException, duckdb.ConnectionException):
            log.info("job %s: the warehouse is busy; again in %s", name, RETRY_AFTER)
            self.scheduler.add_job(self._run_warehouse, "date", args=[name],
                                   run_date=datetime.now(timezone.utc) + RETRY_AFTER,
                                   id=f"{name}_retry", replace_existing=True)
        except Exception:  # noqa: BLE001 - a failed run is logged; the next one tries again
            log.exception("job %s failed", name)

    def _run(self, name: str) -> None:
        try:
            result = run(self.db, name)
            if result:
                log.info("job %s: %s", name, result)
        except Exception:  # noqa: BLE001 - a failed run is logged; the next one tries again
            log.exception("job %s failed", name)

    def stop(self) -> None:
        self.scheduler.shutdown(wait=False)
