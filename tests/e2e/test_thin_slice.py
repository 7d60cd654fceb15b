"""The thin slice, for real: central and a node as separate processes on loopback ports.

A sale rung up at the node's HTTP API is pushed by ``kassa pos sync-now``, stored once at
central even when pushed twice (the node lost central's answer), and shows in the report.
Runs with central on SQLite and on PostgreSQL.
"""

import json
import sqlite3

import pytest
import requests

from tests.conftest import _sqlalchemy_url
from tests.e2e.conftest import KASSA, free_port, run_kassa

pytestmark = pytest.mark.e2e

SALE = {"lines": [{"sku": "1001", "quantity": 2}, {"barcode": "2100000020016",
                                                   "quantity": "0.750"}],
        "payments": [{"method": "card", "amount": 10000, "reference": "RRN-1"},
                     {"method": "cash", "amount": 20000}]}
TOTAL = 2 * 8990 + 11993


@pytest.fixture
def central_url_db(central_engine, tmp_path, request):
    if central_engine == "sqlite":
        return f"sqlite:///{tmp_path / 'central.sqlite'}"
    server = request.getfixturevalue("pg_server")
    name = server.create()
    request.addfinalizer(lambda: server.drop(name))
    return _sqlalchemy_url(name)


def report(central, password):
    resp = requests.get(central + "/api/v1/reports/sales-by-store", auth=("office", password),
                        timeout=10)
    assert resp.status_code == 200, resp.text
    return {r["store_code"]: r for r in resp.json()["stores"]}


def test_a_sale_travels_from_the_till_to_the_report_exactly_once(
        central_url_db, tmp_path, supervisor):
    central_env = {"KASSA_CENTRAL_DB": central_url_db}
    node_file = tmp_path / "pos-1.sqlite"
    # No background sync: this test pushes by hand to see each step.
    node_env = {"KASSA_NODE_DB": str(node_file), "KASSA_SYNC_INTERVAL": "0"}
    run_kassa("central", "init-db", env=central_env)
    secrets = json.loads(run_kassa("central", "seed-demo", env=central_env).stdout)
    office_pw = secrets["users"]["office"]["password"]

    cport, nport = free_port(), free_port()
    central = f"http://127.0.0.1:{cport}"
    node = f"http://127.0.0.1:{nport}"
    supervisor.start("central", KASSA + ["central", "serve", "--port", str(cport)], central_env)
    supervisor.wait_http("central", central + "/health")

    run_kassa("pos", "init", "--node-id", "pos-1", "--central-url", central,
              "--enroll-code", secrets["nodes"]["pos-1"]["enroll_code"], env=node_env)
    pulled = run_kassa("pos", "sync-now", env=node_env).stdout
    assert "pushed 0 events" in pulled

    supervisor.start("pos-1", KASSA + ["pos", "serve", "--port", str(nport)], node_env)
    supervisor.wait_http("pos-1", node + "/health")

    till = requests.Session()
    assert till.post(node + "/api/v1/sales", json=SALE, timeout=10).json()["error"] == \
        "signed_out"
    signin = till.post(node + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": secrets["users"]["cashier-s001"]["pin"]})
    assert signin.status_code == 200, signin.text
    assert till.post(node + "/api/v1/sales", json=SALE, timeout=10).json()["error"] == \
        "shift_closed"
    assert till.post(node + "/api/v1/shifts/current", json={"opening_float": 0},
                     timeout=10).status_code == 201
    bad = till.post(node + "/api/v1/sales", json={**SALE, "lines": [{"sku": "1001",
                                                                      "quantity": -2}]},
                    timeout=10)
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_input"
    sale = till.post(node + "/api/v1/sales", json=SALE, timeout=10)
    assert sale.status_code == 201, sale.text
    assert sale.json()["total_minor"] == TOTAL
    assert sale.json()["change_minor"] == 30000 - TOTAL
    assert requests.get(node + "/api/v1/status", timeout=5).json()["pending_events"] == 2

    assert report(central, office_pw)["S001"]["sales_count"] == 0  # not pushed yet
    out = run_kassa("pos", "sync-now", env=node_env).stdout
    assert "pushed 2 events (central holds up to 2)" in out
    first = report(central, office_pw)["S001"]
    assert (first["sales_count"], first["total_minor"]) == (1, TOTAL)

    # Central's answer "got it" is lost: the node still holds the event as unacknowledged and
    # pushes it again. Central must recognise it and store nothing twice.
    with sqlite3.connect(node_file) as conn:
        conn.execute("UPDATE outbox_events SET acked_at = NULL")
    assert requests.get(node + "/api/v1/status", timeout=5).json()["pending_events"] == 2
    out = run_kassa("pos", "sync-now", env=node_env).stdout
    assert "pushed 2 events (central holds up to 2)" in out
    again = report(central, office_pw)["S001"]
    assert (again["sales_count"], again["total_minor"]) == (1, TOTAL)
    assert requests.get(node + "/api/v1/status", timeout=5).json()["pending_events"] == 0

    # A second sale goes up as seq 3 and lands beside the first.
    assert till.post(node + "/api/v1/sales", json=SALE, timeout=10).status_code == 201
    assert "central holds up to 3" in run_kassa("pos", "sync-now", env=node_env).stdout
    assert report(central, office_pw)["S001"]["sales_count"] == 2


def test_sync_now_says_clearly_when_central_is_down(tmp_path, seeded_central, supervisor):
    # A till whose central has gone: central's engine plays no part, so one run (on SQLite).
    central_env = {"KASSA_CENTRAL_DB": str(tmp_path / "central.sqlite")}
    node_env = {"KASSA_NODE_DB": str(tmp_path / "pos-2.sqlite"), "KASSA_SYNC_INTERVAL": "0"}
    secrets = seeded_central(tmp_path / "central.sqlite")
    cport = free_port()
    supervisor.start("central", KASSA + ["central", "serve", "--port", str(cport)], central_env)
    supervisor.wait_http("central", f"http://127.0.0.1:{cport}/health")
    run_kassa("pos", "init", "--node-id", "pos-2", "--central-url", f"http://127.0.0.1:{cport}",
              "--enroll-code", secrets["nodes"]["pos-2"]["enroll_code"], env=node_env)
    supervisor.stop_all()
    down = run_kassa("pos", "sync-now", env=node_env, check=False)
    assert down.returncode == 1
    assert "unreachable" in down.stderr
