"""The print worker: an APScheduler job in the till's process that prints the queued jobs
(``print_queue``) in order and marks each done, and remembers what state the printer said it
was in, for the badge.

A round opens the printer, asks its state, and prints while it can. A printer out of paper,
with its cover open, off-line or not answering stops the round: the jobs stay queued, the
next round (every ``interval_s``, or at once when a job is committed) tries again. Drawer kicks
go out whenever the printer answers, paper or not, while they are fresh. A job is marked done
after the printer took it, so a till that dies in between prints it again rather than never.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from kassa.common.config import PrinterConfig
from kassa.common.db import Database, utcnow
from kassa.pos_node.devices import print_queue, printouts
from kassa.pos_node.devices.escpos_printer import (
    EscposPrinter,
    PrinterFailed,
    PrinterState,
    ReceiptPrinter,
)
from kassa.pos_node.models import PrintJob

log = logging.getLogger(__name__)
PRUNE_EVERY_S = 3600.0


class PrintWorker:
    def __init__(self, db: Database, config: PrinterConfig, interval_s: float = 2.0,
                 printer_factory=None):
        self.db = db
        self.config = config
        self.interval_s = interval_s
        self.printer_factory = printer_factory or (lambda locale: EscposPrinter(config, locale))
        self.state = PrinterState("unknown")
        self.checked = 0.0  # time.monotonic() of the last answer
        self.next_prune = 0.0
        self._lock = threading.Lock()
        self.scheduler = BackgroundScheduler(daemon=True)

    def start(self) -> PrintWorker:
        self.scheduler.add_job(self.run_once, "interval", seconds=self.interval_s,
                               max_instances=1, coalesce=True, id="print",
                               next_run_time=datetime.now(timezone.utc))
        self.scheduler.start()
        return self

    def stop(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)

    def wake(self) -> None:
        """A job was committed: print it now, not at the next tick."""
        if self.scheduler.running:
            self.scheduler.modify_job("print", next_run_time=datetime.now(timezone.utc))

    def status(self) -> dict:
        """For the badge: the printer's state and how many jobs wait."""
        with self.db.read() as session:
            waiting = print_queue.waiting(session)
        return {"state": self.state.state, "waiting": waiting}

    def run_once(self) -> int:
        """One round; how many jobs it finished. Never raises (the schedule must live on)."""
        with self._lock:
            try:
                return self._round()
            except Exception:  # noqa: BLE001 - keep printing alive; the next round retries
                log.exception("print round crashed")
                return 0

    def _round(self) -> int:
        if time.monotonic() >= self.next_prune:
            self.next_prune = time.monotonic() + PRUNE_EVERY_S
            with self.db.transaction() as session:
                print_queue.prune(session)
        with self.db.read() as session:
            jobs = print_queue.pending(session)
            locale = printouts.store_locale(session) if jobs or self._idle_due() else ""
        if not locale:
            return 0
        printer: ReceiptPrinter = self.printer_factory(locale)
        done = 0
        try:
            with printer:
                self._answered(printer.state())
                for job in jobs:
                    done += self._one(printer, job)
        except PrinterFailed as err:
            log.warning("printer: %s", err)
            self.state, self.checked = PrinterState("unreachable"), time.monotonic()
            head = next((j for j in jobs if j.kind != "drawer"), None)
            if head is not None:  # the job the till waits on says why
                self._failed_attempt(head.id, str(err))
        return done

    def _idle_due(self) -> bool:
        return time.monotonic() - self.checked >= self.config.status_every_s

    def _answered(self, state: PrinterState) -> None:
        if state.state != self.state.state:
            log.info("printer: %s", state.state)
        self.state, self.checked = state, time.monotonic()

    def _one(self, printer: ReceiptPrinter, job: PrintJob) -> int:
        if job.kind == "drawer":
            if utcnow() - job.created_at > print_queue.KICK_FRESH:
                self._finish(job.id, "expired")
                return 1
            if self.state.state == "unreachable":
                return 0
            printer.kick()
            self._finish(job.id, "printed")
            return 1
        if not self.state.can_print:
            return 0
        try:
            with self.db.read() as session:
                slip = printouts.render(session, job, self.config.columns)
        except Exception as err:  # noqa: BLE001 - what it prints is gone: it never will print
            log.exception("print job %s cannot be printed", job.id)
            self._finish(job.id, "failed", getattr(err, "code", type(err).__name__))
            return 1
        printer.print_slip(slip)
        self._finish(job.id, "printed")
        self._answered(printer.state())  # the roll may have ended on this receipt
        return 1

    def _finish(self, job_id: int, status: str, error: str | None = None) -> None:
        with self.db.transaction() as session:
            job = session.get(PrintJob, job_id)
            if job is not None:
                job.status, job.done_at, job.last_error = status, utcnow(), error
                job.attempts += 1

    def _failed_attempt(self, job_id: int, error: str) -> None:
        with self.db.transaction() as session:
            job = session.get(PrintJob, job_id)
            if job is not None:
                job.attempts += 1
                job.last_error = error[:200]
