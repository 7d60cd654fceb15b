"""Points at the till and at central over real HTTP (central on SQLite and PostgreSQL): a sale
earns by the rules central set (each test states the ones it counts with), shared by the
receipt's lines, the till shows the balance before central has it and never counts it twice
after, returns take back what the goods earned, a post-void undoes the sale's points, tiers
follow the 12-month spend, and lots expire oldest first."""

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from kassa.central import jobs
from kassa.central.membership import loyalty_accounts as central_loyalty
from kassa.central.membership import loyalty_rules
from kassa.central.models import Customer, LoyaltyAccount, LoyaltyEntry, Product
from kassa.common.db import utcnow
from kassa.loyalty import settings
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from kassa.pos_node.models import LoyaltyAccount as NodeAccount
from kassa.pos_node.replication.client import sync_now
from tests.integration.test_returns import give_back
from tests.integration.test_till_workflow import add, manager

ANNA = "7770000000000001"
# The rules these tests count with (the demo's give a few per cent back): a point for every
# rouble at base, 1.5 at silver, each point worth 10 kopecks, so points are easy to check.
POINT_A_ROUBLE = {**settings.DEFAULT, "minor_per_point": 10,
                  "rate_milli_by_tier": {"base": 1000, "silver": 1500, "gold": 2000,
                                         "platinum": 3000}}


def set_rules(central_db, db, **changes):
    """Central sets these rules (``POINT_A_ROUBLE`` changed by ``changes``); the till pulls."""
    with central_db.transaction() as session:
        loyalty_rules.set_rules(session, {**POINT_A_ROUBLE, **changes})
    sync_now(db)


def account_of(central_db, card=ANNA):
    with central_db.transaction() as session:
        customer = session.scalars(select(Customer).where(Customer.card_number == card)).one()
        return session.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == customer.id)).one()


def entries(central_db, account_id):
    with central_db.transaction() as session:
        return {e.cause: e.points for e in session.scalars(
            select(LoyaltyEntry).where(LoyaltyEntry.account_id == account_id))}


def card_balance(client, card=ANNA):
    cart = client.post("/api/v1/cart/customer", json={"card_number": card})
    assert cart.status_code == 200, cart.json
    return cart.json["customer"]["balance"]


def test_a_sale_earns_per_line_and_central_counts_it_once(tills, central_db):
    client, db = tills["pos-1"]
    set_rules(central_db, db)
    assert card_balance(client) == 0  # a typed-in number identifies the customer
    add(client, sku="1001", quantity=3)  # milk 3 x 89.90
    add(client, sku="5001", quantity=1)
    cart = client.get("/api/v1/cart").json
    assert cart["customer"]["name"] == "Anna Petrova" and cart["card_number"] is None
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": cart["total_minor"]}]}).json
    earned = {ln["line_no"]: ln["points_earned"] for ln in sale["lines"]}
    # Base tier: a point per whole rouble of the receipt (369.60: 369), shared by the lines
    # (269.70 and 99.90) in proportion, the odd point to the larger remainder.
    assert earned == {1: 269, 2: 100}
    total = sum(earned.values())
    assert sale["card_record_written"] is None  # no card in a reader
    # The till shows the points at once, before central has them ...
    assert card_balance(client) == total
    client.delete("/api/v1/cart/customer")
    sync_now(db)
    account = account_of(central_db)
    assert account.balance == total
    assert entries(central_db, account.id) == {
        f"sale:{sale['id']}:{n}:earn": p for n, p in earned.items()}
    # ... and after central's balance came down, not twice.
    with db.read() as session:
        assert session.get(NodeAccount, account.id).balance == total
    assert card_balance(client) == total
    sync_now(db)
    assert card_balance(client) == total
    check = central_db.transaction()
    with check as session:
        assert central_loyalty.check_balance(session, account.id) == (total, total)


def test_returns_take_back_what_the_returned_goods_earned(tills, central_db, demo_secrets):
    client, db = tills["pos-1"]
    set_rules(central_db, db)
    card_balance(client)
    add(client, sku="1001", quantity=3)
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 26970}]}).json
    earned = sale["lines"][0]["points_earned"]
    assert earned == 269
    pins = {u: v["pin"] for u, v in demo_secrets["users"].items()}
    first = give_back(client, sale["receipt_no"], [{"line_no": 1, "quantity": 1}],
                      reason="sour", override=manager(pins))
    assert first.status_code == 201, first.json
    assert first.json["lines"][0]["points_reversed"] == 269 // 3
    rest = give_back(client, sale["receipt_no"], [{"line_no": 1, "quantity": 2}],
                     reason="sour", override=manager(pins))
    assert rest.json["lines"][0]["points_reversed"] == 269 - 269 // 3  # all of it, in the end
    assert card_balance(client) == 0
    sync_now(db)
    account = account_of(central_db)
    assert account.balance == 0
    reversals = {c: p for c, p in entries(central_db, account.id).items() if "return:" in c}
    assert sorted(reversals.values()) == sorted([-(269 // 3), -(269 - 269 // 3)])


def test_a_post_void_undoes_the_sales_points(tills, central_db, demo_secrets):
    client, db = tills["pos-1"]
    set_rules(central_db, db)
    card_balance(client)
    add(client, sku="1001", quantity=1)
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 8990}]}).json
    assert card_balance(client) == 89
    client.delete("/api/v1/cart/customer")
    pins = {u: v["pin"] for u, v in demo_secrets["users"].items()}
    voided = client.post(f"/api/v1/sales/{sale['id']}/post-void",
                         json={"reason": "wrong customer", "override": manager(pins)})
    assert voided.status_code == 200, voided.json
    assert card_balance(client) == 0
    sync_now(db)
    account = account_of(central_db)
    assert account.balance == 0
    assert entries(central_db, account.id)[f"sale:{sale['id']}:void:reverse"] == -89


