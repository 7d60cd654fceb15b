"""Catch-up after a long outage: a till with 50,000 offline sales reconnects to central.

Figure: seconds from the first push to the last acknowledgement, end to end over real HTTP
(``kassa.pos_node.replication.client.sync_now`` against ``kassa central serve``, gunicorn,
PostgreSQL): the node reads its outbox, signs and gzips batches, central validates, applies each
batch exactly once in one transaction, and the node marks them acknowledged. Target (issue 4): <= 30
s. Baseline, same run: raw PostgreSQL COPY of the same rows (sale, 5 lines, payment and the
received-event record per sale) into an empty copy of central's schema.

The node's sales are made beforehand by the till's own service layer (``quick_sale``, 5 lines
and a cash payment each), so the outbox holds exactly what a till writes; that set-up is not
timed.

Run: ``.venv/bin/python bench/bench_catchup.py [N_SALES] [BATCH]`` (defaults 50000 and 500).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from sqlalchemy import select

from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS
from kassa.common.db import Database
from kassa.common.runtime.processes import Supervisor
from kassa.common.storage.migrate import upgrade
from kassa.pos_node.models import OutboxEvent, User
from kassa.pos_node.replication.client import pull, sync_now
from kassa.pos_node.replication.enrolment import init_node
from kassa.pos_node.sale import shifts
from kassa.pos_node.sale.cart import Tender
from kassa.pos_node.sale.sales import LineRequest, quick_sale

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
BATCH = int(sys.argv[2]) if len(sys.argv) > 2 else 500
PG = os.environ.get("KASSA_TEST_PG", "postgresql://127.0.0.1:5432/test")
SKUS = ["1001", "1002", "1003", "1004", "1005"]


def pg_url(name: str) -> str:
    return PG.rsplit("/", 1)[0] + "/" + name


def offline_sales(node: Database, n: int) -> None:
    with node.transaction() as session:
        cashier = session.scalars(select(User).where(User.username == "cashier-s001")).one()
        shifts.open_shift(session, cashier, 0)
    done = 0
    while done < n:
        with node.transaction() as session:
            cashier = session.get(User, cashier.id)
            for _ in range(min(1000, n - done)):
                quick_sale(session, cashier, [LineRequest(1000, sku=s) for s in SKUS],
                           [Tender("cash", 10_000_000)])
                done += 1


def copy_baseline(name: str, node: Database) -> float:
    """Raw COPY of the rows central ends up with, from the node's own outbox documents."""
    upgrade(MIGRATIONS, "postgresql+psycopg://" + pg_url(name).split("://", 1)[1])
    db = Database(pg_url(name))
    with db.transaction() as s:
        seed(s, ("pos-1",))
    db.dispose()
    with node.read() as session:
        events = [(e.seq, e.event_id, e.kind, e.occurred_at, e.payload)
                  for e in session.scalars(select(OutboxEvent).order_by(OutboxEvent.seq))]
    sales, lines, pays, recv = [], [], [], []
    for seq, event_id, kind, at, p in events:
        recv.append(("pos-1", seq, event_id, kind, at, at))
        if kind != "sale.completed":
            continue
        sales.append((p["sale_id"], p["receipt_no"], "pos-1", 1, p["sold_at"], at, "completed",
                      p["gross_minor"], p["discount_minor"], p["total_minor"], p["vat_minor"]))
        lines += [(p["sale_id"], ln["line_no"], ln["product_id"], ln["sku"], ln["name"],
                   ln["quantity_milli"], ln["unit_price_minor"], ln["gross_minor"],
                   ln["discount_minor"], ln["amount_minor"], ln["vat_rate_bp"], ln["vat_minor"])
                  for ln in p["lines"]]
        pays += [(p["sale_id"], pay["method"], pay["amount_minor"]) for pay in p["payments"]]
    tables = [
        ("sales (id, receipt_no, node_id, store_id, sold_at, received_at, status, gross_minor, "
         "discount_minor, total_minor, vat_minor)", sales),
        ("sale_lines (sale_id, line_no, product_id, sku, name, quantity_milli, "
         "unit_price_minor, gross_minor, discount_minor, amount_minor, vat_rate_bp, vat_minor)",
         lines),
        ("payments (sale_id, method, amount_minor)", pays),
        ("received_events (node_id, seq, event_id, kind, occurred_at, received_at)", recv),
    ]
    with psycopg.connect(pg_url(name)) as conn:
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            for table, rows in tables:
                with cur.copy(f"COPY {table} FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
        return time.perf_counter() - start


def main() -> None:
    admin = psycopg.connect(PG, autocommit=True)
    names = [f"kassa_bench_{uuid.uuid4().hex[:8]}" for _ in range(2)]
    for name in names:
        admin.execute(f'CREATE DATABASE "{name}"')
    tmp = Path(tempfile.mkdtemp(prefix="kassa-catchup-"))
    sup = Supervisor(tmp / "logs")
    try:
        central_url = pg_url(names[0])
        upgrade(MIGRATIONS, "postgresql+psycopg://" + central_url.split("://", 1)[1])
        central_db = Database(central_url)
        with central_db.transaction() as s:
            secrets = seed(s, ("pos-1",))
        central_db.dispose()
        port = 18700 + os.getpid() % 1000
        env = {"KASSA_CENTRAL_DB": central_url}
        sup.start("central", [sys.executable, "-m", "kassa.cli", "central", "serve", "--port",
                              str(port), "--workers", "2"], env)
        sup.wait_http("central", f"http://127.0.0.1:{port}/health")
        node_url = f"sqlite:///{tmp / 'node.sqlite'}"
        init_node(node_url, "pos-1", f"http://127.0.0.1:{port}",
                  secrets["nodes"]["pos-1"]["enroll_code"])
        node = Database(node_url)
        from kassa.pos_node.replication.client import client_for
        with client_for(node) as client:
            pull(node, client)
        t0 = time.perf_counter()
        offline_sales(node, N)
        made = time.perf_counter() - t0
        start = time.perf_counter()
        result = sync_now(node, timeout=60, batch_size=BATCH)
        elapsed = time.perf_counter() - start
        baseline = copy_baseline(names[1], node)
        node.dispose()
    finally:
        sup.stop_all()
        for name in names:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    events = result.pushed
    print(f"catch-up of {N} offline sales (5 lines each; {events} events with the shift), "
          f"push batches of {BATCH}, central on PostgreSQL (gunicorn, 2 workers)")
    print(f"  kassa end to end   {elapsed:7.1f} s   {events / elapsed:8.0f} events/s   "
          f"target <= 30 s")
    print(f"  raw COPY baseline  {baseline:7.1f} s   {events / baseline:8.0f} events/s   "
          f"kassa at {baseline / elapsed:.0%} of raw COPY")
    print(f"  (set-up, not timed: {N} sales through quick_sale in {made:.0f} s)")
    print(json.dumps({"sales": N, "batch": BATCH, "seconds": round(elapsed, 2),
                      "copy_seconds": round(baseline, 2)}))


if __name__ == "__main__":
    main()
