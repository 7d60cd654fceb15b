"""Customers from a previous system, loaded in bulk from its CSV export, so a chain's loyalty
programme starts with its members: their contacts, their old card numbers, their points.

Columns: ``name`` (required), and any of ``phone``, ``email``, ``birthday`` (ISO, or
``DD.MM.YYYY`` as Russian exports write it), ``home_store`` (a store code), ``card_number``
(6 to 16 digits: the previous programme's card, by which the tills then find the member),
``points`` (the opening balance) and ``consents`` (the channels the customer agreed to,
``sms|email``). A header line; UTF-8 with or without a BOM; commas or semicolons.

Every row is checked and every problem reported with its line, column and reason: a phone,
e-mail or card number that another row of the file or an existing customer has is a bad row,
never a merge. A file with a bad row loads nothing, unless ``skip_bad`` (the good rows then
load and the bad ones are reported). A file is known by the sha256 of its bytes: the same file
again changes nothing. Each member gets a loyalty account; opening points are one ledger entry
per member, caused by the import, so they are posted once. Every new record goes to the tills
in the change feed.

The file is read in chunks: on PostgreSQL one chunk is written (COPY) on a second thread while
the next is checked, so a million members take about as long as the database needs to write
them. Writing happens under a savepoint; a bad row found later (without ``skip_bad``), a dry
run or a file that cannot be read to its end rolls it back.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import partial
from types import TracebackType
from typing import NamedTuple

from sqlalchemy import String, Uuid, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.membership.cards import CARD_PREFIX
from kassa.central.models import (
    Consent,
    Customer,
    ImportBatch,
    LoyaltyAccount,
    LoyaltyEntry,
    Store,
)
from kassa.central.replication.feed import record_changes
from kassa.central.replication.feed_documents import account_doc, customer_doc
from kassa.common.db import table, utcnow
from kassa.common.errors import Invalid
from kassa.common.formats.contacts import CONSENT_CHANNELS, normal_email, normal_phone
from kassa.common.formats.spreadsheet import CsvTable, Problems
from kassa.common.storage.bulk import (
    JsonText,
    copy_columns,
    is_postgresql,
    ordered_uuids,
    paused_gc,
)
from kassa.loyalty.ledger import EntryKind

KIND = "customers"
COLUMNS = ("name", "phone", "email", "birthday", "home_store", "card_number", "points",
           "consents")
UNIQUE = ("phone", "email", "card_number")  # no two members share one
MAX_POINTS = 10**9
CHUNK = 50_000  # rows checked, then written while the next ones are checked
MAX_ROWS = 1_000_000  # in one file: a bigger export goes in several
IMPORT_LOCK = 0x4B43555354  # "KCUST": one customer import at a time
_CARD = re.compile(r"^[0-9]{6,16}$")
_DOTTED = re.compile(r"^([0-9]{1,2})\.([0-9]{1,2})\.([0-9]{4})$")
_POINTS = re.compile(r"^[0-9]{1,10}$")
_LIST = re.compile(r"[|,;]")

# Told how far the import is: data rows checked so far.
Progress = Callable[[int], None]


@dataclass
class CustomerImportReport(Problems):
    batch: str = ""
    rows: int = 0  # data rows in the file
    created: int = 0
    points: int = 0  # opening points posted
    skipped: int = 0
    written: bool = False
    dry_run: bool = False
    already_imported: bool = False
    imported_at: datetime | None = None  # of the earlier load, when already imported
    delimiter: str = ","
    ignored_columns: list[str] = field(default_factory=list)


@dataclass
class _Member:
    line: int
    name: str
    phone: str | None
    email: str | None
    birthday: date | None
    store_id: int | None
    region_id: int | None
    card_number: str | None
    points: int
    consents: tuple[str, ...]


def import_customers(session: Session, data: bytes, *, actor_id: int | None = None,
                     skip_bad: bool = False, dry_run: bool = False,
                     progress: Progress | None = None) -> CustomerImportReport:
    """Check the file ``data`` and load it in the caller's transaction (unless ``dry_run``,
    a bad row without ``skip_bad``, or the same file loaded before)."""
    report = CustomerImportReport(batch=hashlib.sha256(data).hexdigest(), dry_run=dry_run)
    if is_postgresql(session):
        # One at a time: a second load of the same file then finds the first one's batch.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": IMPORT_LOCK})
    earlier = session.scalars(select(ImportBatch).where(
        ImportBatch.kind == KIND, ImportBatch.batch == report.batch)).first()
    if earlier is not None:
        report.already_imported, report.imported_at = True, earlier.imported_at
        report.rows = earlier.summary.get("rows", 0)
        return report
    try:
        content = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise Invalid("The file is not UTF-8.", code="bad_encoding") from None
    rows = CsvTable(content, ("name",), COLUMNS[1:], report, max_rows=MAX_ROWS)
    writer = _Writer(session, report.batch, actor_id)
    savepoint = session.begin_nested()
    with paused_gc(), _reader(session) as reader, \
            _OneBehind(threaded=is_postgresql(session)) as behind:
        checker = _Checker(reader)
        for chunk in _chunks(rows, CHUNK):
            members = checker.check(chunk, report)
            if members and not dry_run and (skip_bad or not report.errors_total):
                behind.run(partial(writer.write, writer.rows(members)))
            if progress is not None:
                progress(rows.rows)
        behind.drain()
    report.rows, report.ignored_columns = rows.rows, rows.ignored_columns
    report.delimiter, report.skipped = rows.delimiter, report.bad_rows
    if (dry_run or report.unreadable or not writer.created
            or (report.errors_total and not skip_bad)):
        savepoint.rollback()
        return report
    writer.finish(report)
    savepoint.commit()
    return report


def _chunks(rows: Iterable[tuple[int, dict[str, str]]],
            size: int) -> Iterator[list[tuple[int, dict[str, str]]]]:
    chunk: list[tuple[int, dict[str, str]]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


@contextmanager
def _reader(session: Session) -> Iterator[Connection]:
    """Where the check looks for central's customers: on PostgreSQL a connection of its own,
    free while the session's writes the chunk before (it sees committed customers, which is
    all there is to clash with: the file's own rows are checked against each other); on
    SQLite the session's, as everything there runs in turn."""
    if not is_postgresql(session):
        yield session.connection()
        return
    engine = session.get_bind()
    assert isinstance(engine, Engine)  # a session bound to an engine, as kassa's are
    with engine.connect() as connection:
        yield connection


