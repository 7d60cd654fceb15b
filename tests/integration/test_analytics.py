"""The analytic run on SQLite and PostgreSQL central: half a year of purchases by 60 loyalty
customers (with milk and bread bought together far more often than chance) are segmented by
RFM, scored by the lifetime-value models, mined into a milk -> bread offer; the results land at
central and in the change feed, the customer 360 shows them, and a second run changes nothing
it need not."""

import json
import os
import random
import subprocess
import sys
import uuid
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from kassa.central import create_app, jobs
from kassa.central.crm import data_rights, profiles
from kassa.central.demo_data import CATALOGUE
from kassa.central.membership import personal_offers
from kassa.central.models import (
    ChangeFeedEntry,
    CustomerScore,
    Offer,
    Product,
    Sale,
    SaleLine,
    SegmentRule,
    Store,
    User,
)
from kassa.central.reporting.warehouse import analytics, load, rfm, schema
from kassa.common.config import CentralConfig
from tests.helpers import staff_auth as who

TODAY = datetime.now(timezone.utc).date()


def purchase_days(rng, window=180):
    """Days ago of one customer's purchases, drawn as the BG/NBD model tells the story: a
    buying rate while active, a chance of leaving after each purchase."""
    rate = rng.gammavariate(0.9, 1 / 15)
    leave = rng.betavariate(1.0, 3.0)
    t = rng.uniform(0, window - 30)
    days = [t]
    while rng.random() >= leave:
        t += rng.expovariate(rate)
        if t >= window:
            break
        days.append(t)
    return sorted({int(window - d) for d in days})


