"""A till's word on points against central's (issue 23, finding 1; decision 59), central on
SQLite and PostgreSQL, over real HTTP with pushes signed by an enrolled node's key: a sale
claiming more points than the rules give, an offline burn beyond the card's allowance and a
return giving back more than the sale burned are posted at central's figure and raise a fraud
alert on the node's status; an honest till's figures stand to the point."""

import uuid
from datetime import datetime, timedelta, timezone

import requests
from playwright.sync_api import expect
from sqlalchemy import func, select

from kassa.central.models import (
    AuditEntry,
    Customer,
    FraudAlert,
    LoyaltyAccount,
    LoyaltyEntry,
    LoyaltyRulesVersion,
    Product,
    SaleLine,
    User,
)
from kassa.common.db import utcnow
from kassa.pos_node.models import Sale as TillSale
from kassa.pos_node.replication.client import sync_now
from tests.helpers import signed, staff_auth
from tests.integration.test_loyalty_till import ANNA, card_balance, set_rules
from tests.integration.test_ops_ui import browser_for  # noqa: F401 - a fixture
from tests.integration.test_returns import give_back
from tests.integration.test_till_workflow import add, manager

PUSH = "/api/v1/sync/push"
OLGA = "7770000000000003"  # a customer of the other region (SPB); pos-1 is in Moscow


class Http:
    """``tests.helpers.signed`` sends through this: a real HTTP request to central."""

    def __init__(self, base: str):
        self.base = base

    def open(self, path, method, data, headers):
        return requests.request(method, self.base + path, data=data, headers=headers,
                                timeout=30)


def push(live_central, enrolled, events):
    node_id, key = enrolled
    resp = signed(Http(live_central), "POST", PUSH, node_id, key,
                  {"node_id": node_id, "events": events})
    assert resp.status_code == 200, resp.text
    return resp.json()


def account_of(central_db, card):
    with central_db.read() as session:
        return session.scalars(select(LoyaltyAccount).join(
            Customer, Customer.id == LoyaltyAccount.customer_id).where(
            Customer.card_number == card)).one()


def event(seq, kind, payload):
    return {"seq": seq, "event_id": str(uuid.uuid4()), "kind": kind,
            "occurred_at": datetime.now(timezone.utc).isoformat(), "payload": payload}


def sale(seq, account, *, total, lines, payments=None, burned=0, hold_id=None):
    """A ``sale.completed`` of pos-1 on ``account``: ``lines`` are (amount, points claimed)
    of milk."""
    payload = {
        "sale_id": str(uuid.uuid4()), "receipt_no": f"pos-1-{seq:08d}", "store_id": 1,
        "sold_at": datetime.now(timezone.utc).isoformat(), "customer_id": None,
        "total_minor": total, "vat_minor": 0,
        "lines": [{"line_no": n, "product_id": 1, "sku": "1001", "name": "Milk",
                   "quantity_milli": 1000, "unit_price_minor": amount, "amount_minor": amount,
                   "vat_rate_bp": 1000, "vat_minor": 0, "points_earned": points}
                  for n, (amount, points) in enumerate(lines, start=1)],
        "payments": payments or [{"method": "cash", "amount_minor": total}],
        "loyalty": {"account_id": str(account), "burned": burned,
                    "hold_id": hold_id and str(hold_id), "rules_version": 1}}
    return event(seq, "sale.completed", payload)


def alerts(central_db):
    with central_db.read() as session:
        return [(a.kind, a.claimed, a.posted, a.reason)
                for a in session.scalars(select(FraudAlert).order_by(FraudAlert.raised_at))]


def ledger(central_db, account_id):
    with central_db.read() as session:
        return {e.cause: e.points for e in session.scalars(
            select(LoyaltyEntry).where(LoyaltyEntry.account_id == account_id))}


