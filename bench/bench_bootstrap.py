"""Bootstrap of a new node from central's snapshot, end to end, next to baselines of its parts.

Figure: ``kassa.pos_node.replication.bootstrap.bootstrap()`` on a fresh node enrolled with central,
central served over real loopback HTTP (``kassa central serve``, gunicorn) and holding 100,000
products (each with a barcode and a chain-wide price) and 1,000,000 customers: seconds end to end
(download, verify, apply, cursor), rows/s and bytes downloaded. Target (the issue): <= 60 s. Central
on SQLite and on PostgreSQL (``KASSA_TEST_PG``; the bench creates and drops its own database).

Baselines, same run, same rows:
  [a] central alone: ``snapshot.stream()`` consumed in process (read, encode, gzip; no HTTP);
  [b] the node alone: ``apply_snapshot()`` of the same downloaded file on another fresh node;
  [c] raw sqlite3 ``executemany`` of the same rows into an empty copy of the node's schema,
      loaded as kassa loads them: one transaction, WAL and synchronous=FULL like kassa's
      engine, the same page cache, the FTS5 name index's triggers dropped and the index
      rebuilt once. [b] over [c] is what kassa adds: gunzip, JSON, documents to rows, Core.

Run (building central, a minute or so, is in no figure)::

    .venv/bin/python bench/bench_bootstrap.py
    .venv/bin/python bench/bench_bootstrap.py --products 20000 --customers 200000 --engine sqlite

Everything lives in a temporary directory removed at the end; the server subprocess is always
stopped and the PostgreSQL database dropped.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import socket
import sqlite3
import sys
import tempfile
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

import psycopg
from bench_till import FIRST, LAST, ean13, product_name, raw_connect, sqlite_ts

from kassa.central import models as central_models
from kassa.central.models import Store
from kassa.central.replication import nodes, snapshot
from kassa.central.replication.feed import NodeScope
from kassa.common.db import Database
from kassa.common.runtime.processes import Supervisor
from kassa.common.storage.migrate import upgrade
from kassa.pos_node import models as node_models
from kassa.pos_node.replication.bootstrap import (
    LOAD_CACHE_KIB,
    REPLICA,
    apply_snapshot,
    bootstrap,
    download,
)
from kassa.pos_node.replication.client import client_for
from kassa.pos_node.replication.enrolment import init_node

PG = os.environ.get("KASSA_TEST_PG", "postgresql://127.0.0.1:5432/test")
NODE_ID = "bench-1"
TARGET_S = 60
CHUNK = 50_000

sqlite3.register_adapter(uuid.UUID, lambda u: u.hex)  # as SQLAlchemy's Uuid stores it
sqlite3.register_adapter(datetime, sqlite_ts)


# --- central's rows ----------------------------------------------------------------------------

def central_rows(n_products: int, n_customers: int, rng: random.Random):
    """``(table, columns, rows)`` for the whole chain, rows as lazy iterables of tuples."""
    now = datetime.now(timezone.utc)
    yield "regions", "id, code, name", [(1, "MSK", "Moscow"), (2, "SPB", "Saint Petersburg")]
    yield "stores", "id, code, name, region_id", [(1, "S001", "Bench store 1", 1),
                                                  (2, "S002", "Bench store 2", 2)]
    yield "role_limits", "role, max_discount_bp, max_refund_minor", [
        ("cashier", 1000, 300_000), ("store_manager", 5000, 10_000_000)]
    yield "users", "id, username, full_name, role, store_id, pin_hash, active", [
        (1, "cashier-s001", "Bench Cashier", "cashier", 1, "$argon2id$bench", True),
        (2, "sm-s001", "Bench Manager", "store_manager", 1, "$argon2id$bench", True)]
    products = range(1, n_products + 1)
    yield "products", "id, sku, name, vat_rate_bp, unit, active", (
        (i, f"{100000 + i}", product_name(rng), 2000 if i % 3 else 1000,
         "kg" if i % 20 == 0 else "pcs", True) for i in products)
    yield "product_barcodes", "barcode, product_id", (
        (ean13(460_000_000_000 + i * 7), i) for i in products)
    yield "prices", "id, product_id, store_id, amount_minor", (
        (i, i, None, rng.randrange(1000, 100_000)) for i in products)
    yield "customers", "id, name, phone, email, card_number, home_store_id, created_at", (
        (uuid.UUID(int=rng.getrandbits(128), version=4), f"{rng.choice(FIRST)} "
         f"{rng.choice(LAST)}", f"+79{i:09d}", f"c{i}@example.com", f"7{i:015d}",
         (1, 2, None)[i % 3], now) for i in range(n_customers))
    # The snapshot reads the tables; one feed entry gives it a version.
    yield "change_feed", "entity, entity_key, deleted, changed_at", [("bench", "0", False, now)]


def fill_sqlite(path: Path, rows) -> None:
    conn = sqlite3.connect(str(path), isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")  # loading only
    for table, columns, data in rows:
        sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(columns.split(',')))})"
        it = iter(data)
        while batch := [row for _, row in zip(range(CHUNK), it, strict=False)]:
            conn.execute("BEGIN")
            conn.executemany(sql, batch)
            conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def fill_postgresql(dsn: str, rows) -> None:
    with psycopg.connect(dsn) as conn:
        for table, columns, data in rows:
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in data:
                    copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        conn.execute("ANALYZE")


def register_node(url: str) -> str:
    """The bench node at store S001; returns its one-time enrolment code."""
    db = Database(url)
    try:
        with db.transaction() as session:
            return nodes.add_node(session, NODE_ID, session.get(Store, 1))
    finally:
        db.dispose()


# --- figures -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(op):
    start = time.perf_counter()
    result = op()
    return result, time.perf_counter() - start


def end_to_end(central_env: str, code: str, root: Path, empty_node: Path) -> dict:
    """Serve central, enrol a fresh node over HTTP, and time ``bootstrap()``; also keeps the
    downloaded file and an enrolled, empty node copy for the node-side figures."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = Supervisor(root / "logs")
    try:
        procs.start("central", [sys.executable, "-m", "kassa.cli", "central", "serve",
                                "--port", str(port)], {"KASSA_CENTRAL_DB": central_env})
        procs.wait_http("central", base + "/health", deadline_s=60)
        node_path = root / "node.sqlite"
        shutil.copyfile(empty_node, node_path)
        init_node(f"sqlite:///{node_path}", NODE_ID, base, code, timeout=30)
        shutil.copyfile(node_path, root / "node-enrolled.sqlite")
        db = Database(f"sqlite:///{node_path}")
        try:
            client = client_for(db, timeout=120)
            result, seconds = timed(lambda: bootstrap(db, client))
            with open(root / "snapshot.ndjson.gz", "wb") as file:
                download(client, file)
        finally:
            db.dispose()
    finally:
        procs.stop_all()
    return {**result, "seconds": seconds}


