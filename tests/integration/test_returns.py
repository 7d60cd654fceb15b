"""Returns at the till: against receipts (ours and another till's via central), partial and
repeated, refunds by the original payment types, limits and blind returns."""

import io

import pytest
from pypdf import PdfReader

from kassa.pos_node.models import Refund, Return
from tests.helpers import count
from tests.integration.test_till_workflow import add, kinds, manager


def sell(client, payments, **line):
    add(client, **line)
    resp = client.post("/api/v1/cart/checkout", json={"payments": payments})
    assert resp.status_code == 201, resp.json
    return resp.json


def give_back(client, receipt, lines, **extra):
    return client.post("/api/v1/returns", json={"receipt_no": receipt, "lines": lines, **extra})


def test_partial_returns_never_exceed_what_was_sold(till, stocked_node):
    sale = sell(till, [{"method": "cash", "amount": 50000}], sku="1001", quantity=3)
    receipt = sale["receipt_no"]
    lookup = till.get(f"/api/v1/returns/lookup?receipt={receipt}").json
    assert lookup["lines"][0]["returnable_milli"] == 3000
    first = give_back(till, receipt, [{"line_no": 1, "quantity": 1}], reason="sour")
    assert first.status_code == 201, first.json
    assert first.json["return_no"] == "pos-1-R00000001"
    assert first.json["refunds"] == [{"method": "cash", "amount_minor": 8990,
                                      "reference": None}]
    too_many = give_back(till, receipt, [{"line_no": 1, "quantity": 3}])
    assert too_many.status_code == 422 and too_many.json["error"] == "return_exceeds_sold"
    twice = give_back(till, receipt, [{"line_no": 1, "quantity": 1},
                                      {"line_no": 1, "quantity": "1.5"}])
    assert twice.status_code == 422
    rest = give_back(till, receipt, [{"line_no": 1, "quantity": 2}])
    assert rest.status_code == 201
    assert till.get(f"/api/v1/returns/lookup?receipt={receipt}").json["lines"][0][
        "returnable_milli"] == 0
    assert count(stocked_node, Return) == 2
    assert kinds(stocked_node).count("return.completed") == 2


def test_refunds_go_back_by_the_original_payment_types(till, stocked_node):
    add(till, sku="1003", quantity=2)                           # 2 x 219.90 = 439.80
    sale = sell(till, [{"method": "card", "amount": 30000, "reference": "RRN7"},
                       {"method": "cash", "amount": 20000}], sku="1002")  # + 54.90 = 494.70
    receipt = sale["receipt_no"]
    ret = give_back(till, receipt, [{"line_no": 1, "quantity": 2}]).json
    assert ret["refunds"] == [{"method": "card", "amount_minor": 30000, "reference": "RRN7"},
                              {"method": "cash", "amount_minor": 13980, "reference": None}]
    ret = give_back(till, receipt, [{"line_no": 2, "quantity": 1}]).json
    assert ret["refunds"] == [{"method": "cash", "amount_minor": 5490, "reference": None}]
    x = till.get("/api/v1/shifts/current").json
    assert x["expected_cash_minor"] == 100000 + 19470 - 13980 - 5490


def test_discounted_lines_refund_what_the_customer_paid(till):
    sale = sell(till, [{"method": "cash", "amount": 100000}], sku="5001", quantity=3)  # 3 for 2
    assert sale["total_minor"] == 2 * 9990
    refunds = [give_back(till, sale["receipt_no"], [{"line_no": 1, "quantity": 1}]).json
               for _ in range(3)]
    assert sum(r["total_minor"] for r in refunds) == sale["total_minor"]


def test_a_refund_over_the_cashiers_limit_needs_a_manager(till, pins):
    # cashier limit 3,000.00: coffee x 3 = 4,470.00
    sale = sell(till, [{"method": "card", "amount": 447000}], sku="3001", quantity=3)
    refused = give_back(till, sale["receipt_no"], [{"line_no": 1, "quantity": 3}])
    assert refused.status_code == 403 and refused.json["error"] == "refund_over_limit"
    ok = give_back(till, sale["receipt_no"], [{"line_no": 1, "quantity": 3}],
                   override=manager(pins, "customer complaint"))
    assert ok.status_code == 201 and ok.json["refunds"][0]["method"] == "card"


def test_blind_returns_always_need_a_manager_and_refund_cash(till, stocked_node, pins):
    body = {"lines": [{"sku": "1001", "quantity": 1}], "reason": "no receipt"}
    refused = till.post("/api/v1/returns/blind", json=body)
    assert refused.status_code == 403 and refused.json["error"] == "override_required"
    resp = till.post("/api/v1/returns/blind", json={**body, "override": manager(pins)})
    assert resp.status_code == 201, resp.json
    assert resp.json["original_receipt_no"] is None
    assert resp.json["refunds"] == [{"method": "cash", "amount_minor": 8990, "reference": None}]
    assert kinds(stocked_node)[-2:] == ["override.granted", "return.completed"]


@pytest.mark.parametrize("receipt, code", [("pos-1-00000099", "receipt_not_found")])
def test_unknown_receipts(till, receipt, code):
    resp = give_back(till, receipt, [{"line_no": 1, "quantity": 1}])
    assert resp.status_code == 404 and resp.json["error"] == code


def test_a_voided_sale_cannot_be_returned(till, pins):
    sale = sell(till, [{"method": "cash", "amount": 8990}], sku="1001")
    till.post(f"/api/v1/sales/{sale['id']}/post-void", json={"reason": "x",
                                                             "override": manager(pins)})
    resp = give_back(till, sale["receipt_no"], [{"line_no": 1, "quantity": 1}])
    assert resp.status_code == 409 and resp.json["error"] == "sale_voided"


def test_another_tills_receipt_is_refused_clearly_when_central_is_down(till, stocked_node):
    resp = give_back(till, "pos-2-00000001", [{"line_no": 1, "quantity": 1}])
    assert resp.status_code == 503 and resp.json["error"] == "central_unreachable"
    assert "another till" in resp.json["message"]
    assert count(stocked_node, Return) == 0 and count(stocked_node, Refund) == 0


def test_receipts_print_as_html_and_pdf(till):
    sale = sell(till, [{"method": "cash", "amount": 50000}], sku="5001", quantity=3)
    html = till.get(f"/receipts/{sale['receipt_no']}")
    assert html.status_code == 200
    text = html.get_data(as_text=True)
    assert sale["receipt_no"] in text and "Chocolate 90 g" in text and "199.80" in text
    pdf = till.get(f"/receipts/{sale['receipt_no']}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.data)).pages)
    assert sale["receipt_no"] in text and "TOTAL" in text and "Thank you!" in text
    assert till.get("/receipts/pos-1-00000042").status_code == 404
