"""Central's push and pull endpoints, on SQLite and PostgreSQL: signed, exactly once, in order."""

import time
import uuid
from datetime import datetime, timezone

import pytest
from sqlalchemy import event, select

from kassa.central.models import Payment, QuarantinedEvent, ReceivedEvent, Sale, SaleLine
from kassa.common.signing import generate_private_key_pem
from tests.helpers import count, signed

PUSH = "/api/v1/sync/push"


def sale_event(seq: int, receipt: int | None = None, *, store_id: int = 1,
               product_id: int = 1) -> dict:
    receipt = receipt or seq
    return {
        "seq": seq, "event_id": str(uuid.uuid4()), "kind": "sale.completed",
        "occurred_at": datetime.now(timezone.utc).isoformat(),
        "payload": {
            "sale_id": str(uuid.uuid4()), "receipt_no": f"pos-1-{receipt:08d}",
            "store_id": store_id, "sold_at": datetime.now(timezone.utc).isoformat(),
            "customer_id": None, "total_minor": 17980, "vat_minor": 1635,
            "lines": [{"line_no": 1, "product_id": product_id, "sku": "1001", "name": "Milk",
                       "quantity_milli": 2000, "unit_price_minor": 8990, "amount_minor": 17980,
                       "vat_rate_bp": 1000, "vat_minor": 1635}],
            "payments": [{"method": "cash", "amount_minor": 17980, "tendered_minor": 20000,
                          "reference": None}]}}


def push(client, enrolled, events, **kw):
    node_id, key = enrolled
    return signed(client, "POST", PUSH, node_id, key, {"node_id": node_id, "events": events},
                  **kw)


def nothing_applied(db):
    return all(count(db, m) == 0 for m in (Sale, SaleLine, Payment, ReceivedEvent))


def test_a_batch_is_applied_once_even_when_pushed_twice(central_app, central_db, enrolled):
    client = central_app.test_client()
    batch = [sale_event(1), sale_event(2)]
    first = push(client, enrolled, batch)
    assert first.status_code == 200, first.json
    assert first.json == {"high_water": 2, "applied": 2}
    again = push(client, enrolled, batch)
    assert again.json == {"high_water": 2, "applied": 0}
    assert count(central_db, Sale) == 2 and count(central_db, ReceivedEvent) == 2
    overlapping = push(client, enrolled, [batch[1], sale_event(3)])
    assert overlapping.json == {"high_water": 3, "applied": 1}
    assert count(central_db, Sale) == 3


def test_a_gap_is_refused_with_the_high_water_mark(central_app, central_db, enrolled):
    client = central_app.test_client()
    push(client, enrolled, [sale_event(1)])
    resp = push(client, enrolled, [sale_event(3)])
    assert resp.status_code == 409
    assert resp.json["error"] == "seq_gap"
    assert resp.json["details"]["high_water"] == 1
    assert count(central_db, Sale) == 1


def test_a_different_event_under_a_held_seq_is_a_conflict(central_app, central_db, enrolled):
    client = central_app.test_client()
    push(client, enrolled, [sale_event(1)])
    resp = push(client, enrolled, [sale_event(1, receipt=99)])
    assert resp.status_code == 409 and resp.json["error"] == "seq_conflict"


def test_the_same_sale_under_a_new_seq_is_quarantined_not_doubled(central_app, central_db,
                                                                  enrolled):
    client = central_app.test_client()
    first = sale_event(1)
    assert push(client, enrolled, [first]).status_code == 200
    copy = sale_event(3, receipt=1)
    copy["payload"]["sale_id"] = first["payload"]["sale_id"]
    resp = push(client, enrolled, [sale_event(2), copy, sale_event(4)])
    assert resp.status_code == 200 and resp.json == {"high_water": 4, "applied": 3}
    assert count(central_db, Sale) == 3 and count(central_db, ReceivedEvent) == 4
    assert held_reasons(central_db) == [(3, "duplicate_fact")]


def held_reasons(db):
    with db.read() as session:
        return [(q.seq, q.reason) for q in session.scalars(
            select(QuarantinedEvent).where(QuarantinedEvent.status == "held")
            .order_by(QuarantinedEvent.seq))]


@pytest.mark.parametrize("bad, code", [
    (lambda e: e["payload"].pop("lines"), "bad_event"),
    (lambda e: e["payload"].update(store_id=2), "bad_event"),
    (lambda e: e["payload"]["lines"][0].update(product_id=9999), "unknown_reference"),
    (lambda e: e.update(kind="sale.teleported"), "unknown_event_kind"),
])
def test_a_bad_event_is_quarantined_and_the_queue_goes_on(central_app, central_db, enrolled,
                                                          bad, code):
    events = [sale_event(1), sale_event(2), sale_event(3)]
    bad(events[1])
    resp = push(central_app.test_client(), enrolled, events)
    assert resp.status_code == 200, resp.json
    assert resp.json == {"high_water": 3, "applied": 3}
    assert count(central_db, Sale) == 2 and count(central_db, ReceivedEvent) == 3
    assert held_reasons(central_db) == [(2, code)]


@pytest.mark.parametrize("body", [
    {"node_id": "pos-1"},
    {"node_id": "pos-1", "events": "x"},
    {"node_id": "pos-1", "events": [{"seq": "1"}]},
    {"node_id": "pos-1", "events": [{**sale_event(1), "seq": 0}]},
    {"node_id": "pos-1", "events": [{**sale_event(1), "occurred_at": "yesterday"}]},
])
def test_malformed_batches_get_422(central_app, central_db, enrolled, body):
    node_id, key = enrolled
    resp = signed(central_app.test_client(), "POST", PUSH, node_id, key, body)
    assert resp.status_code == 422 and resp.json["error"] == "invalid_input"
    assert nothing_applied(central_db)


