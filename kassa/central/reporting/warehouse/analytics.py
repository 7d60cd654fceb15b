"""The warehouse's scheduled work: refresh it, then score customers (RFM segments, lifetime
value), mine the baskets for offers and hand the results back to central (``customer_scores``,
offers and offer profiles in the change feed).

One process at a time works on a warehouse file: a run takes an exclusive lock on a file beside
it and a second run, from another worker or a cron job, skips instead of waiting.
"""

from __future__ import annotations

import fcntl
import uuid
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from kassa.central.access import audit
from kassa.central.membership import personal_offers
from kassa.central.models import CustomerScore, Price, Product, SegmentRule
from kassa.central.reporting.warehouse import basket, lifetime, load, rfm, schema
from kassa.common.db import Database, table
from kassa.common.storage.bulk import copy_rows
from kassa.common.storage.private import private_dir, private_file

BASKET_DAYS = 180  # the baskets offers are mined from: the last half year's


class Busy(Exception):
    """Another process is working on this warehouse right now."""


@contextmanager
def locked(path: Path):
    private_dir(path.parent)
    with open(private_file(path.with_name(path.name + ".lock")), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise Busy(f"another process is working on {path}") from err
        yield


def refresh(db: Database, path: Path) -> dict:
    with locked(path):
        return load.refresh(db, path)


def analyze(db: Database, path: Path, as_of: date | None = None,
            horizon_days: int = lifetime.DEFAULT_HORIZON_DAYS,
            step: Callable[[str], None] | None = None) -> dict:
    """Refresh, score and mine as of the end of ``as_of`` (default: today, UTC), with the
    purchases each customer is expected to make over the next ``horizon_days``; ``step`` is
    told each stage as it starts (the command line shows them)."""
    step = step or (lambda _stage: None)
    now = datetime.now(timezone.utc)
    as_of = as_of or now.date()
    with db.read() as session:
        segment_map = [(r.priority, r.segment, r.r_min, r.r_max, r.f_min, r.f_max)
                       for r in session.scalars(select(SegmentRule))]
        conf = personal_offers.settings(session)
        prices = session.execute(
            select(Product.id, Product.category, Price.amount_minor)
            .join(Price, Price.product_id == Product.id)
            .where(Price.store_id.is_(None), Price.region_id.is_(None),
                   Price.effective_from.is_(None), Product.active.is_(True))).all()
    with locked(path):
        step("refreshing the warehouse")
        loaded = load.refresh(db, path)
        now = datetime.now(timezone.utc)  # after the refresh's own versions
        with schema.connect(path) as con:
            step("scoring recency, frequency and money (RFM)")
            segments = rfm.score(con, as_of, segment_map, now.replace(tzinfo=None))
            step("fitting lifetime value")
            life = lifetime.score(con, as_of, horizon_days)
            step("mining cross-sell offers")
            proposals = _proposals(con, conf, prices, as_of)
            scores = con.execute("""
                SELECT r.customer_id::VARCHAR, r.segment, r.r, r.f, r.m, c.p_alive,
                       c.expected_purchases, c.value_12m_minor
                FROM rfm_scores r LEFT JOIN clv_scores c
                  ON c.customer_id = r.customer_id AND c.as_of = r.as_of
                WHERE r.as_of = ?""", [as_of]).fetchall()
    step("sending scores and offers to central")
    with db.transaction() as session:
        moved = _store_scores(session, scores, now, horizon_days)
        made = personal_offers.sync_offers(session, proposals)
        profiles = personal_offers.publish_profiles(session, moved)
    return {"loaded": loaded, "segments": segments, "lifetime": life, **made,
            "profiles_published": profiles}


def _proposals(con, conf, prices: Sequence[Any], as_of: date) -> list[dict]:
    con.execute("""
        CREATE OR REPLACE TEMP TABLE baskets AS
        SELECT dense_rank() OVER (ORDER BY sale_id) AS basket_id, product_id FROM fact_sale_line
        WHERE source = 'till' AND status = 'completed' AND product_id IS NOT NULL
          AND sold_at >= ?::DATE - ? AND sold_at < ?::DATE + 1""",
                [as_of, timedelta(days=BASKET_DAYS), as_of])
    if not con.execute("SELECT count(*) FROM baskets").fetchall()[0][0]:
        return []
    basket.mine_rules(con, "baskets", "basket_rules", min_support=conf.min_support_bp / 10_000,
                      min_confidence=conf.min_confidence_bp / 10_000,
                      min_lift=conf.min_lift_bp / 10_000, max_len=3,
                      max_rules_per_antecedent=3)
    found = [{"rule_key": f"cs:{','.join(map(str, sorted(a)))}>{c}", "kind": "cross_sell",
              "product_id": c, "trigger_product_ids": sorted(a), "support": s,
              "confidence": k, "lift": lift}
             for a, c, s, k, lift in con.execute(
                 "SELECT antecedent, consequent, support, confidence, lift FROM basket_rules "
                 "ORDER BY lift * confidence DESC, consequent LIMIT ?",
                 [conf.max_offers]).fetchall()]
    con.register("priced", {
        "product_id": np.array([p for p, _c, _m in prices], dtype=np.int64),
        "category": np.array([c for _p, c, _m in prices], dtype=object),
        "price_minor": np.array([m for _p, _c, m in prices], dtype=np.int64)})
    con.execute("CREATE OR REPLACE TEMP TABLE upsell_products AS SELECT * FROM priced")
    con.unregister("priced")
    basket.upsell(con, "upsell_products", "upsells")
    # Up-sell the products most baskets hold: where a dearer choice is seen most.
    found += [{"rule_key": f"up:{p}>{u}", "kind": "upsell", "product_id": u,
               "trigger_product_ids": [p], "support": n / total, "confidence": 0.0,
               "lift": 0.0}
              for p, u, n, total in con.execute("""
                  SELECT u.product_id, u.upsell_product_id, count(*) AS n,
                         (SELECT count(DISTINCT basket_id) FROM baskets) AS total
                  FROM upsells u JOIN baskets b USING (product_id)
                  GROUP BY ALL ORDER BY n DESC, 1 LIMIT ?""",
                                                [conf.max_offers // 5]).fetchall()]
    return found


def _store_scores(session, scores: list, now: datetime, horizon_days: int) -> list:
    """Replace central's copy of the customers' scores; returns whose segment changed."""
    before = dict(session.execute(select(CustomerScore.customer_id,
                                         CustomerScore.segment)).all())
    session.execute(delete(CustomerScore))
    rows = [{"customer_id": uuid.UUID(cid), "segment": seg, "r": r, "f": f, "m": m,
             "p_alive": alive, "expected_purchases": nxt, "horizon_days": horizon_days,
             "value_12m_minor": value, "scored_at": now}
            for cid, seg, r, f, m, alive, nxt, value in scores]
    if rows:
        copy_rows(session, table(CustomerScore), rows)
    return [row["customer_id"] for row in rows
            if before.get(row["customer_id"], "?") != row["segment"]]


def segment_map(session) -> list[dict]:
    """Which RFM scores make which segment, by priority (the first match wins)."""
    return [{"priority": r.priority, "segment": r.segment, "r_min": r.r_min, "r_max": r.r_max,
             "f_min": r.f_min, "f_max": r.f_max}
            for r in session.scalars(select(SegmentRule).order_by(SegmentRule.priority))]


def replace_segment_map(session, actor, rules: list[dict]) -> list[dict]:
    """Replace the map (the caller checked that every score cell lands in a segment); the next
    analysis run segments by it. Audited when it changes."""
    before = segment_map(session)
    session.execute(delete(SegmentRule))
    session.add_all(SegmentRule(**r) for r in rules)
    session.flush()
    after = segment_map(session)
    if after != before:
        audit.change(session, actor.id, "segment_map", 1, {"rules": before}, {"rules": after})
    return after
