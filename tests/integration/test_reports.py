"""Sales by store at central: each reader sees only their scope; on both engines."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from kassa.central.models import Sale
from tests.helpers import basic_auth, count
from tests.integration.test_sync_central import push, sale_event

REPORT = "/api/v1/reports/sales-by-store"


@pytest.fixture
def with_sales(central_app, central_db, enrolled):
    resp = push(central_app.test_client(), enrolled, [sale_event(1), sale_event(2)])
    assert resp.status_code == 200
    return central_app.test_client()


def as_user(client, seeded, username, query=""):
    password = seeded["users"][username]["password"]
    return client.get(REPORT + query, headers=basic_auth(username, password))


def test_central_office_sees_every_store(with_sales, seeded):
    resp = as_user(with_sales, seeded, "office")
    assert resp.status_code == 200
    rows = {r["store_code"]: r for r in resp.json["stores"]}
    assert rows["S001"]["sales_count"] == 2 and rows["S001"]["total_minor"] == 2 * 17980
    assert rows["S001"]["vat_minor"] == 2 * 1635
    assert rows["S002"]["sales_count"] == 0 and rows["S002"]["total_minor"] == 0


@pytest.mark.parametrize("username, stores", [
    ("admin", {"S001", "S002"}),
    ("rm-msk", {"S001"}),
    ("rm-spb", {"S002"}),
    ("sm-s002", {"S002"}),
])
def test_each_reader_sees_only_their_scope(with_sales, seeded, username, stores):
    resp = as_user(with_sales, seeded, username)
    assert resp.status_code == 200
    assert {r["store_code"] for r in resp.json["stores"]} == stores


def test_the_period_filter_counts_only_days_inside_it(with_sales, seeded):
    empty = as_user(with_sales, seeded, "office", "?from=2001-01-01&to=2001-12-31")
    assert all(r["sales_count"] == 0 for r in empty.json["stores"])
    # sale_event stamps "now": today on the demo stores' clock (Moscow), which the days follow
    today = datetime.now(ZoneInfo("Europe/Moscow")).date().isoformat()
    rows = as_user(with_sales, seeded, "office", f"?from={today}&to={today}").json
    assert sum(r["sales_count"] for r in rows["stores"]) == 2


@pytest.mark.parametrize("query, code", [("?from=2026-13-01", "invalid_input"),
                                         ("?from=2026-02-01&to=2026-01-01", "bad_period")])
def test_bad_periods_get_422(with_sales, seeded, query, code):
    resp = as_user(with_sales, seeded, "office", query)
    assert resp.status_code == 422 and resp.json["error"] == code


def test_people_who_may_not_read_are_refused(with_sales, seeded, central_db):
    client = with_sales
    assert client.get(REPORT).json["error"] == "auth_required"
    assert client.get(REPORT).status_code == 401
    wrong = client.get(REPORT, headers=basic_auth("office", "wrong"))
    assert wrong.status_code == 401 and wrong.json["error"] == "bad_credentials"
    nobody = client.get(REPORT, headers=basic_auth("nobody", "x"))
    assert nobody.status_code == 401 and nobody.json["error"] == "bad_credentials"
    # cashiers have PINs for the till and no password for central at all
    cashier = client.get(REPORT, headers=basic_auth("cashier-s001", ""))
    assert cashier.status_code == 401
    assert count(central_db, Sale) == 2
