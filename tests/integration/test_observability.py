"""Metrics at /metrics and logs with request ids. In process (Flask test clients): who may
scrape, what a sale and a refusal count at the till. With real processes: central under
gunicorn with two workers (PostgreSQL; on SQLite ``kassa central serve`` runs one), a served
till behind a proxy that can cut its link: counts summed over workers, the till's queue while
central is away, and one request id in both processes' JSON logs."""

from __future__ import annotations

import json
import shutil
import sys
import threading
from pathlib import Path

import requests
from prometheus_client.parser import text_string_to_metric_families

from kassa.central import create_app as create_central
from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS
from kassa.common.config import CentralConfig, normalize_db_url
from kassa.common.db import Database
from kassa.common.runtime.processes import Supervisor
from kassa.common.storage.migrate import upgrade
from kassa.pos_node.replication.bootstrap import bootstrap_if_new
from kassa.pos_node.replication.enrolment import init_node
from tests.conftest import PG_ADMIN
from tests.faultproxy import FaultProxy
from tests.helpers import free_port, wait_until

KASSA = [sys.executable, "-m", "kassa.cli"]
SALE = {"lines": [{"sku": "1001", "quantity": 2}, {"barcode": "2100000020016",
                                                   "quantity": "0.750"}],
        "payments": [{"method": "cash", "amount": 50000}]}


def parse(text: str) -> list[tuple[str, dict, float]]:
    return [(s.name, s.labels, s.value) for family in text_string_to_metric_families(text)
            for s in family.samples]


def value(samples, name: str, **labels) -> float:
    """The sum of ``name``'s samples whose labels include ``labels`` (0 when none)."""
    return sum(v for n, lab, v in samples
               if n == name and all(lab.get(k) == want for k, want in labels.items()))


def scrape(client) -> list:
    resp = client.get("/metrics")
    assert resp.status_code == 200, resp.data
    return parse(resp.get_data(as_text=True))


def test_a_sale_and_a_refusal_are_counted_at_the_till(till):
    before = scrape(till)
    sold = till.post("/api/v1/sales", json=SALE, headers={"X-Request-Id": "till-42.a_b"})
    assert sold.status_code == 201, sold.json
    assert sold.headers["X-Request-Id"] == "till-42.a_b"  # a sane incoming id is kept
    refused = till.post("/api/v1/sales", json={**SALE, "lines": [{"sku": "nope", "quantity": 1}]},
                        headers={"X-Request-Id": "x" * 65})
    assert refused.status_code >= 400
    made = refused.headers["X-Request-Id"]
    assert len(made) == 32 and made != "x" * 65  # too long: a fresh one instead
    after = scrape(till)

    def delta(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    assert delta("kassa_checkout_duration_seconds_count", app="pos", endpoint="sales.Sales",
                 outcome="ok") == 1
    assert delta("kassa_checkout_duration_seconds_count", endpoint="sales.Sales",
                 outcome="error") == 1
    assert delta("kassa_http_request_duration_seconds_count", app="pos",
                 endpoint="sales.Sales", method="POST", status="201") == 1
    assert delta("kassa_http_errors_total", app="pos", code=refused.json["error"],
                 status=str(refused.status_code)) == 1
    # The shift opened by the fixture and the sale wait for central.
    assert value(after, "kassa_node_outbox_pending_events", node_id="pos-1") == 2
    assert value(after, "kassa_node_oldest_pending_event_age_seconds") >= 0
    assert value(after, "kassa_node_online") == 0  # never synced
    assert value(after, "kassa_status_query_ok") == 1


def test_metrics_are_for_loopback_clients_or_the_token_holder(tmp_path):
    url = f"sqlite:///{tmp_path / 'not-migrated.sqlite'}"

    def client(**config):
        return create_central(CentralConfig(db_url=url, clock_skew_seconds=300,
                                            **config)).test_client()

    outside = {"REMOTE_ADDR": "203.0.113.7"}
    plain = client()
    refused = plain.get("/metrics", environ_base=outside)
    assert refused.status_code == 403 and refused.json["error"] == "metrics_forbidden"
    # Through a proxy central does not believe (KASSA_TRUSTED_PROXIES=0), the client is unknown.
    assert plain.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 403
    answered = plain.get("/metrics")
    assert answered.status_code == 200
    # The database does not answer (never migrated): the scrape still does, and says so.
    assert value(parse(answered.get_data(as_text=True)), "kassa_status_query_ok") == 0
    assert "/metrics" not in plain.get("/api/openapi.json").json["paths"]

    proxied = client(trusted_proxies=1)  # nginx in front: its X-Forwarded-For is believed
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "203.0.113.7"}).status_code == 403
    assert proxied.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"}).status_code == 200

    with_token = client(metrics_token="s3cret-token")
    bearer = {"Authorization": "Bearer s3cret-token"}
    assert with_token.get("/metrics", environ_base=outside, headers=bearer).status_code == 200
    assert with_token.get("/metrics", environ_base=outside,
                          headers={"Authorization": "Bearer wrong"}).status_code == 403
    assert with_token.get("/metrics", environ_base=outside).status_code == 403


