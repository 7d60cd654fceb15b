"""Importing products and prices from CSV at central, on PostgreSQL.

Figure: seconds to import N products (default 100,000) with a barcode and a chain-wide price
each through ``kassa.central.catalog.product_imports.import_products`` (parse, check every row,
check barcodes against central's, write products, barcodes and prices, put every change in the feed,
audit), all in one transaction, then the same file again (every row an update); then a price list of
as many rows (a scheduled price for region MSK per product) through
``kassa.central.catalog.price_imports``. Target (issue 6): 100,000 rows in <= 20 s. Baseline, same
run: raw PostgreSQL COPY of the same products, barcodes and prices into bare tables.

Run: ``.venv/bin/python bench/bench_import.py [N_ROWS]``.
"""

from __future__ import annotations

import sys
import time

import psycopg
from pgscratch import pg_url, scratch_databases, sqlalchemy_url
from sqlalchemy import select

from kassa.central.catalog import price_imports, product_imports
from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS, User
from kassa.common.db import Database
from kassa.common.storage.migrate import upgrade

N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000


def csv_text(n: int) -> str:
    lines = ["sku,name,vat_rate_bp,unit,category,barcodes,price,active"]
    for i in range(n):
        lines.append(f"B{i:07d},Bench product {i},{(0, 1000, 2000)[i % 3]},pcs,"
                     f"group {i % 50},{4700000000000 + i},{(i % 9000) + 1}.{i % 100:02d},1")
    return "\n".join(lines) + "\n"


def price_list(n: int) -> str:
    lines = ["sku,store_code,region_code,price,effective_from"]
    lines += [f"B{i:07d},,MSK,{(i % 9000) + 2}.{i % 100:02d},2030-01-01T00:00" for i in range(n)]
    return "\n".join(lines) + "\n"


def kassa_seconds(url: str, text: str) -> tuple[float, float, float, product_imports.Report]:
    upgrade(MIGRATIONS, url)
    db = Database(url)
    with db.transaction() as session:
        seed(session)
    start = time.perf_counter()
    with db.transaction() as session:
        report = product_imports.import_products(session, text)
    first = time.perf_counter() - start
    start = time.perf_counter()
    with db.transaction() as session:
        product_imports.import_products(session, text)
    second = time.perf_counter() - start
    prices = price_list(text.count("\n") - 1)
    with db.transaction() as session:
        office = session.scalars(select(User).where(User.username == "office")).one()
    start = time.perf_counter()
    with db.transaction() as session:
        price_report = price_imports.import_prices(session, prices, office)
    third = time.perf_counter() - start
    assert not price_report.errors, price_report.errors[:3]
    db.dispose()
    return first, second, third, report


def raw_copy_seconds(dbname: str, n: int) -> float:
    with psycopg.connect(pg_url(dbname), autocommit=True) as conn:
        conn.execute("CREATE TABLE products (id serial PRIMARY KEY, sku text UNIQUE, name text, "
                     "vat_rate_bp int, unit text, category text, active bool)")
        conn.execute("CREATE TABLE barcodes (barcode text PRIMARY KEY, product_id int)")
        conn.execute("CREATE TABLE prices (id serial PRIMARY KEY, product_id int, "
                     "amount_minor bigint)")
        start = time.perf_counter()
        with conn.transaction(), conn.cursor() as cur:
            with cur.copy("COPY products (id, sku, name, vat_rate_bp, unit, category, active) "
                          "FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((i + 1, f"B{i:07d}", f"Bench product {i}",
                                    (0, 1000, 2000)[i % 3], "pcs", f"group {i % 50}", True))
            with cur.copy("COPY barcodes FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((str(4700000000000 + i), i + 1))
            with cur.copy("COPY prices (product_id, amount_minor) FROM STDIN") as copy:
                for i in range(n):
                    copy.write_row((i + 1, ((i % 9000) + 1) * 100 + i % 100))
        return time.perf_counter() - start


def main() -> None:
    text = csv_text(N)
    with scratch_databases(2) as names:
        first, second, third, report = kassa_seconds(sqlalchemy_url(names[0]), text)
        raw = raw_copy_seconds(names[1], N)
    print(f"product import, {N} rows (barcode and chain-wide price each), PostgreSQL")
    print(f"  kassa import, new products   {first:6.1f} s   ({N / first:8.0f} rows/s; "
          f"created {report.created}, errors {len(report.errors)})")
    print(f"  kassa import, same file again {second:6.1f} s   ({N / second:8.0f} rows/s; "
          f"every row an update)")
    print(f"  kassa price list, region      {third:6.1f} s   ({N / third:8.0f} rows/s; "
          f"a scheduled MSK price per product)")
    print(f"  raw COPY of the same rows     {raw:6.1f} s   ({N / raw:8.0f} rows/s)")
    print("  target: <= 20 s for 100,000 rows")


if __name__ == "__main__":
    main()
