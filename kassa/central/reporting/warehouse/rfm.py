"""RFM segmentation of loyalty customers, in the warehouse.

Each customer who bought (the tills' sales and imported history) gets three scores from 1 to
5 by rank-based quintiles (``NTILE(5)``, ties broken by customer id): recency (5: bought most
lately), frequency (receipts) and monetary value (spend net of returns). Frequency is heavily
tied (most customers bought once or twice), so quantile cut points would put nearly everyone
in one bucket; ranks spread them evenly. The segment comes from a map of (recency, frequency)
ranges kept as central's ``rfm_segments`` table, first match by priority. Every run is kept
(``rfm_scores`` by ``as_of``), so segment sizes and movements are reported over time.
"""

from __future__ import annotations

from datetime import date, datetime

from kassa.central.reporting.warehouse.load import scd_update

SegmentMap = list[tuple[int, str, int, int, int, int]]  # priority, segment, r/f min, max
# Quintiles of fewer buyers say nothing (one buyer would be "Lost", ranked 1 of 1).
MIN_BUYERS = 5


def check_map(segment_map: SegmentMap) -> list[tuple[int, int]]:
    """The (recency, frequency) cells no segment covers; raises on a malformed rule."""
    for priority, segment, r_min, r_max, f_min, f_max in segment_map:
        if not segment or not (1 <= r_min <= r_max <= 5 and 1 <= f_min <= f_max <= 5):
            raise ValueError(f"segment rule {priority} ({segment!r}): scores are 1 to 5 and "
                             "each minimum at most its maximum")
    return [(r, f) for r in range(1, 6) for f in range(1, 6)
            if not any(r0 <= r <= r1 and f0 <= f <= f1
                       for _p, _s, r0, r1, f0, f1 in segment_map)]


def score(con, as_of: date, segment_map: SegmentMap, now: datetime) -> dict:
    """Score every buying customer as of the end of ``as_of`` (replacing that day's run) and
    move their segment into the customer dimension (a new version from ``now``); returns the
    segment sizes (none below ``MIN_BUYERS`` buyers)."""
    buyers = con.execute(
        "SELECT count(DISTINCT f.customer_id) FROM fact_sale_line f JOIN dim_customer d "
        "ON d.customer_id = f.customer_id AND d.is_current AND d.status = 'customer' "
        "WHERE f.status = 'completed' AND f.sold_at < ?::DATE + 1", [as_of]).fetchall()[0][0]
    if buyers < MIN_BUYERS:
        return {}
    con.begin()
    con.execute("CREATE OR REPLACE TEMP TABLE segment_map (priority INTEGER, segment VARCHAR, "
                "r_min INTEGER, r_max INTEGER, f_min INTEGER, f_max INTEGER)")
    if segment_map:
        con.executemany("INSERT INTO segment_map VALUES (?, ?, ?, ?, ?, ?)", segment_map)
    con.execute("DELETE FROM rfm_scores WHERE as_of = ?", [as_of])
    con.execute("""
        INSERT INTO rfm_scores
        WITH bought AS (
            SELECT f.customer_id, max(f.sold_at) AS last,
                   -- an imported line is one purchase, not one receipt: a day's are one visit
                   count(DISTINCT CASE WHEN f.source = 'import'
                                       THEN 'day ' || f.sold_at::DATE::VARCHAR
                                       ELSE f.sale_id::VARCHAR END) AS receipts,
                   sum(f.amount_minor) AS spent
            FROM fact_sale_line f
            JOIN dim_customer d ON d.customer_id = f.customer_id AND d.is_current
                                AND d.status = 'customer'
            WHERE f.status = 'completed' AND f.sold_at < ?::DATE + 1
            GROUP BY f.customer_id),
        returned AS (
            SELECT s.customer_id, sum(r.amount_minor) AS back
            FROM fact_return_line r
            JOIN (SELECT DISTINCT sale_id, customer_id FROM fact_sale_line) s
              ON s.sale_id = r.original_sale_id
            WHERE r.returned_at < ?::DATE + 1 GROUP BY s.customer_id),
        scored AS (
            SELECT b.customer_id, date_diff('day', b.last::DATE, ?::DATE) AS recency,
                   b.receipts, b.spent - coalesce(r.back, 0) AS monetary,
                   ntile(5) OVER (ORDER BY b.last, b.customer_id) AS r,
                   ntile(5) OVER (ORDER BY b.receipts, b.customer_id) AS f,
                   ntile(5) OVER (ORDER BY b.spent - coalesce(r.back, 0), b.customer_id) AS m
            FROM bought b LEFT JOIN returned r USING (customer_id))
        SELECT ?::DATE, s.customer_id, s.recency, s.receipts, s.monetary, s.r, s.f, s.m,
               (SELECT g.segment FROM segment_map g
                WHERE s.r BETWEEN g.r_min AND g.r_max AND s.f BETWEEN g.f_min AND g.f_max
                ORDER BY g.priority LIMIT 1)
        FROM scored s""", [as_of, as_of, as_of, as_of])
    con.execute("""
        CREATE OR REPLACE TEMP TABLE incoming AS
        SELECT d.customer_id, d.status, d.home_store_id, d.home_region_id, d.tier,
               s.segment, d.created_at
        FROM dim_customer d JOIN rfm_scores s
          ON s.customer_id = d.customer_id AND s.as_of = ?::DATE
        WHERE d.is_current""", [as_of])
    scd_update(con, "incoming", now)
    con.commit()
    return dict(con.execute("SELECT coalesce(segment, '(none)'), count(*) FROM rfm_scores "
                            "WHERE as_of = ? GROUP BY ALL ORDER BY 2 DESC", [as_of]).fetchall())


def sizes(con, first: date, last: date, source: str = "rfm_scores") -> list[dict]:
    """Segment sizes of every run between two days (of ``source``: the scores, or a view of
    some customers' scores)."""
    return [{"as_of": d.isoformat(), "segment": s, "customers": n} for d, s, n in con.execute(
        f"SELECT as_of, coalesce(segment, '(none)'), count(*) FROM {source} "
        "WHERE as_of BETWEEN ? AND ? GROUP BY ALL ORDER BY 1, 3 DESC", [first, last]).fetchall()]


def movements(con, before: date, after: date, source: str = "rfm_scores") -> list[dict]:
    """How many customers moved from each segment of the run of ``before`` to each of the run
    of ``after`` (``(new)``: not scored before)."""
    return [{"from": f, "to": t, "customers": n} for f, t, n in con.execute(f"""
        SELECT coalesce(b.segment, '(new)'), coalesce(a.segment, '(none)'), count(*)
        FROM (SELECT * FROM {source} WHERE as_of = ?) a
        LEFT JOIN (SELECT * FROM {source} WHERE as_of = ?) b USING (customer_id)
        GROUP BY ALL ORDER BY 3 DESC, 1, 2""", [after, before]).fetchall()]