def central_alone(url: str) -> tuple[int, float]:
    """[a]: the snapshot generated and compressed in process; returns (bytes, seconds)."""
    db = Database(url)
    try:
        return timed(lambda: sum(len(c) for c in snapshot.stream(db, NodeScope(1, 1), NODE_ID)))
    finally:
        db.dispose()


def node_alone(root: Path) -> float:
    """[b]: ``apply_snapshot()`` of the downloaded file on a fresh enrolled node."""
    path = root / "node-b.sqlite"
    shutil.copyfile(root / "node-enrolled.sqlite", path)
    db = Database(f"sqlite:///{path}")
    try:
        with open(root / "snapshot.ndjson.gz", "rb") as file:
            chunks = iter(lambda: file.read(1 << 20), b"")
            return timed(lambda: apply_snapshot(db, chunks))[1]
    finally:
        db.dispose()


def raw_insert(root: Path, empty_node: Path) -> float:
    """[c]: the rows [b] wrote, inserted by raw sqlite3 into an empty node schema the way
    kassa loads them: one transaction, the same page cache, the name index's triggers dropped
    and the index rebuilt once."""
    source = sqlite3.connect(str(root / "node-b.sqlite"))
    tables = {m.__tablename__: source.execute(f"SELECT * FROM {m.__tablename__}").fetchall()
              for m in REPLICA}
    source.close()
    path = root / "node-c.sqlite"
    shutil.copyfile(empty_node, path)
    conn = raw_connect(path)
    conn.execute(f"PRAGMA cache_size = {LOAD_CACHE_KIB}")

    def insert_all():
        conn.execute("BEGIN IMMEDIATE")
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'products'").fetchall()
        for name, _sql in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for table, rows in tables.items():
            if rows:
                marks = ", ".join("?" * len(rows[0]))
                conn.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)
        conn.execute("INSERT INTO products_fts (products_fts) VALUES ('rebuild')")
        for _name, sql in triggers:
            conn.execute(sql)
        conn.execute("COMMIT")

    seconds = timed(insert_all)[1]
    conn.close()
    return seconds


