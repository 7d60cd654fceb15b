"""Opening members in bulk from a previous system's CSV export at central, on PostgreSQL.

Figure: seconds to import N customers (default 1,000,000) through
``kassa.central.crm.customer_imports.import_customers``: decode, check every row (phone,
e-mail, birthday, home store, card number, points, consents), look for each phone, e-mail and
card among the file and central's customers, write customers, loyalty accounts, an
opening-points ledger entry and consents for the members who have them, put every customer and
account in the tills' change feed, audit; one transaction. Before it, a dry run of the same
file (checking only); after it, the same file again ("already imported"). Target (issue 21):
1,000,000 customers in <= 60 s.

Baselines, same run, the same rows already parsed and given ids as the import makes them
(time-ordered, before the clock starts), sent with raw PostgreSQL COPY in one transaction:
into bare tables of the same columns (a primary key and the unique keys), and into central's
own tables (every index, foreign key and the change feed's two entries per member): the least
any import of this data into this schema costs on this machine.

Run: ``.venv/bin/python bench/bench_customer_import.py [N_CUSTOMERS]``.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime, timezone

import psycopg
from pgscratch import pg_url, scratch_databases, sqlalchemy_url

from kassa.central.crm.customer_imports import CustomerImportReport, import_customers
from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS
from kassa.common.db import Database
from kassa.common.storage.bulk import ordered_uuids
from kassa.common.storage.migrate import upgrade

N = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
HEADER = "name,phone,email,birthday,home_store,card_number,points,consents\n"


def row(i: int) -> str:
    """Every member a phone; most an e-mail, a birthday, a home store and an old card; a third
    with points; a fifth with consents: a loyalty programme's export."""
    email = f"member{i}@example.com" if i % 10 else ""
    birthday = f"{1 + i % 28:02d}.{1 + i % 12:02d}.{1950 + i % 55}" if i % 4 else ""
    store = ("S001", "S002", "")[i % 3]
    card = f"{2000000000000 + i}" if i % 5 else ""
    points = str(i % 5000) if i % 3 == 0 else ""
    consents = "sms|email" if i % 5 == 0 else ""
    digits = f"{100_000_000 + i:09d}"  # the demo's customers have +7900000000x
    phone = f"8 (9{digits[:2]}) {digits[2:5]}-{digits[5:7]}-{digits[7:]}"
    return f"Member {i},{phone},{email},{birthday},{store},{card},{points},{consents}\n"


def kassa_seconds(url: str, data: bytes) -> tuple[float, float, float, CustomerImportReport]:
    upgrade(MIGRATIONS, url)
    db = Database(url)
    with db.transaction() as session:
        seed(session)
    start = time.perf_counter()
    with db.transaction() as session:
        checked = import_customers(session, data, dry_run=True)
    check = time.perf_counter() - start
    assert checked.errors_total == 0, checked.errors[:3]
    start = time.perf_counter()
    with db.transaction() as session:
        report = import_customers(session, data)
    load = time.perf_counter() - start
    assert report.errors_total == 0 and report.created == N, report.errors[:3]
    start = time.perf_counter()
    with db.transaction() as session:
        again = import_customers(session, data)
    repeat = time.perf_counter() - start
    assert again.already_imported
    db.dispose()
    return load, check, repeat, report


BARE_TABLES = (
    "CREATE TABLE customers (id uuid PRIMARY KEY, name text, phone text, email text, "
    "card_number text UNIQUE, card_has_pin bool, home_store_id int, created_at timestamptz, "
    "status text, birthday date)",
    "CREATE TABLE loyalty_accounts (id uuid PRIMARY KEY, customer_id uuid UNIQUE, tier text, "
    "balance bigint, held bigint, created_at timestamptz)",
    "CREATE TABLE loyalty_entries (id bigserial PRIMARY KEY, account_id uuid, cause text UNIQUE, "
    "kind text, points bigint, at timestamptz, expires_at timestamptz, recorded_at timestamptz)",
    "CREATE TABLE customer_consents (id bigserial PRIMARY KEY, customer_id uuid, channel text, "
    "granted bool, at timestamptz, source text, recorded_by_id int)",
)
COPIES = (
    ("customers", "id, name, phone, email, card_number, card_has_pin, home_store_id, "
                  "created_at, status, birthday"),
    ("loyalty_accounts", "id, customer_id, tier, balance, held, created_at"),
    ("loyalty_entries", "account_id, cause, kind, points, at, expires_at, recorded_at"),
    ("customer_consents", "customer_id, channel, granted, at, source, recorded_by_id"),
    ("change_feed", "entity, entity_key, deleted, payload, store_id, region_id, changed_at"),
)