def test_a_million_points_claimed_for_a_kopeck_get_what_the_rules_give(
        central_db, live_central, enrolled, seeded):
    olga = account_of(central_db, OLGA)
    attack = sale(1, olga.id, total=1, lines=[(1, 1_000_000)])
    assert push(live_central, enrolled, [attack])["applied"] == 1
    # The rules give 1 % back: nothing on a kopeck. The sale is there, with central's figure.
    assert account_of(central_db, OLGA).balance == 0
    with central_db.read() as session:
        assert session.scalars(select(SaleLine.points_earned)).all() == [0]
        line = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "fraud_alert:earn")).one()
    assert alerts(central_db) == [("earn", 1_000_000, 0, "earn_over_rules")]
    assert line.node_id == "pos-1" and "claimed 1000000 points" in line.subject
    # Lines claimed to be worth more than the sale cost earn on what it did cost.
    inflated = sale(2, olga.id, total=1, lines=[(10**9, 10_000_000)])
    push(live_central, enrolled, [inflated])
    assert account_of(central_db, OLGA).balance == 0
    # The node's status says so, and the alert lists the till's claim beside central's figure.
    office = staff_auth(seeded, "office")
    nodes = requests.get(f"{live_central}/api/v1/nodes/status", headers=office, timeout=10)
    assert {n["node_id"]: n["fraud_alerts"] for n in nodes.json()["nodes"]} == {
        "pos-1": 2, "pos-2": 0}
    listed = requests.get(f"{live_central}/api/v1/fraud-alerts?node_id=pos-1", headers=office,
                          timeout=10).json()["alerts"]
    assert [(a["document_no"], a["claimed"], a["posted"]) for a in listed] == [
        ("pos-1-00000002", 10_000_000, 0), ("pos-1-00000001", 1_000_000, 0)]
    # A store manager of the other region's store sees none of pos-1's.
    other = requests.get(f"{live_central}/api/v1/fraud-alerts", timeout=10,
                         headers=staff_auth(seeded, "sm-s002")).json()["alerts"]
    assert other == []
    # Someone looks into it and says what they did; the audit log keeps it.
    done = requests.post(f"{live_central}/api/v1/fraud-alerts/{listed[0]['id']}/resolve",
                         json={"note": "till pos-1 revoked, key rotated"}, headers=office,
                         timeout=10)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "resolved"
    again = requests.post(f"{live_central}/api/v1/fraud-alerts/{listed[0]['id']}/resolve",
                          json={"note": "twice"}, headers=office, timeout=10)
    assert again.status_code == 404 and again.json()["error"] == "alert_not_found"
    with central_db.read() as session:
        assert session.scalars(select(AuditEntry.reason).where(
            AuditEntry.action == "fraud_alert:resolved")).all() == [
                "till pos-1 revoked, key rotated"]


def test_the_nodes_page_shows_the_alert_in_english_and_russian(
        central_db, live_central, enrolled, browser_for, central_engine):  # noqa: F811
    olga = account_of(central_db, OLGA)
    push(live_central, enrolled, [sale(1, olga.id, total=1, lines=[(1, 1_000_000)])])
    page = browser_for("office")
    page.goto(f"{live_central}/ops/nodes")
    row = page.locator("#nodes tr[data-node=pos-1]")
    expect(row.locator("td").nth(11)).to_have_text("1")
    expect(row.locator("td").nth(11)).to_have_class("n warn")
    expect(page.locator("#nodes tr[data-node=pos-2] td").nth(11)).to_have_text("0")
    alert = page.locator("#alerts tbody tr")
    expect(alert).to_have_count(1)
    for text in ("pos-1", "S001", "points earned", "pos-1-00000001", "1000000",
                 "more than the rules give"):
        expect(alert).to_contain_text(text)
    if central_engine == "sqlite":
        page.shot("central-nodes-fraud-alert")
    page.click("a[data-lang=ru]")
    expect(page.locator("h2")).to_have_text("Сигналы о мошенничестве")
    expect(page.locator("#alerts tbody tr")).to_contain_text("больше, чем дают правила")
    expect(page.locator("#alerts tbody tr")).to_contain_text("начисление баллов")
    if central_engine == "sqlite":
        page.shot("central-nodes-fraud-alert-ru")


def test_an_offline_burn_beyond_the_cards_allowance_takes_only_the_allowance(
        central_db, live_central, enrolled):
    olga = account_of(central_db, OLGA).id
    # The demo's rules: 500 points a card a day offline; a point pays a rouble.
    cash_and_points = [{"method": "points", "amount_minor": 200_000},
                       {"method": "cash", "amount_minor": 100_000}]
    first = sale(1, olga, total=300_000, lines=[(300_000, 10)], payments=cash_and_points,
                 burned=2000)
    # A hold id central never granted is no hold: the burn counts as offline.
    second = sale(2, olga, total=300_000, lines=[(300_000, 10)], payments=cash_and_points,
                  burned=2000, hold_id=uuid.uuid4())
    push(live_central, enrolled, [first, second])
    held = ledger(central_db, olga)
    assert held[f"sale:{first['payload']['sale_id']}:burn"] == -500
    assert f"sale:{second['payload']['sale_id']}:burn" not in held  # the day's 500 are spent
    assert alerts(central_db) == [("burn", 2000, 500, "burn_over_allowance"),
                                  ("burn", 2000, 0, "burn_over_allowance")]
    # The 10 points each earned (1 % of the 1,000.00 paid in cash) stand: no alert for them.
    assert account_of(central_db, OLGA).balance == 10 + 10 - 500


