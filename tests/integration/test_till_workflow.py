"""The till's workflow through its HTTP API on a real node database: sign-in, shifts, the
cart with promotions and discounts, overrides, voids, checkout and the shift reports."""

import pytest

from kassa.pos_node.models import OutboxEvent, Override, Sale, Shift
from tests.helpers import count


def kinds(db):
    with db.transaction() as session:
        return [e.kind for e in session.query(OutboxEvent).order_by(OutboxEvent.seq)]


def add(client, **line):
    line.setdefault("quantity", 1)
    resp = client.post("/api/v1/cart/lines", json=line)
    assert resp.status_code == 201, resp.json
    return resp.json


def manager(pins, reason="approved at the till"):
    return {"username": "sm-s001", "pin": pins["sm-s001"], "reason": reason}


# --- sign-in -------------------------------------------------------------------------------------

def test_nothing_works_until_someone_signs_in(node_app):
    client = node_app.test_client()
    for method, path in [("get", "/api/v1/cart"), ("post", "/api/v1/cart/lines"),
                         ("get", "/api/v1/shifts/current"), ("get", "/api/v1/products?q=milk")]:
        resp = getattr(client, method)(path, json={} if method == "post" else None)
        assert resp.status_code == 401 and resp.json["error"] == "signed_out", path


def test_wrong_pins_lock_the_user_out(node_app, pins):
    client = node_app.test_client()
    for _ in range(5):
        resp = client.post("/api/v1/session", json={"username": "cashier-s001", "pin": "0000"
                                                    if pins["cashier-s001"] != "0000" else "1111"})
        assert resp.status_code == 401 and resp.json["error"] == "bad_pin"
    locked = client.post("/api/v1/session", json={"username": "cashier-s001",
                                                  "pin": pins["cashier-s001"]})
    assert locked.status_code == 401 and locked.json["error"] == "pin_locked"


def test_another_stores_cashier_and_office_users_cannot_sign_in(node_app, pins):
    client = node_app.test_client()
    resp = client.post("/api/v1/session", json={"username": "cashier-s002",
                                                 "pin": pins["cashier-s002"]})
    assert resp.status_code == 401 and resp.json["error"] == "bad_pin"
    resp = client.post("/api/v1/session", json={"username": "office", "pin": "1234"})
    assert resp.status_code == 401


def test_signing_out_ends_the_session(till):
    assert till.get("/api/v1/session").json["username"] == "cashier-s001"
    assert till.delete("/api/v1/session").status_code == 204
    assert till.get("/api/v1/cart").status_code == 401


# --- shifts --------------------------------------------------------------------------------------

def test_a_sale_needs_an_open_shift(node_app, pins):
    client = node_app.test_client()
    client.post("/api/v1/session", json={"username": "cashier-s001", "pin": pins["cashier-s001"]})
    resp = client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    assert resp.status_code == 409 and resp.json["error"] == "shift_closed"
    assert client.get("/api/v1/shifts/current").json["error"] == "shift_closed"


def test_only_one_shift_at_a_time(till):
    resp = till.post("/api/v1/shifts/current", json={"opening_float": 0})
    assert resp.status_code == 409 and resp.json["error"] == "shift_already_open"


def test_x_and_z_reports_add_up_by_payment_vat_and_cashier(till, stocked_node):
    add(till, sku="1001", quantity=2)                   # 179.80 at 10 %
    add(till, sku="3001")                               # 1490.00 at 20 %
    paid = till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "card", "amount": 100000, "reference": "RRN42"},
        {"method": "cash", "amount": 80000}]})
    assert paid.status_code == 201, paid.json
    assert paid.json["change_minor"] == 180000 - 166980
    assert till.post("/api/v1/shifts/current/cash",
                     json={"kind": "out", "amount": 20000, "reason": "bank"}).status_code == 201
    assert till.post("/api/v1/shifts/current/cash",
                     json={"kind": "in", "amount": 5000, "reason": "change"}).status_code == 201
    x = till.get("/api/v1/shifts/current").json
    assert x["sales_count"] == 1 and x["sales_minor"] == 166980
    assert {p["method"]: p["sales_minor"] for p in x["by_payment"]} == {"card": 100000,
                                                                        "cash": 66980}
    assert {v["vat_rate_bp"]: v["gross_minor"] for v in x["by_vat"]} == {1000: 17980,
                                                                         2000: 149000}
    assert x["by_cashier"][0]["username"] == "cashier-s001"
    assert x["expected_cash_minor"] == 100000 + 66980 - 20000 + 5000
    z = till.post("/api/v1/shifts/current/close", json={"counted_cash": 151000})
    assert z.status_code == 200, z.json
    assert z.json["status"] == "closed"
    assert z.json["difference_minor"] == 151000 - 151980
    assert kinds(stocked_node) == ["shift.opened", "sale.completed", "cash.moved", "cash.moved",
                                   "shift.closed"]
    assert till.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1}).json["error"] \
        == "shift_closed"


