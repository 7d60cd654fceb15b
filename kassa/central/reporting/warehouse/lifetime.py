"""Lifetime value and churn for every buying customer, from the warehouse's sale lines.

A customer's history becomes the models' (frequency, recency, T, monetary value) by purchase
day: frequency is the number of days with a purchase after the first, recency the weeks from
the first to the last, T the weeks from the first to ``as_of``, monetary value the mean spend of
the repeat days (the first day's spend is left out, as the Gamma-Gamma model asks). BG/NBD and
Gamma-Gamma are fitted by maximum likelihood (``kassa.central.reporting.warehouse.clv``); each
customer then gets the probability of being still active, the purchases expected over the run's
horizon (``horizon_days``, 90 by default) and the value of the next 12 months. Each run is kept
in ``clv_runs`` with its horizon, the customers it rests on, the parameters and their
log-likelihoods, so runs can be compared.

Units: BG/NBD's time is weeks (``alpha`` in weeks); Gamma-Gamma's spend is in minor units
(kopecks: ``v`` and the average purchase ``p * v / (q - 1)`` are minor units), as every amount
in kassa.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime, timezone

import numpy as np

MIN_CUSTOMERS = 30  # fewer than this and the fit says nothing: the run is skipped
DAYS_PER_WEEK = 7.0
DEFAULT_HORIZON_DAYS = 90  # the purchases expected over the next this many days


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


def score(con, as_of: date, horizon_days: int = DEFAULT_HORIZON_DAYS) -> dict:
    """Fit both models on the customers' histories and keep each customer's figures for
    ``as_of`` in ``clv_scores`` (purchases expected over ``horizon_days``), and the run in
    ``clv_runs``: its horizon, the customers it rests on, the fitted parameters and their
    log-likelihoods, or why it was skipped. Returns the run."""
    # The models need scipy (0.8 s to import): loaded by a run, not by every server start.
    from kassa.central.reporting.warehouse import clv

    h = histories(con, as_of)
    n = len(h["customer_id"])
    repeat = (h["frequency"] > 0) & (h["monetary"] > 0)
    run: dict = {"as_of": as_of, "horizon_days": horizon_days, "customers": n,
                 "repeat_customers": int(repeat.sum())}
    if n < MIN_CUSTOMERS or repeat.sum() < MIN_CUSTOMERS // 3:
        return _keep_run(con, {**run, "skipped": f"too few buying customers to fit ({n})"})
    try:
        frequency_model = clv.fit_bgnbd(h["frequency"], h["recency"], h["age"])
        spend_model = clv.fit_gamma_gamma(h["frequency"][repeat], h["monetary"][repeat])
    except ValueError as err:  # the likelihood did not converge on these data
        return _keep_run(con, {**run, "skipped": str(err)})
    run.update(
        bgnbd=asdict(frequency_model), gamma_gamma=asdict(spend_model),
        bgnbd_log_likelihood=clv.bgnbd_log_likelihood(frequency_model, h["frequency"],
                                                      h["recency"], h["age"]),
        gamma_gamma_log_likelihood=clv.gamma_gamma_log_likelihood(
            spend_model, h["frequency"][repeat], h["monetary"][repeat]))
    alive = clv.p_alive(frequency_model, h["frequency"], h["recency"], h["age"])
    expected = clv.expected_purchases(frequency_model, horizon_days / DAYS_PER_WEEK,
                                      h["frequency"], h["recency"], h["age"])
    value = clv.clv(frequency_model, spend_model, h["frequency"], h["recency"], h["age"],
                    h["monetary"], months=12)
    con.begin()
    con.execute("DELETE FROM clv_scores WHERE as_of = ?", [as_of])
    con.register("scored", {
        "customer_id": h["customer_id"], "frequency": h["frequency"].astype(np.int64),
        "recency": h["recency"], "age": h["age"],
        "spend": np.rint(h["monetary"]).astype(np.int64), "alive": alive, "expected": expected,
        "value": np.where(np.isfinite(value), value, np.nan)})
    # A figure the model could not give (an overflow on an extreme history) stays unknown.
    con.execute("INSERT INTO clv_scores SELECT ?::DATE, customer_id::UUID, frequency, recency, "
                "age, spend, alive, expected, CASE WHEN isnan(value) THEN NULL "
                "ELSE round(value)::BIGINT END FROM scored", [as_of])
    con.unregister("scored")
    con.commit()
    return _keep_run(con, run)


def _keep_run(con, run: dict) -> dict:
    bg, gg = run.get("bgnbd") or {}, run.get("gamma_gamma") or {}
    ran_at = datetime.now(timezone.utc).replace(tzinfo=None)  # naive UTC, as the warehouse's
    values = [run["as_of"], ran_at, run["horizon_days"], run["customers"],
              run["repeat_customers"], bg.get("r"), bg.get("alpha"), bg.get("a"), bg.get("b"),
              run.get("bgnbd_log_likelihood"), gg.get("p"), gg.get("q"), gg.get("v"),
              run.get("gamma_gamma_log_likelihood"), run.get("skipped")]
    con.execute(f"INSERT OR REPLACE INTO clv_runs VALUES ({', '.join('?' * len(values))})",
                values)
    return run


RUN_COLUMNS = ("as_of", "ran_at", "horizon_days", "customers", "repeat_customers", "bgnbd_r",
               "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "bgnbd_log_likelihood", "gamma_gamma_p",
               "gamma_gamma_q", "gamma_gamma_v", "gamma_gamma_log_likelihood", "skipped")


def runs(con, limit: int = 50) -> list[dict]:
    """The newest lifetime runs, newest first, as ``clv_runs`` keeps them."""
    return [dict(zip(RUN_COLUMNS, row, strict=True)) for row in con.execute(
        f"SELECT {', '.join(RUN_COLUMNS)} FROM clv_runs ORDER BY as_of DESC LIMIT ?",
        [limit]).fetchall()]
