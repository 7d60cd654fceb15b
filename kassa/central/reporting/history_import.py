"""Customers' purchases from before kassa, loaded once from the previous system's CSV export,
so a chain starts with its past (the warehouse and the lifetime-value models read it).

Columns ``customer, date, quantity, amount`` and optionally ``store, product``; a header
line; UTF-8 with or without a BOM; commas or semicolons (a semicolon file may write decimals
with a comma, as spreadsheets in Russian do). ``customer`` is an existing customer's kassa id,
16-digit card number, phone or e-mail, matched as ``kassa.central.crm.profiles.find`` does (a record
merged into another is followed to it); an unknown one is a bad row, never a new record.
``date`` is an ISO date (midnight UTC) or time (UTC unless it names its zone). Every row is
checked first and every problem reported with its line, column and reason; a file with any
bad row loads nothing. A file is known by the sha256 of its bytes: the same file again is
"already imported" and changes nothing. Rows go in with COPY on PostgreSQL.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.catalog.product_imports import CHUNK, MAX_ROWS, parse_minor
from kassa.central.models import Customer, HistoricTransaction, Product, Store
from kassa.common.db import table, utcnow
from kassa.common.errors import Invalid
from kassa.common.formats.contacts import normal_email, normal_phone
from kassa.common.formats.spreadsheet import CsvTable, Problems
from kassa.common.money import quantity_to_milli
from kassa.common.storage.bulk import copy_rows, is_postgresql

REQUIRED = ("customer", "date", "quantity", "amount")
HISTORY_LOCK = 0x4B48495354  # "KHIST"
OPTIONAL = ("store", "product")
# The oldest purchase an import takes; reports and analytics accept periods from it on.
EARLIEST = datetime(1970, 1, 1, tzinfo=timezone.utc)
LATEST_YEAR = 2999
MAX_QUANTITY = Decimal(1_000_000)
_CARD = re.compile(r"^[0-9]{16}$")
_CUSTOMER_FORMS = "a kassa customer id, a 16-digit card number, a phone number or an e-mail"
_KIND_NAMES = {"id": "id", "card": "card number", "phone": "phone number", "email": "e-mail"}


@dataclass
class HistoryReport(Problems):
    batch: str = ""
    rows: int = 0  # data rows in the file
    loaded: int = 0
    customers: int = 0
    first_at: datetime | None = None
    last_at: datetime | None = None
    amount_minor: int = 0
    quantity_milli: int = 0
    written: bool = False
    dry_run: bool = False
    already_imported: bool = False
    imported_at: datetime | None = None  # of the earlier load, when already imported
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class _Row:
    line: int
    key: tuple[str, object] | None
    at: datetime | None
    quantity_milli: int | None
    amount_minor: int | None
    store: str
    product: str


def batch_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Told what a long import is doing: a stage ("reading", "checking", "loading") and, for
# loading, the rows done of all.
Steps = Callable[[str, int, int], None]


def import_history(session: Session, data: bytes, *, dry_run: bool = False,
                   actor_id: int | None = None, steps: Steps | None = None) -> HistoryReport:
    """Check the file ``data`` whole, then load it in the caller's transaction (unless
    ``dry_run`` or any row is bad, or the same file was loaded before)."""
    step = steps or (lambda _stage, _done, _total: None)
    report = HistoryReport(batch=batch_of(data), dry_run=dry_run)
    if is_postgresql(session):
        # One import at a time: a second one of the same file then finds the first's rows, and
        # ids commit in order, which the warehouse reads them by.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": HISTORY_LOCK})
    if _already_imported(session, report):
        return report
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8.", code="bad_encoding") from None
    step("reading", 0, 0)
    rows, delimiter = _parse(content, report)
    step("checking", 0, len(rows))
    records = _resolve(session, rows, report)
    if report.errors_total:
        return report
    _summarise(report, records)
    if dry_run or not records:
        return report
    now = utcnow()
    for start in range(0, len(records), CHUNK * 4):
        step("loading", start, len(records))
        copy_rows(session, table(HistoricTransaction),
                  [{**r, "batch": report.batch, "imported_at": now}
                   for r in records[start:start + CHUNK * 4]])
    step("loading", len(records), len(records))
    report.loaded, report.written = len(records), True
    # records is not empty (else returned above), so _summarise set both times.
    assert report.first_at is not None and report.last_at is not None
    audit.record(session, "masterdata_import",
                 f"transaction history: {report.loaded} rows, {report.customers} customers",
                 reason=f"batch {report.batch}", actor_id=actor_id,
                 details={"batch": report.batch, "rows": report.loaded,
                          "first_at": report.first_at.isoformat(),
                          "last_at": report.last_at.isoformat(),
                          "delimiter": delimiter})
    session.flush()
    return report


def _already_imported(session: Session, report: HistoryReport) -> bool:
    h = HistoricTransaction
    earlier = session.execute(
        select(func.count(), func.min(h.imported_at), func.count(func.distinct(h.customer_id)),
               func.min(h.at), func.max(h.at), func.sum(h.amount_minor),
               func.sum(h.quantity_milli))
        .where(h.batch == report.batch)).one()
    if not earlier[0]:
        return False
    report.already_imported = True
    report.rows, report.imported_at, report.customers = earlier[0], earlier[1], earlier[2]
    report.first_at, report.last_at = earlier[3], earlier[4]
    report.amount_minor, report.quantity_milli = int(earlier[5]), int(earlier[6])
    return True


# --- Reading and checking each row -----------------------------------------------------------

def _parse(content: str, report: HistoryReport) -> tuple[list[_Row], str]:
    table = CsvTable(content, REQUIRED, OPTIONAL, report, max_rows=MAX_ROWS)
    rows = [_row(line, cells, table.delimiter, report) for line, cells in table]
    report.rows, report.ignored_columns = table.rows, table.ignored_columns
    return rows, table.delimiter


def _row(line: int, raw: dict, delimiter: str, report: HistoryReport) -> _Row:
    key = at = quantity = amount = None
    try:
        key = customer_key(raw["customer"])
    except Invalid:
        report.error(line, "customer", _CUSTOMER_FORMS)
    try:
        at = moment(raw["date"])
    except ValueError as err:
        report.error(line, "date", str(err))
    quantity = milli(_decimal_text(raw["quantity"], delimiter))
    if quantity is None:
        report.error(line, "quantity", "a number above 0 with at most 3 decimals, like 2 or "
                                       "0.750")
    amount = parse_minor(_decimal_text(raw["amount"], delimiter))
    if amount is None:
        report.error(line, "amount", "an amount like 89.90: not negative, at most 2 decimals")
    return _Row(line, key, at, quantity, amount, raw.get("store", ""), raw.get("product", ""))


def customer_key(value: str) -> tuple[str, object]:
    """How a row names its customer: ``("id", UUID)``, ``("card", number)``, ``("phone",
    normalised)`` or ``("email", normalised)``; ``Invalid`` when it is none of them."""
    value = value.strip()
    if not value:
        raise Invalid("No customer.", code="bad_customer")
    if len(value) >= 32:  # the shortest way to write a UUID; cards and phones are shorter
        try:
            return "id", uuid.UUID(value)
        except ValueError:
            pass
    if "@" in value:
        return "email", normal_email(value)
    if _CARD.match(value):
        return "card", value
    return "phone", normal_phone(value)


def moment(value: str) -> datetime:
    """An ISO date (midnight UTC) or time (UTC unless it carries its offset), from 1970 up to
    now; ``ValueError`` with the reason otherwise."""
    try:
        at = datetime.fromisoformat(value.strip())
        if at.year < EARLIEST.year:
            raise ValueError
        at = at.replace(tzinfo=timezone.utc) if at.tzinfo is None \
            else at.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise ValueError("an ISO date or time, like 2024-03-01 or 2024-03-01T14:30:00+03:00"
                         ) from None
    if at < EARLIEST:
        raise ValueError("before 1970")
    if at > utcnow():
        raise ValueError("in the future")
    return at


def milli(value: str) -> int | None:
    """A quantity above 0 with at most three decimals, in thousandths; None when it is not."""
    try:
        number = Decimal(value)
        if not number.is_finite() or not 0 < number <= MAX_QUANTITY:
            return None
        return quantity_to_milli(number)
    except (ArithmeticError, ValueError):  # decimal's errors are ArithmeticErrors
        return None


def _decimal_text(value: str, delimiter: str) -> str:
    if delimiter == ";" and "," in value and "." not in value:
        return value.replace(",", ".", 1) if value.count(",") == 1 else value
    return value


# --- Finding customers, stores and products in bulk -----------------------------------------

def _resolve(session: Session, rows: list[_Row], report: HistoryReport) -> list[dict]:
    """Rows as table rows, with their customer, store and product found: one query per chunk
    of keys, not per row; a row whose references are unknown is reported."""
    customers = find_customers(session, [r.key for r in rows if r.key is not None])
    stores = _stores(session)
    products = _by_chunks(session, Product.sku, Product.id,
                          {r.product for r in rows if r.product})
    records = []
    for r in rows:
        found = customers.get(r.key) if r.key is not None else None
        if r.key is not None and found is None:
            report.error(r.line, "customer", f"no kassa customer with this "
                                             f"{_KIND_NAMES[r.key[0]]}")
        elif isinstance(found, str):
            report.error(r.line, "customer", found)
        store_id = stores.get(r.store) if r.store else None
        if r.store and store_id is None:
            report.error(r.line, "store", "no store with this code or id")
        product_id = products.get(r.product) if r.product else None
        if r.product and product_id is None:
            report.error(r.line, "product", "no product with this SKU")
        if report.errors_total:
            continue  # nothing will be written; only the report matters from here
        records.append({"customer_id": found, "at": r.at, "quantity_milli": r.quantity_milli,
                        "amount_minor": r.amount_minor, "store_id": store_id,
                        "product_id": product_id, "line_no": r.line})
    columns = ("", *REQUIRED, *OPTIONAL)
    report.errors.sort(key=lambda e: (e["line"], columns.index(e["field"])
                                      if e["field"] in columns else 0))
    return records


def find_customers(session: Session, keys: list[tuple[str, object]]) -> dict:
    """Each key's live customer id (a merged record followed to the one it was merged into),
    or a reason it cannot take history (str); keys nobody matches are left out. Phones and
    e-mails shared by several records match the oldest, as ``profiles.find`` does."""
    wanted: dict[str, set] = {"id": set(), "card": set(), "phone": set(), "email": set()}
    for kind, value in keys:
        wanted[kind].add(value)
    found: dict = {}
    live = Customer.merged_into_id.is_(None)
    for kind, column in (("card", Customer.card_number), ("phone", Customer.phone),
                         ("email", Customer.email)):
        for values in _chunks(wanted[kind]):
            for value, cid in session.execute(
                    select(column, Customer.id).where(column.in_(values), live)
                    .order_by(Customer.created_at, Customer.id)):
                found.setdefault((kind, value), cid)
    by_id = _follow_merges(session, wanted["id"])
    found.update((("id", cid), target) for cid, target in by_id.items())
    return found


def _follow_merges(session: Session, ids: set) -> dict:
    """Customer id -> the id of the live record it is (itself, or the record it was merged
    into, through any number of merges), or why it cannot take history."""
    rows: dict = {}
    pending = set(ids)
    for _hop in range(20):  # merges chain only as far as people merged them
        if not pending:
            break
        for values in _chunks(pending):
            for cid, merged_into, anonymized in session.execute(
                    select(Customer.id, Customer.merged_into_id, Customer.anonymized_at)
                    .where(Customer.id.in_(values))):
                rows[cid] = (merged_into, anonymized)
        pending = {m for m, _a in rows.values() if m is not None and m not in rows}
    answer = {}
    for cid in ids:
        current, seen = cid, set()
        while current in rows and rows[current][0] is not None and current not in seen:
            seen.add(current)
            current = rows[current][0]
        if current not in rows:
            continue  # unknown (or a merge pointer to nothing): no such customer
        answer[cid] = "the customer was anonymized" if rows[current][1] is not None \
            else current
    return answer


def _stores(session: Session) -> dict[str, int]:
    """Stores by code, then by id (a code wins over another store's id written alike)."""
    stores = list(session.execute(select(Store.id, Store.code)))
    by_key = {str(sid): sid for sid, _code in stores}
    by_key.update({code: sid for sid, code in stores})
    return by_key


def _by_chunks(session: Session, key, value, wanted: set) -> dict:
    found: dict = {}
    for values in _chunks(wanted):
        found.update(session.execute(select(key, value).where(key.in_(values))).all())
    return found


def _chunks(values: set):
    ordered = sorted(values, key=str)
    for start in range(0, len(ordered), CHUNK):
        yield ordered[start:start + CHUNK]


def _summarise(report: HistoryReport, records: list[dict]) -> None:
    report.customers = len({r["customer_id"] for r in records})
    report.amount_minor = sum(r["amount_minor"] for r in records)
    report.quantity_milli = sum(r["quantity_milli"] for r in records)
    if records:
        report.first_at = min(r["at"] for r in records)
        report.last_at = max(r["at"] for r in records)
