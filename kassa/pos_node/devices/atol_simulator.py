"""A stand-in for an ATOL register behind its driver's web server, for tests and the demo
(``kassa dev fiscal-sim``): the same request queue and JSON task shapes as the real one
(``kassa.pos_node.devices.atol`` says which), a fiscal drive that numbers and signs what it
registers, and the refusals a store meets.

Beside the register's API it has a control door for tests, ``/sim/...``: ``POST /sim/state``
with ``{"paper": false}``, ``{"cover_open": true}``, ``{"shift_age_hours": 25}``,
``{"ofd_backlog_days": 26}`` or ``{"drop_answers": n}`` (the next ``n`` requests about a
receipt, queueing it or asking for its result, are done but their answers are lost: the
connection closes without a word); ``GET /sim/journal`` (what it
registered, JSON) and ``GET /sim/journal.txt`` (the same as the receipts would read).
Nothing here is a fiscal document.
"""

from __future__ import annotations

import hashlib
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FN_NUMBER = "9999078902001234"          # a test fiscal drive's serial form
REGISTRATION_NUMBER = "0000000001002292"
TAX_TYPES = {"none", "vat0", "vat10", "vat20", "vat110", "vat120"}
PAYMENT_TYPES = {"cash", "electronically", "prepaid", "credit", "other"}
PAYMENT_METHODS = {"fullPrepayment", "prepayment", "advance", "fullPayment", "partialPayment",
                   "credit", "creditPayment"}
PAYMENT_OBJECTS = {"commodity", "excise", "job", "service", "payment", "another"}
# The driver's codes for the refusals simulated (libfptr10 LIBFPTR_ERROR_*).
ERRORS = {44: "Нет бумаги", 45: "Открыта крышка", 66: "Чек оплачен не полностью",
          68: "Смена превысила 24 часа", 73: "Смена закрыта - операция невозможна",
          139: "ФН: есть неотправленные в ОФД документы", 501: "Ошибка парсинга запроса",
          502: "Выполнение прервано из-за предыдущих ошибок"}


class Refusal(Exception):
    def __init__(self, code: int, text: str | None = None):
        super().__init__(text or ERRORS.get(code, "Ошибка"))
        self.code = code