def test_cash_out_cannot_exceed_the_drawer(till):
    resp = till.post("/api/v1/shifts/current/cash",
                     json={"kind": "out", "amount": 100001, "reason": "too much"})
    assert resp.status_code == 422 and resp.json["error"] == "not_enough_cash"


def test_a_shift_with_a_sale_in_progress_cannot_close(till):
    add(till, sku="1001")
    resp = till.post("/api/v1/shifts/current/close", json={"counted_cash": 0})
    assert resp.status_code == 409 and resp.json["error"] == "sale_in_progress"


# --- the cart ------------------------------------------------------------------------------------

def test_scanning_again_counts_up_and_weighed_items_get_lines_of_their_own(till):
    add(till, barcode="4600000010010")
    add(till, sku="1001", quantity=2)
    add(till, barcode="2100000020016", quantity="0.500")
    cart = add(till, barcode="2100000020016", quantity="0.250")
    assert [(ln["sku"], ln["quantity"]) for ln in cart["lines"]] == [
        ("1001", "3"), ("2001", "0.5"), ("2001", "0.25")]
    assert cart["total_minor"] == 3 * 8990 + 7995 + 3998


def test_quantity_change_and_removal_reprice_the_cart(till):
    add(till, sku="1001")
    add(till, sku="1002")
    cart = till.patch("/api/v1/cart/lines/1", json={"quantity": 4}).json
    assert cart["total_minor"] == 4 * 8990 + 5490
    cart = till.delete("/api/v1/cart/lines/1").json
    assert [ln["line_no"] for ln in cart["lines"]] == [1]
    assert cart["total_minor"] == 5490
    assert till.delete("/api/v1/cart/lines/7").json["error"] == "no_such_line"


def test_promotions_apply_by_themselves(till):
    add(till, sku="5001", quantity=7)          # chocolate 3 for 2: 2 free of 7
    add(till, sku="3002")                      # tea 15 % off 349.90 -> 52.49 off
    cart = add(till, sku="2002", quantity="1.5")  # bananas 20.00 off a kilo
    by_sku = {ln["sku"]: ln for ln in cart["lines"]}
    assert by_sku["5001"]["discount_minor"] == 2 * 9990
    assert by_sku["3002"]["discount_minor"] == 5249
    assert by_sku["2002"]["discount_minor"] == 3000
    assert all(ln["promotion_id"] for ln in cart["lines"])
    assert cart["total_minor"] == cart["gross_minor"] - cart["discount_minor"]


def test_discounts_within_the_limit_need_no_manager(till, stocked_node):
    add(till, sku="3001")
    cart = till.patch("/api/v1/cart/lines/1", json={"discount_percent": 10}).json
    assert cart["total_minor"] == 149000 - 14900
    cart = till.put("/api/v1/cart/discount", json={"discount_percent": "5.5"}).json
    assert cart["total_minor"] == 134100 - 7376
    assert count(stocked_node, Override) == 0


def test_a_discount_over_the_limit_needs_a_managers_pin(till, stocked_node, pins):
    add(till, sku="3001")
    refused = till.patch("/api/v1/cart/lines/1", json={"discount_percent": 30})
    assert refused.status_code == 403 and refused.json["error"] == "discount_over_limit"
    assert refused.json["details"] == {"action": "discount", "override_required": True}
    assert till.get("/api/v1/cart").json["total_minor"] == 149000
    bad = till.patch("/api/v1/cart/lines/1", json={
        "discount_percent": 30, "override": {**manager(pins), "pin": "9999"
                                             if pins["sm-s001"] != "9999" else "8888"}})
    assert bad.status_code == 401 and bad.json["error"] == "bad_override"
    not_a_manager = till.patch("/api/v1/cart/lines/1", json={
        "discount_percent": 30, "override": {"username": "cashier-s001",
                                             "pin": pins["cashier-s001"], "reason": "me"}})
    assert not_a_manager.status_code == 403 and not_a_manager.json["error"] == "bad_override"
    ok = till.patch("/api/v1/cart/lines/1", json={"discount_percent": 30,
                                                  "override": manager(pins, "damaged box")})
    assert ok.status_code == 200 and ok.json["total_minor"] == 104300
    with stocked_node.transaction() as session:
        override = session.query(Override).one()
        assert (override.action, override.reason) == ("discount", "damaged box")
    assert kinds(stocked_node)[-1] == "override.granted"


@pytest.mark.parametrize("body", [{"discount_percent": 101}, {"discount_percent": -1},
                                  {"discount_percent": "1.234"}, {"quantity": 0},
                                  {"quantity": "1.5"}, {"override": {"username": "x"}}])
def test_bad_line_changes_are_refused(till, body):
    add(till, sku="1001")
    resp = till.patch("/api/v1/cart/lines/1", json=body)
    assert resp.status_code == 422, resp.json
    assert till.get("/api/v1/cart").json["total_minor"] == 8990