class _Checker:
    """Checks rows on their own, against the rows before them in the file (a phone, e-mail or
    card number an earlier line has makes the row bad) and against central's customers: the
    import opens new members and never merges them into someone (the 360 page does)."""

    def __init__(self, reader: Connection) -> None:
        self.reader = reader
        self.stores = {code: (sid, region) for sid, code, region in reader.execute(
            select(Store.id, Store.code, Store.region_id))}
        self.today = utcnow().date()
        # For each of UNIQUE: the line where each value first appears.
        self.firsts: dict[str, dict[str, int]] = {column: {} for column in UNIQUE}

    def check(self, chunk: list[tuple[int, dict[str, str]]],
              report: CustomerImportReport) -> list[_Member]:
        members = []
        for line, cells in chunk:
            member = _member(line, cells, self.stores, self.today, report)
            if member is None:
                continue
            clash = False
            for column in UNIQUE:
                value = getattr(member, column)
                if value is not None:
                    first = self.firsts[column].setdefault(value, line)
                    if first != line:
                        report.error(line, column, f"the same as line {first}")
                        clash = True
            if not clash:
                members.append(member)
        bad: set[int] = set()
        for column in UNIQUE:
            lines = {value: m.line for m in members
                     if (value := getattr(m, column)) is not None}
            for found, customer_id in _holders(self.reader, column, list(lines)):
                report.error(lines[found], column, f"customer {customer_id} has it already")
                bad.add(lines[found])
        return [m for m in members if m.line not in bad] if bad else members