def json_lines(path: Path) -> list[dict]:
    """Every line of a served process's log, each of which must be one JSON object."""
    lines = [line for line in path.read_text().splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "message"} <= d.keys() for d in docs)
    return docs


def test_served_central_and_till(pg_server, node_template, tmp_path):
    database = pg_server.create()
    central_url = normalize_db_url(f"{PG_ADMIN.rsplit('/', 1)[0]}/{database}")
    central_env = {"KASSA_CENTRAL_DB": central_url,
                   "KASSA_VAR_DIR": str(tmp_path / "central-var"), "KASSA_CENTRAL_JOBS": "off",
                   "KASSA_WAREHOUSE": "off", "KASSA_LOG_FORMAT": "json"}
    node_env = {"KASSA_NODE_DB": str(tmp_path / "pos-1.sqlite"), "KASSA_LOG_FORMAT": "json",
                "KASSA_VAR_DIR": str(tmp_path / "pos-var"), "KASSA_SYNC_INTERVAL": "0.3",
                "KASSA_SYNC_BACKOFF_MAX": "0.6", "KASSA_HTTP_TIMEOUT": "3",
                "KASSA_BACKUP": "off"}
    upgrade(MIGRATIONS, central_url)
    db = Database(central_url)
    with db.transaction() as session:
        secrets = seed(session, ("pos-1",))
    db.dispose()
    sup = Supervisor(tmp_path / "logs")
    cport, nport = free_port(), free_port()
    central, node = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{nport}"
    proxy = FaultProxy(("127.0.0.1", cport)).start()
    try:
        sup.start("central", KASSA + ["central", "serve", "--port", str(cport), "--workers",
                                      "2"], central_env)
        sup.wait_http("central", central + "/health")
        shutil.copyfile(node_template, node_env["KASSA_NODE_DB"])  # migrated already
        node_url = f"sqlite:///{node_env['KASSA_NODE_DB']}"
        init_node(node_url, "pos-1", proxy.url, secrets["nodes"]["pos-1"]["enroll_code"], 5)
        bootstrap_if_new(node_url, 5)
        sup.start("pos-1", KASSA + ["pos", "serve", "--port", str(nport)], node_env)
        sup.wait_http("pos-1", node + "/health")

        till = requests.Session()
        assert till.post(f"{node}/api/v1/session", json={
            "username": "cashier-s001", "pin": secrets["users"]["cashier-s001"]["pin"]},
            timeout=10).status_code == 200
        assert till.post(f"{node}/api/v1/shifts/current", json={"opening_float": 100000},
                         timeout=10).status_code == 201
        asked = till.post(f"{node}/api/v1/authorizations", json={
            "kind": "discount", "amount": 6000, "subject": "line 1 1001"},
            headers={"X-Request-Id": "till-auth-0001"}, timeout=10)
        assert asked.status_code == 201, asked.text
        assert till.post(f"{node}/api/v1/sales", json=SALE, timeout=10).status_code == 201

        def node_metrics():
            return parse(requests.get(f"{node}/metrics", timeout=5).text)

        def pending():
            return value(node_metrics(), "kassa_node_outbox_pending_events", node_id="pos-1")

        assert wait_until(lambda: pending() == 0, timeout=15)
        samples = node_metrics()
        assert value(samples, "kassa_checkout_duration_seconds_count", outcome="ok") == 1
        assert value(samples, "kassa_authorization_duration_seconds_count",
                     endpoint="authorization.Ask", outcome="ok") == 1
        assert value(samples, "kassa_node_online", node_id="pos-1") == 1

        # Central is away: the sale waits in the queue, and comes down to 0 once it is back.
        proxy.set_down(True)
        assert till.post(f"{node}/api/v1/sales", json=SALE, timeout=10).status_code == 201
        assert wait_until(lambda: pending() == 1, timeout=5)
        assert value(node_metrics(), "kassa_node_oldest_pending_event_age_seconds") > 0
        proxy.set_down(False)
        assert wait_until(lambda: pending() == 0, timeout=15)
        assert value(node_metrics(), "kassa_node_seconds_since_last_sync") < 10

        # Counts at central are the sum over its workers, whichever worker answers the scrape.
        def central_metrics():
            return parse(requests.get(f"{central}/metrics", timeout=5).text)

        def health_count():
            return value(central_metrics(), "kassa_http_request_duration_seconds_count",
                         app="central", endpoint="health", status="200")

        base = health_count()
        # Eight keep-alive clients at once: one worker holds at most four connections (its
        # threads), so both workers answer some.
        clients = [requests.Session() for _ in range(8)]
        barrier = threading.Barrier(8)

        def hit(session):
            barrier.wait()
            for _ in range(3):
                assert session.get(f"{central}/health", timeout=10).status_code == 200

        metrics_dir = next((tmp_path / "central-var" / "metrics").glob("kassa-central-*"))

        def workers_counting():
            return {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("histogram_*.db")}

        sent = 0
        while sent == 0 or (len(workers_counting()) < 2 and sent < 240):
            threads = [threading.Thread(target=hit, args=(s,)) for s in clients]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            sent += 24
        for s in clients:
            s.close()
        assert len(workers_counting()) == 2
        assert [health_count() - base for _ in range(4)] == [sent] * 4

        at_central = central_metrics()
        assert value(at_central, "kassa_central_node_high_water", node_id="pos-1") >= 3
        assert value(at_central, "kassa_central_node_events_behind", node_id="pos-1") == 0
        assert value(at_central, "kassa_central_quarantined_events", node_id="pos-1") == 0
        assert value(at_central, "kassa_central_node_seconds_since_seen", node_id="pos-1") < 30
        assert value(at_central, "kassa_central_node_state", node_id="pos-1",
                     state="online") == 1
        assert value(at_central, "kassa_authorization_duration_seconds_count",
                     endpoint="authorizations.Requests") == 1
        refused = requests.get(f"{central}/api/v1/nodes/status", timeout=5)
        assert refused.status_code == 401
        assert value(central_metrics(), "kassa_http_errors_total", app="central",
                     code=refused.json()["error"]) >= 1
    finally:
        proxy.stop()
        sup.stop_all()

    # Each run's metrics directory goes with it.
    assert not list((tmp_path / "central-var" / "metrics").glob("kassa-central-*"))
    central_log = json_lines(tmp_path / "logs" / "central.log")
    node_log = json_lines(tmp_path / "logs" / "pos-1.log")

    def lines(log, **fields):
        return [d for d in log if all(d.get(k) == v for k, v in fields.items())]

    # The till's request, its call to central and central's answer share the till's id.
    assert lines(node_log, request_id="till-auth-0001", logger="kassa.request",
                 path="/api/v1/authorizations", status=201, app="pos", node_id="pos-1")
    assert lines(node_log, request_id="till-auth-0001", logger="kassa.pos_node.replication.client",
                 path="/api/v1/authorizations", status=201)
    assert lines(central_log, request_id="till-auth-0001", logger="kassa.request",
                 path="/api/v1/authorizations", status=201, app="central", node_id="pos-1")
    # Each background sync call carries an id of its own, logged at both ends.
    pushes = lines(node_log, logger="kassa.pos_node.replication.client",
                   path="/api/v1/sync/push", status=200)
    assert pushes
    for push in pushes:
        assert lines(central_log, request_id=push["request_id"], path="/api/v1/sync/push",
                     status=200, node_id="pos-1")
    assert all(d["duration_ms"] >= 0 for d in lines(central_log, logger="kassa.request"))