def test_requests_must_be_signed_by_the_enrolled_key(central_app, central_db, enrolled):
    client = central_app.test_client()
    node_id, key = enrolled
    body = {"node_id": node_id, "events": [sale_event(1)]}
    cases = [
        (signed(client, "POST", PUSH, node_id, generate_private_key_pem(), body),
         "bad_signature"),
        (signed(client, "POST", PUSH, node_id, key, body, tamper=True), "bad_signature"),
        (signed(client, "POST", PUSH, "pos-2", key, {**body, "node_id": "pos-2"}),
         "unknown_node"),
        (signed(client, "POST", PUSH, "pos-9", key, body), "unknown_node"),
        (signed(client, "POST", PUSH, node_id, key, body, stamp=int(time.time()) - 3600),
         "clock_skew"),
        (client.post(PUSH, json=body), "unsigned_request"),
    ]
    for resp, code in cases:
        assert resp.status_code == 401, (code, resp.json)
        assert resp.json["error"] == code
    assert nothing_applied(central_db)


def test_a_node_cannot_push_for_another(central_app, enrolled):
    node_id, key = enrolled
    resp = signed(central_app.test_client(), "POST", PUSH, node_id, key,
                  {"node_id": "pos-2", "events": []})
    assert resp.status_code == 403 and resp.json["error"] == "node_mismatch"


def test_uncompressed_bodies_work_and_broken_gzip_is_400(central_app, enrolled):
    client = central_app.test_client()
    assert push(client, enrolled, [sale_event(1)], compress=False).status_code == 200
    node_id, key = enrolled
    resp = client.post(PUSH, data=b"not gzip", headers={
        "Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert resp.status_code == 400 and resp.json["error"] == "bad_encoding"


def test_the_change_feed_pages_in_version_order(central_app, enrolled):
    client = central_app.test_client()
    node_id, key = enrolled
    seen, since = [], 0
    while True:
        resp = signed(client, "GET", f"/api/v1/sync/changes?since={since}&limit=7", node_id, key)
        assert resp.status_code == 200, resp.json
        seen += [c["version"] for c in resp.json["changes"]]
        since = resp.json["next_since"]
        if not resp.json["more"]:
            break
    assert seen == sorted(seen) and len(seen) == len(set(seen))
    everything = signed(client, "GET", "/api/v1/sync/changes?since=0&limit=1000", node_id, key)
    entities = {c["entity"] for c in everything.json["changes"]}
    assert {"product", "price", "store", "user", "customer"} <= entities
    bad = signed(client, "GET", "/api/v1/sync/changes?since=-1", node_id, key)
    assert bad.status_code == 422 and bad.json["error"] == "invalid_input"


def test_a_pull_reads_its_page_in_the_transaction_that_checked_it_in(central_app, enrolled):
    """The busiest call central has: on PostgreSQL one transaction checks the node in (keys,
    nonce, last contact) and reads its page; on SQLite the page has a read transaction of its
    own, which never holds the writer. A pull refused by the view is refused cleanly."""
    client = central_app.test_client()
    node_id, key = enrolled
    engine = central_app.extensions["kassa_db"].engine
    begun: list[object] = []

    def began(connection) -> None:
        begun.append(connection)

    event.listen(engine, "begin", began)
    resp = signed(client, "GET", "/api/v1/sync/changes?since=0&limit=5", node_id, key)
    event.remove(engine, "begin", began)
    assert resp.status_code == 200 and len(resp.json["changes"]) == 5
    assert len(begun) == (1 if engine.dialect.name == "postgresql" else 2)
    refused = signed(client, "GET", "/api/v1/sync/changes?since=-1", node_id, key)
    assert refused.status_code == 422 and refused.json["error"] == "invalid_input"


def test_enrolment_codes_work_once(central_app, seeded):
    from kassa.common.signing import public_key_pem
    client = central_app.test_client()
    pem = public_key_pem(generate_private_key_pem())
    body = {"node_id": "pos-2", "code": seeded["nodes"]["pos-2"]["enroll_code"],
            "public_key_pem": pem}
    assert client.post("/api/v1/nodes/enroll", json={**body, "code": "guess"}).json["error"] == \
        "enrollment_refused"
    assert client.post("/api/v1/nodes/enroll",
                       json={**body, "public_key_pem": "junk"}).json["error"] == "bad_public_key"
    ok = client.post("/api/v1/nodes/enroll", json=body)
    assert ok.status_code == 200 and ok.json == {
        "node_id": "pos-2", "store_id": 2, "high_water": 0, "last_receipt_no": None,
        "last_return_no": None}  # a new node: nothing to go on after
    again = client.post("/api/v1/nodes/enroll", json=body)
    assert again.status_code == 401 and again.json["error"] == "enrollment_refused"


def test_a_retry_racing_the_original_applies_once(central_db, enrolled):
    """Two pushes of the same batch at the same moment (the node timed out and retried while
    central was still working): the node-row lock makes the second wait and skip."""
    import threading

    from kassa.central.replication.ingest import apply_batch
    from kassa.sync.protocol import PushRequestSchema

    batch = PushRequestSchema().load({"node_id": "pos-1",
                                      "events": [sale_event(n) for n in range(1, 51)]})
    start = threading.Barrier(4)
    results, errors = [], []

    def worker():
        start.wait()
        try:
            with central_db.transaction() as session:
                results.append(apply_batch(session, "pos-1", batch["events"]))
        except Exception as err:  # noqa: BLE001 - collected and asserted on below
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert sorted(applied for _hw, applied in results) == [0, 0, 0, 50]
    assert {hw for hw, _applied in results} == {50}
    assert count(central_db, Sale) == 50
