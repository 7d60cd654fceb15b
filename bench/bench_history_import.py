"""Loading a customer transaction history from CSV at central, on PostgreSQL and SQLite.

Figure: seconds to import N rows (default 100,000) through
``kassa.central.reporting.history_import.import_history`` (decode, check every row, find 20,000
customers by card, phone or e-mail and 1,000 products by SKU in bulk, write, audit), all in one
transaction; then the same file again ("already imported"). Baseline, same run: the same rows,
already resolved to ids, written raw into a bare table of the same columns (COPY on
PostgreSQL, ``executemany`` INSERT through sqlite3).

Run: ``.venv/bin/python bench/bench_history_import.py [N_ROWS]``.
"""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
from pgscratch import pg_url, scratch_databases, sqlalchemy_url
from sqlalchemy import insert, select

from kassa.central.catalog.products import create_product
from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS, Customer
from kassa.central.models import HistoricTransaction as H
from kassa.central.reporting.history_import import HistoryReport, import_history
from kassa.common.db import Database
from kassa.common.storage.migrate import upgrade

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
CUSTOMERS, PRODUCTS = 20_000, 1_000
START = datetime(2020, 1, 1, tzinfo=timezone.utc)


def who(i: int) -> str:
    """Customer ``i`` as the file names them: by card, phone or e-mail in turn."""
    return (f"{8880000000000000 + i}", f"8 (902) {i:07d}", f"buyer{i}@example.com")[i % 3]


def csv_bytes(n: int) -> bytes:
    lines = ["customer,date,quantity,amount,store,product"]
    for i in range(n):
        c = (i * 7919) % CUSTOMERS
        lines.append(f"{who(c)},{(START + timedelta(minutes=13 * i)).isoformat()},"
                     f"{1 + i % 3}.{i % 1000:03d},{(i % 5000) + 1}.{i % 100:02d},"
                     f"S00{1 + i % 2},H{i % PRODUCTS:05d}")
    return ("\n".join(lines) + "\n").encode()


def prepare(url: str) -> Database:
    upgrade(MIGRATIONS, url)
    db = Database(url)
    with db.transaction() as session:
        seed(session)
        session.execute(insert(Customer), [
            {"id": uuid.uuid4(), "name": f"Buyer {i}", "card_number": f"{8880000000000000 + i}",
             "phone": f"+7902{i:07d}", "email": f"buyer{i}@example.com"}
            for i in range(CUSTOMERS)])
        for p in range(PRODUCTS):
            create_product(session, f"H{p:05d}", f"History product {p}", 2000, 100)
    return db


def kassa_seconds(db: Database, data: bytes) -> tuple[float, float, HistoryReport, list]:
    start = time.perf_counter()
    with db.transaction() as session:
        report = import_history(session, data)
    first = time.perf_counter() - start
    assert not report.errors_total, report.errors[:3]
    start = time.perf_counter()
    with db.transaction() as session:
        again = import_history(session, data)
    second = time.perf_counter() - start
    assert again.already_imported
    with db.read() as session:  # the same rows, resolved, for the raw baseline
        rows = [tuple(r) for r in session.execute(select(
            H.customer_id, H.at, H.quantity_milli, H.amount_minor, H.store_id, H.product_id,
            H.batch, H.line_no, H.imported_at).order_by(H.line_no))]
    assert len(rows) == N
    db.dispose()
    return first, second, report, rows


BARE = ("customer_id {uuid}, at {ts}, quantity_milli bigint, amount_minor bigint, "
        "store_id int, product_id int, batch varchar(64), line_no int, imported_at {ts}, "
        "UNIQUE (batch, line_no)")


def raw_copy_seconds(dbname: str, rows: list) -> float:
    with psycopg.connect(pg_url(dbname), autocommit=True) as conn:
        conn.execute("CREATE TABLE history (id bigserial PRIMARY KEY, "
                     + BARE.format(uuid="uuid", ts="timestamptz") + ")")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur, cur.copy(
                "COPY history (customer_id, at, quantity_milli, amount_minor, store_id, "
                "product_id, batch, line_no, imported_at) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return time.perf_counter() - start


def raw_sqlite_seconds(path: Path, rows: list) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE history (id integer PRIMARY KEY, "
                 + BARE.format(uuid="char(32)", ts="datetime") + ")")
    plain = [(c.hex, at.replace(tzinfo=None).isoformat(" "), q, a, s, p, b, n,
              i.replace(tzinfo=None).isoformat(" ")) for c, at, q, a, s, p, b, n, i in rows]
    start = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO history (customer_id, at, quantity_milli, amount_minor, "
                     "store_id, product_id, batch, line_no, imported_at) "
                     "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", plain)
    conn.execute("COMMIT")
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def line(label: str, seconds: float, note: str = "") -> str:
    return f"  {label:<34} {seconds:6.2f} s   ({N / seconds:8.0f} rows/s){note}"


def main() -> None:
    data = csv_bytes(N)
    print(f"history import, {N} rows ({len(data) / 1e6:.1f} MB), {CUSTOMERS} customers by card, "
          f"phone or e-mail, {PRODUCTS} products")
    with scratch_databases(2) as names:
        first, second, report, rows = kassa_seconds(prepare(sqlalchemy_url(names[0])), data)
        raw = raw_copy_seconds(names[1], rows)
    print("PostgreSQL")
    print(line("kassa import", first, f"; {report.loaded} rows, {report.customers} customers"))
    print(f"  {'same file again (already imported)':<34} {second:6.2f} s")
    print(line("raw COPY of the same rows", raw))
    with tempfile.TemporaryDirectory() as tmp:
        first, second, report, rows = kassa_seconds(
            prepare(f"sqlite:///{Path(tmp) / 'central.sqlite'}"), data)
        raw = raw_sqlite_seconds(Path(tmp) / "raw.sqlite", rows)
    print("SQLite")
    print(line("kassa import", first, f"; {report.loaded} rows, {report.customers} customers"))
    print(f"  {'same file again (already imported)':<34} {second:6.2f} s")
    print(line("raw INSERT of the same rows", raw))


if __name__ == "__main__":
    main()
