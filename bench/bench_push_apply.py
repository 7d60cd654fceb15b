"""How fast central applies pushed sales, next to the raw engine writing the same rows.

Figure: sale events applied per second by ``kassa.central.replication.ingest.apply_batch`` (batches
of 200, 5 lines and 1 payment each, with the exactly-once and quarantine bookkeeping), on SQLite and
PostgreSQL. Target (issue 4): on PostgreSQL at least 20 % of the raw COPY rate. Baseline, same run,
same rows: raw sqlite3 ``executemany`` / PostgreSQL ``COPY``. A second kassa figure has half the
sales made by loyalty customers (2,000 accounts): each of those posts five earn entries and moves
the account's balance, tier and feed entry, which the raw baselines do not write; the gap between
the two kassa figures is the loyalty ledger's cost. Run: ``.venv/bin/python
bench/bench_push_apply.py [N_EVENTS]``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone

import psycopg

from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS
from kassa.central.replication.ingest import apply_batch
from kassa.common.db import Database
from kassa.common.storage.migrate import upgrade

N = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
BATCH = 200
LINES = 5
PG = os.environ.get("KASSA_TEST_PG", "postgresql://127.0.0.1:5432/test")


ACCOUNTS = 2000


def events(n: int, accounts: list[str] = ()) -> list[dict]:
    """Sale events; with ``accounts``, every other sale earns for one of them."""
    now = datetime.now(timezone.utc)
    out = []
    for seq in range(1, n + 1):
        loyal = accounts[seq % len(accounts)] if accounts and seq % 2 else None
        lines = [{"line_no": i, "product_id": i, "sku": f"{1000 + i}", "name": "x",
                  "quantity_milli": 1000, "unit_price_minor": 100, "amount_minor": 100,
                  "vat_rate_bp": 1000, "vat_minor": 9, "points_earned": 1 if loyal else 0}
                 for i in range(1, LINES + 1)]
        out.append({"seq": seq, "event_id": uuid.uuid4(), "kind": "sale.completed",
                    "occurred_at": now, "payload": {
                        "sale_id": str(uuid.uuid4()), "receipt_no": f"pos-1-{seq:08d}",
                        "store_id": 1, "sold_at": now.isoformat(), "customer_id": None,
                        "total_minor": 100 * LINES, "vat_minor": 9 * LINES, "lines": lines,
                        "payments": [{"method": "cash", "amount_minor": 100 * LINES}],
                        "loyalty": {"account_id": loyal} if loyal else None}})
    return out


def open_accounts(session) -> list[str]:
    from kassa.central.membership import loyalty_accounts
    from kassa.central.models import Customer
    made = []
    for i in range(ACCOUNTS):
        customer = Customer(name=f"Bench {i}", card_number=f"{7771000000000000 + i}")
        session.add(customer)
        session.flush()
        made.append(str(loyalty_accounts.open_account(session, customer).id))
    return made


def kassa_rate(url: str, n: int, loyal: bool = False) -> float:
    upgrade(MIGRATIONS, url)
    db = Database(url)
    with db.transaction() as s:
        seed(s)
        evs = events(n, open_accounts(s) if loyal else ())
    start = time.perf_counter()
    for i in range(0, len(evs), BATCH):
        with db.transaction() as s:
            apply_batch(s, "pos-1", evs[i:i + BATCH])
    elapsed = time.perf_counter() - start
    db.dispose()
    return len(evs) / elapsed


def rows(evs):
    sales, lines, pays, recv = [], [], [], []
    for e in evs:
        p = e["payload"]
        sid = uuid.UUID(p["sale_id"])
        sales.append((sid, p["receipt_no"], "pos-1", 1, p["sold_at"], p["sold_at"], "completed",
                      100 * LINES, 0, 100 * LINES, 9 * LINES))
        lines += [(sid, ln["line_no"], ln["product_id"], ln["sku"], ln["name"], 1000, 100, 100,
                   0, 100, 1000, 9) for ln in p["lines"]]
        pays.append((sid, "cash", 100 * LINES))
        recv.append(("pos-1", e["seq"], e["event_id"], e["kind"], p["sold_at"], p["sold_at"]))
    return sales, lines, pays, recv


SQL = {
    "sales": "sales (id, receipt_no, node_id, store_id, sold_at, received_at, status, "
             "gross_minor, discount_minor, total_minor, vat_minor)",
    "sale_lines": "sale_lines (sale_id, line_no, product_id, sku, name, quantity_milli, "
                  "unit_price_minor, gross_minor, discount_minor, amount_minor, vat_rate_bp, "
                  "vat_minor)",
    "payments": "payments (sale_id, method, amount_minor)",
    "received_events": "received_events (node_id, seq, event_id, kind, occurred_at, received_at)",
}


def raw_sqlite_rate(path: str, evs) -> float:
    import sqlite3
    upgrade(MIGRATIONS, f"sqlite:///{path}")
    db = Database(f"sqlite:///{path}")
    with db.transaction() as s:
        seed(s)
    db.dispose()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")  # as kassa.common.db tunes its engine
    data = rows(evs)
    start = time.perf_counter()
    for i in range(0, len(evs), BATCH):
        conn.execute("BEGIN IMMEDIATE")
        for table, chunk in zip(SQL, data, strict=True):
            per = LINES if table == "sale_lines" else 1
            lo, hi = i * per, (i + BATCH) * per
            part = [tuple(x.hex if isinstance(x, uuid.UUID) else x for x in r)
                    for r in chunk[lo:hi]]
            marks = ",".join("?" * len(part[0]))
            conn.executemany(f"INSERT INTO {SQL[table]} VALUES ({marks})", part)
        conn.execute("COMMIT")
    elapsed = time.perf_counter() - start
    conn.close()
    return len(evs) / elapsed


def raw_pg_copy_rate(dbname: str, evs) -> float:
    url = PG.rsplit("/", 1)[0] + "/" + dbname
    upgrade(MIGRATIONS, "postgresql+psycopg://" + url.split("://", 1)[1])
    db = Database("postgresql+psycopg://" + url.split("://", 1)[1])
    with db.transaction() as s:
        seed(s)
    db.dispose()
    data = rows(evs)
    with psycopg.connect(url) as conn:
        start = time.perf_counter()
        for i in range(0, len(evs), BATCH):
            with conn.transaction(), conn.cursor() as cur:
                for table, chunk in zip(SQL, data, strict=True):
                    per = LINES if table == "sale_lines" else 1
                    lo, hi = i * per, (i + BATCH) * per
                    with cur.copy(f"COPY {SQL[table]} FROM STDIN") as copy:
                        for r in chunk[lo:hi]:
                            copy.write_row(r)
        elapsed = time.perf_counter() - start
    return len(evs) / elapsed


def main() -> None:
    evs = events(N)
    admin = psycopg.connect(PG, autocommit=True)
    names = [f"kassa_bench_{uuid.uuid4().hex[:8]}" for _ in range(3)]
    for n in names:
        admin.execute(f'CREATE DATABASE "{n}"')
    try:
        with tempfile.TemporaryDirectory() as tmp:
            k_sqlite = kassa_rate(f"sqlite:///{tmp}/k.sqlite", N)
            l_sqlite = kassa_rate(f"sqlite:///{tmp}/l.sqlite", N, loyal=True)
            r_sqlite = raw_sqlite_rate(f"{tmp}/r.sqlite", evs)
        pg_base = PG.rsplit("/", 1)[0].split("://", 1)[1]
        k_pg = kassa_rate(f"postgresql+psycopg://{pg_base}/{names[0]}", N)
        l_pg = kassa_rate(f"postgresql+psycopg://{pg_base}/{names[2]}", N, loyal=True)
        r_pg = raw_pg_copy_rate(names[1], evs)
    finally:
        for n in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{n}" WITH (FORCE)')
        admin.close()
    print(f"push apply, {N} sale events ({LINES} lines each), batches of {BATCH}")
    print(f"  SQLite     kassa apply_batch {k_sqlite:9.0f} events/s   raw executemany "
          f"{r_sqlite:9.0f} events/s   ratio {k_sqlite / r_sqlite:.2f}")
    print(f"  PostgreSQL kassa apply_batch {k_pg:9.0f} events/s   raw COPY        "
          f"{r_pg:9.0f} events/s   ratio {k_pg / r_pg:.2f}")
    print("  half the sales by loyalty customers (earn entries, balances, feed):")
    print(f"  SQLite     kassa apply_batch {l_sqlite:9.0f} events/s   "
          f"({l_sqlite / k_sqlite:.2f} of the plain figure)")
    print(f"  PostgreSQL kassa apply_batch {l_pg:9.0f} events/s   "
          f"({l_pg / k_pg:.2f} of the plain figure)")


if __name__ == "__main__":
    main()