class Register:
    """The simulated device: its shift, fiscal drive counter, journal and faults."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: dict[str, list[dict]] = {}
        self.receipt_requests: set[str] = set()  # the uuids whose tasks are receipts
        self.journal: list[dict] = []
        self.document_number = 0
        self.shift_number = 0
        self.shift_opened_at: datetime | None = None
        self.receipts_in_shift = 0
        self.paper = True
        self.cover_open = False
        self.shift_age_hours: float | None = None
        self.ofd_backlog_days = 0
        self.drop_answers = 0

    # --- faults ------------------------------------------------------------------------------

    def set_state(self, state: dict) -> None:
        with self.lock:
            for key in ("paper", "cover_open", "shift_age_hours", "ofd_backlog_days",
                        "drop_answers"):
                if key in state:
                    setattr(self, key, state[key])

    def take_drop(self, uuid: str | None) -> bool:
        """Whether to lose this answer: one about a receipt, while answers are being lost."""
        with self.lock:
            if uuid in self.receipt_requests and self.drop_answers > 0:
                self.drop_answers -= 1
                return True
            return False

    # --- the queue ---------------------------------------------------------------------------

    def queue(self, body: dict) -> int:
        """A request's tasks, done at once (the queue is never long in a test); 409 for a
        uuid seen before, 400 for a body that is not a request."""
        uuid = body.get("uuid") if isinstance(body, dict) else None
        tasks = body.get("request") if isinstance(body, dict) else None
        if isinstance(tasks, dict):
            tasks = [tasks]
        if not isinstance(uuid, str) or not uuid or not isinstance(tasks, list):
            return 400
        with self.lock:
            if uuid in self.requests:
                return 409
            results: list[dict] = []
            failed = False
            for task in tasks:
                if failed:
                    results.append(_result("interrupted", 502))
                    continue
                try:
                    results.append({"status": "ready", "errorCode": 0,
                                    "errorDescription": "Ошибок нет",
                                    "result": self._execute(task, uuid)})
                except Refusal as err:
                    failed = True
                    results.append(_result("error", err.code, str(err)))
            self.requests[uuid] = results
            if any(isinstance(t, dict) and t.get("type") in ("sell", "sellReturn")
                   for t in tasks):
                self.receipt_requests.add(uuid)
        return 201

    def _execute(self, task: dict, uuid: str) -> dict | None:
        kind = task.get("type") if isinstance(task, dict) else None
        if kind in ("sell", "sellReturn"):
            return self._receipt(task, uuid)
        if kind == "openShift":
            self._device_ready()
            if self._shift_state() == "expired":
                raise Refusal(68)
            if self._shift_state() == "closed":
                self._open_shift()
            return {"fiscalParams": self._document("openShift", uuid, {})}
        if kind == "closeShift":
            self._device_ready()
            if self._shift_state() == "closed":
                raise Refusal(73)
            params = self._document("closeShift", uuid, {"receiptsCount": self.receipts_in_shift})
            self.shift_opened_at = None
            return {"fiscalParams": params}
        if kind == "reportX":
            self._device_ready()
            self._document("reportX", uuid, {}, fiscal=False)
            return None
        if kind == "getShiftStatus":
            expires = (self._opened_at() + timedelta(hours=24)) if self.shift_opened_at else None
            return {"shiftStatus": {"state": self._shift_state(), "number": self.shift_number,
                                    "expiredTime": _iso(expires) if expires else ""}}
        if kind == "getDeviceStatus":
            return {"deviceStatus": {"paperPresent": self.paper, "coverOpened": self.cover_open,
                                     "fiscal": True, "fnFiscal": True, "fnPresent": True,
                                     "blocked": False, "cashDrawerOpened": False,
                                     "shift": self._shift_state(),
                                     "currentDateTime": _iso(_now())}}
        if kind == "ofdExchangeStatus":
            backlog = self.ofd_backlog_days
            return {"status": {"notSentCount": 3 if backlog else 0,
                               "notSentFirstDocNumber": 1 if backlog else 0,
                               "notSentFirstDocDateTime":
                                   _iso(_now() - timedelta(days=backlog)) if backlog else ""},
                    "errors": {}, "warnings": {}}
        raise Refusal(501, f"Неизвестный тип задания ({kind})")

    def _receipt(self, task: dict, uuid: str) -> dict:
        total = _validate_receipt(task)
        self._device_ready()
        if self.ofd_backlog_days >= 30:
            raise Refusal(139)
        state = self._shift_state()
        if state == "expired":
            raise Refusal(68)
        if state == "closed":  # the driver opens the shift itself for a receipt
            self._open_shift()
        paid = sum(p["sum"] for p in task["payments"])
        if round(paid, 2) < round(total, 2):
            raise Refusal(66)
        self.receipts_in_shift += 1
        return {"fiscalParams": self._document(task["type"], uuid, {
            "total": total, "fiscalReceiptNumber": self.receipts_in_shift}, task=task)}

    def _device_ready(self) -> None:
        if not self.paper:
            raise Refusal(44)
        if self.cover_open:
            raise Refusal(45)

    def _open_shift(self) -> None:
        self.shift_number += 1
        self.shift_opened_at = _now()
        self.receipts_in_shift = 0

    def _opened_at(self) -> datetime:
        assert self.shift_opened_at is not None
        if self.shift_age_hours is not None:
            return _now() - timedelta(hours=float(self.shift_age_hours))
        return self.shift_opened_at

    def _shift_state(self) -> str:
        if self.shift_opened_at is None:
            return "closed"
        return "expired" if _now() - self._opened_at() > timedelta(hours=24) else "opened"

    def _document(self, kind: str, uuid: str, extra: dict, task: dict | None = None,
                  fiscal: bool = True) -> dict:
        entry: dict = {"uuid": uuid, "type": kind, "at": _iso(_now())}
        params: dict = {}
        if fiscal:
            self.document_number += 1
            sign = int(hashlib.sha256(f"{uuid}{self.document_number}".encode()).hexdigest(),
                       16) % 10**10
            params = {"fiscalDocumentNumber": self.document_number,
                      "fiscalDocumentSign": f"{sign:010d}",
                      "fiscalDocumentDateTime": entry["at"], "fnNumber": FN_NUMBER,
                      "registrationNumber": REGISTRATION_NUMBER,
                      "shiftNumber": self.shift_number, "fnsUrl": "www.nalog.gov.ru", **extra}
        entry.update(params)
        if task is not None:
            entry["task"] = task
        self.journal.append(entry)
        return params

    def results(self, uuid: str) -> list[dict] | None:
        with self.lock:
            return self.requests.get(uuid)

    def journal_text(self) -> str:
        with self.lock:
            return "\n\n".join(_render(e) for e in self.journal) + "\n"


def _validate_receipt(task: dict) -> float:
    """The checks the driver's task scripts make before a receipt; its total."""
    items, payments = task.get("items"), task.get("payments")
    if not isinstance(items, list) or not isinstance(payments, list) or not payments:
        raise Refusal(501, "Поле \"items\" или \"payments\" отсутствует")
    amounts = sum(_position_amount(i, item) for i, item in enumerate(items))
    for i, payment in enumerate(payments):
        if not isinstance(payment, dict) or payment.get("type") not in PAYMENT_TYPES \
                or not isinstance(payment.get("sum"), int | float):
            raise Refusal(501, f"Некорректное значение поля \"payments[{i}]\"")
    total = task.get("total", amounts)
    if not isinstance(total, int | float) or abs(total - amounts) > 0.005:
        raise Refusal(501, "Сумма позиций не равна итогу чека")
    client = task.get("clientInfo")
    if client is not None and not isinstance((client or {}).get("emailOrPhone", ""), str):
        raise Refusal(501, "Поле \"clientInfo.emailOrPhone\" имеет неверный тип")
    return round(float(total), 2)


