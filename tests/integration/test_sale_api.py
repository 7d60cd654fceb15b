"""The till's sale endpoint over a real node SQLite file: good sales land with their outbox
event in one transaction; bad input gets a 4xx with a stable code and leaves nothing behind."""

import pytest

from kassa.pos_node.models import OutboxEvent, Payment, Sale, SaleLine
from tests.helpers import count

GOOD = {"lines": [{"sku": "1001", "quantity": 2}, {"barcode": "2100000020016",
                                                   "quantity": "0.750"}],
        "payments": [{"method": "cash", "amount": 50000}]}


def events(db) -> list[str]:
    with db.transaction() as session:
        return [e.kind for e in session.query(OutboxEvent).order_by(OutboxEvent.seq)]


def _nothing_stored(db):
    """No sale rows, and no outbox event beyond the shift opened by the ``till`` fixture."""
    return (all(count(db, m) == 0 for m in (Sale, SaleLine, Payment))
            and events(db) == ["shift.opened"])


def test_a_sale_is_priced_from_the_replica_and_queued_for_central(till, stocked_node):
    resp = till.post("/api/v1/sales", json=GOOD)
    assert resp.status_code == 201, resp.json
    sale = resp.json
    assert sale["receipt_no"] == "pos-1-00000001"
    assert sale["total_minor"] == 2 * 8990 + 11993
    assert sale["change_minor"] == 50000 - sale["total_minor"]
    assert [ln["quantity"] for ln in sale["lines"]] == ["2", "0.75"]
    assert events(stocked_node) == ["shift.opened", "sale.completed"]
    fetched = till.get(f"/api/v1/sales/{sale['id']}")
    assert fetched.status_code == 200 and fetched.json["total_minor"] == sale["total_minor"]


def test_receipt_numbers_and_outbox_seqs_are_gap_free(till, stocked_node):
    client = till
    receipts = [client.post("/api/v1/sales", json=GOOD).json["receipt_no"] for _ in range(3)]
    client.post("/api/v1/sales", json={**GOOD, "lines": [{"sku": "nope", "quantity": 1}]})
    receipts.append(client.post("/api/v1/sales", json=GOOD).json["receipt_no"])
    assert receipts == [f"pos-1-{n:08d}" for n in range(1, 5)]
    with stocked_node.transaction() as session:
        seqs = [e.seq for e in session.query(OutboxEvent).order_by(OutboxEvent.seq)]
    assert seqs == [1, 2, 3, 4, 5]  # the shift, then four sales


@pytest.mark.parametrize("body, status, code", [
    ({"payments": GOOD["payments"]}, 422, "invalid_input"),
    ({**GOOD, "lines": []}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": -1}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": 0}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": "abc"}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": "NaN"}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": "Infinity"}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": "0.0001"}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": 1001, "quantity": 1}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"quantity": 1}]}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "1001", "barcode": "4600000010010", "quantity": 1}]}, 422,
     "invalid_input"),
    ({**GOOD, "lines": "milk"}, 422, "invalid_input"),
    ({**GOOD, "payments": [{"method": "cash", "amount": "500"}]}, 422, "invalid_input"),
    ({**GOOD, "payments": [{"method": "bitcoin", "amount": 50000}]}, 422, "invalid_input"),
    ({**GOOD, "payments": [{"method": "cash", "amount": 12.5}]}, 422, "invalid_input"),
    ({**GOOD, "extra": 1}, 422, "invalid_input"),
    ({**GOOD, "lines": [{"sku": "no-such-sku", "quantity": 1}]}, 422, "unknown_product"),
    ({**GOOD, "lines": [{"barcode": "0000000000000", "quantity": 1}]}, 422, "unknown_barcode"),
    ({**GOOD, "lines": [{"sku": "1001", "quantity": "1.5"}]}, 422, "bad_quantity"),
    ({**GOOD, "payments": [{"method": "cash", "amount": 100}]}, 422, "payment_short"),
    ({**GOOD, "payments": [{"method": "card", "amount": 99999}]}, 422, "overpayment"),
    ([GOOD], 422, "invalid_input"),
    ("just a string", 422, "invalid_input"),
])
def test_bad_sale_input_is_refused_and_stores_nothing(till, stocked_node, body, status, code):
    resp = till.post("/api/v1/sales", json=body)
    assert resp.status_code == status, resp.json
    assert resp.json["error"] == code
    assert resp.json["message"]
    assert _nothing_stored(stocked_node)


@pytest.mark.parametrize("data, content_type", [
    ("{not json", "application/json"),
    ("lines=1", "application/x-www-form-urlencoded"),
    ("", "application/json"),
    (b"\xff\xfe\x00", "application/json"),
])
def test_a_body_that_is_not_json_is_refused(till, stocked_node, data, content_type):
    resp = till.post("/api/v1/sales", data=data, content_type=content_type)
    assert resp.status_code in (400, 415, 422), resp.data
    assert resp.json["error"] in ("invalid_json", "invalid_input", "unsupported_media_type",
                                  "bad_characters")
    assert _nothing_stored(stocked_node)


def test_a_failure_after_the_sale_rows_rolls_everything_back(till, stocked_node, monkeypatch):
    from kassa.pos_node.sale import sales

    def broken_outbox(*_args, **_kwargs):
        raise RuntimeError("disk full")
    monkeypatch.setattr(sales, "append_event", broken_outbox)
    resp = till.post("/api/v1/sales", json=GOOD)
    assert resp.status_code == 500
    assert resp.json["error"] == "internal_error"
    assert _nothing_stored(stocked_node)


def test_an_uninitialized_node_says_so(node_db_url):
    from kassa.common.config import NodeConfig
    from kassa.pos_node import create_app
    app = create_app(NodeConfig(db_url=node_db_url, push_batch_size=10, http_timeout=1))
    resp = app.test_client().post("/api/v1/session", json={"username": "x", "pin": "1234"})
    assert resp.status_code == 503 and resp.json["error"] == "node_not_initialized"


def test_unknown_sale_and_unknown_route_answer_json(till):
    client = till
    resp = client.get("/api/v1/sales/00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 404 and resp.json["error"] == "sale_not_found"
    resp = client.get("/api/v1/nothing-here")
    assert resp.status_code == 404 and resp.json["error"] == "not_found"
    resp = client.delete("/api/v1/sales")
    assert resp.status_code == 405 and resp.json["error"] == "method_not_allowed"