def raw_rows(n: int) -> list[list[tuple]]:
    """The rows the import writes for ``row(0..n-1)``, parsed and with their ids made, and
    their feed entries with the JSON written: what a raw COPY sends."""
    now = datetime.now(timezone.utc)
    customers, accounts, entries, consents, feed = [], [], [], [], []
    ids = ordered_uuids(2 * n)
    for i in range(n):
        cid, aid = ids[i], ids[n + i]
        phone, points = f"+79{100_000_000 + i:09d}", i % 5000 if i % 3 == 0 else 0
        email = f"member{i}@example.com" if i % 10 else None
        card = f"{2000000000000 + i}" if i % 5 else None
        customers.append((cid, f"Member {i}", phone, email, card, False, None, now, "customer",
                          date(1950 + i % 55, 1 + i % 12, 1 + i % 28) if i % 4 else None))
        accounts.append((aid, cid, "base", points, 0, now))
        if points:
            entries.append((aid, f"import:0123456789abcdef:{cid}", "adjustment", points, now,
                            None, now))
        if i % 5 == 0:
            consents += [(cid, "sms", True, now, "import", None),
                         (cid, "email", True, now, "import", None)]
        feed.append(("customer", str(cid), False, json.dumps({
            "id": str(cid), "name": f"Member {i}", "card_number": card, "phone": phone,
            "email": email, "card_has_pin": False, "blocked": False}), None, None, now))
        feed.append(("loyalty_account", str(aid), False, json.dumps({
            "id": str(aid), "customer_id": str(cid), "tier": "base", "balance": points,
            "expiring": []}), None, None, now))
    return [customers, accounts, entries, consents, feed]


def raw_copy_seconds(dbname: str, rows: list[list[tuple]], *, bare: bool) -> float:
    """COPY of ``rows`` in one transaction: into bare tables (a primary key, and the unique
    keys the data needs), or into central's own tables (``bare=False``: every index,
    foreign key and the change feed)."""
    if not bare:
        upgrade(MIGRATIONS, sqlalchemy_url(dbname))
    with psycopg.connect(pg_url(dbname), autocommit=True) as conn:
        if bare:
            for create in BARE_TABLES:
                conn.execute(create)
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for (name, columns), table_rows in zip(COPIES, rows, strict=True):
                if bare and name == "change_feed":
                    continue
                with cur.copy(f"COPY {name} ({columns}) FROM STDIN") as copy:
                    for r in table_rows:
                        copy.write_row(r)
        return time.perf_counter() - start


def main() -> None:
    data = (HEADER + "".join(row(i) for i in range(N))).encode()
    rows = raw_rows(N)
    with scratch_databases(3) as names:
        load, check, repeat, report = kassa_seconds(sqlalchemy_url(names[0]), data)
        bare = raw_copy_seconds(names[1], rows, bare=True)
        central = raw_copy_seconds(names[2], rows, bare=False)
    print(f"customer import, {N} members ({len(data) / 1e6:.0f} MB of CSV), PostgreSQL")
    print(f"  kassa import, new members      {load:6.1f} s   ({N / load:8.0f} rows/s; "
          f"created {report.created}, {report.points} points)")
    print(f"  kassa dry run (checking only)  {check:6.1f} s   ({N / check:8.0f} rows/s)")
    print(f"  kassa, the same file again     {repeat:6.1f} s   (already imported)")
    print(f"  raw COPY, bare tables          {bare:6.1f} s   ({N / bare:8.0f} rows/s; "
          f"the same rows parsed, no feed)")
    print(f"  raw COPY, central's tables     {central:6.1f} s   ({N / central:8.0f} rows/s; "
          f"every index and key, and the feed)")
    print("  target: <= 60 s for 1,000,000 members")


if __name__ == "__main__":
    main()
