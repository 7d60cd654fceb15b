"""Store-local days, on SQLite and PostgreSQL: a Moscow store's sale at 00:30 on its clock (21:30
UTC the evening before) is on that Moscow day in the till's Z report, in what the till tells
central it counted, in central's daily and per-store reports and reconciliation, and in the
warehouse's facts and reports; a report over stores in two zones lists both."""

from datetime import datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from kassa.central import create_app
from kassa.central.reporting.warehouse import load, schema
from kassa.common import clock
from kassa.common.config import CentralConfig
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth as who
from tests.integration.test_manager_reports import sell

MOSCOW = ZoneInfo("Europe/Moscow")


def at_moscow_time(monkeypatch, moment: datetime) -> None:
    """Every clock in this process (the tills', central's) reads ``moment`` now."""
    monkeypatch.setattr(clock, "_OFFSET", moment - datetime.now(timezone.utc))


def test_a_sale_after_midnight_in_moscow_is_on_the_moscow_day_everywhere(
        central_db_url, central_db, tills, seeded, tmp_path, monkeypatch):
    now = datetime.now(timezone.utc)
    # The last 00:30 on Moscow's clock at least an hour ago, and a sale an hour before it.
    after_midnight = datetime.combine(now.astimezone(MOSCOW).date(), time(0, 30), MOSCOW)
    if after_midnight > now - timedelta(hours=1):
        after_midnight -= timedelta(days=1)
    day = after_midnight.date()
    eve = day - timedelta(days=1)
    assert after_midnight.astimezone(timezone.utc).date() == eve  # UTC says the day before
    pos1, db1 = tills["pos-1"]
    real = clock._OFFSET
    at_moscow_time(monkeypatch, after_midnight - timedelta(hours=1))  # 23:30 the evening before
    sell(pos1, "1001", 1, 8990)
    at_moscow_time(monkeypatch, after_midnight)
    sell(pos1, "1001", 2, 17980)
    monkeypatch.setattr(clock, "_OFFSET", real)

    # The till's Z report: the shift's sales on each day of the store's clock.
    z = pos1.post("/api/v1/shifts/current/close", json={"counted_cash": 100000 + 8990 + 17980})
    assert z.status_code == 200, z.json
    assert z.json["timezone"] == "Europe/Moscow"
    assert [(d["day"], d["sales_count"], d["sales_minor"]) for d in z.json["days"]] == [
        (eve.isoformat(), 1, 8990), (day.isoformat(), 1, 17980)]
    sync_now(db1)

    api_app = create_app(CentralConfig(db_url=central_db_url, clock_skew_seconds=300,
                                       warehouse_path=tmp_path / "wh.duckdb"))
    api = api_app.test_client()
    office = who(seeded, "office")
    period = f"from={eve}&to={day}"
    live = api.get(f"/api/v1/reports/sales?group=day&source=live&{period}", headers=office).json
    assert [(r["key"], r["receipts"], r["revenue_minor"]) for r in live["rows"]] == [
        (eve.isoformat(), 1, 8990), (day.isoformat(), 1, 17980)]
    hours = api.get(f"/api/v1/reports/sales?group=hour&source=live&{period}",
                    headers=office).json["rows"]
    assert [(r["key"], r["receipts"]) for r in hours] == [(0, 1), (23, 1)]
    by_store = api.get(f"/api/v1/reports/sales-by-store?from={day}&to={day}",
                       headers=office).json
    assert {r["store_code"]: r["total_minor"] for r in by_store["stores"]}["S001"] == 17980
    # What the till counted per day and what central holds from it agree, day by day.
    rows = api.get(f"/api/v1/reports/reconciliation?{period}", headers=office).json["rows"]
    assert [(r["day"], r["node_sales_minor"], r["central_sales_minor"], r["status"])
            for r in rows if r["node_id"] == "pos-1"] == [
        (eve.isoformat(), 8990, 8990, "match"), (day.isoformat(), 17980, 17980, "match")]

    load.refresh(central_db, tmp_path / "wh.duckdb")
    with schema.connect(tmp_path / "wh.duckdb", read_only=True) as con:
        keys = con.execute("SELECT date_key, sum(amount_minor) FROM fact_sale_line "
                           "GROUP BY ALL ORDER BY 1").fetchall()
        dates = con.execute("SELECT count(*) FROM dim_date WHERE date = ?", [day]).fetchall()
    assert keys == [(int(f"{eve:%Y%m%d}"), 8990), (int(f"{day:%Y%m%d}"), 17980)]
    assert dates == [(1,)]
    for group in ("day", "hour"):
        stored, live = (api.get(f"/api/v1/reports/sales?group={group}&source={source}&{period}",
                                headers=office).json for source in ("warehouse", "live"))
        assert (stored.pop("source"), live.pop("source")) == ("warehouse", "live")
        assert stored == live, group
    api_app.extensions["kassa_db"].dispose()


@pytest.mark.parametrize("reader, zones", [
    ("office", ["Asia/Yekaterinburg", "Europe/Moscow"]),
    ("rm-spb", ["Europe/Moscow"]),
])
def test_a_report_over_stores_in_two_zones_says_so(central_app, seeded, reader, zones):
    api = central_app.test_client()
    moved = api.patch("/api/v1/stores/1", json={"timezone": "Asia/Yekaterinburg"},
                      headers=who(seeded, "office"))
    assert moved.status_code == 200 and moved.json["timezone"] == "Asia/Yekaterinburg"
    bad = api.patch("/api/v1/stores/1", json={"timezone": "Mars/Olympus"},
                    headers=who(seeded, "office"))
    assert bad.status_code == 422 and bad.json["error"] == "bad_timezone"
    for url in ("/api/v1/reports/sales", "/api/v1/reports/points",
                "/api/v1/reports/sales-by-store"):
        answer = api.get(url, headers=who(seeded, reader))
        assert answer.status_code == 200 and answer.json["timezones"] == zones, url
