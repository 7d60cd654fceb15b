"""An ATOL fiscal register through the web server of ATOL's driver (ДТО 10): JSON tasks over HTTP.

Built field by field to the task format of the driver's 10.x line (its JSON tasks as its own
task scripts and programmer's manual define them) and its web server's request queue:

- ``POST /api/v2/requests`` with ``{"uuid": <task id>, "request": [<task>, ...]}`` queues the
  tasks (201; 409 when a request with that uuid exists already: it is not queued twice);
- ``GET /api/v2/requests/<uuid>`` answers ``{"results": [{"status", "errorCode",
  "errorDescription", "result"}, ...]}``, one per task, ``status`` going ``wait`` ->
  ``inProgress`` -> ``ready`` (done) or ``error`` (refused, with the driver's error code).

A receipt (``sell``, ``sellReturn``) lists its ``position`` items with price, quantity, amount,
``tax.type`` (``vat20``, ``vat10``, ``vat0``), ``paymentMethod`` ``fullPayment`` and
``paymentObject`` ``commodity``; ``payments`` by type (``cash``, ``electronically`` for a bank
card, ``other`` for loyalty points); ``clientInfo.emailOrPhone`` with ``electronically`` when
the customer takes the receipt by e-mail (the register sends it through its OFD); the
operator (tags 1021). The answer's ``fiscalParams`` carry ``fiscalDocumentNumber``,
``fiscalDocumentSign``, ``fnNumber``, ``registrationNumber``, ``shiftNumber``,
``fiscalReceiptNumber``, ``fiscalDocumentDateTime`` and ``total``.

Not tried against a device in this repository: the tests run it against the simulator
(``kassa dev fiscal-sim``) that answers the same shapes.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import requests

from kassa.pos_node.devices import fiscal
from kassa.pos_node.devices.fiscal import FiscalDocument, FiscalReceipt, RegisterStatus

# The driver's error codes (libfptr10 LIBFPTR_ERROR_*) the till turns into the cashier's words.
NO_PAPER, COVER_OPENED, SHIFT_EXPIRED, DENIED_IN_CLOSED_SHIFT = 44, 45, 68, 73
FN_HAS_NOT_SEND_DOCUMENTS, FN_SHIFT_EXPIRED = 139, 141

# VAT rates the 10.x task format names (``tax.type``); another rate is refused before sending.
TAX_TYPES = {2000: "vat20", 1000: "vat10", 0: "vat0"}
PAYMENT_TYPES = {"cash": "cash", "card": "electronically", "points": "other"}
# A fiscal drive blocks when a document has waited 30 days for the OFD; the till stops
# selling a few days before, while there is still time to connect the register.
OFD_BACKLOG_DAYS = 25
POLL_SECONDS = 0.1


def _money(minor: int) -> float:
    # JSON numbers in roubles; a float's shortest repr of n/100 is exactly two decimals.
    return minor / 100


class AtolRegister:
    """``KASSA_FISCAL=atol+http://host:16732``: the driver's web server at that address."""

    name = "ATOL"

    def __init__(self, base_url: str, timeout: float = 10.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.http = requests.Session()

    # --- the request queue ---------------------------------------------------------------------

    def _submit(self, task_id: UUID, tasks: list[dict]) -> None:
        """Queue the tasks under ``task_id`` once: a request lost on the way is looked up
        before it is sent again, and the server refuses a second one with the same uuid."""
        body: dict[str, Any] = {"uuid": str(task_id), "request": tasks}
        for attempt in (1, 2):
            try:
                resp = self.http.post(f"{self.base_url}/api/v2/requests", json=body,
                                      timeout=self.timeout)
            except requests.RequestException as err:
                if attempt == 2:
                    raise fiscal.no_answer(type(err).__name__) from err
                if self._known(task_id):
                    return
                continue
            if resp.status_code in (200, 201, 409):  # 409: queued before, under this uuid
                return
            raise fiscal.no_answer(f"HTTP {resp.status_code}")

    def _known(self, task_id: UUID) -> bool:
        try:
            resp = self.http.get(f"{self.base_url}/api/v2/requests/{task_id}",
                                 timeout=self.timeout)
        except requests.RequestException:
            return False
        return resp.status_code == 200

    def _results(self, task_id: UUID) -> list[dict]:
        """Wait for the tasks to be done; their results, or ``FiscalNoAnswer`` at the deadline
        (the till keeps the task id and asks again)."""
        deadline = time.monotonic() + self.timeout
        reason = "timeout"
        while True:
            try:
                resp = self.http.get(f"{self.base_url}/api/v2/requests/{task_id}",
                                     timeout=self.timeout)
                if resp.status_code == 200:
                    results = resp.json().get("results") or []
                    if results and all(r.get("status") not in ("wait", "inProgress")
                                       for r in results):
                        return results
                    reason = "busy"
                else:
                    reason = f"HTTP {resp.status_code}"
            except (requests.RequestException, ValueError) as err:
                reason = type(err).__name__
            if time.monotonic() >= deadline:
                raise fiscal.no_answer(reason)
            time.sleep(POLL_SECONDS)

    def _run(self, tasks: list[dict], task_id: UUID | None = None) -> list[dict]:
        """Queue, wait, and answer each task's ``result``; the first refusal is raised."""
        task_id = task_id or uuid4()
        self._submit(task_id, tasks)
        results = self._results(task_id)
        for r in results:
            if r.get("status") != "ready":
                raise refusal(int(r.get("errorCode") or 0), str(r.get("errorDescription") or
                                                                 r.get("status")))
        return [r.get("result") or {} for r in results]

    # --- documents -----------------------------------------------------------------------------

    def register(self, document: FiscalDocument) -> FiscalReceipt:
        if document.kind == "sell":
            self._check_ofd()
        (result,) = self._run([receipt_task(document)], document.task_id)
        params = result.get("fiscalParams") or {}
        try:
            receipt = FiscalReceipt(
                document_number=int(params["fiscalDocumentNumber"]),
                fiscal_sign=str(params["fiscalDocumentSign"]),
                drive_number=str(params["fnNumber"]),
                registration_number=str(params.get("registrationNumber", "")).strip(),
                shift_number=params.get("shiftNumber"),
                receipt_number=params.get("fiscalReceiptNumber"),
                at=str(params.get("fiscalDocumentDateTime", "")),
                total_minor=(round(float(params["total"]) * 100) if "total" in params
                             else None))
        except (KeyError, TypeError, ValueError) as err:
            raise fiscal.no_answer("fiscalParams") from err
        if receipt.total_minor is not None and receipt.total_minor != document.total_minor:
            raise fiscal.FiscalMismatch(
                "The fiscal register holds receipt %(number)s for %(registered)s under this "
                "sale's task, not %(total)s: check the register's journal before going on.",
                number=receipt.document_number, registered=_money(receipt.total_minor),
                total=_money(document.total_minor))
        return receipt

    def _check_ofd(self) -> None:
        (answer,) = self._run([{"type": "ofdExchangeStatus"}])
        oldest = _parse_time((answer.get("status") or {}).get("notSentFirstDocDateTime"))
        count = int((answer.get("status") or {}).get("notSentCount") or 0)
        if count and oldest is not None:
            days = (datetime.now(oldest.tzinfo) - oldest) // timedelta(days=1)
            if days >= OFD_BACKLOG_DAYS:
                raise fiscal.ofd_backlog(days)

    def open_shift(self, cashier: str) -> None:
        """Open the register's shift with the till's; one left open (and not expired) is
        kept, an expired one is closed with its Z report first."""
        (state,) = self._run([{"type": "getShiftStatus"}])
        shift = (state.get("shiftStatus") or {}).get("state")
        if shift == "opened":
            return
        if shift == "expired":
            self.close_shift(cashier)
        self._run([{"type": "openShift", "operator": {"name": cashier}}])

    def close_shift(self, cashier: str) -> None:
        try:
            self._run([{"type": "closeShift", "operator": {"name": cashier}}])
        except fiscal.FiscalRefused as err:
            if err.details and err.details.get("register_code") == DENIED_IN_CLOSED_SHIFT:
                return  # closed already (a Z report printed at the register itself)
            raise

    def report_x(self, cashier: str) -> None:
        self._run([{"type": "reportX", "operator": {"name": cashier}}])

    def status(self) -> RegisterStatus:
        try:
            device, shift, ofd = self._run([{"type": "getDeviceStatus"},
                                            {"type": "getShiftStatus"},
                                            {"type": "ofdExchangeStatus"}])
        except (fiscal.FiscalNoAnswer, fiscal.FiscalRefused) as err:
            return RegisterStatus(ok=False, problem=err.code)
        d = device.get("deviceStatus") or {}
        state = (shift.get("shiftStatus") or {}).get("state") or "closed"
        unsent = ofd.get("status") or {}
        count = int(unsent.get("notSentCount") or 0)
        oldest = _parse_time(unsent.get("notSentFirstDocDateTime")) if count else None
        problem = None
        if not d.get("paperPresent", True):
            problem = "fiscal_paper_out"
        elif d.get("coverOpened"):
            problem = "fiscal_cover_open"
        elif state == "expired":
            problem = "fiscal_shift_expired"
        elif oldest is not None and (datetime.now(oldest.tzinfo) - oldest
                                     >= timedelta(days=OFD_BACKLOG_DAYS)):
            problem = "fiscal_ofd_backlog"
        return RegisterStatus(ok=problem is None, shift=state,
                              paper=bool(d.get("paperPresent", True)),
                              cover_open=bool(d.get("coverOpened")), unsent_documents=count,
                              oldest_unsent=oldest, problem=problem)


def receipt_task(document: FiscalDocument) -> dict:
    """The ``sell`` / ``sellReturn`` task for a document."""
    items: list[dict] = []
    for ln in document.lines:
        tax = TAX_TYPES.get(ln.vat_rate_bp)
        if tax is None:
            raise fiscal.FiscalRefused(
                "The fiscal register has no VAT type for %(rate)s %%: %(name)s cannot be "
                "registered.", code="fiscal_vat_rate", rate=ln.vat_rate_bp / 100, name=ln.name)
        item = {"type": "position", "name": ln.name[:128],
                "price": _money(ln.unit_price_minor), "quantity": ln.quantity_milli / 1000,
                "amount": _money(ln.amount_minor), "tax": {"type": tax},
                "paymentMethod": "fullPayment", "paymentObject": "commodity"}
        if ln.weighed:
            item["measurementUnit"] = "kilogram"
        items.append(item)
    if document.original:
        # A return names the receipt it takes goods back from (user attribute, tag 1084).
        items.append({"type": "userAttribute", "name": "Возврат по чеку",
                      "value": document.original, "print": True})
    task: dict = {
        "type": "sell" if document.kind == "sell" else "sellReturn",
        "operator": {"name": document.cashier[:64] or "kassa"},
        "items": items,
        "payments": [{"type": PAYMENT_TYPES.get(method, "other"), "sum": _money(amount)}
                     for method, amount in document.payments if amount],
        "total": _money(document.total_minor),
    }
    if document.contact:
        task["clientInfo"] = {"emailOrPhone": document.contact}
        task["electronically"] = True
    return task


def refusal(code: int, description: str) -> fiscal.FiscalRefused:
    """The cashier's words for a register's error code (its own text kept in ``details``)."""
    details = {"register_code": code, "register_message": description}
    if code == NO_PAPER:
        err = fiscal.paper_out()
    elif code == COVER_OPENED:
        err = fiscal.cover_open()
    elif code in (SHIFT_EXPIRED, FN_SHIFT_EXPIRED):
        err = fiscal.shift_expired()
    elif code == FN_HAS_NOT_SEND_DOCUMENTS:
        err = fiscal.ofd_backlog(30)
    else:
        err = fiscal.FiscalRefused("The fiscal register refused: %(reason)s (error %(number)s).",
                                   reason=description, number=code)
    err.details = details
    return err


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None
