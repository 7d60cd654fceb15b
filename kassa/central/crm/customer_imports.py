"""Customers from a previous system, loaded in bulk from its CSV export, so a chain's loyalty
programme starts with its members: their contacts, their old card numbers, their points.

Columns: ``name`` (required), and any of ``phone``, ``email``, ``birthday`` (ISO, or
``DD.MM.YYYY`` as Russian exports write it), ``home_store`` (a store code), ``card_number``
(6 to 16 digits: the previous programme's card, which the tills then accept), ``points`` (the
opening balance) and ``consents`` (the channels the customer agreed to, ``sms|email``). A header
line; UTF-8 with or without a BOM; commas or semicolons.

Every row is checked first and every problem reported with its line, column and reason: a
phone, e-mail or card number that another row of the file or an existing customer has is a
bad row, never a merge. A file with a bad row loads nothing, unless ``skip_bad`` (the good rows
then load and the bad ones are reported). A file is known by the sha256 of its bytes: the same
file again changes nothing. Each member gets a loyalty account; opening points are one ledger
entry per member, caused by the import, so they are posted once. Rows go in with COPY on
PostgreSQL, and every new record goes to the tills in the change feed.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from kassa.central.access import audit
from kassa.central.crm.profiles import CONSENT_CHANNELS, normal_email, normal_phone
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
from kassa.common.spreadsheet import CsvTable, Problems
from kassa.common.storage.bulk import copy_rows, is_postgresql
from kassa.loyalty.ledger import EntryKind

KIND = "customers"
COLUMNS = ("name", "phone", "email", "birthday", "home_store", "card_number", "points",
           "consents")
MAX_POINTS = 10**9
CHUNK = 5000
MAX_ROWS = 1_000_000  # in one file: a bigger export goes in several
IMPORT_LOCK = 0x4B43555354  # "KCUST": one customer import at a time
_CARD = re.compile(r"^[0-9]{6,16}$")
_DOTTED = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})$")

# Told how far the import is: (``checking`` or ``writing``, rows done so far).
Progress = Callable[[str, int], None]


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
    """Check the file ``data`` whole, then load it in the caller's transaction (unless
    ``dry_run``, a bad row without ``skip_bad``, or the same file loaded before)."""
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
    members = _parse(session, content, report, progress)
    _refuse_known(session, members, report)
    members = [m for m in members if m.line not in report.bad_lines]
    report.skipped = len(report.bad_lines)
    if (report.errors_total and (report.unreadable or not skip_bad)) or dry_run or not members:
        return report
    _write(session, members, report, actor_id, progress)
    return report


def _parse(session: Session, content: str, report: CustomerImportReport,
           progress: Progress | None) -> list[_Member]:
    rows = CsvTable(content, ("name",), COLUMNS[1:], report, max_rows=MAX_ROWS)
    report.delimiter = rows.delimiter
    stores = {code: (sid, region) for sid, code, region in session.execute(
        select(Store.id, Store.code, Store.region_id))}
    members: list[_Member] = []
    seen: dict[tuple[str, str], int] = {}  # (column, value) -> the first line holding it
    for line, cells in rows:
        member = _member(line, cells, stores, report)
        if member is not None:
            for column in ("phone", "email", "card_number"):
                value = getattr(member, column)
                if value is None:
                    continue
                first = seen.setdefault((column, value), line)
                if first != line:
                    report.error(line, column, f"the same as line {first}")
            members.append(member)
        if progress is not None and rows.rows % CHUNK == 0:
            progress("checking", rows.rows)
    report.rows, report.ignored_columns = rows.rows, rows.ignored_columns
    return members


def _member(line: int, given: dict[str, str], stores: dict,
            report: CustomerImportReport) -> _Member | None:
    """One row checked; what is wrong with it goes to ``report`` (None: nothing usable)."""
    cell = {c: given.get(c, "") for c in COLUMNS}
    errors = report.errors_total
    if not 1 <= len(cell["name"]) <= 200:
        report.error(line, "name", "1 to 200 characters")
    phone = email = None
    try:
        phone = normal_phone(cell["phone"])
    except Invalid:
        report.error(line, "phone", "a phone number, like +7 900 123-45-67")
    try:
        email = normal_email(cell["email"])
    except Invalid:
        report.error(line, "email", "an e-mail address")
    birthday = _birthday(cell["birthday"])
    if cell["birthday"] and birthday is None:
        report.error(line, "birthday", "a date like 1990-04-12 or 12.04.1990")
    store: tuple[int | None, int | None] = (None, None)
    if cell["home_store"]:
        if cell["home_store"] in stores:
            store = stores[cell["home_store"]]
        else:
            report.error(line, "home_store", "a store code of the chain")
    card = cell["card_number"].replace(" ", "").replace("-", "") or None
    if card is not None and not _CARD.match(card):
        report.error(line, "card_number", "6 to 16 digits")
    elif card is not None and len(card) == 16 and card.startswith(CARD_PREFIX):
        report.error(line, "card_number", f"kassa's own cards start with {CARD_PREFIX}")
    points = int(cell["points"]) if cell["points"].isdigit() else None
    if cell["points"] and (points is None or points > MAX_POINTS):
        report.error(line, "points", "a whole number of points, not negative")
    consents = tuple(dict.fromkeys(c.strip().lower() for c in re.split(r"[|,;]",
                                                                       cell["consents"])
                                   if c.strip()))
    if any(c not in CONSENT_CHANNELS for c in consents):
        report.error(line, "consents", "channels among " + "|".join(CONSENT_CHANNELS))
    if report.errors_total > errors:
        return None
    return _Member(line, cell["name"], phone, email, birthday, store[0], store[1], card,
                   points or 0, consents)


def _birthday(value: str) -> date | None:
    if not value:
        return None
    try:
        if (dotted := _DOTTED.match(value)) is not None:
            day, month, year = (int(g) for g in dotted.groups())
            born = date(year, month, day)
        else:
            born = date.fromisoformat(value)
    except ValueError:
        return None
    return born if 1900 <= born.year <= date.today().year else None


def _refuse_known(session: Session, members: list[_Member],
                  report: CustomerImportReport) -> None:
    """A phone, e-mail or card number a live customer has already makes the row bad: the
    import opens new members and never merges them into someone (the 360 page does that)."""
    live = (Customer.merged_into_id.is_(None), Customer.anonymized_at.is_(None))
    for attr, column in (("phone", Customer.phone), ("email", Customer.email),
                         ("card_number", Customer.card_number)):
        by_value: dict[str, list[int]] = {}
        for m in members:
            value = getattr(m, attr)
            if value is not None:
                by_value.setdefault(value, []).append(m.line)
        values = list(by_value)
        for start in range(0, len(values), CHUNK):
            chunk = values[start:start + CHUNK]
            # A card number is unique among every record; a phone or e-mail among live ones.
            wheres = [column.in_(chunk)] + ([] if attr == "card_number" else list(live))
            for found, customer_id in session.execute(
                    select(column, Customer.id).where(*wheres)):
                for line in by_value.get(found or "", ()):
                    report.error(line, attr, f"customer {customer_id} has it already")


def _write(session: Session, members: list[_Member], report: CustomerImportReport,
           actor_id: int | None, progress: Progress | None) -> None:
    now = utcnow()
    cause = f"import:{report.batch[:16]}"
    customers: list[dict] = []
    accounts: list[dict] = []
    entries: list[dict] = []
    consents: list[dict] = []
    customer_changes: list[tuple[object, dict | None, int | None, int | None]] = []
    account_changes: list[tuple[object, dict | None, int | None, int | None]] = []
    for m in members:
        customer_id, account_id = uuid.uuid4(), uuid.uuid4()
        customers.append({
            "id": customer_id, "name": m.name, "phone": m.phone, "email": m.email,
            "card_number": m.card_number, "card_has_pin": False, "home_store_id": m.store_id,
            "created_at": now, "status": "customer", "birthday": m.birthday})
        accounts.append({"id": account_id, "customer_id": customer_id, "tier": "base",
                         "balance": m.points, "held": 0, "created_at": now})
        if m.points:
            entries.append({"account_id": account_id, "cause": f"{cause}:{customer_id}",
                            "kind": EntryKind.ADJUSTMENT.value, "points": m.points, "at": now,
                            "expires_at": None, "recorded_at": now})
        consents.extend({"customer_id": customer_id, "channel": channel, "granted": True,
                         "at": now, "source": f"import {report.batch[:12]}",
                         "recorded_by_id": actor_id} for channel in m.consents)
        customer_changes.append((customer_id, customer_doc(
            SimpleNamespace(**customers[-1], blocked_at=None)), None, m.region_id))
        account_changes.append((account_id, account_doc(
            SimpleNamespace(**accounts[-1], expiring=None)), None, m.region_id))
    total = len(members)
    for start in range(0, total, CHUNK * 4):
        end = start + CHUNK * 4
        copy_rows(session, table(Customer), customers[start:end])
        copy_rows(session, table(LoyaltyAccount), accounts[start:end])
        if progress is not None:
            progress("writing", min(end, total))
    copy_rows(session, table(LoyaltyEntry), entries)
    copy_rows(session, table(Consent), consents)
    record_changes(session, "customer", customer_changes)
    record_changes(session, "loyalty_account", account_changes)
    report.created, report.points = total, sum(m.points for m in members)
    summary = {"rows": report.rows, "created": report.created, "points": report.points,
               "skipped": report.skipped}
    session.add(ImportBatch(kind=KIND, batch=report.batch, imported_at=now, actor_id=actor_id,
                            summary=summary))
    audit.record(session, "masterdata_import",
                 f"customers: {report.created} new, {report.points} opening points",
                 reason=f"{report.skipped} rows skipped" if report.skipped else "",
                 actor_id=actor_id, details={"batch": report.batch, **summary})
    session.flush()
    report.written = True