def plant_history(session, n_customers=60, seed=7):
    """Customers and their receipts over the last 180 days, written as the sync would; half
    the baskets hold milk and bread together."""
    rng = random.Random(seed)
    products = {p.sku: p for p in session.scalars(select(Product))}
    price = {sku: minor for sku, _n, _v, minor, _u, _b in CATALOGUE}
    store = session.scalars(select(Store).order_by(Store.id)).first()
    customers = [profiles.create_customer(session, f"Buyer {i}",
                                          card_number=f"{7771000000000000 + i}")
                 for i in range(n_customers)]
    receipt = 0
    for customer in customers:
        for ago in purchase_days(rng):
            basket = {"1001", "1002"} if rng.random() < 0.5 else {rng.choice(["1003", "1004"])}
            basket |= {rng.choice(["3001", "4001", "5001", "2001", "3002"])}
            receipt += 1
            lines = [SaleLine(line_no=n, product_id=products[sku].id, sku=sku,
                              name=products[sku].name, quantity_milli=1000,
                              unit_price_minor=price[sku], gross_minor=price[sku],
                              amount_minor=price[sku], vat_rate_bp=1000,
                              vat_minor=price[sku] // 11)
                     for n, sku in enumerate(sorted(basket), start=1)]
            sold_at = datetime.combine(TODAY - timedelta(days=ago), datetime.min.time(),
                                       tzinfo=timezone.utc) + timedelta(hours=12)
            session.add(Sale(id=uuid.uuid4(), receipt_no=f"H-{receipt}", node_id="pos-1",
                             store_id=store.id, customer_id=customer.id, sold_at=sold_at,
                             total_minor=sum(ln.amount_minor for ln in lines),
                             vat_minor=sum(ln.vat_minor for ln in lines), lines=lines))
    session.flush()
    return customers, products


def test_the_default_segment_map_covers_every_score_cell(central_db):
    with central_db.read() as s:
        rules = [(r.priority, r.segment, r.r_min, r.r_max, r.f_min, r.f_max)
                 for r in s.scalars(select(SegmentRule))]
    assert len({r[1] for r in rules}) == 8 and rfm.check_map(rules) == []
    assert rfm.check_map([r for r in rules if r[1] != "Lost"]) == [(1, 1), (1, 2)]


def test_analysis_scores_customers_and_makes_offers(central_db, central_app, seeded, tmp_path):
    with central_db.transaction() as s:
        customers, products = plant_history(s)
        profiles.set_consent(s, customers[0], "offers", True, "till pos-1")
        profiles.set_consent(s, customers[1], "offers", True, "till pos-1")
    path = tmp_path / "wh.duckdb"
    result = analytics.analyze(central_db, path)

    assert sum(result["segments"].values()) == 60 and "(none)" not in result["segments"]
    assert {"Champions", "Lost"} <= set(result["segments"])
    assert result["lifetime"]["customers"] == 60 and "bgnbd" in result["lifetime"]
    with central_db.read() as s:
        scores = {c.customer_id: c for c in s.scalars(select(CustomerScore))}
        assert len(scores) == 60
        assert all(0 < c.p_alive <= 1 and c.value_12m_minor >= 0 for c in scores.values())
        # The most frequent recent buyer is worth more than a one-visit lapsed customer.
        best = max(scores.values(), key=lambda c: (c.f, c.r))
        worst = min(scores.values(), key=lambda c: (c.f, c.r))
        assert best.value_12m_minor > worst.value_12m_minor
        milk, bread = products["1001"].id, products["1002"].id
        offer = s.scalars(select(Offer).where(Offer.rule_key == f"cs:{milk}>{bread}")).one()
        assert offer.active and offer.lift > 1.2 and offer.segments is None
        assert offer.discount_bp == 1000
        feed = s.execute(select(ChangeFeedEntry.entity, func.count())
                         .group_by(ChangeFeedEntry.entity)).all()
        assert dict(feed)["offer"] == s.scalar(select(func.count()).select_from(Offer))
        profile = s.scalars(select(ChangeFeedEntry).where(
            ChangeFeedEntry.entity == "offer_profile",
            ChangeFeedEntry.entity_key == str(customers[0].id))
            .order_by(ChangeFeedEntry.version.desc())).first()
        assert profile.payload["segment"] == scores[customers[0].id].segment
        assert profile.payload["offers_ok"] is True
        versions = s.scalar(select(func.max(ChangeFeedEntry.version)))
    with schema.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(*) FROM dim_customer WHERE is_current AND segment "
                           "IS NOT NULL").fetchall()[0][0] == 60

    # The 360 view shows what the analysis said.
    api = central_app.test_client()
    view = api.get(f"/api/v1/customers/{customers[0].id}", headers=who(seeded, "office")).json
    assert view["scores"]["segment"] == scores[customers[0].id].segment
    assert view["scores"]["value_12m_minor"] == scores[customers[0].id].value_12m_minor

    # Again the same day: no offer or profile changes, so nothing new in the feed.
    again = analytics.analyze(central_db, path)
    assert (again["offers_made"], again["offers_updated"], again["offers_stopped"]) == (0, 0, 0)
    assert again["profiles_published"] == 0
    with central_db.read() as s:
        assert s.scalar(select(func.max(ChangeFeedEntry.version))) == versions

    # The analytic API over the same warehouse.
    app = create_app(CentralConfig(db_url=central_app.config["KASSA"].db_url,
                                   clock_skew_seconds=300, warehouse_path=path))
    api, office = app.test_client(), who(seeded, "office")
    segments = api.get("/api/v1/analytics/segments", headers=office).json
    assert sum(s["customers"] for s in segments["sizes"]) == 60 and segments["runs"]
    # The planted customers have no home store: no region's manager sees them.
    assert api.get("/api/v1/analytics/segments", headers=who(seeded, "rm-msk")).json[
        "sizes"] == []
    weekly = api.get("/api/v1/analytics/demand?store_code=S001&sku=1001&weeks=26&horizon=4",
                     headers=office).json
    assert len(weekly["weeks"]) == 26 and len(weekly["forecast"]) == 4
    assert sum(w["quantity"] for w in weekly["weeks"]) > 0
    assert weekly["method"] in ("damped_trend", "holt_winters", "seasonal_naive")
    assert api.get("/api/v1/analytics/demand?store_code=S001&sku=1001",
                   headers=who(seeded, "sm-s002")).status_code == 404
    table = api.get("/api/v1/analytics/demand?store_code=S001&sku=1001&weeks=26&horizon=4"
                    "&format=csv", headers=office).get_data(as_text=True).splitlines()
    assert table[0] == "week,sold,forecast" and len(table) == 1 + 26 + 4
    sized = api.get("/api/v1/analytics/segments?format=csv", headers=office)
    assert sized.mimetype == "text/csv" and sized.get_data(as_text=True).startswith(
        "as_of,segment,customers")
    assert api.get("/api/v1/analytics/segments?to=0001-01-01", headers=office
                   ).json["error"] == "bad_period"
    # Days before today come from the warehouse, with the live figures.
    period = f"from={TODAY - timedelta(days=30)}&to={TODAY - timedelta(days=1)}&group=day"
    auto = api.get(f"/api/v1/reports/sales?{period}", headers=office).json
    live = api.get(f"/api/v1/reports/sales?{period}&source=live", headers=office).json
    assert (auto.pop("source"), live.pop("source")) == ("warehouse", "live")
    assert auto == live and auto["rows"]
    with schema.connect(path, read_only=True) as con:  # no version ends before it starts
        assert con.execute("SELECT count(*) FROM dim_customer WHERE valid_to < valid_from"
                           ).fetchall()[0][0] == 0
        assert con.execute("SELECT count(*) FROM dim_customer a JOIN dim_customer b "
                           "USING (customer_id) WHERE a.customer_key < b.customer_key "
                           "AND b.valid_from < coalesce(a.valid_to, 'infinity'::TIMESTAMP)"
                           ).fetchall()[0][0] == 0
    gap = api.put("/api/v1/analytics/segment-map", headers=office, json={"rules": [
        {"priority": 1, "segment": "Everyone else", "r_min": 2, "r_max": 5, "f_min": 1,
         "f_max": 5}]})
    assert gap.status_code == 422 and "(1, 1)" in str(gap.json)
    assert api.put("/api/v1/analytics/segment-map", headers=office, json={"rules": [
        {"priority": 1, "segment": "Everyone", "r_min": 1, "r_max": 5, "f_min": 1,
         "f_max": 5}]}).status_code == 200
    assert api.patch("/api/v1/analytics/offer-settings", headers=office,
                     json={"holdout_bp": 10_000}).json["holdout_bp"] == 10_000
    with central_db.read() as s:
        held = s.scalars(select(ChangeFeedEntry).where(
            ChangeFeedEntry.entity == "offer_profile").order_by(
            ChangeFeedEntry.version.desc())).first()
        assert held.payload["held_out"] is True  # everyone held out now
    assert analytics.analyze(central_db, path)["segments"] == {"Everyone": 60}
    app.extensions["kassa_db"].dispose()

    # Withdrawing the consent sends the tills a tombstone for the profile.
    with central_db.transaction() as s:
        profiles.set_consent(s, s.get(type(customers[0]), customers[0].id), "offers", False,
                             "office")
        last = s.scalars(select(ChangeFeedEntry).order_by(
            ChangeFeedEntry.version.desc())).first()
        assert (last.entity, last.deleted) == ("offer_profile", True)


