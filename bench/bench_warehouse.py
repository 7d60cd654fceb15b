"""The warehouse: the consolidated report over 10 million sale lines, and incremental loads.

Figure 1: seconds for the consolidated report (revenue, receipts, average receipt by region x
month) through ``kassa.central.reporting.warehouse.warehouse_reports.by_region_month`` on a
warehouse of N_LINES sale lines (default 10,000,000; 2 years, 2 regions, 20 stores, 5,000 products),
best of 5. Target (issue 8): <= 1 s. Baseline, same run: the same query in plain DuckDB over the
Parquet files ``kassa central warehouse export`` wrote from that warehouse (the region comes from
the partition there, from the store dimension in the warehouse).

Figure 2: lines/s of ``kassa.central.reporting.warehouse.load.refresh`` from a PostgreSQL central:
the first load of N_SALES sales (5 lines each, default 100,000), then an incremental run after 10 %
more arrived. Baseline, same run: raw PostgreSQL ``COPY (SELECT ...) TO STDOUT`` of the same lines
(what reading them costs before any loading).

Run: ``.venv/bin/python bench/bench_warehouse.py [N_LINES] [N_SALES]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import psycopg
from pgscratch import pg_url, scratch_databases, sqlalchemy_url
from sqlalchemy import select

from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS, Node, Product, Sale, SaleLine, Store
from kassa.central.reporting.warehouse import export, load, schema, warehouse_reports
from kassa.common.db import Database
from kassa.common.storage.bulk import copy_rows
from kassa.common.storage.migrate import upgrade

N_LINES = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
N_SALES = int(sys.argv[2]) if len(sys.argv) > 2 else 100_000


def fill_warehouse(path: Path, n_lines: int) -> None:
    """N sale lines made by DuckDB itself (5 lines a receipt), with their dimensions."""
    with schema.connect(path) as con:
        con.execute("""
            INSERT INTO dim_store SELECT i, 'S' || lpad(i::VARCHAR, 3, '0'), 'Store ' || i,
                   'Europe/Moscow', 1 + i % 2, CASE WHEN i % 2 = 0 THEN 'MSK' ELSE 'SPB' END,
                   CASE WHEN i % 2 = 0 THEN 'Moscow' ELSE 'Saint Petersburg' END
            FROM range(1, 21) t(i)""")
        con.execute(f"""
            INSERT INTO fact_sale_line
            SELECT ('00000000-0000-4000-8000-' || lpad(to_hex(i // 5), 12, '0'))::UUID,
                   i % 5 + 1, 'till', NULL, 'completed', ts, CAST(strftime(ts, '%Y%m%d')
                   AS INTEGER), s, 1 + s % 2, i % 5000, NULL, NULL, NULL, 0,
                   (i % 3) = 0, 1000, 9990, 0, 1000 + (i * 7919) % 90000, 1000, 10, NULL
            FROM (SELECT i, TIMESTAMP '2025-01-01'
                            + to_seconds((i // 5) * {63_072_000 // max(1, n_lines // 5)}) AS ts,
                         1 + (i // 5) % 20 AS s FROM range({n_lines}) t(i))""")
        con.execute("CHECKPOINT")


def report_seconds(path: Path, out: Path) -> tuple[float, float, list]:
    with schema.connect(path, read_only=True) as con:
        ours = []
        for _ in range(5):
            start = time.perf_counter()
            rows = warehouse_reports.by_region_month(con)
            ours.append(time.perf_counter() - start)
    plain = duckdb.connect()
    plain.execute(f"CREATE VIEW f AS SELECT * FROM read_parquet('{out}/fact_sale_line/**/*."
                  "parquet', hive_partitioning = true)")
    theirs = []
    for _ in range(5):
        start = time.perf_counter()
        raw = plain.execute(warehouse_reports.CONSOLIDATED.format(region="f.region", source="f",
                                                                  join="")).fetchall()
        theirs.append(time.perf_counter() - start)
    assert rows == raw, "the two queries disagree"
    return min(ours), min(theirs), rows


def fill_central(url: str, n_sales: int, start_no: int = 0) -> None:
    db = Database(url)
    with db.transaction() as session:
        stores = list(session.scalars(select(Store.id)))
        products = list(session.execute(select(Product.id, Product.sku, Product.name)))
        node = session.scalars(select(Node.id)).first()
        now = datetime.now(timezone.utc)
        sales, lines = [], []
        for i in range(start_no, start_no + n_sales):
            sid = uuid.uuid4()
            sales.append({"id": sid, "receipt_no": f"B-{i}", "node_id": node,
                          "store_id": stores[i % len(stores)], "sold_at": now - timedelta(
                              minutes=i % 100_000), "received_at": now, "status": "completed",
                          "gross_minor": 50000, "discount_minor": 0, "total_minor": 50000,
                          "vat_minor": 4545, "points_burned": 0})
            for n in range(5):
                pid, sku, name = products[(i + n) % len(products)]
                lines.append({"sale_id": sid, "line_no": n + 1, "product_id": pid, "sku": sku,
                              "name": name, "quantity_milli": 1000, "unit_price_minor": 10000,
                              "gross_minor": 10000, "discount_minor": 0,
                              "amount_minor": 10000, "vat_rate_bp": 1000, "vat_minor": 909,
                              "points_earned": 0})
        copy_rows(session, Sale.__table__, sales)
        copy_rows(session, SaleLine.__table__, lines)
    db.dispose()


def raw_copy_seconds(name: str) -> float:
    start = time.perf_counter()
    with psycopg.connect(pg_url(name)) as conn, conn.cursor().copy(
            "COPY (SELECT l.*, s.sold_at, s.store_id, s.customer_id, s.status FROM sale_lines l "
            "JOIN sales s ON s.id = l.sale_id) TO STDOUT") as copy:
        for _block in copy:
            pass
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path, out = Path(tmp) / "wh.duckdb", Path(tmp) / "parquet"
        start = time.perf_counter()
        fill_warehouse(path, N_LINES)
        made = time.perf_counter() - start
        export.export(path, out)
        ours, plain, rows = report_seconds(path, out)
        print(f"consolidated report, {N_LINES:,} sale lines ({len(rows)} region x month rows; "
              f"made in {made:.1f} s):")
        print(f"  kassa warehouse (DuckDB file) {ours * 1000:8.1f} ms   target <= 1000 ms")
        print(f"  plain DuckDB on the Parquet   {plain * 1000:8.1f} ms   (same run)")

    with scratch_databases(1) as (name,), tempfile.TemporaryDirectory() as tmp:
        url = sqlalchemy_url(name)
        upgrade(MIGRATIONS, url)
        db = Database(url)
        with db.transaction() as session:
            seed(session)
        fill_central(url, N_SALES)
        path = Path(tmp) / "wh.duckdb"
        start = time.perf_counter()
        first = load.refresh(db, path)["sales"]
        first_s = time.perf_counter() - start
        raw = raw_copy_seconds(name)
        fill_central(url, N_SALES // 10, start_no=N_SALES)
        # Everything here changed within the lookback a real run re-reads (transactions still
        # open at the last run): measure the incremental load itself, without it.
        load.LOOKBACK = timedelta(0)
        start = time.perf_counter()
        more = load.refresh(db, path)["sales"]
        more_s = time.perf_counter() - start
        db.dispose()
    print(f"refresh from PostgreSQL central ({N_SALES:,} sales x 5 lines):")
    print(f"  first load        {first:>9,} lines {first_s:6.1f} s "
          f"{first / first_s:>9,.0f} lines/s")
    print(f"  incremental +10 % {more:>9,} lines {more_s:6.1f} s {more / more_s:>9,.0f} lines/s")
    print(f"  raw COPY TO STDOUT of the first load's lines: {raw:.1f} s "
          f"{first / raw:,.0f} lines/s (same run)")


if __name__ == "__main__":
    main()