def test_a_return_gives_back_no_more_than_the_sale_burned(central_db, live_central, enrolled):
    anna = account_of(central_db, ANNA).id
    bought = sale(1, anna, total=300_000, lines=[(300_000, 10)], burned=400,
                  payments=[{"method": "points", "amount_minor": 40_000},
                            {"method": "cash", "amount_minor": 260_000}])
    # The demo's rules: 1 % of 2,600.00 paid in cash is 26 points; the till said 10 (a cap,
    # a tier it did not know): fewer points than the rules give stand as the till said.
    with central_db.read() as session:
        cashier = session.scalar(select(User.id).where(User.username == "cashier-s001"))
    back = event(2, "return.completed", {
        "return_id": str(uuid.uuid4()), "return_no": "pos-1-R00000001",
        "shift_id": str(uuid.uuid4()), "cashier_id": cashier,
        "returned_at": datetime.now(timezone.utc).isoformat(), "total_minor": 300_000,
        "vat_minor": 0, "original_sale_id": bought["payload"]["sale_id"],
        "original_receipt_no": "pos-1-00000001", "account_id": str(anna),
        "points_refunded": 5000,
        "lines": [{"line_no": 1, "original_line_no": 1, "product_id": 1, "sku": "1001",
                   "name": "Milk", "quantity_milli": 1000, "amount_minor": 300_000,
                   "vat_rate_bp": 1000, "vat_minor": 0, "points_reversed": 0}],
        "refunds": [{"method": "cash", "amount_minor": 260_000}]})
    push(live_central, enrolled, [bought, back])
    return_id = back["payload"]["return_id"]
    held = ledger(central_db, anna)
    assert held[f"return:{return_id}:refund"] == 400  # what the sale burned, not 5,000
    assert held[f"return:{return_id}:1:reverse"] == -10  # all the goods earned
    assert account_of(central_db, ANNA).balance == 0
    assert alerts(central_db) == [("refund", 5000, 400, "refund_over_burned"),
                                  ("reversal", 0, 10, "reversal_under_earned")]


def test_an_honest_tills_points_stand_to_the_point(tills, central_db, demo_secrets):
    """The till's own sale and return, with the demo's 1 % (where rounding bites), a category
    multiplier, a product's and a running promotion: central posts what the till said."""
    client, db = tills["pos-1"]
    now = utcnow()
    with central_db.read() as session:
        ids = dict(session.execute(select(Product.sku, Product.id)).all())
    set_rules(central_db, db, minor_per_point=100,
              rate_milli_by_tier={"base": 10, "silver": 20, "gold": 30, "platinum": 50},
              category_multiplier_bp={"grocery": 15_000},
              product_multiplier_bp={ids["5001"]: 0},
              promotions=[{"starts_at": (now - timedelta(hours=1)).isoformat(),
                           "ends_at": (now + timedelta(hours=1)).isoformat(),
                           "multiplier_bp": 30_000, "product_ids": [ids["3002"]]}])
    card_balance(client)
    for sku, quantity in (("1001", 3), ("1002", 1), ("3002", 2), ("5001", 1), ("4001", 1)):
        add(client, sku=sku, quantity=quantity)
    cart = client.get("/api/v1/cart").json
    sold = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": cart["total_minor"]}]}).json
    claimed = sum(ln["points_earned"] for ln in sold["lines"])
    assert claimed > 0
    with db.read() as session, central_db.read() as central:
        # The sale keeps the rules' version it earned under, and sends it up.
        assert session.get(TillSale, uuid.UUID(sold["id"])).rules_version == central.scalar(
            select(func.max(LoyaltyRulesVersion.version))) == 2
    pins = {u: v["pin"] for u, v in demo_secrets["users"].items()}
    returned = give_back(client, sold["receipt_no"], [{"line_no": 1, "quantity": 1}],
                         reason="sour", override=manager(pins))
    assert returned.status_code == 201, returned.json
    taken = sum(ln["points_reversed"] for ln in returned.json["lines"])
    client.delete("/api/v1/cart/customer")
    sync_now(db)
    assert account_of(central_db, ANNA).balance == claimed - taken == card_balance(client)
    assert alerts(central_db) == []