def test_voiding_the_open_sale_is_recorded(till, stocked_node):
    add(till, sku="1001")
    resp = till.post("/api/v1/cart/void", json={"reason": "customer left"})
    assert resp.status_code == 200 and resp.json["status"] == "voided"
    assert till.get("/api/v1/cart").json["status"] == "empty"
    assert kinds(stocked_node)[-1] == "sale.voided"
    assert till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 1}]}).json["error"] == "no_open_sale"


def test_checkout_completes_the_cart(till, stocked_node):
    add(till, sku="1001")
    short = till.post("/api/v1/cart/checkout", json={"payments": [{"method": "cash",
                                                                    "amount": 100}]})
    assert short.status_code == 422 and short.json["error"] == "payment_short"
    points = till.post("/api/v1/cart/checkout", json={"payments": [{"method": "points",
                                                                     "amount": 8990}]})
    assert points.status_code == 422 and points.json["error"] == "points_via_card"
    sale = till.post("/api/v1/cart/checkout", json={"payments": [{"method": "cash",
                                                                   "amount": 10000}]}).json
    assert sale["status"] == "completed" and sale["receipt_no"] == "pos-1-00000001"
    assert till.get("/api/v1/cart").json["status"] == "empty"
    assert kinds(stocked_node) == ["shift.opened", "sale.completed"]


def test_a_post_void_needs_a_manager_and_the_same_shift(till, stocked_node, pins):
    add(till, sku="1001")
    sale = till.post("/api/v1/cart/checkout",
                     json={"payments": [{"method": "cash", "amount": 8990}]}).json
    path = f"/api/v1/sales/{sale['id']}/post-void"
    refused = till.post(path, json={"reason": "x"})
    assert refused.status_code == 403 and refused.json["error"] == "override_required"
    done = till.post(path, json={"reason": "wrong item", "override": manager(pins)})
    assert done.status_code == 200 and done.json["status"] == "post_voided"
    again = till.post(path, json={"reason": "again", "override": manager(pins)})
    assert again.status_code == 409 and again.json["error"] == "not_post_voidable"
    x = till.get("/api/v1/shifts/current").json
    assert (x["sales_count"], x["post_voided_count"], x["expected_cash_minor"]) == (0, 1, 100000)
    assert kinds(stocked_node)[-2:] == ["override.granted", "sale.post_voided"]


def test_product_search_finds_by_word_prefixes(till):
    found = till.get("/api/v1/products?q=bla tea").json["products"]
    assert [p["sku"] for p in found] == ["3002"]
    assert till.get("/api/v1/products?q=zzz").json["products"] == []
    assert till.get("/api/v1/products?q=").status_code == 422
    assert till.get('/api/v1/products?q="*:(').json["products"] == []


def test_the_cart_survives_a_restart_of_the_till(node_app, till, node_db_url):
    add(till, sku="1001", quantity=2)
    from kassa.common.config import NodeConfig
    from kassa.pos_node import create_app
    again = create_app(NodeConfig(db_url=node_db_url, push_batch_size=10, http_timeout=1))
    client = again.test_client()
    with till.session_transaction() as s:
        uid, sid = s["uid"], s["sid"]
    with client.session_transaction() as s:  # the session is kept in the till's database
        s["uid"], s["sid"] = uid, sid
    assert client.get("/api/v1/cart").json["total_minor"] == 2 * 8990
    again.extensions["kassa_db"].dispose()
    assert count(node_app.extensions["kassa_db"], Sale) == 1
    assert count(node_app.extensions["kassa_db"], Shift) == 1


def test_a_customers_contact_details_are_corrected_at_the_till(till, node_app):
    found = till.get("/api/v1/customers?q=7770000000000001")
    assert found.status_code == 200
    (anna,) = found.json["customers"]
    resp = till.patch(f"/api/v1/customers/{anna['id']}",
                      json={"phone": "+7 912 000-11-22", "email": "anna@example.com"})
    assert resp.status_code == 200 and resp.json["phone"] == "+79120001122"  # one spelling kept
    by_phone = till.get("/api/v1/customers", query_string={"q": "+7 912 000-11-22"})
    assert by_phone.json["customers"][0]["id"] == anna["id"]
    for bad in ({"email": "not an address"}, {"phone": "call me"}, {"name": ""},
                {"card_number": "1"}):
        assert till.patch(f"/api/v1/customers/{anna['id']}", json=bad).status_code == 422
    assert till.patch("/api/v1/customers/00000000-0000-0000-0000-000000000000",
                      json={"phone": "+7000000"}).json["error"] == "customer_not_found"
    db = node_app.extensions["kassa_db"]
    with db.read() as session:
        from kassa.pos_node.models import OutboxEvent
        event = session.query(OutboxEvent).filter_by(kind="customer.updated").one()
    assert event.payload["changes"]["email"] == {"was": None, "now": "anna@example.com"}


def test_sync_now_from_the_till_needs_a_sign_in(node_app, till):
    assert node_app.test_client().post("/api/v1/node/sync").status_code == 401
    resp = till.post("/api/v1/node/sync")
    assert resp.status_code == 202 and resp.json == {"triggered": False}  # no scheduler here
