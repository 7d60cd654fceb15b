"""Till latency on a full-size node replica, each figure next to raw sqlite3 in the same run.

Figures, with the issue's targets (nothing is asserted; the script prints figures, targets and
baselines):

1. Service layer, in process, on a replica of 100,000 products and 1,000,000 customers, one
   ``Database.transaction()`` per operation as the API handlers use: barcode lookup
   (``catalog.find``) and adding a line to the cart (``sales.add_item``), p99 <= 2 ms; name
   search over the products (``catalog.search``, SQLite FTS5), p99 <= 20 ms. The replica also
   holds 100 active promotions (``--promotions``), as every cart change reprices with them;
   the cart is voided after every 20 scans, so lines are added to carts of 0 to 19 lines.
   Baseline: the same queries through raw ``sqlite3`` on the same database file, each operation
   in the same ``BEGIN IMMEDIATE`` ... ``COMMIT`` that ``Database.transaction()`` issues.
2. A whole checkout through the HTTP API (``POST /api/v1/sales``: 5 scanned lines, one cash
   payment, the outbox event) against a real ``kassa pos serve`` subprocess (gunicorn, one
   process, 4 threads): p50 <= 10 ms, p99 <= 30 ms, and >= 150 checkouts/s sustained.
   Baseline: raw ``sqlite3`` writing the same rows (sale, 5 lines, payment, outbox event and the
   two gap-free counters) in one transaction; also with the 5 barcode/price lookups included.

Run (full size takes a few minutes; ``make bench`` runs it with the defaults)::

    .venv/bin/python bench/bench_till.py
    .venv/bin/python bench/bench_till.py --products 20000 --customers 100000 --checkouts 500

Everything is created in a temporary directory that is removed at the end, and the server
subprocess is always stopped.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests
from sqlalchemy import select

from kassa.common.db import Database
from kassa.common.passwords import hash_secret
from kassa.common.runtime.processes import Supervisor
from kassa.common.signing import generate_private_key_pem
from kassa.common.storage.migrate import upgrade
from kassa.pos_node.models import MIGRATIONS, NodeIdentity, Promotion, RoleLimit, Store, User
from kassa.pos_node.sale import cart, catalog, sales, shifts

STORE_ID = 1
NODE_ID = "bench-1"
CASHIER, PIN = "cashier", "4321"
TENDER_MINOR = 10_000_000  # 100,000.00 in cash covers any 5-line sale below
VOID_EVERY = 20  # the cart is voided after this many scans, so carts hold 1..20 lines
CHUNK = 50_000

# --- a realistic-looking catalogue -------------------------------------------------------------

BRANDS = """Aurora Vesna Zarya Severny Polar Taiga Volga Ural Baikal Neva Altai Kama Oka Ladoga
Sokol Berezka Kolos Rodnik Solnce Luch Yantar Sibir Kuban Dobro Zolotoe Merkury Orion Vega Lira
Fortuna Premier Domashny Derevensky Fermer Vkusno Sytny Svezhy Lesnoy Gorny Morskoy Rechnoy
Polevoy Sadovy Ogorod Prostor Dolina Bereg Istok Mayak Parus Kompas Globus Planeta Kosmos Raduga
Belaya Krasnaya Zelenaya Tikhaya""".split()
QUALIFIERS = """organic fresh frozen smoked salted sweet spicy light classic premium whole skimmed
roasted dried sliced grated creamy crispy sparkling still natural wholegrain extra mild strong
dark white red green golden baby family instant herbal rustic homestyle farm select""".split()
NOUNS = """milk kefir yogurt butter cheese cream curd eggs bread baguette loaf rolls croissant
muffin cookies crackers biscuits wafers chocolate candy caramel marshmallow honey jam juice nectar
water soda lemonade tea coffee cocoa beer wine cider rice buckwheat oats millet pasta spaghetti
noodles flour sugar salt pepper ketchup mayonnaise mustard vinegar oil olives pickles tomatoes
cucumbers potatoes onions carrots cabbage beets garlic peppers apples pears bananas oranges
lemons grapes plums cherries strawberries raspberries blueberries melon watermelon chicken
turkey beef pork lamb sausages ham bacon salami frankfurters dumplings pelmeni fish salmon
herring mackerel cod shrimp caviar tuna sardines soup broth sauce pizza pancakes dough icecream
dessert pudding muesli cereal granola nuts almonds peanuts walnuts cashews raisins prunes
apricots seeds chips popcorn pretzels soap shampoo toothpaste detergent napkins towels tissues
batteries candles matches foil bags sponges gloves diapers wipes""".split()
VARIANTS = """strawberry vanilla chocolate lemon apple cherry peach mango coconut mint cinnamon
dill onion paprika cheddar mozzarella parmesan tomato mushroom honey caramel hazelnut almond
orange raspberry blueberry banana forest tropical ginger bacon""".split()
SIZES = ["100 g", "150 g", "200 g", "250 g", "300 g", "400 g", "450 g", "500 g", "750 g",
         "900 g", "1 kg", "2 kg", "0.33 l", "0.5 l", "0.9 l", "1 l", "1.5 l", "2 l", "5 l",
         "4 pcs", "6 pcs", "10 pcs", "12 pcs", "20 pcs", "pack", "box"]
FIRST = """Anna Boris Vera Gleb Daria Egor Zoya Ivan Kira Lev Maria Nikita Olga Pavel Raisa Sergey
Tatiana Ulyana Fedor Yulia Artem Elena Denis Irina Kirill Larisa Mikhail Natalia Oleg Polina
Roman Svetlana Timur Viktor Yana Alexey Galina Dmitry Ekaterina Igor""".split()
LAST = """Ivanov Smirnov Kuznetsov Popov Vasiliev Petrov Sokolov Mikhailov Novikov Fedorov
Morozov Volkov Alexeev Lebedev Semenov Egorov Pavlov Kozlov Stepanov Nikolaev Orlov Andreev
Makarov Nikitin Zakharov Zaitsev Solovyov Borisov Yakovlev Grigoriev Romanov Vorobyov Sergeev
Frolov Belov Tarasov Belyaev Komarov Kiselev Gusev""".split()


def ean13(n: int) -> str:
    """A 13-digit EAN with its check digit, from a 12-digit body."""
    body = f"{n:012d}"
    odd = sum(int(c) for c in body[0::2])
    even = sum(int(c) for c in body[1::2])
    return body + str((10 - (odd + 3 * even) % 10) % 10)


def product_name(rng: random.Random) -> str:
    words = [rng.choice(BRANDS)]
    if rng.random() < 0.7:
        words.append(rng.choice(QUALIFIERS))
    words.append(rng.choice(NOUNS))
    if rng.random() < 0.4:
        words.append(rng.choice(VARIANTS))
    words.append(rng.choice(SIZES))
    return " ".join(words)


def search_query(rng: random.Random, name: str) -> str:
    """What a cashier types: one or two words of a real name, the last one cut short."""
    words = [w for w in name.split() if w.isalpha() and len(w) >= 3]
    if len(words) >= 2 and rng.random() < 0.4:
        i, j = sorted(rng.sample(range(len(words)), 2))
        picked = [words[i], words[j]]
    else:
        picked = [rng.choice(words)]
    last = picked[-1]
    picked[-1] = last[:rng.randint(2, len(last))]
    return " ".join(picked)


def sqlite_ts(dt: datetime) -> str:
    """How SQLAlchemy stores a (naive UTC) DateTime in SQLite."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def raw_connect(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection tuned exactly like ``kassa.common.db`` tunes the engine."""
    conn = sqlite3.connect(str(path), isolation_level=None, timeout=5.0)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=5000",
                   "synchronous=FULL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


