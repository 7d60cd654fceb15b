"""The warehouse as Parquet files any engine reads: facts Hive-partitioned by month and region
(``fact_sale_line/month=2026-11/region=MSK/data_0.parquet``), each dimension and score table
one file. A chain that outgrows one machine points Spark, Trino or DuckDB at the folder (see
docs/warehouse.md); the files are written into a new folder and renamed into place, so a
reader never sees half an export (only, for a moment, none).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from kassa.central.reporting.warehouse import schema
from kassa.common.storage.private import private_dir, private_tree

REGION_CODES = "(SELECT DISTINCT region_id, region_code FROM dim_store)"

# fact -> (the time its month comes from, how its region code is found)
PARTITIONED = {
    "fact_sale_line": ("sold_at", f"LEFT JOIN {REGION_CODES} r USING (region_id)"),
    "fact_return_line": ("returned_at", f"LEFT JOIN {REGION_CODES} r USING (region_id)"),
    "fact_interaction": ("occurred_at", f"LEFT JOIN {REGION_CODES} r USING (region_id)"),
    # Points have no store: they go with the customer's home region.
    "fact_loyalty_entry": (
        "occurred_at", "LEFT JOIN dim_customer c ON c.customer_key = f.customer_key "
                       f"LEFT JOIN {REGION_CODES} r ON r.region_id = c.home_region_id"),
}
SINGLE = (*(d for d in schema.DIMENSIONS), "rfm_scores", "clv_scores")


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def export(path: Path, out: Path) -> dict:
    """Write the warehouse at ``path`` under ``out``; returns the rows written per table."""
    staging = out.with_name(out.name + ".writing")
    shutil.rmtree(staging, ignore_errors=True)
    # Customers and what they bought: a private folder (give a reader access by group or ACL).
    private_dir(staging)
    written = {}
    with schema.connect(path, read_only=True) as con:
        for table, (at, join) in PARTITIONED.items():
            written[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            if not written[table]:
                continue
            con.execute(f"""
                COPY (SELECT f.*, strftime(f.{at}, '%Y-%m') AS month,
                             coalesce(r.region_code, 'none') AS region
                      FROM {table} f {join})
                TO '{_quoted(staging / table)}'
                (FORMAT parquet, PARTITION_BY (month, region), COMPRESSION zstd)""")
        for table in SINGLE:
            written[table] = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            con.execute(f"COPY {table} TO '{_quoted(staging / (table + '.parquet'))}' "
                        "(FORMAT parquet, COMPRESSION zstd)")
    private_tree(staging)  # DuckDB wrote them with the umask's modes
    old = out.with_name(out.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if out.exists():
        out.rename(old)
    staging.rename(out)
    shutil.rmtree(old, ignore_errors=True)
    return written
