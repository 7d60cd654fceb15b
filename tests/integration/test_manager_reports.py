"""The managers' reports on SQLite and PostgreSQL, from sales made at two real tills: figures
by store, region, hour and cashier, loyalty's share, returns, points and their liability,
authorizations, leads converted to buyers, tasks on time; each scoped to the reader, and the
CSV carrying the same rows as the JSON."""

import csv
import io

from kassa.central.access import authorizations
from kassa.pos_node.replication.client import sync_now
from tests.helpers import point_a_rouble
from tests.helpers import staff_auth as who


def sell(till, sku, quantity, amount, card=None):
    till.post("/api/v1/cart/lines", json={"sku": sku, "quantity": quantity})
    if card:
        assert till.post("/api/v1/cart/customer", json={"card_number": card}).status_code == 200
    sale = till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": amount}]})
    assert sale.status_code == 201, sale.json
    return sale.json


def test_reports_add_up_and_stay_in_the_readers_reach(central_app, central_db, seeded, tills):
    api = central_app.test_client()
    office = who(seeded, "office")
    pos1, db1 = tills["pos-1"]
    pos2, db2 = tills["pos-2"]
    point_a_rouble(central_db)  # so that each receipt below earns points to report
    for db in (db1, db2):
        sync_now(db)
    # A web lead who then buys with a card: a converted lead.
    assert api.post("/api/v1/public/leads", json={
        "name": "Irina", "phone": "+79123456789", "store_code": "S001", "fill_ms": 4000,
        "utm_source": "vk"}).status_code == 202
    first = sell(pos1, "1001", 2, 17980, card="7770000000000001")   # loyalty, S001
    sell(pos1, "3001", 1, 149000)                                   # S001
    sell(pos2, "1002", 1, 5490, card="7770000000000003")            # loyalty, S002
    assert pos1.post("/api/v1/returns", json={"receipt_no": first["receipt_no"], "lines": [
        {"line_no": 1, "quantity": 1}]}).status_code == 201
    for db in (db1, db2):
        sync_now(db)
    with central_db.transaction() as s:
        authorizations.request(s, "pos-1", "refund", 20_000_000, "receipt x")

    by_store = api.get("/api/v1/reports/sales?group=store", headers=office).json
    rows = {r["key"]: r for r in by_store["rows"]}
    assert (rows["S001"]["receipts"], rows["S001"]["revenue_minor"]) == (2, 17980 + 149000)
    assert rows["S001"]["loyalty_share"] == round(17980 / (17980 + 149000), 4)
    assert rows["S001"]["items"] == 3 and rows["S001"]["items_per_receipt"] == 1.5
    assert rows["S001"]["returns_minor"] == 8990 and rows["S002"]["returns"] == 0
    assert by_store["totals"]["receipts"] == 3
    regions = {r["key"]: r["revenue_minor"] for r in api.get(
        "/api/v1/reports/sales?group=region", headers=office).json["rows"]}
    assert regions == {"MSK": 17980 + 149000, "SPB": 5490}
    cashiers = {r["key"]: r["receipts"] for r in api.get(
        "/api/v1/reports/sales?group=cashier", headers=office).json["rows"]}
    assert cashiers == {"cashier-s001": 2, "cashier-s002": 1}
    hours = api.get("/api/v1/reports/sales?group=hour", headers=office).json["rows"]
    assert sum(r["receipts"] for r in hours) == 3 and all(0 <= r["key"] < 24 for r in hours)

    # Saint Petersburg's manager sees their store only, in every report.
    spb = who(seeded, "rm-spb")
    assert [r["key"] for r in api.get("/api/v1/reports/sales?group=store",
                                      headers=spb).json["rows"]] == ["S002"]
    assert api.get("/api/v1/reports/authorizations", headers=spb).json["rows"] == []
    assert api.get("/api/v1/reports/leads", headers=spb).json["totals"]["leads"] == 0

    pts = api.get("/api/v1/reports/points", headers=office).json
    issued = {r["key"]: r["points"] for r in pts["rows"]}
    assert issued["issued"] > 0 and issued["taken back on returns"] > 0
    assert pts["totals"]["liability_minor"] == pts["totals"]["outstanding_points"] * 100
    auth = api.get("/api/v1/reports/authorizations", headers=office).json
    assert auth["rows"] == [{"key": "refund", "requested": 1, "approved": 0, "declined": 0,
                             "expired": 0, "pending": 1}]
    leads = api.get("/api/v1/reports/leads", headers=office).json
    assert leads["rows"] == [{"key": "vk", "leads": 1, "converted": 0, "conversion": 0.0}]
    # The lead's call-back is due in 15 minutes: on the stores' next day after 23:45 in
    # Moscow, so the report is asked for today and tomorrow (any hour the suite runs).
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo
    today = datetime.now(ZoneInfo("Europe/Moscow")).date()
    tasks = api.get(f"/api/v1/reports/tasks?from={today}&to={today + timedelta(days=1)}",
                    headers=office).json
    assert tasks["totals"]["open"] == 1

    exported = api.get("/api/v1/reports/sales?group=store&format=csv", headers=office)
    assert exported.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
    assert [(r["key"], int(r["revenue_minor"])) for r in table] == [
        (r["key"], r["revenue_minor"]) for r in by_store["rows"]]
    assert api.get("/api/v1/reports/sales?from=2026-02-01&to=2026-01-01",
                   headers=office).json["error"] == "bad_period"
