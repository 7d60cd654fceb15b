"""The warehouse's star schema in DuckDB, and opening it.

Facts: ``fact_sale_line`` (one row per sold line, the till's and the history imported from a
previous system), ``fact_return_line``, ``fact_loyalty_entry``, ``fact_interaction``.
Dimensions: ``dim_date``, ``dim_store`` (with its region), ``dim_product`` (with its category),
``dim_cashier``, ``dim_channel`` and ``dim_customer``, which keeps history (type 2: a new
version whenever the customer's tier, segment, status or home store changes).

Some tables hold what only the warehouse knows and a rebuild must keep: ``dim_customer`` (its
history), ``rfm_scores``, ``clv_scores`` and ``clv_runs`` (every run, the latter with its
fitted parameters). ``OWN_TABLES`` names them.
Money is integer minor units, quantities thousandths, times UTC (naive TIMESTAMP). A fact
that happened in a store is on the store's local day (its ``date_key``), the day the store's
till counts it on; other facts are on UTC days.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

import duckdb

from kassa.common.storage.private import private_dir, tighten

SCHEMA_VERSION = 3  # 2: clv_runs; clv_scores' expected purchases over the run's horizon
# 3: a store's facts on its local day (date_key), were UTC days

# The channels a fact can come through; ids are stable (they are in exported files).
CHANNELS = ("till", "import", "call", "email", "web_form", "chat", "social", "event", "meeting",
            "sms", "letter", "other")

DDL = """
CREATE TABLE IF NOT EXISTS wh_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
CREATE TABLE IF NOT EXISTS wh_state (
    source VARCHAR PRIMARY KEY, watermark TIMESTAMP, last_id BIGINT,
    rows_loaded BIGINT DEFAULT 0, refreshed_at TIMESTAMP);

CREATE TABLE IF NOT EXISTS dim_date (
    date_key INTEGER PRIMARY KEY, date DATE, year SMALLINT, quarter TINYINT, month TINYINT,
    month_start DATE, iso_year SMALLINT, iso_week TINYINT, week_start DATE,
    day_of_week TINYINT);
CREATE TABLE IF NOT EXISTS dim_store (
    store_id INTEGER PRIMARY KEY, code VARCHAR, name VARCHAR, timezone VARCHAR,
    region_id INTEGER, region_code VARCHAR, region_name VARCHAR);
CREATE TABLE IF NOT EXISTS dim_product (
    product_id INTEGER PRIMARY KEY, sku VARCHAR, name VARCHAR, category VARCHAR, unit VARCHAR,
    vat_rate_bp INTEGER, active BOOLEAN);
CREATE TABLE IF NOT EXISTS dim_cashier (
    cashier_id INTEGER PRIMARY KEY, username VARCHAR, name VARCHAR, role VARCHAR,
    store_id INTEGER, region_id INTEGER);
CREATE TABLE IF NOT EXISTS dim_channel (channel_id SMALLINT PRIMARY KEY, channel VARCHAR);

CREATE TABLE IF NOT EXISTS dim_customer (
    customer_key BIGINT PRIMARY KEY,
    customer_id UUID NOT NULL, status VARCHAR, home_store_id INTEGER, home_region_id INTEGER,
    tier VARCHAR, segment VARCHAR, created_at TIMESTAMP,
    valid_from TIMESTAMP NOT NULL, valid_to TIMESTAMP, is_current BOOLEAN NOT NULL);

CREATE TABLE IF NOT EXISTS fact_sale_line (
    sale_id UUID NOT NULL, line_no INTEGER NOT NULL, source VARCHAR NOT NULL,
    receipt_no VARCHAR, status VARCHAR NOT NULL, sold_at TIMESTAMP NOT NULL,
    date_key INTEGER NOT NULL, store_id INTEGER, region_id INTEGER, product_id INTEGER,
    customer_id UUID, customer_key BIGINT, cashier_id INTEGER, channel_id SMALLINT NOT NULL,
    loyalty BOOLEAN NOT NULL, quantity_milli BIGINT NOT NULL, gross_minor BIGINT NOT NULL,
    discount_minor BIGINT NOT NULL, amount_minor BIGINT NOT NULL, vat_minor BIGINT NOT NULL,
    points_earned BIGINT NOT NULL, offer_id INTEGER);
CREATE TABLE IF NOT EXISTS fact_return_line (
    return_id UUID NOT NULL, line_no INTEGER NOT NULL, original_sale_id UUID,
    returned_at TIMESTAMP NOT NULL, date_key INTEGER NOT NULL, store_id INTEGER,
    region_id INTEGER, product_id INTEGER, cashier_id INTEGER, quantity_milli BIGINT NOT NULL,
    amount_minor BIGINT NOT NULL, vat_minor BIGINT NOT NULL, points_reversed BIGINT NOT NULL);
CREATE TABLE IF NOT EXISTS fact_loyalty_entry (
    entry_id BIGINT PRIMARY KEY, account_id UUID, customer_id UUID, customer_key BIGINT,
    kind VARCHAR, points BIGINT, occurred_at TIMESTAMP, date_key INTEGER, expires_at TIMESTAMP);
CREATE TABLE IF NOT EXISTS fact_interaction (
    interaction_id UUID PRIMARY KEY, customer_id UUID, customer_key BIGINT,
    channel_id SMALLINT, direction VARCHAR, occurred_at TIMESTAMP, date_key INTEGER,
    store_id INTEGER, region_id INTEGER);