class _OneBehind:
    """Runs each step on a second thread while the caller prepares the next one (PostgreSQL:
    the server writes a chunk while Python checks the next), or at once where a connection
    belongs to its thread (SQLite). Leaving waits for the step in flight: the transaction it
    writes in ends only after it."""

    def __init__(self, *, threaded: bool) -> None:
        self._pool = (ThreadPoolExecutor(max_workers=1, thread_name_prefix="customer-import")
                      if threaded else None)
        self._pending: Future[None] | None = None

    def run(self, step: Callable[[], None]) -> None:
        """Start ``step`` once the one before it is done (inline: now)."""
        self.drain()
        if self._pool is None:
            step()
        else:
            self._pending = self._pool.submit(step)

    def drain(self) -> None:
        """Wait for the step in flight; its error is raised here."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.result()

    def __enter__(self) -> _OneBehind:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)


def _member(line: int, cell: dict[str, str], stores: dict, today: date,
            report: CustomerImportReport) -> _Member | None:
    """One row checked; what is wrong with it goes to ``report`` (None: nothing usable)."""
    errors = report.errors_total
    if not 1 <= len(cell["name"]) <= 200:
        report.error(line, "name", "1 to 200 characters")
    phone = email = birthday = None
    try:
        phone = normal_phone(cell["phone"])
    except Invalid:
        report.error(line, "phone", "a phone number, like +7 900 123-45-67")
    try:
        email = normal_email(cell["email"])
    except Invalid:
        report.error(line, "email", "an e-mail address")
    if cell["birthday"] and (birthday := _birthday(cell["birthday"], today)) is None:
        report.error(line, "birthday", "a date like 1990-04-12 or 12.04.1990")
    store: tuple[int | None, int | None] = (None, None)
    if cell["home_store"]:
        if cell["home_store"] in stores:
            store = stores[cell["home_store"]]
        else:
            report.error(line, "home_store", "a store code of the chain")
    card = _card(line, cell["card_number"], report)
    points = _points(line, cell["points"], report)
    consents = _consents(line, cell["consents"], report)
    if report.errors_total > errors:
        return None
    return _Member(line, cell["name"], phone, email, birthday, store[0], store[1], card, points,
                   consents)


def _card(line: int, text: str, report: CustomerImportReport) -> str | None:
    if not text:
        return None
    card = text.replace(" ", "").replace("-", "")
    if not _CARD.match(card):
        report.error(line, "card_number", "6 to 16 digits")
    elif len(card) == 16 and card.startswith(CARD_PREFIX):
        report.error(line, "card_number", f"kassa's own cards start with {CARD_PREFIX}")
    return card


def _points(line: int, text: str, report: CustomerImportReport) -> int:
    if text and not (_POINTS.match(text) and int(text) <= MAX_POINTS):
        report.error(line, "points", "a whole number of points, not negative")
        return 0
    return int(text) if text else 0


def _consents(line: int, text: str, report: CustomerImportReport) -> tuple[str, ...]:
    if not text:
        return ()
    channels = tuple(dict.fromkeys(c.strip().lower() for c in _LIST.split(text) if c.strip()))
    if any(c not in CONSENT_CHANNELS for c in channels):
        report.error(line, "consents", "channels among " + "|".join(CONSENT_CHANNELS))
    return channels


def _birthday(value: str, today: date) -> date | None:
    try:
        if (dotted := _DOTTED.match(value)) is not None:
            day, month, year = (int(g) for g in dotted.groups())
            born = date(year, month, day)
        else:
            born = date.fromisoformat(value)
    except ValueError:
        return None
    return born if date(1900, 1, 1) <= born <= today else None


def _holders(reader: Connection, column: str, values: list[str]) -> list[tuple[str, object]]:
    """``(value, customer id)`` of the customers holding any of ``values`` in ``column``: a
    card number among every record (it is unique), a phone or e-mail among live ones. One
    join, the values sent as one text (lines; no checked phone, e-mail or card number holds
    a line break) or JSON on SQLite: a million of them as a million bound parameters, or as
    an array psycopg writes element by element, would take longer than the whole check."""
    if not values:
        return []
    live = ("" if column == "card_number" else
            " AND c.merged_into_id IS NULL AND c.anonymized_at IS NULL")
    if reader.dialect.name == "postgresql":
        query = (f"SELECT c.{column} AS value, c.id AS id FROM customers AS c JOIN "
                 f"unnest(string_to_array(:values, chr(10))) AS v(value) ON c.{column} = v.value"
                 + live)
        given = "\n".join(values)
    else:
        query = (f"SELECT c.{column} AS value, c.id AS id FROM json_each(:values) AS v "
                 f"JOIN customers AS c ON c.{column} = v.value" + live)
        given = json.dumps(values)
    typed = text(query).columns(value=String(), id=Uuid())
    return [(v, i) for v, i in reader.execute(typed, {"values": given})]


class _Doc(NamedTuple):
    """What the feed's documents read of a new customer and their account."""

    id: object
    customer_id: object
    name: str
    card_number: str | None
    phone: str | None
    email: str | None
    card_has_pin: bool
    blocked_at: None
    tier: str
    balance: int
    expiring: None