# --- the two centrals --------------------------------------------------------------------------

def run_sqlite(root: Path, args, empty_node: Path) -> tuple[dict, tuple[int, float]]:
    path = root / "central.sqlite"
    url = f"sqlite:///{path}"
    upgrade(central_models.MIGRATIONS, url)
    fill_sqlite(path, central_rows(args.products, args.customers, random.Random(7)))
    code = register_node(url)
    return end_to_end(str(path), code, root, empty_node), central_alone(url)


def run_postgresql(root: Path, args, empty_node: Path) -> tuple[dict, tuple[int, float]]:
    name = f"kassa_bench_{uuid.uuid4().hex[:8]}"
    base = PG.rsplit("/", 1)[0]
    url = "postgresql+psycopg://" + f"{base}/{name}".split("://", 1)[1]
    with psycopg.connect(PG, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            upgrade(central_models.MIGRATIONS, url)
            fill_postgresql(f"{base}/{name}",
                            central_rows(args.products, args.customers, random.Random(7)))
            code = register_node(url)
            return end_to_end(f"{base}/{name}", code, root, empty_node), central_alone(url)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check(e2e: dict, args) -> None:
    """The figure counts only if the node got every row (this is not a timing assertion)."""
    want = {"product": args.products, "price": args.products, "customer": args.customers}
    got = {entity: e2e["counts"].get(entity) for entity in want}
    if got != want:
        raise RuntimeError(f"the node received {got}, expected {want}")


def report(engine: str, e2e: dict, alone: tuple[int, float]) -> None:
    ok = "ok" if e2e["seconds"] <= TARGET_S else "OVER"
    print(f"  central on {engine:<10} bootstrap() end to end {e2e['seconds']:6.1f} s  "
          f"{e2e['rows'] / e2e['seconds']:>9,.0f} rows/s  {e2e['bytes'] / 1e6:6.1f} MB "
          f"downloaded  (target <= {TARGET_S} s: {ok})")
    print(f"    [a] central alone, snapshot.stream() in process {alone[1]:6.1f} s  "
          f"{alone[0] / 1e6:6.1f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql", "both"), default="both")
    args = parser.parse_args()
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    runs = {"sqlite": run_sqlite, "postgresql": run_postgresql}
    with tempfile.TemporaryDirectory(prefix="kassa-bench-") as tmp:
        root = Path(tmp)
        empty_node = root / "node-empty.sqlite"
        upgrade(node_models.MIGRATIONS, f"sqlite:///{empty_node}")
        print(f"bootstrap of a new node: {args.products:,} products (barcode, chain-wide "
              f"price each), {args.customers:,} customers")
        for n, engine in enumerate(engines):
            work = root / engine
            work.mkdir()
            e2e, alone = runs[engine](work, args, empty_node)
            check(e2e, args)
            report(engine, e2e, alone)
            if n == 0:  # the node's side does not depend on central's engine
                b = node_alone(work)
                c = raw_insert(work, empty_node)
                print(f"  node side, the same file: [b] apply_snapshot() {b:6.1f} s   "
                      f"[c] raw sqlite3 executemany, same rows {c:6.1f} s   "
                      f"kassa/raw {b / c:.1f}x")
    print("HTTP: `kassa central serve` (gunicorn) on loopback; the node in this process. "
          "Nothing is asserted.")


if __name__ == "__main__":
    main()
