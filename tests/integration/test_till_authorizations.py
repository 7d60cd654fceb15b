"""A till asking central for what lies beyond the store manager's limit, over real HTTP
(central on SQLite and PostgreSQL): a large refund waits for central-office staff, a large
discount is approved at once by policy, an approval allows one action once, the ids reach
central with the return and the sale, and offline the till says central must decide."""

import uuid

import requests
from sqlalchemy import select

from kassa.central.access import authorizations as central_authorizations
from kassa.central.models import Customer, Return, Sale
from kassa.pos_node.models import NodeIdentity
from kassa.pos_node.replication.client import sync_now
from tests.helpers import basic_auth
from tests.integration.test_returns import give_back, sell


def test_a_large_refund_waits_for_central_and_its_approval_is_used_once(
        tills, central_db, live_central, demo_secrets):
    client, db = tills["pos-1"]
    # Coffee, 70 x 1,490.00 = 104,300.00: over the store manager's 100,000.00.
    sale = sell(client, [{"method": "card", "amount": 10_430_000, "reference": "RRN7"}],
                sku="3001", quantity=70)
    refused = give_back(client, sale["receipt_no"], [{"line_no": 1, "quantity": 70}])
    assert refused.status_code == 403
    assert refused.json["error"] == "central_authorization_required"
    approval = _ask_and_approve(client, refused, live_central, demo_secrets,
                                "customer's company order, checked")
    answer = client.get(f"/api/v1/authorizations/{approval}").json
    assert answer["status"] == "approved"
    done = give_back(client, sale["receipt_no"], [{"line_no": 1, "quantity": 70}],
                     authorization_id=answer["id"])
    assert done.status_code == 201, done.json
    again = give_back(client, sale["receipt_no"], [{"line_no": 1, "quantity": 1}],
                      authorization_id=answer["id"])
    assert again.status_code in (403, 409, 422)  # nothing left; and the approval is spent
    sync_now(db)
    with central_db.read() as session:
        ret = session.scalars(select(Return).where(
            Return.return_no == done.json["return_no"])).one()
        assert ret.authorization_id == uuid.UUID(answer["id"])


def test_a_large_discount_is_approved_at_once_by_policy(tills, central_db):
    client, db = tills["pos-1"]
    with central_db.transaction() as session:
        central_authorizations.set_policy(session, "discount", None, auto_approve_max=7000)
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    refused = client.patch("/api/v1/cart/lines/1", json={"discount_percent": "60"})
    assert refused.json["error"] == "central_authorization_required"
    asked = client.post("/api/v1/authorizations", json={
        "kind": "discount", "amount": 6000, "subject": "line 1 1001"}).json
    assert (asked["status"], asked["policy"]) == ("approved", "discount:chain")
    wrong_kind = client.patch("/api/v1/cart/lines/1", json={
        "discount_percent": "65", "authorization_id": asked["id"]})
    assert wrong_kind.json["error"] == "authorization_not_valid"  # approved for 60 %, not 65
    ok = client.patch("/api/v1/cart/lines/1", json={"discount_percent": "60",
                                                     "authorization_id": asked["id"]})
    assert ok.status_code == 200, ok.json
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 3596}]})
    assert sale.status_code == 201, sale.json
    sync_now(db)
    with central_db.read() as session:
        assert session.get(Sale, uuid.UUID(sale.json["id"])).authorization_id == \
            uuid.UUID(asked["id"])


def test_offline_the_till_says_central_must_decide(tills):
    client, db = tills["pos-1"]
    with db.transaction() as session:
        session.scalars(select(NodeIdentity)).one().central_url = "http://127.0.0.1:9"
    asked = client.post("/api/v1/authorizations", json={
        "kind": "refund", "amount": 20_000_000, "subject": "receipt pos-1-00000001"})
    assert asked.status_code == 503 and asked.json["error"] == "central_unreachable"
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    forged = client.put("/api/v1/cart/discount", json={
        "discount_percent": "90", "authorization_id": str(uuid.uuid4())})
    assert forged.status_code == 409 and forged.json["error"] == "authorization_not_valid"


def _ask_and_approve(client, refused, live_central, demo_secrets, reason="checked by phone"):
    """Ask central for what the till refused, have central office approve it, and wait for
    the answer at the till; returns the approval's id."""
    details = refused.json["details"]
    asked = client.post("/api/v1/authorizations", json={
        "kind": details["kind"], "amount": details["amount"], "subject": details["subject"]})
    assert asked.status_code == 201 and asked.json["status"] == "pending", asked.json
    office = demo_secrets["users"]["office"]["password"]
    decided = requests.post(
        f"{live_central}/api/v1/authorizations/{asked.json['id']}/decision",
        json={"approve": True, "reason": reason},
        headers=basic_auth("office", office), timeout=10)
    assert decided.status_code == 200, decided.json
    return client.get(f"/api/v1/authorizations/{asked.json['id']}?wait=5").json["id"]


