"""Lifetime value and churn for every buying customer, from the warehouse's sale lines.

A customer's history becomes the models' (frequency, recency, T, monetary value) by purchase
day: frequency is the number of days with a purchase after the first, recency the weeks from
the first to the last, T the weeks from the first to ``as_of``, monetary value the mean spend of
the repeat days (the first day's spend is left out, as the Gamma-Gamma model asks). BG/NBD and
Gamma-Gamma are fitted by maximum likelihood (``kassa.central.reporting.warehouse.clv``); each
customer then gets the probability of being still active, the purchases expected in the next 90 days
and the value of the next 12 months in minor units.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date

import numpy as np

from kassa.central.reporting.warehouse import clv

MIN_CUSTOMERS = 30  # fewer than this and the fit says nothing: the run is skipped
DAYS_PER_WEEK = 7.0


def histories(con, as_of: date) -> dict[str, np.ndarray]:
    rows = con.execute("""
        WITH days AS (
            SELECT f.customer_id, f.sold_at::DATE AS day, sum(f.amount_minor) AS spent
            FROM fact_sale_line f
            JOIN dim_customer d ON d.customer_id = f.customer_id AND d.is_current
                                AND d.status = 'customer'
            WHERE f.status = 'completed' AND f.sold_at < ?::DATE + 1
            GROUP BY ALL)
        SELECT customer_id::VARCHAR, count(*) - 1,
               date_diff('day', min(day), max(day)) / 7.0,
               date_diff('day', min(day), ?::DATE) / 7.0,
               coalesce((sum(spent) - arg_min(spent, day)) / nullif(count(*) - 1, 0), 0)
        FROM days GROUP BY customer_id ORDER BY customer_id""", [as_of, as_of]).fetchall()
    ids, x, t_x, big_t, m = zip(*rows, strict=True) if rows else ((),) * 5
    return {"customer_id": np.array(ids, dtype=object), "frequency": np.array(x, dtype=float),
            "recency": np.array(t_x, dtype=float), "age": np.array(big_t, dtype=float),
            "monetary": np.maximum(np.array(m, dtype=float), 0.0)}


def score(con, as_of: date) -> dict:
    """Fit both models on the customers' histories and keep each customer's figures for
    ``as_of`` in ``clv_scores``; returns the fitted parameters (or why there are none)."""
    h = histories(con, as_of)
    n = len(h["customer_id"])
    repeat = (h["frequency"] > 0) & (h["monetary"] > 0)
    if n < MIN_CUSTOMERS or repeat.sum() < MIN_CUSTOMERS // 3:
        return {"customers": n, "skipped": f"too few buying customers to fit ({n})"}
    try:
        frequency_model = clv.fit_bgnbd(h["frequency"], h["recency"], h["age"])
        spend_model = clv.fit_gamma_gamma(h["frequency"][repeat], h["monetary"][repeat])
    except ValueError as err:  # the likelihood did not converge on these data
        return {"customers": n, "skipped": str(err)}
    alive = clv.p_alive(frequency_model, h["frequency"], h["recency"], h["age"])
    next_90 = clv.expected_purchases(frequency_model, 90 / DAYS_PER_WEEK, h["frequency"],
                                     h["recency"], h["age"])
    value = clv.clv(frequency_model, spend_model, h["frequency"], h["recency"], h["age"],
                    h["monetary"], months=12)
    con.begin()
    con.execute("DELETE FROM clv_scores WHERE as_of = ?", [as_of])
    con.register("scored", {
        "customer_id": h["customer_id"], "frequency": h["frequency"].astype(np.int64),
        "recency": h["recency"], "age": h["age"],
        "spend": np.rint(h["monetary"]).astype(np.int64), "alive": alive, "next_90": next_90,
        "value": np.where(np.isfinite(value), value, np.nan)})
    # A figure the model could not give (an overflow on an extreme history) stays unknown.
    con.execute("INSERT INTO clv_scores SELECT ?::DATE, customer_id::UUID, frequency, recency, "
                "age, spend, alive, next_90, CASE WHEN isnan(value) THEN NULL "
                "ELSE round(value)::BIGINT END FROM scored", [as_of])
    con.unregister("scored")
    con.commit()
    return {"customers": n, "bgnbd": asdict(frequency_model),
            "gamma_gamma": asdict(spend_model)}