def _position_amount(i: int, item: object) -> float:
    """A receipt item checked as the driver does; a position's amount (0 for the others)."""
    if not isinstance(item, dict) or item.get("type") not in ("position", "text",
                                                              "userAttribute"):
        raise Refusal(501, f"Некорректное значение поля \"items[{i}].type\"")
    if item["type"] != "position":
        return 0.0
    for key in ("price", "quantity", "amount"):
        if not isinstance(item.get(key), int | float):
            raise Refusal(501, f"Поле \"items[{i}].{key}\" имеет неверный тип")
    if not isinstance(item.get("name"), str) or not item["name"]:
        raise Refusal(501, f"Поле \"items[{i}].name\" отсутствует")
    if (item.get("tax") or {}).get("type") not in TAX_TYPES:
        raise Refusal(501, f"Некорректное значение поля \"items[{i}].tax.type\"")
    if item.get("paymentMethod", "fullPayment") not in PAYMENT_METHODS:
        raise Refusal(501, f"Некорректное значение поля \"items[{i}].paymentMethod\"")
    if item.get("paymentObject", "commodity") not in PAYMENT_OBJECTS:
        raise Refusal(501, f"Некорректное значение поля \"items[{i}].paymentObject\"")
    return float(item["amount"])


def _render(entry: dict) -> str:
    """One journal entry as the register's tape would read."""
    names = {"sell": "КАССОВЫЙ ЧЕК / ПРИХОД", "sellReturn": "КАССОВЫЙ ЧЕК / ВОЗВРАТ ПРИХОДА",
             "openShift": "ОТЧЁТ ОБ ОТКРЫТИИ СМЕНЫ", "closeShift": "ОТЧЁТ О ЗАКРЫТИИ СМЕНЫ",
             "reportX": "X-ОТЧЁТ"}
    lines = [names.get(entry["type"], entry["type"]), entry["at"]]
    task = entry.get("task") or {}
    for item in task.get("items", []):
        if item.get("type") == "position":
            lines.append(f"{item['name']}  {item['quantity']} x {item['price']:.2f} = "
                         f"{item['amount']:.2f}  {item['tax']['type']}")
        elif item.get("type") == "userAttribute":
            lines.append(f"{item.get('name', '')}: {item.get('value', '')}")
    if "total" in entry:
        lines.append(f"ИТОГ {entry['total']:.2f}")
    for p in task.get("payments", []):
        lines.append(f"  {p['type']} {p['sum']:.2f}")
    if (task.get("clientInfo") or {}).get("emailOrPhone"):
        lines.append(f"Покупатель: {task['clientInfo']['emailOrPhone']}")
    if "fiscalDocumentNumber" in entry:
        lines.append(f"ФН {entry['fnNumber']} ФД {entry['fiscalDocumentNumber']} "
                     f"ФП {entry['fiscalDocumentSign']} СМЕНА {entry['shiftNumber']}")
    return "\n".join(lines)


def _result(status: str, code: int, text: str | None = None) -> dict:
    return {"status": status, "errorCode": code,
            "errorDescription": text or ERRORS.get(code, "Ошибка")}


def _now() -> datetime:
    return datetime.now(timezone(timedelta(hours=3)))  # the register keeps Moscow time


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class _Handler(BaseHTTPRequestHandler):
    register: Register  # set per server by ``_handler``
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # quiet in tests
        pass

    def _answer(self, status: int, body: object = None, text: str | None = None,
                uuid: str | None = None) -> None:
        if self.register.take_drop(uuid):
            self.close_connection = True  # done, and the answer lost on the way back
            return
        data = (text.encode() if text is not None
                else json.dumps(body, ensure_ascii=False).encode() if body is not None
                else b"")
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if text is not None
                         else "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> object:
        length = int(self.headers.get("Content-Length") or 0)
        try:
            return json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            return None

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self._body()
        if self.path == "/api/v2/requests":
            status = self.register.queue(body if isinstance(body, dict) else {})
            self._answer(status, uuid=body.get("uuid") if isinstance(body, dict) else None)
        elif self.path == "/sim/state" and isinstance(body, dict):
            self.register.set_state(body)
            self._answer(200, {"ok": True})
        else:
            self._answer(404)

    def do_GET(self) -> None:  # noqa: N802
        if self.path.startswith("/api/v2/requests/"):
            uuid = self.path.rsplit("/", 1)[1]
            results = self.register.results(uuid)
            if results is None:
                self._answer(404)
            else:
                self._answer(200, {"results": results}, uuid=uuid)
        elif self.path == "/sim/journal":
            with self.register.lock:
                journal = list(self.register.journal)
            self._answer(200, journal)
        elif self.path == "/sim/journal.txt":
            self._answer(200, text=self.register.journal_text())
        else:
            self._answer(404)



def _handler(register: Register) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"register": register})


class Simulator:
    """The simulator's HTTP server on a thread; ``stop()`` ends it (its owner calls it)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self.register = Register()
        self.server = ThreadingHTTPServer((host, port), _handler(self.register))
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="fiscal-sim")

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> "Simulator":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