CREATE TABLE IF NOT EXISTS rfm_scores (
    as_of DATE NOT NULL, customer_id UUID NOT NULL, recency_days INTEGER, frequency INTEGER,
    monetary_minor BIGINT, r TINYINT, f TINYINT, m TINYINT, segment VARCHAR,
    PRIMARY KEY (as_of, customer_id));
CREATE TABLE IF NOT EXISTS clv_scores (
    as_of DATE NOT NULL, customer_id UUID NOT NULL, frequency INTEGER, recency_weeks DOUBLE,
    age_weeks DOUBLE, average_spend_minor BIGINT, p_alive DOUBLE,
    expected_purchases DOUBLE, value_12m_minor BIGINT, PRIMARY KEY (as_of, customer_id));
CREATE TABLE IF NOT EXISTS clv_runs (
    as_of DATE PRIMARY KEY, ran_at TIMESTAMP NOT NULL, horizon_days INTEGER NOT NULL,
    customers INTEGER NOT NULL, repeat_customers INTEGER NOT NULL,
    bgnbd_r DOUBLE, bgnbd_alpha DOUBLE, bgnbd_a DOUBLE, bgnbd_b DOUBLE,
    bgnbd_log_likelihood DOUBLE, gamma_gamma_p DOUBLE, gamma_gamma_q DOUBLE,
    gamma_gamma_v DOUBLE, gamma_gamma_log_likelihood DOUBLE, skipped VARCHAR);
"""

# Built by the warehouse from nothing but itself: kept across a rebuild.
OWN_TABLES = ("dim_customer", "rfm_scores", "clv_scores", "clv_runs")
FACTS = ("fact_sale_line", "fact_return_line", "fact_loyalty_entry", "fact_interaction")
DIMENSIONS = ("dim_date", "dim_store", "dim_product", "dim_cashier", "dim_channel",
              "dim_customer")


def local_time(at: str, zone: str = "s.timezone") -> str:
    """SQL for the wall-clock time of the naive UTC timestamp ``at`` in the zone ``zone``
    (a ``dim_store`` column: UTC for a fact of no store)."""
    return f"timezone(coalesce({zone}, 'UTC'), {at} AT TIME ZONE 'UTC')"


def local_date_key(at: str, zone: str = "s.timezone") -> str:
    return f"CAST(strftime({local_time(at, zone)}, '%Y%m%d') AS INTEGER)"


def create(con: duckdb.DuckDBPyConnection) -> None:
    _upgrade(con)
    con.execute(DDL)
    _rekey_local_days(con)
    con.execute("INSERT OR REPLACE INTO wh_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)])
    con.execute("INSERT OR IGNORE INTO dim_channel SELECT i - 1, c FROM "
                "unnest(?) WITH ORDINALITY AS t(c, i)", [list(CHANNELS)])


def _upgrade(con: duckdb.DuckDBPyConnection) -> None:
    """A version 1 warehouse's lifetime scores: expected purchases were for 90 days, now for
    the run's horizon (``clv_runs.horizon_days``; the runs before it are not listed there)."""
    old = con.execute("SELECT 1 FROM information_schema.columns WHERE table_name = "
                      "'clv_scores' AND column_name = 'expected_purchases_90d'").fetchall()
    if old:
        con.execute("ALTER TABLE clv_scores RENAME COLUMN expected_purchases_90d "
                    "TO expected_purchases")


def _rekey_local_days(con: duckdb.DuckDBPyConnection) -> None:
    """A version 2 warehouse put every fact on its UTC day: a store's facts move to the
    store's local day (once, before the version is raised)."""
    version = con.execute("SELECT value FROM wh_meta WHERE key = 'schema_version'").fetchall()
    if not version or int(version[0][0]) >= 3:
        return
    for table, at in (("fact_sale_line", "sold_at"), ("fact_return_line", "returned_at"),
                      ("fact_interaction", "occurred_at")):
        con.execute(f"UPDATE {table} SET date_key = {local_date_key(f'{table}.{at}')} "
                    f"FROM dim_store s WHERE s.store_id = {table}.store_id")


def channel_id(name: str) -> int:
    return CHANNELS.index(name) if name in CHANNELS else CHANNELS.index("other")


WRITER_PATIENCE = 30.0  # seconds a writer waits for readers (requests hold it for moments)


def _open(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """DuckDB lets one process write a file, or any number read it, never both at once: a
    writer waits out the readers (each holds it for one request), a reader does not wait."""
    waited, pause = 0.0, 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except (duckdb.IOException, duckdb.ConnectionException):
            if read_only or waited >= WRITER_PATIENCE:
                raise
            time.sleep(pause)
            waited, pause = waited + pause, min(pause * 2, 1.0)


@contextmanager
def connect(path: Path, *, read_only: bool = False):
    """A connection to the warehouse file (made, with its schema, when missing)."""
    if read_only and not path.exists():
        raise FileNotFoundError(f"no warehouse at {path}: run `kassa central warehouse "
                                "refresh` first")
    # Customers' purchases and scores: a private directory, whose mode also covers the WAL
    # DuckDB makes with the umask's mode while it writes (it takes no mode of ours).
    private_dir(path.parent)
    con = _open(path, read_only)
    try:
        if not read_only:
            tighten(path)
            create(con)
        yield con
    finally:
        con.close()
        if not read_only:
            tighten(path, path.with_name(path.name + ".wal"))