def test_a_spend_over_the_threshold_upgrades_the_tier_at_once(tills, central_db):
    client, db = tills["pos-1"]
    set_rules(central_db, db, tiers=[["base", 0], ["silver", 20_000], ["gold", 10**8],
                                     ["platinum", 10**9]])
    card_balance(client)
    add(client, sku="1001", quantity=3)  # 269.70: over the silver threshold of 200.00
    client.post("/api/v1/cart/checkout", json={"payments": [{"method": "cash",
                                                             "amount": 26970}]})
    sync_now(db)
    assert account_of(central_db).tier == "silver"
    cart = client.post("/api/v1/cart/customer", json={"card_number": ANNA}).json
    assert cart["customer"]["tier"] == "silver"
    add(client, sku="1001", quantity=1)
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 8990}]}).json
    assert sale["lines"][0]["points_earned"] == 8990 * 1500 // 100_000  # silver: 1.5 a rouble


def test_points_expire_lot_by_lot_and_the_till_is_told_when(central_db, seeded):
    now = utcnow()
    account = account_of(central_db)
    with central_db.transaction() as session:
        central_loyalty.post_many(session, account.id, [
            LedgerEntry("test:old", EntryKind.EARN, 100, now - timedelta(days=400),
                        now - timedelta(days=35)),
            LedgerEntry("test:soon", EntryKind.EARN, 50, now - timedelta(days=300),
                        now + timedelta(days=30)),
            LedgerEntry("test:burn", EntryKind.BURN, -30, now - timedelta(days=100))])
    with central_db.transaction() as session:
        # The burn took the oldest lot first: 70 of it are left to expire, not 100.
        assert central_loyalty.expire_points(session, now) == 70
        assert central_loyalty.expire_points(session, now) == 0  # once
    account = account_of(central_db)
    assert account.balance == 50
    day = (now + timedelta(days=30)).date().isoformat()
    assert account.expiring == [[day, 50]]


@pytest.mark.parametrize("bad", [{"card_number": "123"}, {},
                                 {"card_number": ANNA, "customer_id": str(uuid.uuid4())},
                                 {"points": 0}])
def test_bad_customer_and_points_requests_get_clear_errors(tills, bad):
    client, _db = tills["pos-1"]
    path = "/api/v1/cart/points" if "points" in bad else "/api/v1/cart/customer"
    resp = client.post(path, json=bad)
    assert resp.status_code == 422 and resp.json["error"]
    unknown = client.post("/api/v1/cart/customer", json={"card_number": "7770000000009999"})
    assert unknown.status_code == 404 and unknown.json["error"] == "card_not_known"


def test_centrals_jobs_release_stale_holds_and_expire_points_once(central_db, enrolled):
    now = utcnow()
    account = account_of(central_db)
    with central_db.transaction() as session:
        central_loyalty.post(session, account.id, LedgerEntry(
            "test:lot", EntryKind.EARN, 40, now - timedelta(days=400), now - timedelta(days=1)))
        central_loyalty.post(session, account.id, LedgerEntry(
            "test:fresh", EntryKind.EARN, 60, now))
        central_loyalty.hold(session, account.id, "pos-1", 25, ttl=timedelta(seconds=-1))
    first = jobs.run_all(central_db)
    assert first["expire_holds"] == 1
    assert first["expire_points"]["points_expired"] == 40
    assert jobs.run_all(central_db)["expire_points"]["points_expired"] == 0
    account = account_of(central_db)
    assert (account.balance, account.held) == (60, 0)


def test_category_and_product_multipliers_and_promotions_apply_at_the_till(tills, central_db):
    client, db = tills["pos-1"]
    now = utcnow()
    with central_db.read() as session:
        ids = dict(session.execute(select(Product.sku, Product.id)).all())
    set_rules(central_db, db, category_multiplier_bp={"grocery": 20_000},
              product_multiplier_bp={ids["5001"]: 0},  # no points on chocolate
              promotions=[{"starts_at": (now - timedelta(hours=1)).isoformat(),
                           "ends_at": (now + timedelta(hours=1)).isoformat(),
                           "multiplier_bp": 30_000, "product_ids": [ids["1002"]]}])
    card_balance(client)
    for sku in ("1001", "1002", "5001", "4001"):
        add(client, sku=sku, quantity=1)
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 100_000}]}).json
    earned = {ln["sku"]: ln["points_earned"] for ln in sale["lines"]}
    # Exactly: milk 179.80 (grocery: double), bread 329.40 (grocery, and its promotion: x3
    # more), chocolate 0 (its product multiplier), soap 129.90 (household: the base rate); the
    # receipt's 639 points shared so, the odd two to the largest remainders (soap, milk).
    assert earned == {"1001": 180, "1002": 329, "5001": 0, "4001": 130}