# --- building the replica ----------------------------------------------------------------------

@dataclass
class Replica:
    path: Path
    url: str
    barcodes: list[str]  # one per active product, for scanning
    names: list[str]
    fill_s: float


def _chunks(rows, size: int = CHUNK):
    batch = []
    for row in rows:
        batch.append(row)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _bulk(conn: sqlite3.Connection, sql: str, rows) -> None:
    for batch in _chunks(rows):
        conn.execute("BEGIN")
        conn.executemany(sql, batch)
        conn.execute("COMMIT")


def build_replica(root: Path, n_products: int, n_customers: int, n_promotions: int,
                  rng: random.Random) -> Replica:
    path = root / "node.sqlite"
    url = f"sqlite:///{path}"
    start = time.perf_counter()
    upgrade(MIGRATIONS, url)

    names = [product_name(rng) for _ in range(n_products)]
    active = [rng.random() >= 0.02 for _ in range(n_products)]  # a few delisted products
    units = ["kg" if rng.random() < 0.05 else "pcs" for _ in range(n_products)]
    conn = raw_connect(path)
    conn.execute("PRAGMA synchronous=OFF")  # loading only; the measurements use FULL
    _bulk(conn, "INSERT INTO products (id, sku, name, vat_rate_bp, unit, active) "
                "VALUES (?, ?, ?, ?, ?, ?)",
          ((i, f"{100000 + i}", names[i - 1], 1000 if rng.random() < 0.3 else 2000,
            units[i - 1], int(active[i - 1])) for i in range(1, n_products + 1)))
    scan = [ean13(460_000_000_000 + i * 7) for i in range(1, n_products + 1)]
    extra = [(ean13(290_000_000_000 + i), i) for i in range(1, n_products + 1)
             if rng.random() < 0.1]  # some products carry a second barcode
    _bulk(conn, "INSERT INTO product_barcodes (barcode, product_id) VALUES (?, ?)",
          [(b, i) for i, b in enumerate(scan, start=1)] + extra)
    prices = [(i, i, None, rng.randrange(1000, 100_000)) for i in range(1, n_products + 1)]
    local = [(n_products + k, i, STORE_ID, rng.randrange(1000, 100_000))
             for k, i in enumerate(rng.sample(range(1, n_products + 1), n_products // 20),
                                   start=1)]  # store-specific prices for one in twenty
    _bulk(conn, "INSERT INTO prices (id, product_id, store_id, amount_minor) VALUES (?, ?, ?, ?)",
          prices + local)
    _bulk(conn, "INSERT INTO customers (id, name, card_number) VALUES (?, ?, ?)",
          ((f"{rng.getrandbits(128):032x}", f"{rng.choice(FIRST)} {rng.choice(LAST)}",
            f"7{(i * 7919 + 12345) % 10**15:015d}") for i in range(n_customers)))
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()

    db = Database(url)
    try:
        with db.transaction() as s:
            s.add(Store(id=STORE_ID, code="S001", name="Bench store", region_code="R1"))
            s.add(User(id=1, username=CASHIER, full_name="Bench Cashier", role="cashier",
                       store_id=STORE_ID, pin_hash=hash_secret(PIN), active=True))
            s.add(RoleLimit(role="cashier", max_discount_bp=500, max_refund_minor=100_000))
            s.add(RoleLimit(role="store_manager", max_discount_bp=5000,
                            max_refund_minor=10_000_000))
            s.add(NodeIdentity(node_id=NODE_ID, store_id=STORE_ID,
                               central_url="http://127.0.0.1:9",
                               private_key_pem=generate_private_key_pem(), feed_cursor=0,
                               session_secret=os.urandom(32).hex()))
            now = datetime.now(timezone.utc)
            for k in range(1, n_promotions + 1):
                kind = ("percent", "amount", "n_for_m")[k % 3]
                s.add(Promotion(
                    id=k, name=f"Promotion {k}", kind=kind,
                    product_ids=rng.sample(range(1, n_products + 1), rng.randint(1, 30)),
                    percent_bp=rng.choice((500, 1000, 1500, 2000)), amount_minor=500, n=3, m=2,
                    starts_at=now - timedelta(days=rng.randint(0, 10)),
                    ends_at=None if k % 4 == 0 else now + timedelta(days=rng.randint(1, 30)),
                    active=k % 10 != 0))
    finally:
        db.dispose()
    barcodes = [b for b, ok in zip(scan, active, strict=True) if ok]
    return Replica(path, url, barcodes, names, time.perf_counter() - start)


# --- figures -----------------------------------------------------------------------------------

def pct(samples: list[float], q: float) -> float:
    """Nearest-rank percentile, in milliseconds."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)] * 1000


def timed(op, items) -> list[float]:
    out = []
    for item in items:
        t0 = time.perf_counter()
        op(item)
        out.append(time.perf_counter() - t0)
    return out


def timed_pair(op, raw_op, items, raw_items=None) -> tuple[list[float], list[float]]:
    """Both ops, alternating item by item, so drift and noisy neighbours hit them alike."""
    out, raw_out = [], []
    for item, raw_item_ in zip(items, raw_items or items, strict=True):
        t0 = time.perf_counter()
        op(item)
        t1 = time.perf_counter()
        raw_op(raw_item_)
        t2 = time.perf_counter()
        out.append(t1 - t0)
        raw_out.append(t2 - t1)
    return out, raw_out


BASELINES = {
    "a": "barcode -> product join and price query",
    "b": "[a] + open-cart query, line count, line insert, sale totals update",
    "c": "the same FTS5 query, then product and price query per hit (as catalog.search)",
    "d": "writing the same rows: 2 counters, sale, 5 lines, payment, outbox event (JSON)",
    "e": "5 barcode/price lookups + [d], one transaction",
}


class Table:
    """Rows of figures; ``raw`` is the baseline measured in this run, keyed into BASELINES."""

    FMT = "{:<36} {:>5} {:>11} {:>10} {:<5} {:>10} {:>8} {:>3}"

    def __init__(self):
        self.rows: list[tuple] = []

    def section(self, title: str) -> None:
        self.rows.append((title,))

    def latency(self, label: str, n: int, samples: list[float], raw: list[float] | None,
                key: str = "", target_p50: float | None = None,
                target_p99: float | None = None) -> None:
        for q, target in ((50, target_p50), (99, target_p99)):
            mine = pct(samples, q)
            base = pct(raw, q) if raw else None
            self.rows.append((f"{label} p{q}", n, f"{mine:.2f} ms",
                              f"<= {target:g} ms" if target else "",
                              ("ok" if mine <= target else "OVER") if target else "",
                              f"{base:.3f} ms" if base is not None else "",
                              f"{mine / base:.1f}x" if base else "", f"[{key}]" if key else ""))

    def rate(self, label: str, n: int, per_s: float, raw_per_s: float, key: str,
             target: float) -> None:
        self.rows.append((label, n, f"{per_s:.0f} /s", f">= {target:g} /s",
                          "ok" if per_s >= target else "UNDER", f"{raw_per_s:.0f} /s",
                          f"{raw_per_s / per_s:.1f}x", f"[{key}]"))

    def print(self) -> None:
        print(self.FMT.format("figure", "n", "kassa", "target", "", "raw sqlite3", "kassa/raw",
                              ""))
        for row in self.rows:
            print(f"-- {row[0]}" if len(row) == 1 else self.FMT.format(*row))
        print("raw sqlite3 baselines, same database file, each operation in its own "
              "BEGIN IMMEDIATE..COMMIT:")
        for key, text in BASELINES.items():
            print(f"  [{key}] {text}")
        print("HTTP: `kassa pos serve` on loopback (gunicorn, 1 process, 4 threads; its "
              "background sync finds\nno central and fails fast); the client is requests, in "
              "this process, on the same machine.")
        print("kassa/raw: kassa's time over the raw time (for rates: raw rate over kassa's).\n"
              "Targets are the issue's; nothing is asserted.")


# --- 1. the service layer, in process ----------------------------------------------------------

FIND_SQL = ("SELECT p.id, p.sku, p.name, p.unit, p.vat_rate_bp, p.active "
            "FROM product_barcodes b JOIN products p ON p.id = b.product_id WHERE b.barcode = ?")
PRICE_SQL = ("SELECT amount_minor FROM prices WHERE product_id = ? "
             "AND (store_id = ? OR store_id IS NULL) ORDER BY store_id IS NULL LIMIT 1")
SEARCH_SQL = ("SELECT p.id, p.sku, p.name, p.unit FROM products_fts f JOIN products p "
              "ON p.id = f.rowid WHERE products_fts MATCH ? AND p.active ORDER BY rank LIMIT ?")
PRODUCT_SQL = "SELECT id, sku, name, unit, vat_rate_bp, active FROM products WHERE id = ?"
SALE_SQL = ("INSERT INTO sales (id, status, receipt_no, shift_id, cashier_id, started_at, "
            "sold_at, customer_id, receipt_discount_bp, gross_minor, discount_minor, "
            "total_minor, vat_minor, change_minor, void_reason) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, NULL, 0, ?, 0, ?, ?, ?, NULL)")
LINE_SQL = ("INSERT INTO sale_lines (sale_id, line_no, product_id, sku, name, quantity_milli, "
            "unit, unit_price_minor, gross_minor, promotion_id, line_discount_bp, "
            "discount_minor, amount_minor, vat_rate_bp, vat_minor) "
            "VALUES (?, ?, ?, ?, ?, 1000, ?, ?, ?, NULL, 0, 0, ?, ?, ?)")
PAYMENT_SQL = ("INSERT INTO payments (sale_id, method, amount_minor, tendered_minor, reference) "
               "VALUES (?, 'cash', ?, ?, NULL)")
COUNTER_SQL = ("INSERT INTO counters (name, value) VALUES (?, 1) "
               "ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value")
OUTBOX_SQL = ("INSERT INTO outbox_events (seq, event_id, kind, payload, occurred_at, acked_at) "
              "VALUES (?, ?, 'sale.completed', ?, ?, NULL)")


def vat_of(amount: int, rate_bp: int) -> int:
    return (amount * rate_bp + (10000 + rate_bp) // 2) // (10000 + rate_bp)


def raw_item(conn: sqlite3.Connection, barcode: str) -> tuple:
    pid, sku, name, unit, vat, _active = conn.execute(FIND_SQL, (barcode,)).fetchone()
    price = conn.execute(PRICE_SQL, (pid, STORE_ID)).fetchone()[0]
    return pid, sku, name, unit, vat, price


def in_txn(conn: sqlite3.Connection, op):
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = op()
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return result


def bench_lookups(db: Database, conn: sqlite3.Connection, user: User, rep: Replica,
                  args, rng: random.Random, table: Table) -> None:
    warm = [rng.choice(rep.barcodes) for _ in range(200)]
    scans = [rng.choice(rep.barcodes) for _ in range(args.lookups)]

    def find(barcode):
        with db.transaction() as s:
            catalog.find(s, STORE_ID, barcode=barcode)

    def raw_find(barcode):
        in_txn(conn, lambda: raw_item(conn, barcode))

    timed_pair(find, raw_find, warm)
    kassa, raw = timed_pair(find, raw_find, scans)
    table.latency("barcode lookup  catalog.find", len(scans), kassa, raw, "a", target_p99=2)

    # Adding lines: the cart grows to VOID_EVERY lines, then is voided (not timed).
    adds = [rng.choice(rep.barcodes) for _ in range(args.lookups)]
    kassa, done = [], 0

    def void():
        with db.transaction() as s:
            if sales.open_cart(s) is not None:
                sales.void_cart(s, user, "bench: next customer")

    for barcode in adds[:100] + adds:
        t0 = time.perf_counter()
        with db.transaction() as s:
            sales.add_item(s, user, sales.LineRequest(1000, barcode=barcode))
        kassa.append(time.perf_counter() - t0)
        done += 1
        if done % VOID_EVERY == 0:
            void()
    void()
    kassa = kassa[100:]
    shift_id = conn.execute("SELECT id FROM shifts WHERE status = 'open'").fetchone()[0]
    raw = []

    def raw_add(barcode):
        pid, sku, name, unit, vat, price = raw_item(conn, barcode)
        row = conn.execute("SELECT id FROM sales WHERE status = 'open'").fetchone()
        if row is None:
            row = (uuid.uuid4().hex,)
            now = sqlite_ts(datetime.now(timezone.utc))
            conn.execute(SALE_SQL, (row[0], "open", None, shift_id, user.id, now, None,
                                    0, 0, 0, 0))
        n = conn.execute("SELECT count(*) FROM sale_lines WHERE sale_id = ?",
                         (row[0],)).fetchone()[0]
        conn.execute(LINE_SQL, (row[0], n + 1, pid, sku, name, unit, price, price, price, vat,
                                vat_of(price, vat)))
        conn.execute("UPDATE sales SET gross_minor = gross_minor + ?, total_minor = "
                     "total_minor + ?, vat_minor = vat_minor + ? WHERE id = ?",
                     (price, price, vat_of(price, vat), row[0]))

    raw_void = "UPDATE sales SET status = 'voided', void_reason = 'bench' WHERE status = 'open'"
    for k, barcode in enumerate(adds[:100] + adds, start=1):
        t0 = time.perf_counter()
        in_txn(conn, lambda b=barcode: raw_add(b))
        raw.append(time.perf_counter() - t0)
        if k % VOID_EVERY == 0:
            conn.execute(raw_void)
    conn.execute(raw_void)
    table.latency("add line        sales.add_item", len(adds), kassa, raw[100:], "b",
                  target_p99=2)

    queries = [search_query(rng, rng.choice(rep.names)) for _ in range(args.searches + 50)]

    def search(q):
        with db.transaction() as s:
            catalog.search(s, STORE_ID, q)

    def raw_search(q):
        match = " ".join(f'"{w}"*' for w in q.split())

        def op():
            for pid, *_rest in conn.execute(SEARCH_SQL, (match, 20)).fetchall():
                conn.execute(PRODUCT_SQL, (pid,)).fetchone()
                conn.execute(PRICE_SQL, (pid, STORE_ID)).fetchone()
        in_txn(conn, op)

    timed_pair(search, raw_search, queries[:50])
    kassa, raw = timed_pair(search, raw_search, queries[50:])
    table.latency("name search     catalog.search", args.searches, kassa, raw, "c",
                  target_p99=20)


# --- 2. checkout -------------------------------------------------------------------------------

def checkout_bodies(rep: Replica, n: int, rng: random.Random) -> list[list[str]]:
    return [rng.sample(rep.barcodes, 5) for _ in range(n)]


def raw_checkout(conn: sqlite3.Connection, items: list[tuple], shift_id: str, user_id: int,
                 lookup: list[str] | None = None) -> None:
    """One completed sale the raw way: counters, sale, 5 lines, payment, outbox event."""
    def op():
        nonlocal items
        if lookup is not None:
            items = [raw_item(conn, b) for b in lookup]
        now = datetime.now(timezone.utc)
        ts = sqlite_ts(now)
        receipt = f"{NODE_ID}-{conn.execute(COUNTER_SQL, ('receipt',)).fetchone()[0]:08d}"
        sale_id = uuid.uuid4()
        lines = [(k, pid, sku, name, unit, price, vat, vat_of(price, vat))
                 for k, (pid, sku, name, unit, vat, price) in enumerate(items, start=1)]
        total = sum(ln[5] for ln in lines)
        vat_total = sum(ln[7] for ln in lines)
        conn.execute(SALE_SQL, (sale_id.hex, "completed", receipt, shift_id, user_id, ts, ts,
                                total, total, vat_total, TENDER_MINOR - total))
        conn.executemany(LINE_SQL, [(sale_id.hex, k, pid, sku, name, unit, price, price, price,
                                     vat, v) for k, pid, sku, name, unit, price, vat, v in lines])
        conn.execute(PAYMENT_SQL, (sale_id.hex, total, TENDER_MINOR))
        doc = {"sale_id": str(sale_id), "receipt_no": receipt, "store_id": STORE_ID,
               "shift_id": str(uuid.UUID(shift_id)), "cashier_id": user_id,
               "sold_at": now.isoformat(), "customer_id": None, "gross_minor": total,
               "discount_minor": 0, "total_minor": total, "vat_minor": vat_total,
               "lines": [{"line_no": k, "product_id": pid, "sku": sku, "name": name,
                          "quantity_milli": 1000, "unit_price_minor": price,
                          "gross_minor": price, "discount_minor": 0, "promotion_id": None,
                          "amount_minor": price, "vat_rate_bp": vat, "vat_minor": v}
                         for k, pid, sku, name, _unit, price, vat, v in lines],
               "payments": [{"method": "cash", "amount_minor": total,
                             "tendered_minor": TENDER_MINOR, "reference": None}]}
        seq = conn.execute(COUNTER_SQL, ("outbox_seq",)).fetchone()[0]
        conn.execute(OUTBOX_SQL, (seq, uuid.uuid4().hex, json.dumps(doc), ts))
    in_txn(conn, op)


def bench_checkout_in_process(db: Database, conn: sqlite3.Connection, user: User,
                              rep: Replica, args, rng: random.Random) -> dict:
    bodies = checkout_bodies(rep, args.checkouts + 50, rng)
    tender = [cart.Tender("cash", TENDER_MINOR)]

    def quick(barcodes):
        with db.transaction() as s:
            sales.quick_sale(s, user, [sales.LineRequest(1000, barcode=b) for b in barcodes],
                             tender)

    shift_id = conn.execute("SELECT id FROM shifts WHERE status = 'open'").fetchone()[0]
    raw_bodies = checkout_bodies(rep, args.checkouts + 50, rng)
    resolved = [[raw_item(conn, b) for b in body] for body in raw_bodies]

    def raw_write(items):
        raw_checkout(conn, items, shift_id, user.id)

    def raw_full(barcodes):
        raw_checkout(conn, [], shift_id, user.id, lookup=barcodes)

    # kassa, raw writes and raw lookups + writes take turns, sale by sale (50 to warm up).
    kassa, writes, full = [], [], []
    for body, items, raw_body in zip(bodies, resolved, raw_bodies, strict=True):
        t0 = time.perf_counter()
        quick(body)
        t1 = time.perf_counter()
        raw_write(items)
        t2 = time.perf_counter()
        raw_full(raw_body)
        t3 = time.perf_counter()
        kassa.append(t1 - t0)
        writes.append(t2 - t1)
        full.append(t3 - t2)
    kassa, writes, full = kassa[50:], writes[50:], full[50:]
    writes_rate, full_rate = len(writes) / sum(writes), len(full) / sum(full)
    return {"quick": kassa, "writes": writes, "writes_rate": writes_rate, "full": full,
            "full_rate": full_rate}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class HttpFailed(RuntimeError):
    pass


def post_sale(http: requests.Session, url: str, barcodes: list[str]) -> None:
    resp = http.post(url, json={
        "lines": [{"barcode": b, "quantity": 1} for b in barcodes],
        "payments": [{"method": "cash", "amount": TENDER_MINOR}]})
    if resp.status_code != 201:
        raise HttpFailed(f"POST {url} answered {resp.status_code}: {resp.text[:300]}")


def bench_http(rep: Replica, root: Path, args, rng: random.Random) -> dict:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    procs = Supervisor(root / "logs")
    try:
        procs.start("pos", [sys.executable, "-m", "kassa.cli", "pos", "serve", "--port",
                            str(port)], {"KASSA_NODE_DB": str(rep.path)})
        procs.wait_http("pos", base + "/health", deadline_s=60)
        http = requests.Session()
        resp = http.post(base + "/api/v1/session", json={"username": CASHIER, "pin": PIN})
        if resp.status_code != 200:
            raise HttpFailed(f"sign-in answered {resp.status_code}: {resp.text[:300]}")
        resp = http.post(base + "/api/v1/shifts/current", json={"opening_float": 500_000})
        if resp.status_code != 201:
            raise HttpFailed(f"opening a shift answered {resp.status_code}: {resp.text[:300]}")
        url = base + "/api/v1/sales"

        health = timed(lambda _: http.get(base + "/health"), range(args.checkouts + 50))[50:]
        timed(lambda b: post_sale(http, url, b), checkout_bodies(rep, 50, rng))
        latency = timed(lambda b: post_sale(http, url, b),
                        checkout_bodies(rep, args.checkouts, rng))

        bodies = checkout_bodies(rep, args.checkouts, rng)
        t0 = time.perf_counter()
        for body in bodies:
            post_sale(http, url, body)
        sequential = len(bodies) / (time.perf_counter() - t0)

        bodies = checkout_bodies(rep, args.checkouts, rng)
        errors: list[BaseException] = []

        def client(part: list[list[str]]) -> None:
            mine = requests.Session()
            mine.cookies.update(http.cookies)
            try:
                for body in part:
                    post_sale(mine, url, body)
            except BaseException as err:  # noqa: BLE001 - reported by the main thread
                errors.append(err)
            finally:
                mine.close()

        workers = [threading.Thread(target=client, args=(bodies[k::args.threads],))
                   for k in range(args.threads)]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        threaded = len(bodies) / (time.perf_counter() - t0)
        if errors:
            raise HttpFailed(f"{len(errors)} client thread(s) failed: {errors[0]}")
        http.close()
        return {"health": health, "latency": latency, "sequential": sequential,
                "threaded": threaded}
    finally:
        procs.stop_all()


# --- main --------------------------------------------------------------------------------------

def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--products", type=int, default=100_000)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--promotions", type=int, default=100,
                   help="active promotions in the replica (every cart is repriced with them)")
    p.add_argument("--lookups", type=int, default=5000,
                   help="timed barcode lookups, and as many timed add-line calls")
    p.add_argument("--searches", type=int, default=2000, help="timed name searches")
    p.add_argument("--checkouts", type=int, default=2000,
                   help="checkouts per timed pass (in process, raw, HTTP latency, HTTP "
                        "sequential throughput, HTTP threaded throughput)")
    p.add_argument("--threads", type=int, default=4, help="client threads for the last pass")
    p.add_argument("--seed", type=int, default=1)
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    rng = random.Random(args.seed)
    # A SIGTERM unwinds like Ctrl-C, so the server is stopped and the directory removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    root = Path(tempfile.mkdtemp(prefix="kassa-bench-till-"))
    table = Table()
    began = time.perf_counter()
    try:
        rep = build_replica(root, args.products, args.customers, args.promotions, rng)
        size_mb = rep.path.stat().st_size / 2**20
        print(f"till bench: {args.products:,} products, {args.customers:,} customers, "
              f"{args.promotions} promotions; replica {size_mb:,.0f} MB built in "
              f"{rep.fill_s:.1f} s")
        print(f"python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}\nlatencies are "
              f"per operation, including its transaction")

        db = Database(rep.url)
        conn = raw_connect(rep.path)
        try:
            with db.transaction() as s:
                user = s.scalars(select(User).where(User.username == CASHIER)).one()
                shifts.open_shift(s, user, 500_000)
            table.section("1. service layer, in process, one Database.transaction() per call")
            bench_lookups(db, conn, user, rep, args, rng, table)
            co = bench_checkout_in_process(db, conn, user, rep, args, rng)
            with db.transaction() as s:
                shifts.close_shift(s, user, 0)
        finally:
            conn.close()
            db.dispose()

        web = bench_http(rep, root, args, rng)
        table.section("2. checkout: 5 scanned lines, 1 cash payment, outbox event")
        table.latency("checkout HTTP POST /api/v1/sales", args.checkouts, web["latency"],
                      co["writes"], "d", target_p50=10, target_p99=30)
        table.latency("checkout in process quick_sale", args.checkouts, co["quick"],
                      co["full"], "e")
        table.latency("HTTP floor: GET /health", args.checkouts, web["health"], None)
        table.rate("checkouts/s HTTP, 1 client", args.checkouts, web["sequential"],
                   co["writes_rate"], "d", 150)
        table.rate(f"checkouts/s HTTP, {args.threads} client threads", args.checkouts,
                   web["threaded"], co["full_rate"], "e", 150)
        conn = sqlite3.connect(str(rep.path))
        try:
            sold, events, top = conn.execute(
                "SELECT (SELECT count(*) FROM sales WHERE status = 'completed'), "
                "count(*), max(seq) FROM outbox_events").fetchone()
        finally:
            conn.close()
        print()
        table.print()
        print(f"\nchecked: {sold:,} completed sales on the node; outbox seq 1..{top:,} with "
              f"{events:,} events ({'gap-free' if top == events else 'GAPS'})")
        print(f"whole run {time.perf_counter() - began:.0f} s; load average over the last "
              f"5 minutes {os.getloadavg()[1]:.1f} (this bench alone keeps about 2 busy)")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