def test_a_run_that_is_busy_elsewhere_is_skipped(central_db, tmp_path):
    path = tmp_path / "wh.duckdb"
    with analytics.locked(path):
        with pytest.raises(analytics.Busy):  # a second run does not start meanwhile
            analytics.refresh(central_db, path)


def test_a_serving_central_analyses_minutes_after_start_not_at_once(central_db, tmp_path):
    """A central restarted while every till reconnects serves them first: the day's analysis
    comes ANALYZE_AFTER_START after start, the first plain refresh a round later."""
    started = datetime.now(timezone.utc)
    served = jobs.Jobs(central_db, tmp_path / "wh.duckdb").start()
    try:
        when = {job.id: job.next_run_time for job in served.scheduler.get_jobs()}
    finally:
        served.stop()
    assert when["warehouse_analyze"] >= started + jobs.ANALYZE_AFTER_START
    assert when["warehouse_refresh"] >= started + timedelta(minutes=15)
    assert not (tmp_path / "wh.duckdb").exists()  # nothing done with the warehouse yet


def test_segment_sizes_and_movements_over_runs(central_db, tmp_path):
    with central_db.transaction() as s:
        plant_history(s, n_customers=40)
    path = tmp_path / "wh.duckdb"
    analytics.analyze(central_db, path, as_of=TODAY - timedelta(days=60))
    analytics.analyze(central_db, path, as_of=TODAY)
    with schema.connect(path, read_only=True) as con:
        sizes = rfm.sizes(con, date(2000, 1, 1), TODAY)
        moves = rfm.movements(con, TODAY - timedelta(days=60), TODAY)
    assert {s["as_of"] for s in sizes} == {str(TODAY - timedelta(days=60)), str(TODAY)}
    assert sum(s["customers"] for s in sizes if s["as_of"] == str(TODAY)) == 40
    assert sum(m["customers"] for m in moves) == 40
    assert any(m["from"] == "(new)" for m in moves)  # bought first in the last 60 days