def test_selling_to_a_blocked_customer_needs_central(tills, central_db, live_central,
                                                     demo_secrets):
    client, db = tills["pos-1"]
    office = basic_auth("office", demo_secrets["users"]["office"]["password"])
    with central_db.read() as session:
        anna = session.scalars(select(Customer).where(
            Customer.card_number == "7770000000000001")).one()
    blocked = requests.post(f"{live_central}/api/v1/customers/{anna.id}/block",
                            json={"reason": "points fraud suspected"}, headers=office,
                            timeout=10)
    assert blocked.status_code == 200 and blocked.json()["blocked"] is True
    spb = basic_auth("rm-spb", demo_secrets["users"]["rm-spb"]["password"])
    assert requests.post(f"{live_central}/api/v1/customers/{anna.id}/unblock", headers=spb,
                         json={}, timeout=10).status_code == 404  # a Moscow customer
    sync_now(db)
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    refused = client.post("/api/v1/cart/customer", json={"customer_id": str(anna.id)})
    assert refused.status_code == 403, refused.json
    assert refused.json["details"]["kind"] == "blocked_customer"
    assert client.get("/api/v1/cart").json["customer_id"] is None  # nothing half-done
    approval = _ask_and_approve(client, refused, live_central, demo_secrets)
    taken = client.post("/api/v1/cart/customer", json={"customer_id": str(anna.id),
                                                       "authorization_id": approval})
    assert taken.status_code == 200 and taken.json["customer_id"] == str(anna.id)
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 8990}]})
    assert sale.status_code == 201, sale.json
    sync_now(db)
    with central_db.read() as session:
        assert session.get(Sale, uuid.UUID(sale.json["id"])).authorization_id == \
            uuid.UUID(approval)
    # Unblocked, she is the sale's customer again without asking anyone.
    assert requests.post(f"{live_central}/api/v1/customers/{anna.id}/unblock", headers=office,
                         json={}, timeout=10).json()["blocked"] is False
    sync_now(db)
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    assert client.post("/api/v1/cart/customer", json={"customer_id": str(anna.id)}
                       ).status_code == 200


def test_price_overrides_follow_the_discount_limits(tills, live_central, demo_secrets,
                                                    central_db):
    client, db = tills["pos-1"]
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})  # shelf 89.90
    alone = client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 8500})  # -5.5 %
    assert alone.status_code == 200 and alone.json["lines"][0]["unit_price_minor"] == 8500
    over = client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 6000})  # -33 %
    assert over.status_code == 403 and over.json["error"] == "price_override_over_limit"
    manager = {"username": "sm-s001", "pin": demo_secrets["users"]["sm-s001"]["pin"],
               "reason": "damaged packaging"}
    ok = client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 6000,
                                                    "override": manager})
    assert ok.status_code == 200 and ok.json["total_minor"] == 6000
    raised = client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 9990})
    assert raised.json["error"] == "price_override_over_limit"  # a raise: the manager's call
    central = client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 1000})  # -89 %
    assert central.json["error"] == "central_authorization_required"
    assert central.json["details"]["kind"] == "price_override"
    approval = _ask_and_approve(client, central, live_central, demo_secrets)
    done = client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 1000,
                                                      "authorization_id": approval})
    assert done.status_code == 200 and done.json["total_minor"] == 1000
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 1000}]})
    assert sale.status_code == 201
    sync_now(db)
    with central_db.read() as session:
        row = session.get(Sale, uuid.UUID(sale.json["id"]))
        assert row.authorization_id == uuid.UUID(approval) and row.total_minor == 1000


def test_a_price_cut_and_a_line_discount_count_together(tills, demo_secrets):
    client, _db = tills["pos-1"]
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})  # shelf 89.90
    assert client.patch("/api/v1/cart/lines/1", json={"unit_price_minor": 8091}
                        ).status_code == 200  # 10 % under: the cashier's limit
    stacked = client.patch("/api/v1/cart/lines/1", json={"discount_percent": "10"})
    assert stacked.status_code == 403 and stacked.json["error"] == "discount_over_limit"
    assert client.get("/api/v1/cart").json["lines"][0]["discount_minor"] == 0
