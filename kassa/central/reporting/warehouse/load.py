"""Loading the warehouse from central's database: only what changed since the last run.

Every table the facts come from keeps ``changed_at`` by trigger (central migration 0019). A
refresh reads each source in pages ordered by (changed_at, id) from its watermark, less a
``LOOKBACK`` that covers transactions still open when the last run read, and replaces the facts
of each page (delete by key, insert) in one DuckDB transaction that also moves the watermark. So
a run can stop anywhere and the next one resumes; running twice changes nothing. Small
dimensions (stores, products, cashiers) are copied whole each run; customers keep history
(type 2) and are compared attribute by attribute.

A rebuild loads everything into a new file beside the old one (keeping what only the warehouse
knows: customer history and the scores of every run) and swaps it in when it is complete.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, overload

import numpy as np
from sqlalchemy import select, tuple_

from kassa.central.models import (
    Customer,
    HistoricTransaction,
    Interaction,
    LoyaltyAccount,
    LoyaltyEntry,
    Product,
    Region,
    Return,
    ReturnLine,
    Sale,
    SaleLine,
    Store,
    User,
)
from kassa.central.reporting.warehouse import schema
from kassa.common.db import Database

LOOKBACK = timedelta(minutes=10)
PAGE = 5000  # source rows (sales, returns, entries...) per page and DuckDB transaction
EPOCH = datetime(1970, 1, 1)


@overload
def _naive(value: datetime) -> datetime: ...
@overload
def _naive(value: None) -> None: ...
def _naive(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(timezone.utc).replace(tzinfo=None)


def _columns(rows: Sequence[Any], names: tuple[str, ...], times=(), uuids=()) -> dict:
    """Rows from SQLAlchemy as the column arrays DuckDB scans without copying row by row."""
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(names)
    out = {}
    for name, values in zip(names, columns, strict=True):
        if name in times:
            out[name] = np.array([_naive(v) for v in values], dtype="datetime64[us]")
        elif name in uuids:
            out[name] = np.array([None if v is None else str(v) for v in values], dtype=object)
        else:
            out[name] = np.array(values, dtype=object)
    return out


def _watermark(con, source: str) -> datetime | None:
    rows = con.execute("SELECT watermark FROM wh_state WHERE source = ?", [source]).fetchall()
    return rows[0][0] if rows else None


def _advance(con, source: str, watermark: datetime, n: int, now: datetime) -> None:
    con.execute("INSERT INTO wh_state VALUES (?, ?, NULL, ?, ?) ON CONFLICT (source) DO UPDATE "
                "SET watermark = greatest(wh_state.watermark, excluded.watermark), "
                "rows_loaded = wh_state.rows_loaded + excluded.rows_loaded, "
                "refreshed_at = excluded.refreshed_at", [source, watermark, n, now])


def _pages(db: Database, table, key, since: datetime | None):
    """(changed_at, key) pages of the rows of ``table`` changed after ``since``."""
    after = None
    start = None if since is None else (since - LOOKBACK).replace(tzinfo=timezone.utc)
    while True:
        stmt = select(table.changed_at, key).order_by(table.changed_at, key).limit(PAGE)
        if after is not None:
            stmt = stmt.where(tuple_(table.changed_at, key) > tuple_(*after))
        elif start is not None:
            stmt = stmt.where(table.changed_at > start)
        with db.read() as session:
            page = session.execute(stmt).all()
        if not page:
            return
        yield page
        after = tuple(page[-1])
        if len(page) < PAGE:
            return


# --- dimensions -------------------------------------------------------------------------------

def _replace(con, table: str, data: dict, columns: str) -> None:
    con.register("incoming", data)
    con.execute(f"DELETE FROM {table}")
    con.execute(f"INSERT INTO {table} SELECT {columns} FROM incoming")
    con.unregister("incoming")


def _load_dimensions(db: Database, con) -> None:
    with db.read() as session:
        stores = session.execute(select(Store.id, Store.code, Store.name, Store.timezone,
                                        Region.id, Region.code, Region.name)
                                 .join(Region, Region.id == Store.region_id)).all()
        products = session.execute(select(Product.id, Product.sku, Product.name,
                                          Product.category, Product.unit, Product.vat_rate_bp,
                                          Product.active)).all()
        users = session.execute(select(User.id, User.username, User.full_name, User.role,
                                       User.store_id, User.region_id)).all()
    con.begin()
    _replace(con, "dim_store", _columns(stores, ("i", "c", "n", "tz", "r", "rc", "rn")),
             "i, c, n, tz, r, rc, rn")
    _replace(con, "dim_product", _columns(products, ("i", "s", "n", "c", "u", "v", "a")),
             "i, s, n, c, u, v, a")
    _replace(con, "dim_cashier", _columns(users, ("i", "u", "n", "r", "s", "g")),
             "i, u, n, r, s, coalesce(g, (SELECT region_id FROM dim_store WHERE store_id = s))")
    con.commit()


def _fill_dates(con) -> None:
    """Every day from the first fact to the last is in ``dim_date`` (a day either side of the
    UTC ones: a store's local day may be the one before or after)."""
    if not con.execute("SELECT count(*) FROM fact_sale_line").fetchall()[0][0]:
        return
    bounds = " UNION ALL ".join(
        f"SELECT min({c})::DATE AS first, max({c})::DATE AS last FROM {t}" for t, c in (
            ("fact_sale_line", "sold_at"), ("fact_return_line", "returned_at"),
            ("fact_loyalty_entry", "occurred_at"), ("fact_interaction", "occurred_at")))
    con.execute(f"""
        INSERT OR IGNORE INTO dim_date
        SELECT CAST(strftime(d, '%Y%m%d') AS INTEGER), d::DATE, year(d), quarter(d), month(d),
               date_trunc('month', d)::DATE, isoyear(d), week(d), date_trunc('week', d)::DATE,
               isodow(d)
        FROM (SELECT range AS d FROM range(
            (SELECT min(first) FROM ({bounds}))::TIMESTAMP - INTERVAL 1 DAY,
            (SELECT max(last) FROM ({bounds}))::TIMESTAMP + INTERVAL 2 DAY, INTERVAL 1 DAY))""")


# --- customers (type 2) -----------------------------------------------------------------------

CUSTOMER_COLUMNS = ("customer_id", "status", "home_store_id", "tier", "created_at")


def scd_update(con, incoming: str, now: datetime) -> int:
    """Close the current version of every customer in ``incoming`` (a relation with
    customer_id, status, home_store_id, home_region_id, tier, segment, created_at) whose
    attributes differ, and open a new one; a customer seen first gets a version valid from
    their creation. Returns how many versions were opened."""
    con.execute(f"""
        CREATE OR REPLACE TEMP TABLE changed AS
        SELECT i.*, d.customer_key IS NULL AS first FROM {incoming} i
        LEFT JOIN dim_customer d ON d.customer_id = i.customer_id AND d.is_current
        WHERE d.customer_key IS NULL OR d.status IS DISTINCT FROM i.status
           OR d.home_store_id IS DISTINCT FROM i.home_store_id
           OR d.tier IS DISTINCT FROM i.tier OR d.segment IS DISTINCT FROM i.segment""")
    con.execute("UPDATE dim_customer SET valid_to = greatest(valid_from, ?), is_current = false "
                "FROM changed c "
                "WHERE dim_customer.customer_id = c.customer_id AND dim_customer.is_current",
                [now])
    con.execute("""
        INSERT INTO dim_customer
        SELECT (SELECT coalesce(max(customer_key), 0) FROM dim_customer)
                   + row_number() OVER (ORDER BY c.customer_id),
               c.customer_id, c.status, c.home_store_id, c.home_region_id, c.tier, c.segment,
               c.created_at,
               CASE WHEN c.first THEN least(coalesce(c.created_at, ?), ?)
                    ELSE (SELECT greatest(max(d.valid_to), ?) FROM dim_customer d
                          WHERE d.customer_id = c.customer_id) END, NULL, true
        FROM changed c""", [now, now, now])
    return con.execute("SELECT count(*) FROM changed").fetchall()[0][0]


def _customer_rows(db: Database, ids: list) -> list:
    status = Customer.status
    with db.read() as session:
        rows = session.execute(
            select(Customer.id, status, Customer.merged_into_id, Customer.anonymized_at,
                   Customer.home_store_id, LoyaltyAccount.tier, Customer.created_at)
            .outerjoin(LoyaltyAccount, LoyaltyAccount.customer_id == Customer.id)
            .where(Customer.id.in_(ids))).all()
    return [(cid, "merged" if merged else "anonymized" if anonymized else status, store, tier,
             created) for cid, status, merged, anonymized, store, tier, created in rows]


def _load_customers(db: Database, con, now: datetime) -> int:
    changed: set = set()
    owners: dict = {}  # account -> customer, for accounts that changed
    marks = {}
    for source, table, key, pick in (("customers", Customer, Customer.id, None),
                                     ("loyalty_accounts", LoyaltyAccount, LoyaltyAccount.id,
                                      LoyaltyAccount.customer_id)):
        mark = _watermark(con, source)
        for page in _pages(db, table, key, mark):
            if pick is None:
                changed.update(k for _at, k in page)
            else:
                with db.read() as session:
                    owners.update(session.execute(select(key, pick).where(
                        key.in_([k for _at, k in page]))).all())
                changed.update(owners.values())
            marks[source] = _naive(page[-1][0])
    ids = sorted(changed, key=str)
    opened = 0
    for i in range(0, len(ids), PAGE):
        rows = _customer_rows(db, ids[i:i + PAGE])
        con.begin()
        con.register("incoming_rows", _columns(rows, CUSTOMER_COLUMNS, times=("created_at",),
                                               uuids=("customer_id",)))
        con.execute("""
            CREATE OR REPLACE TEMP VIEW incoming AS
            SELECT r.customer_id::UUID AS customer_id, r.status, r.home_store_id::INTEGER
                       AS home_store_id, s.region_id AS home_region_id, r.tier,
                   (SELECT segment FROM dim_customer d WHERE d.customer_id = r.customer_id::UUID
                      AND d.is_current) AS segment, r.created_at
            FROM incoming_rows r LEFT JOIN dim_store s ON s.store_id = r.home_store_id""")
        opened += scd_update(con, "incoming", now)
        con.unregister("incoming_rows")
        con.commit()
    con.begin()
    if owners:
        # An account handed to another customer (a merge) takes its ledger entries along,
        # though the entries themselves did not change.
        con.register("owners", _columns(list(owners.items()), ("account_id", "customer_id"),
                                        uuids=("account_id", "customer_id")))
        con.execute("UPDATE fact_loyalty_entry SET customer_id = o.customer_id::UUID, "
                    "customer_key = NULL FROM owners o "
                    "WHERE fact_loyalty_entry.account_id = o.account_id::UUID "
                    "AND fact_loyalty_entry.customer_id IS DISTINCT FROM o.customer_id::UUID")
        con.unregister("owners")
    for source, mark in marks.items():
        _advance(con, source, mark, 0, now)
    con.commit()
    return opened


# --- facts ------------------------------------------------------------------------------------

SALE_COLUMNS = ("sale_id", "line_no", "receipt_no", "status", "sold_at", "store_id",
                "region_id", "product_id", "customer_id", "cashier_id", "loyalty",
                "quantity_milli", "gross_minor", "discount_minor", "amount_minor", "vat_minor",
                "points_earned", "offer_id")


def _sale_lines(session, ids):
    return session.execute(
        select(SaleLine.sale_id, SaleLine.line_no, Sale.receipt_no, Sale.status, Sale.sold_at,
               Sale.store_id, Store.region_id, SaleLine.product_id, Sale.customer_id,
               Sale.cashier_id, Sale.account_id.is_not(None), SaleLine.quantity_milli,
               SaleLine.gross_minor, SaleLine.discount_minor, SaleLine.amount_minor,
               SaleLine.vat_minor, SaleLine.points_earned, SaleLine.offer_id)
        .join(Sale, Sale.id == SaleLine.sale_id).join(Store, Store.id == Sale.store_id)
        .where(Sale.id.in_(ids))).all()


def _insert_sale_lines(con, keys: list) -> None:
    con.execute("DELETE FROM fact_sale_line WHERE sale_id IN (SELECT unnest(?::UUID[]))",
                [keys])
    con.execute(f"""
        INSERT INTO fact_sale_line
        SELECT b.sale_id::UUID, b.line_no, 'till', b.receipt_no, b.status, b.sold_at,
               {schema.local_date_key("b.sold_at")}, b.store_id, b.region_id,
               b.product_id, b.customer_id::UUID, d.customer_key, b.cashier_id,
               {schema.channel_id('till')}, b.loyalty, b.quantity_milli, b.gross_minor,
               b.discount_minor, b.amount_minor, b.vat_minor, b.points_earned,
               b.offer_id::INTEGER
        FROM batch b LEFT JOIN dim_store s USING (store_id) LEFT JOIN dim_customer d
          ON d.customer_id = b.customer_id::UUID AND d.is_current""")


RETURN_COLUMNS = ("return_id", "line_no", "original_sale_id", "returned_at", "store_id",
                  "region_id", "product_id", "cashier_id", "quantity_milli", "amount_minor",
                  "vat_minor", "points_reversed")


def _return_lines(session, ids):
    return session.execute(
        select(ReturnLine.return_id, ReturnLine.line_no, Return.original_sale_id,
               Return.returned_at, Return.store_id, Store.region_id, ReturnLine.product_id,
               Return.cashier_id, ReturnLine.quantity_milli, ReturnLine.amount_minor,
               ReturnLine.vat_minor, ReturnLine.points_reversed)
        .join(Return, Return.id == ReturnLine.return_id)
        .join(Store, Store.id == Return.store_id).where(Return.id.in_(ids))).all()


def _insert_return_lines(con, keys: list) -> None:
    con.execute("DELETE FROM fact_return_line WHERE return_id IN (SELECT unnest(?::UUID[]))",
                [keys])
    con.execute(f"""
        INSERT INTO fact_return_line
        SELECT b.return_id::UUID, b.line_no, b.original_sale_id::UUID, b.returned_at,
               {schema.local_date_key("b.returned_at")}, b.store_id, b.region_id,
               b.product_id, b.cashier_id, b.quantity_milli, b.amount_minor, b.vat_minor,
               b.points_reversed
        FROM batch b LEFT JOIN dim_store s USING (store_id)""")


ENTRY_COLUMNS = ("entry_id", "account_id", "customer_id", "kind", "points", "at", "expires_at")


def _entries(session, ids):
    return session.execute(
        select(LoyaltyEntry.id, LoyaltyEntry.account_id, LoyaltyAccount.customer_id,
               LoyaltyEntry.kind, LoyaltyEntry.points, LoyaltyEntry.at, LoyaltyEntry.expires_at)
        .join(LoyaltyAccount, LoyaltyAccount.id == LoyaltyEntry.account_id)
        .where(LoyaltyEntry.id.in_(ids))).all()


def _insert_entries(con, keys: list) -> None:
    con.execute("DELETE FROM fact_loyalty_entry WHERE entry_id IN (SELECT unnest(?::BIGINT[]))",
                [keys])
    con.execute("""
        INSERT INTO fact_loyalty_entry
        SELECT b.entry_id, b.account_id::UUID, b.customer_id::UUID, d.customer_key, b.kind,
               b.points, b."at", CAST(strftime(b."at", '%Y%m%d') AS INTEGER), b.expires_at
        FROM batch b LEFT JOIN dim_customer d
          ON d.customer_id = b.customer_id::UUID AND d.is_current""")


INTERACTION_COLUMNS = ("interaction_id", "customer_id", "channel", "direction", "at",
                       "store_id", "region_id")


def _interactions(session, ids):
    return session.execute(
        select(Interaction.id, Interaction.customer_id, Interaction.channel,
               Interaction.direction, Interaction.at, Interaction.store_id, Store.region_id)
        .outerjoin(Store, Store.id == Interaction.store_id)
        .where(Interaction.id.in_(ids))).all()


def _insert_interactions(con, keys: list) -> None:
    con.execute("DELETE FROM fact_interaction WHERE interaction_id IN "
                "(SELECT unnest(?::UUID[]))", [keys])
    con.execute(f"""
        INSERT INTO fact_interaction
        SELECT b.interaction_id::UUID, b.customer_id::UUID, d.customer_key,
               coalesce(c.channel_id, (SELECT channel_id FROM dim_channel
                                       WHERE channel = 'other')),
               b.direction, b."at", {schema.local_date_key('b."at"')}, b.store_id,
               b.region_id
        FROM batch b LEFT JOIN dim_store s USING (store_id)
        LEFT JOIN dim_channel c ON c.channel = b.channel
        LEFT JOIN dim_customer d ON d.customer_id = b.customer_id::UUID AND d.is_current""")


# (source, table, key, read rows, their columns, timestamp columns, uuid columns, insert)
FACT_SOURCES = (
    ("sales", Sale, Sale.id, _sale_lines, SALE_COLUMNS, ("sold_at",),
     ("sale_id", "customer_id"), _insert_sale_lines),
    ("returns", Return, Return.id, _return_lines, RETURN_COLUMNS, ("returned_at",),
     ("return_id", "original_sale_id"), _insert_return_lines),
    ("loyalty_entries", LoyaltyEntry, LoyaltyEntry.id, _entries, ENTRY_COLUMNS,
     ("at", "expires_at"), ("account_id", "customer_id"), _insert_entries),
    ("interactions", Interaction, Interaction.id, _interactions, INTERACTION_COLUMNS, ("at",),
     ("interaction_id", "customer_id"), _insert_interactions),
)


def _load_facts(db: Database, con, now: datetime) -> dict:
    loaded = {}
    for source, table, key, read, names, times, uuids, insert in FACT_SOURCES:
        n = 0
        for page in _pages(db, table, key, _watermark(con, source)):
            ids = [k for _at, k in page]
            with db.read() as session:  # Core rows: the ORM's per-row work is not needed
                rows = read(session.connection(), ids)
            con.begin()
            con.register("batch", _columns(rows, names, times, uuids))
            insert(con, [str(k) if isinstance(k, uuid.UUID) else k for k in ids])
            con.unregister("batch")
            _advance(con, source, _naive(page[-1][0]), len(rows), now)
            con.commit()
            n += len(rows)
        loaded[source] = n
    return loaded


HISTORY = uuid.UUID("0b7a4c2e-51d4-4a7e-9a53-6f1d2a8c3e10")  # names imported purchases' ids
HISTORIC_COLUMNS = ("sale_id", "sold_at", "store_id", "region_id", "product_id", "customer_id",
                    "quantity_milli", "amount_minor")


def _load_history(db: Database, con, now: datetime) -> int:
    """Purchases imported from a previous system (insert-only rows: read by id) become sale
    lines of their own source, one line per purchase."""
    rows = con.execute("SELECT last_id FROM wh_state WHERE source = 'history'").fetchall()
    last, n = (rows[0][0] if rows else None) or 0, 0
    while True:
        with db.read() as session:
            page = session.execute(
                select(HistoricTransaction.id, HistoricTransaction.at,
                       HistoricTransaction.store_id, Store.region_id,
                       HistoricTransaction.product_id, HistoricTransaction.customer_id,
                       HistoricTransaction.quantity_milli, HistoricTransaction.amount_minor)
                .outerjoin(Store, Store.id == HistoricTransaction.store_id)
                .where(HistoricTransaction.id > last).order_by(HistoricTransaction.id)
                .limit(PAGE * 5)).all()
        if not page:
            return n
        last = page[-1][0]
        rows = [(uuid.uuid5(HISTORY, str(r[0])), *r[1:]) for r in page]
        con.begin()
        con.register("batch", _columns(rows, HISTORIC_COLUMNS, ("sold_at",),
                                       ("sale_id", "customer_id")))
        con.execute("DELETE FROM fact_sale_line WHERE source = 'import' AND sale_id IN "
                    "(SELECT sale_id::UUID FROM batch)")
        con.execute(f"""
            INSERT INTO fact_sale_line
            SELECT b.sale_id::UUID, 1, 'import', NULL, 'completed', b.sold_at,
                   {schema.local_date_key("b.sold_at")}, b.store_id, b.region_id,
                   b.product_id, b.customer_id::UUID, d.customer_key, NULL,
                   {schema.channel_id('import')}, false, b.quantity_milli, b.amount_minor, 0,
                   b.amount_minor, 0, 0, NULL
            FROM batch b LEFT JOIN dim_store s USING (store_id) LEFT JOIN dim_customer d
              ON d.customer_id = b.customer_id::UUID AND d.is_current""")
        con.unregister("batch")
        con.execute("INSERT INTO wh_state VALUES ('history', NULL, ?, ?, ?) ON CONFLICT (source) "
                    "DO UPDATE SET last_id = excluded.last_id, rows_loaded = "
                    "wh_state.rows_loaded + excluded.rows_loaded, "
                    "refreshed_at = excluded.refreshed_at", [last, len(rows), now])
        con.commit()
        n += len(rows)


def _follow_merges(db: Database, con) -> None:
    """Imported purchases are read once, by id: when their customer was merged into another
    since, the facts follow (the tills' sales are reloaded by their own change time)."""
    with db.read() as session:
        merged = session.execute(select(Customer.id, Customer.merged_into_id).where(
            Customer.merged_into_id.is_not(None))).all()
    if not merged:
        return
    con.register("merged", _columns(merged, ("old", "new"), uuids=("old", "new")))
    con.execute("UPDATE fact_sale_line SET customer_id = m.new::UUID, customer_key = NULL "
                "FROM merged m WHERE fact_sale_line.source = 'import' "
                "AND fact_sale_line.customer_id = m.old::UUID")
    con.unregister("merged")


def _link_customers(con) -> None:
    """Facts loaded before their customer's first version (both arrived in one run's gap)
    get the customer's key now."""
    for table in ("fact_sale_line", "fact_loyalty_entry", "fact_interaction"):
        con.execute(f"UPDATE {table} SET customer_key = d.customer_key FROM dim_customer d "
                    f"WHERE {table}.customer_key IS NULL AND {table}.customer_id IS NOT NULL "
                    "AND d.customer_id = {table}.customer_id AND d.is_current".replace(
                        "{table}", table))


# --- the runs ---------------------------------------------------------------------------------

def refresh(db: Database, path: Path) -> dict:
    """Bring the warehouse at ``path`` up to date with central; returns what it loaded."""
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with schema.connect(path) as con:
        return _refresh(db, con, now)


class OtherCentral(ValueError):
    """The warehouse file was loaded from another central database."""


def _claim(db: Database, con) -> None:
    """A warehouse belongs to the central database it was first loaded from: loading another
    one into it would mix two chains' figures (and their watermarks)."""
    source = db.engine.url.render_as_string(hide_password=True)
    rows = con.execute("SELECT value FROM wh_meta WHERE key = 'source'").fetchall()
    if rows and rows[0][0] != source:
        raise OtherCentral(f"this warehouse was loaded from {rows[0][0]}, not {source}: point "
                           "KASSA_WAREHOUSE elsewhere, or rebuild it")
    con.execute("INSERT OR REPLACE INTO wh_meta VALUES ('source', ?)", [source])


def _refresh(db: Database, con, now: datetime) -> dict:
    _claim(db, con)
    _load_dimensions(db, con)
    versions = _load_customers(db, con, now)
    loaded = _load_facts(db, con, now)
    loaded["history"] = _load_history(db, con, now)
    con.begin()
    _follow_merges(db, con)
    _link_customers(con)
    _fill_dates(con)
    con.execute("INSERT OR REPLACE INTO wh_meta VALUES ('refreshed_at', ?)", [now.isoformat()])
    con.commit()
    return {"customer_versions": versions, **loaded}


def rebuild(db: Database, path: Path) -> dict:
    """Load everything again into a new file, keep the warehouse's own history, swap it in."""
    fresh = path.with_name(path.name + ".rebuild")
    fresh.unlink(missing_ok=True)
    fresh.with_name(fresh.name + ".wal").unlink(missing_ok=True)  # of a rebuild that died
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with schema.connect(fresh) as con:
        if path.exists():
            con.execute(f"ATTACH '{_quoted(path)}' AS old (READ_ONLY)")
            was = con.execute("SELECT value FROM old.wh_meta WHERE key = 'source'").fetchall()
            if not was or was[0][0] == db.engine.url.render_as_string(hide_password=True):
                kept = {t for (t,) in con.execute(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_catalog = 'old'").fetchall()}
                for table in schema.OWN_TABLES:  # another central's history is not ours
                    if table in kept:  # (an older warehouse may lack a newer table)
                        con.execute(f"INSERT INTO {table} SELECT * FROM old.{table}")
            con.execute("DETACH old")
        stats = _refresh(db, con, now)
        con.execute("CHECKPOINT")
    os.replace(fresh, path)
    return stats


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")