def test_a_previous_systems_purchases_from_1997_are_scored_and_shown(central_app, central_db,
                                                                     seeded, tmp_path):
    """Purchases of 1997-98 imported from a previous system: the 360 counts them, marked as
    imported; reports and segments take the period; the lifetime run for a 30-day horizon is
    kept with its parameters and log-likelihoods, which the API lists."""
    days, prices, as_of = random.Random(5), random.Random(1), date(1998, 6, 30)
    with central_db.transaction() as s:
        buyers = [profiles.create_customer(s, f"Old buyer {i}").id for i in range(40)]
    rows = []
    for buyer in buyers:  # each with a spend of their own, as Gamma-Gamma tells it
        typical = prices.gammavariate(4, 60)
        rows += [f"{buyer},{as_of - timedelta(days=ago)},1,"
                 f"{prices.gammavariate(6, typical / 6):.2f},S001,1001"
                 for ago in purchase_days(days, window=365)]
    office = who(seeded, "office")
    loaded = central_app.test_client().post(
        "/api/v1/history/import", data="customer,date,quantity,amount,store,product\n"
        + "\n".join(rows), headers={**office, "Content-Type": "text/csv"})
    assert loaded.status_code == 200 and loaded.json["loaded"] == len(rows), loaded.json
    path = tmp_path / "wh.duckdb"

    life = analytics.analyze(central_db, path, as_of, horizon_days=30)["lifetime"]
    assert life["horizon_days"] == 30 and "skipped" not in life, life.get("skipped")
    assert life["bgnbd_log_likelihood"] < 0 and life["gamma_gamma_log_likelihood"] < 0
    with central_db.read() as s:
        score = s.get(CustomerScore, buyers[0])
        assert score.horizon_days == 30 and score.expected_purchases >= 0

    app = create_app(CentralConfig(db_url=central_app.config["KASSA"].db_url,
                                   clock_skew_seconds=300, warehouse_path=path))
    api = app.test_client()
    (run,) = api.get("/api/v1/analytics/lifetime-runs", headers=office).json["runs"]
    assert (run["as_of"], run["horizon_days"], run["customers"]) == ("1998-06-30", 30, 40)
    assert run["bgnbd_r"] == pytest.approx(life["bgnbd"]["r"])
    assert run["gamma_gamma_v"] == pytest.approx(life["gamma_gamma"]["v"])
    assert run["bgnbd_log_likelihood"] == pytest.approx(life["bgnbd_log_likelihood"])
    assert api.get("/api/v1/analytics/lifetime-runs", headers=who(seeded, "rm-msk")
                   ).status_code == 200
    assert api.get("/api/v1/analytics/lifetime-runs", headers=who(seeded, "sm-s001")
                   ).status_code == 403
    segments = api.get("/api/v1/analytics/segments?from=1997-01-01&to=1998-12-31",
                       headers=office).json
    assert segments["runs"] == ["1998-06-30"]
    assert sum(x["customers"] for x in segments["sizes"]) == 40
    sales = api.get("/api/v1/reports/sales?from=1997-07-01&to=1998-06-30&group=store",
                    headers=office)
    # The period is taken; the sales report counts the tills' receipts, which 1997 had none of.
    assert sales.status_code == 200 and sales.json["rows"] == [], sales.json
    refused = api.get("/api/v1/reports/sales?from=1969-12-01&to=1969-12-31", headers=office)
    assert refused.json["error"] == "bad_period" and "1970" in refused.json["message"]
    app.extensions["kassa_db"].dispose()

    view = central_app.test_client().get(f"/api/v1/customers/{buyers[0]}", headers=office).json
    mine = [r for r in rows if r.startswith(str(buyers[0]))]
    purchases = view["purchases"]
    assert purchases["count"] == purchases["imported"]["count"] == len(mine)
    assert purchases["total_minor"] == sum(int(r.split(",")[3].replace(".", "")) for r in mine)
    assert purchases["imported"]["first_at"].startswith(min(r.split(",")[1] for r in mine))
    assert all(r["imported"] and r["receipt_no"] is None for r in purchases["recent"])
    assert {e["kind"] for e in view["timeline"]} >= {"imported"}
    assert view["scores"]["horizon_days"] == 30