_CUSTOMER_COLUMNS = ("id", "name", "phone", "email", "card_number", "card_has_pin",
                     "home_store_id", "created_at", "status", "birthday")
_ACCOUNT_COLUMNS = ("id", "customer_id", "tier", "balance", "held", "created_at")
_ENTRY_COLUMNS = ("account_id", "cause", "kind", "points", "at", "expires_at", "recorded_at")
_CONSENT_COLUMNS = ("customer_id", "channel", "granted", "at", "source", "recorded_by_id")


@dataclass
class _Rows:
    """One chunk's rows for each table, made while the chunk before is written."""

    customers: list[tuple] = field(default_factory=list)
    accounts: list[tuple] = field(default_factory=list)
    entries: list[tuple] = field(default_factory=list)
    consents: list[tuple] = field(default_factory=list)
    customer_changes: list[tuple[object, JsonText, None, int | None]] = field(
        default_factory=list)
    account_changes: list[tuple[object, JsonText, None, int | None]] = field(
        default_factory=list)


class _Writer:
    """Makes the rows of checked members (``rows``, on the checking thread) and writes them
    (``write``, on the writing one): customers, accounts, opening points, consents and their
    feed entries."""

    def __init__(self, session: Session, batch: str, actor_id: int | None) -> None:
        self.session, self.batch, self.actor_id = session, batch, actor_id
        self.now = utcnow()
        self.as_text = is_postgresql(session)
        self.created = self.points = 0

    def rows(self, members: list[_Member]) -> _Rows:
        now, n, out = self.now, len(members), _Rows()
        cause, source = f"import:{self.batch[:16]}", f"import {self.batch[:12]}"
        ids = ordered_uuids(2 * n, as_text=self.as_text)
        for cid, aid, m in zip(ids[:n], ids[n:], members, strict=True):
            out.customers.append((cid, m.name, m.phone, m.email, m.card_number, False,
                                  m.store_id, now, "customer", m.birthday))
            out.accounts.append((aid, cid, "base", m.points, 0, now))
            if m.points:
                out.entries.append((aid, f"{cause}:{cid}", EntryKind.ADJUSTMENT.value, m.points,
                                    now, None, now))
            out.consents.extend((cid, channel, True, now, source, self.actor_id)
                                for channel in m.consents)
            doc = _Doc(str(cid), str(cid), m.name, m.card_number, m.phone, m.email, False, None,
                       "base", m.points, None)
            out.customer_changes.append(
                (cid, JsonText(json.dumps(customer_doc(doc))), None, m.region_id))
            out.account_changes.append(
                (aid, JsonText(json.dumps(account_doc(doc._replace(id=str(aid))))), None,
                 m.region_id))
        self.created += n
        self.points += sum(m.points for m in members)
        return out

    def write(self, rows: _Rows) -> None:
        session = self.session
        copy_columns(session, table(Customer), _CUSTOMER_COLUMNS, rows.customers)
        copy_columns(session, table(LoyaltyAccount), _ACCOUNT_COLUMNS, rows.accounts)
        copy_columns(session, table(LoyaltyEntry), _ENTRY_COLUMNS, rows.entries)
        copy_columns(session, table(Consent), _CONSENT_COLUMNS, rows.consents)
        record_changes(session, "customer", rows.customer_changes)
        record_changes(session, "loyalty_account", rows.account_changes)

    def finish(self, report: CustomerImportReport) -> None:
        """The batch, known from now on by its sha256, and the audit entry."""
        report.created, report.points, report.written = self.created, self.points, True
        summary = {"rows": report.rows, "created": report.created, "points": report.points,
                   "skipped": report.skipped}
        self.session.add(ImportBatch(kind=KIND, batch=self.batch, imported_at=self.now,
                                     actor_id=self.actor_id, summary=summary))
        audit.record(self.session, "masterdata_import",
                     f"customers: {report.created} new, {report.points} opening points",
                     reason=f"{report.skipped} rows skipped" if report.skipped else "",
                     actor_id=self.actor_id, details={"batch": self.batch, **summary})
        self.session.flush()
