"""The fiscal register (54-FZ online cash register) as the till sees it: one small interface,
the documents it registers and what it answers, and the refusals a cashier can act on.

A sale is fiscalised before it is completed: the till builds a ``FiscalDocument`` and hands it
to the register configured for it (``KASSA_FISCAL``: ``off``, or ``atol+http://host:port``
for an ATOL register behind its driver's web server, ``kassa.pos_node.devices.atol``; the
app factory makes it). Every
document carries a task id chosen and stored by the till before it is sent, so a document
sent again after a lost answer is the same task: the register answers what it did the first
time and never registers it twice.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol
from uuid import UUID

from kassa.common.errors import Conflict, KassaError


@dataclass(frozen=True)
class FiscalLine:
    name: str
    unit_price_minor: int
    quantity_milli: int
    amount_minor: int          # after discounts: what the customer pays for the line
    vat_rate_bp: int
    weighed: bool = False


@dataclass(frozen=True)
class FiscalDocument:
    """A receipt to register: a sale (``sell``) or goods taken back (``sell_return``)."""

    kind: str                              # sell | sell_return
    task_id: UUID
    lines: list[FiscalLine]
    payments: list[tuple[str, int]]        # (cash | card | points, amount) as the till took it
    total_minor: int
    cashier: str
    contact: str | None = None             # e-mail or phone for an electronic receipt
    original: str | None = None            # a return: the original's fiscal reference


@dataclass(frozen=True)
class FiscalReceipt:
    """What the register answered for a registered document (its fiscal attributes)."""

    document_number: int
    fiscal_sign: str
    drive_number: str
    registration_number: str = ""
    shift_number: int | None = None
    receipt_number: int | None = None
    at: str = ""
    total_minor: int | None = None


@dataclass(frozen=True)
class RegisterStatus:
    """The register's state for the till's badge."""

    ok: bool
    shift: str = "closed"                  # closed | opened | expired
    paper: bool = True
    cover_open: bool = False
    unsent_documents: int = 0
    oldest_unsent: datetime | None = None
    problem: str | None = None             # a refusal code when the register cannot sell
    details: dict = field(default_factory=dict)


def reference(drive_number: str | None, document_number: int, fiscal_sign: str | None) -> str:
    """How a return receipt names the receipt it takes goods back from (the three numbers
    that find a fiscal document: drive, document, fiscal sign)."""
    return f"ФН {drive_number} ФД {document_number} ФП {fiscal_sign}"


class FiscalRefused(KassaError):
    """The register answered and did not register the document: nothing was fiscalised, the
    sale stays open, the cashier fixes the cause (paper, shift, OFD) and takes payment again."""

    status = 409
    code = "fiscal_refused"


class FiscalNoAnswer(KassaError):
    """The register did not answer: the document may or may not be registered. The sale stays
    open with its task id; taking payment again asks the register for the same task."""

    status = 503
    code = "fiscal_no_answer"


class FiscalMismatch(KassaError):
    """The register holds a different document under the task's id (the cart was changed
    after a lost answer): a person must look at the register's journal."""

    status = 409
    code = "fiscal_mismatch"


def pending() -> Conflict:
    """The sale's receipt went to the register without an answer: it may hold the receipt as
    the cart stands, so the cart is not changed until the payment is taken again."""
    return Conflict("The fiscal register may already hold this receipt: take the payment "
                    "again to finish the sale before changing it.", code="fiscal_pending")


def paper_out() -> FiscalRefused:
    return FiscalRefused("The fiscal register is out of paper: load a roll, then take the "
                         "payment again.", code="fiscal_paper_out")


def cover_open() -> FiscalRefused:
    return FiscalRefused("The fiscal register's cover is open: close it, then take the "
                         "payment again.", code="fiscal_cover_open")


def shift_expired() -> FiscalRefused:
    return FiscalRefused("The fiscal shift is over 24 hours old: close the shift (Z report) "
                         "and open a new one before selling.", code="fiscal_shift_expired")


def ofd_backlog(days: int) -> FiscalRefused:
    return FiscalRefused("The fiscal register has not sent its receipts to the OFD for "
                         "%(days)s days and will soon block: connect it to the internet "
                         "before selling on.", code="fiscal_ofd_backlog", days=days)


def no_answer(reason: str) -> FiscalNoAnswer:
    return FiscalNoAnswer("The fiscal register does not answer (%(reason)s). The sale stays "
                          "open: check the register, then take the payment again.",
                          reason=reason)


class FiscalRegister(Protocol):
    """What the till asks of a fiscal register. Each call either does what it says, raises
    ``FiscalRefused`` (nothing done) or ``FiscalNoAnswer`` (unknown: ask again)."""

    name: str

    def register(self, document: FiscalDocument) -> FiscalReceipt: ...

    def open_shift(self, cashier: str) -> None: ...

    def close_shift(self, cashier: str) -> None: ...

    def report_x(self, cashier: str) -> None: ...

    def status(self) -> RegisterStatus: ...



log = logging.getLogger(__name__)


class RegisterWatch:
    """The register's state for the till's badge, asked in the background every ``every``
    seconds: a status is three tasks on the register, and the badge asks every five seconds
    from each page, so it reads what was last found. ``state``: ``ready``, a refusal code
    (``fiscal_paper_out``, ``fiscal_cover_open``, ``fiscal_shift_expired``,
    ``fiscal_ofd_backlog``, ``fiscal_no_answer``) or ``unknown`` before the first answer."""

    def __init__(self, register: FiscalRegister, every: float = 15.0):
        self.register, self.every = register, every
        self._state: dict | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def refresh(self) -> dict:
        try:
            found = self.register.status()
            view = {"state": "ready" if found.ok else (found.problem or "fiscal_no_answer"),
                    "shift": found.shift, "unsent": found.unsent_documents}
        except Exception:  # noqa: BLE001 - the badge says so; selling is refused per sale
            log.exception("fiscal register status failed")
            view = {"state": "fiscal_no_answer", "shift": None, "unsent": 0}
        with self._lock:
            self._state = view
        return view

    def state(self) -> dict:
        with self._lock:
            return dict(self._state) if self._state else {"state": "unknown", "shift": None,
                                                           "unsent": 0}

    def start(self) -> "RegisterWatch":
        def run() -> None:
            while True:
                self.refresh()
                if self._stop.wait(self.every):
                    return
        self._thread = threading.Thread(target=run, name="fiscal-watch", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
