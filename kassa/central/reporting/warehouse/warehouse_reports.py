"""Reports answered from the warehouse: history, with the same figures and the same rows as
the live reports on central's database (``kassa.central.reporting.manager_reports``), and the
consolidated report by region and month.

Only the tills' sales count in the managers' sales figures; purchases imported from a previous
system feed the customer models, not yesterday's revenue.
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from kassa.central.reporting.warehouse.schema import local_time

# A store's facts on its local day and hour, as the live report and the store's till count.
KEYS = {
    "region": "s.region_code",
    "store": "s.code",
    "day": "strftime({local}, '%Y-%m-%d')",
    "hour": "hour({local})",
    "cashier": "coalesce(c.username, '(none)')",
}


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def freshness(con, source: str) -> datetime | None:
    """Until when the warehouse holds central ``source``'s sales: the start of its last
    refresh that went through (UTC, aware); None when it was loaded from another database or
    never."""
    meta = dict(con.execute("SELECT key, value FROM wh_meta").fetchall())
    if meta.get("source") != source or not meta.get("refreshed_at"):
        return None
    return datetime.fromisoformat(meta["refreshed_at"]).replace(tzinfo=timezone.utc)


def _date_key(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def sales(con, group: str, first: date, last: date, stores: list[int] | None) -> dict:
    """Receipts, revenue, items, loyalty's share and returns per ``group`` on the stores'
    local days from ``first`` to ``last``, for the given stores (None: all)."""
    scope = "" if stores is None else "AND f.store_id IN (SELECT unnest(?::INTEGER[]))"
    params = [_date_key(first), _date_key(last)] + ([] if stores is None else [stores])
    key = KEYS[group].format(local=local_time("f.sold_at"))
    sold = con.execute(f"""
        SELECT {key} AS key, count(DISTINCT f.sale_id), sum(f.amount_minor),
               sum(f.quantity_milli), sum(CASE WHEN f.loyalty THEN f.amount_minor ELSE 0 END)
        FROM fact_sale_line f JOIN dim_store s USING (store_id)
        LEFT JOIN dim_cashier c USING (cashier_id)
        WHERE f.source = 'till' AND f.status = 'completed'
          AND f.date_key BETWEEN ? AND ? {scope}
        GROUP BY ALL ORDER BY key""", params).fetchall()
    back_key = KEYS[group].format(local=local_time("f.returned_at"))
    back = {k: (n, int(total or 0)) for k, n, total in con.execute(f"""
        SELECT {back_key} AS key, count(DISTINCT f.return_id), sum(f.amount_minor)
        FROM fact_return_line f JOIN dim_store s USING (store_id)
        LEFT JOIN dim_cashier c USING (cashier_id)
        WHERE f.date_key BETWEEN ? AND ? {scope}
        GROUP BY ALL""", params).fetchall()}
    return sales_table(sold, back)


def sales_table(sold, back: dict) -> dict:
    """The sales report's rows and totals from ``(key, receipts, revenue, items in
    thousandths, loyalty revenue)`` per key and ``{key: (returns, returned minor)}``: one
    shape whether the figures came live from central or from the warehouse."""
    rows = []
    for k, receipts, revenue, milli, loyal in sold:
        revenue, items, loyal = int(revenue or 0), int(milli or 0) / 1000, int(loyal or 0)
        returned = back.get(k, (0, 0))
        rows.append({"key": k, "receipts": receipts, "revenue_minor": revenue,
                     "average_receipt_minor": revenue // receipts if receipts else 0,
                     "items": items, "items_per_receipt": round(items / receipts, 2)
                     if receipts else 0,
                     "loyalty_revenue_minor": loyal, "loyalty_share": _ratio(loyal, revenue),
                     "returns": returned[0], "returns_minor": returned[1],
                     "returns_rate": _ratio(returned[1], revenue)})
    receipts = sum(r["receipts"] for r in rows)
    revenue = sum(r["revenue_minor"] for r in rows)
    loyal_total = sum(r["loyalty_revenue_minor"] for r in rows)
    returned_total = sum(minor for _n, minor in back.values())
    return {"rows": rows, "totals": {
        "receipts": receipts, "revenue_minor": revenue,
        "average_receipt_minor": revenue // receipts if receipts else 0,
        "loyalty_share": _ratio(loyal_total, revenue),
        "returns_minor": returned_total, "returns_rate": _ratio(returned_total, revenue)}}


# Every sale has a line 1, so counting first lines counts receipts without a DISTINCT over
# millions of ids (the costliest part of the query).
CONSOLIDATED = """
    SELECT {region} AS region, date_trunc('month', f.sold_at)::DATE AS month,
           sum(f.amount_minor) AS revenue, count(*) FILTER (WHERE f.line_no = 1) AS receipts,
           sum(f.amount_minor) // count(*) FILTER (WHERE f.line_no = 1) AS average_receipt
    FROM {source} f {join}
    WHERE f.status = 'completed'
    GROUP BY ALL ORDER BY 1, 2"""


def by_region_month(con) -> list[tuple]:
    """The consolidated report: revenue, receipts and average receipt by region and month."""
    return con.execute(CONSOLIDATED.format(
        region="s.region_code", source="fact_sale_line",
        join="JOIN dim_store s USING (store_id)")).fetchall()