def test_the_warehouse_commands(central_db_url, central_db, tmp_path):
    with central_db.transaction() as s:
        plant_history(s, n_customers=40)
    env = {**os.environ, "KASSA_CENTRAL_DB": central_db_url,
           "KASSA_WAREHOUSE": str(tmp_path / "wh.duckdb"), "KASSA_VAR_DIR": str(tmp_path)}

    def kassa(*args):
        done = subprocess.run([sys.executable, "-m", "kassa.cli", "central", "warehouse", *args],
                              env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert kassa("refresh")["sales"] > 40
    assert kassa("analyze", "--as-of", str(TODAY))["segments"]
    assert kassa("rebuild")["customer_versions"] == 0  # history kept, nothing new
    assert kassa("export", str(tmp_path / "out"))["rfm_scores"] == 40
    env["KASSA_WAREHOUSE"] = "off"
    done = subprocess.run([sys.executable, "-m", "kassa.cli", "central", "warehouse",
                           "refresh"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "KASSA_WAREHOUSE is off" in done.stderr


def test_a_refresh_stopped_half_way_resumes_without_doubles(central_db, tmp_path,
                                                            monkeypatch):
    with central_db.transaction() as s:
        plant_history(s, n_customers=30)
        sales, total = s.execute(select(func.count(Sale.id), func.sum(Sale.total_minor))).one()
    path = tmp_path / "wh.duckdb"
    monkeypatch.setattr(load, "PAGE", 10)
    calls = {"n": 0}
    insert = load._insert_sale_lines

    def dies_on_the_third_page(con, keys):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError("the disk went away")
        insert(con, keys)

    monkeypatch.setattr(load, "FACT_SOURCES", tuple(
        (*src[:7], dies_on_the_third_page) if src[0] == "sales" else src
        for src in load.FACT_SOURCES))
    with pytest.raises(OSError, match="the disk went away"):
        load.refresh(central_db, path)
    with schema.connect(path, read_only=True) as con:  # two pages made it, with their mark
        assert con.execute("SELECT count(DISTINCT sale_id) FROM fact_sale_line"
                           ).fetchall()[0][0] == 20
    monkeypatch.setattr(load, "FACT_SOURCES", tuple(
        (*src[:7], insert) if src[0] == "sales" else src for src in load.FACT_SOURCES))
    load.refresh(central_db, path)
    load.refresh(central_db, path)
    with schema.connect(path, read_only=True) as con:
        assert con.execute("SELECT count(DISTINCT sale_id), sum(amount_minor), count(*) = "
                           "count(DISTINCT (sale_id, line_no)) FROM fact_sale_line"
                           ).fetchall() == [(sales, total, True)]


def test_profiles_follow_consent_through_merges_and_erasure(central_db, seeded, monkeypatch):
    monkeypatch.setattr(personal_offers, "CHUNK", 2)  # several IN lists, as with 65,536+ customers
    with central_db.transaction() as s:
        customers, _products = plant_history(s, n_customers=6)
        for c in customers[:5]:
            profiles.set_consent(s, c, "offers", True, "till pos-1")
        assert personal_offers.publish_profiles(s) == 5
        profiles.set_consent(s, customers[5], "offers", False, "till pos-1")
        office = s.scalars(select(User).where(User.username == "office")).one()
        # The duplicate said no later than the kept record said yes: the merged record's
        # newest answer is no, and the tills must stop offering.
        data_rights.merge(s, customers[0], customers[5], office)
        data_rights.anonymize(s, customers[1], "asked to be forgotten", office)

    def newest(cid):
        with central_db.read() as s:
            return s.scalars(select(ChangeFeedEntry).where(
                ChangeFeedEntry.entity == "offer_profile",
                ChangeFeedEntry.entity_key == str(cid))
                .order_by(ChangeFeedEntry.version.desc())).first()

    assert newest(customers[0].id).deleted and newest(customers[5].id).deleted
    assert newest(customers[1].id).deleted  # erased: no personal offers
    assert newest(customers[2].id).payload["offers_ok"] is True
