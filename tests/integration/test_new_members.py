"""New members signed up at the till (central on SQLite and PostgreSQL, real HTTP between the
tills and central): offline with a printed card from the store's stock, then online, central
taking the member once with the till's ids, the card and the points; two offline tills giving
the same stock card; a phone central already knows; a lead who signs up or buys; and what the
till refuses."""

import uuid

import pytest
from sqlalchemy import select

from kassa.central.crm import interactions
from kassa.central.membership import cards
from kassa.central.membership import loyalty_accounts as central_loyalty
from kassa.central.models import (
    AuditEntry,
    Card,
    Consent,
    Customer,
    LoyaltyAccount,
    LoyaltyEntry,
    Store,
    Task,
    TaskComment,
)
from kassa.central.replication.nodes import add_node
from kassa.pos_node.models import Customer as TillCustomer
from kassa.pos_node.models import LoyaltyAccount as TillAccount
from kassa.pos_node.models import NodeIdentity, StockCard
from kassa.pos_node.replication.client import sync_now
from tests.integration.conftest import open_till
from tests.integration.test_till_workflow import add

UNREACHABLE = "http://127.0.0.1:9"


def stock(central_db, count=2, *, printed=True, store="S001", key_dir=None):
    with central_db.transaction() as session:
        s = session.scalars(select(Store).where(Store.code == store)).one()
        return cards.issue_stock(session, s, count, key_dir, printed=printed)


def set_central(db, url):
    with db.transaction() as session:
        session.scalars(select(NodeIdentity)).one().central_url = url


def checkout(client) -> dict:
    cart = client.get("/api/v1/cart").json
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": cart["total_minor"]}]})
    assert sale.status_code == 201, sale.json
    return sale.json


def sign_up(client, **member):
    return client.post("/api/v1/members", json=member)


def test_a_member_signed_up_offline_reaches_central_once_with_card_and_points(tills, central_db,
                                                                              live_central):
    client, db = tills["pos-1"]
    first, _second = stock(central_db)
    sync_now(db)
    with db.read() as session:
        assert session.get(StockCard, first).kind == "printed"
    set_central(db, UNREACHABLE)  # the network is down from here

    done = sign_up(client, name=" Maria Kuznetsova ", phone="8 (912) 555-01-01",
                   email="Maria@Example.com", consents=["sms", "offers"], card_number=first)
    assert done.status_code == 201, done.json
    member = done.json["customer"]
    assert (member["name"], member["card_number"], member["balance"]) == (
        "Maria Kuznetsova", first, 0)
    add(client, sku="1001", quantity=2)  # milk 2 x 89.90
    sale = checkout(client)
    earned = sum(ln["points_earned"] for ln in sale["lines"])
    assert earned > 0 and sale["customer_id"] == member["customer_id"]
    with db.read() as session:
        assert session.get(StockCard, first) is None  # given: not offered again
        till_customer = session.get(TillCustomer, uuid.UUID(member["customer_id"]))
        assert (till_customer.phone, till_customer.email) == ("+79125550101",
                                                              "maria@example.com")
    found = client.get("/api/v1/customers?q=8 912 555 01 01").json["customers"]
    assert [c["name"] for c in found] == ["Maria Kuznetsova"]  # as people say a number
    assert client.post("/api/v1/cart/customer", json={"card_number": first}
                       ).json["customer"]["balance"] == earned

    set_central(db, live_central)  # back online
    sync_now(db)
    customer_id, account_id = uuid.UUID(member["customer_id"]), uuid.UUID(member["account_id"])
    with central_db.read() as session:
        customer = session.get(Customer, customer_id)
        s001 = session.scalars(select(Store).where(Store.code == "S001")).one()
        assert (customer.name, customer.phone, customer.email, customer.card_number) == (
            "Maria Kuznetsova", "+79125550101", "maria@example.com", first)
        assert (customer.status, customer.home_store_id) == ("customer", s001.id)
        account = session.get(LoyaltyAccount, account_id)
        assert account.customer_id == customer_id and account.balance == earned
        assert central_loyalty.check_balance(session, account_id) == (earned, earned)
        card = session.get(Card, first)
        assert (card.status, card.account_id, card.assigned_by_node, card.kind) == (
            "active", account_id, "pos-1", "printed")
        consents = {c.channel: (c.granted, c.source) for c in session.scalars(
            select(Consent).where(Consent.customer_id == customer_id))}
        assert consents == {"sms": (True, "till pos-1 (cashier-s001)"),
                            "offers": (True, "till pos-1 (cashier-s001)")}
        assert session.scalars(select(AuditEntry.subject).where(
            AuditEntry.action == "customer_registered")).all() == [
            f"customer {customer_id} at till pos-1"]
        assert session.scalars(select(Task)).all() == []  # no clash, nothing to do
    sync_now(db)  # central's record and account come back down, and nothing is doubled
    with db.read() as session:
        assert session.get(TillAccount, account_id).balance == earned
    assert client.post("/api/v1/cart/customer", json={"card_number": first}
                       ).json["customer"]["balance"] == earned
    with central_db.read() as session:
        assert len(session.scalars(select(LoyaltyEntry).where(
            LoyaltyEntry.account_id == account_id)).all()) == len(sale["lines"])


@pytest.fixture
def pos3(central_db, live_central, node_template, tmp_path, demo_secrets):
    """A second till at S001 (pos-1's store), enrolled and synced."""
    with central_db.transaction() as session:
        s001 = session.scalars(select(Store).where(Store.code == "S001")).one()
        code = add_node(session, "pos-3", s001)
    client, db, app = open_till(central_db, live_central, node_template, tmp_path, "pos-3", 1,
                                code, "cashier-s001", demo_secrets["users"]["cashier-s001"]["pin"])
    yield client, db
    app.extensions["kassa_db"].dispose()
    db.dispose()


def test_two_offline_tills_give_the_same_stock_card(tills, pos3, central_db, live_central):
    one, one_db = tills["pos-1"]
    three, three_db = pos3
    number, = stock(central_db, 1)
    for db in (one_db, three_db):
        sync_now(db)
        set_central(db, UNREACHABLE)
    first = sign_up(one, name="First Holder", phone="+79125550201", card_number=number).json
    second = sign_up(three, name="Second Holder", phone="+79125550202", card_number=number).json
    add(three, sku="1001", quantity=1)
    earned = sum(ln["points_earned"] for ln in checkout(three)["lines"])

    for db in (one_db, three_db):  # pos-1 reaches central first
        set_central(db, live_central)
        sync_now(db)
    sync_now(one_db)
    sync_now(three_db)
    with central_db.read() as session:
        holder = session.get(Customer, uuid.UUID(first["customer"]["customer_id"]))
        refused = session.get(Customer, uuid.UUID(second["customer"]["customer_id"]))
        assert (holder.card_number, refused.card_number) == (number, None)
        assert session.get(Card, number).account_id == uuid.UUID(
            first["customer"]["account_id"])
        # The second member keeps what they earned; their store is told to give a new card.
        assert session.get(LoyaltyAccount, uuid.UUID(
            second["customer"]["account_id"])).balance == earned
        task = session.scalars(select(Task)).one()
        assert (task.trigger, task.customer_id, task.store_id) == (
            "card_conflict", refused.id, holder.home_store_id)
        assert session.scalars(select(AuditEntry.reason).where(
            AuditEntry.action == "card_refused")).all() == ["card_taken"]
    with three_db.read() as session:  # the till that lost the card took it back
        assert session.get(TillCustomer, refused.id).card_number is None
        assert session.get(TillCustomer, holder.id).card_number == number
    card = three.post("/api/v1/cart/customer", json={"card_number": number}).json
    assert card["customer"]["name"] == "First Holder"


def test_a_known_phone_is_asked_about_at_the_till_and_a_task_at_central(tills, central_db):
    client, db = tills["pos-1"]
    refused = sign_up(client, name="Anna P.", phone="8 900 000 00 01")
    assert refused.status_code == 409
    assert (refused.json["error"], refused.json["details"]["name"]) == (
        "likely_duplicate", "Anna Petrova")
    done = sign_up(client, name="Anna P.", phone="8 900 000 00 01", force=True)
    assert done.status_code == 201, done.json
    sync_now(db)
    new_id = uuid.UUID(done.json["customer"]["customer_id"])
    with central_db.read() as session:
        task = session.scalars(select(Task)).one()
        assert (task.trigger, task.customer_id) == ("member_duplicate", new_id)
        note = session.scalars(select(TaskComment.text).where(TaskComment.task_id == task.id))
        assert "Anna Petrova" in note.one()
        assert session.get(Customer, new_id).merged_into_id is None  # never merged by itself


def test_the_360_page_names_the_likely_duplicate(central_app, central_db, seeded):
    from tests.helpers import staff_auth
    api = central_app.test_client()
    with central_db.transaction() as session:
        anna = session.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one()
        twin = Customer(id=uuid.uuid4(), name="A. Petrova", phone=anna.phone)
        session.add(twin)
    view = api.get(f"/api/v1/customers/{twin.id}", headers=staff_auth(seeded, "office")).json
    assert view["likely_duplicate"] == {"id": str(anna.id), "name": "Anna Petrova",
                                        "status": "customer", "same": ["phone"]}
    # Out of a regional manager's region, the other record is not named.
    outside = api.get(f"/api/v1/customers/{anna.id}", headers=staff_auth(seeded, "rm-spb"))
    assert outside.status_code == 404


def test_a_lead_becomes_the_member_who_signs_up(tills, central_db):
    client, db = tills["pos-1"]
    with central_db.transaction() as session:
        lead = interactions.new_lead(session, name="Web Visitor", phone=None,
                                     email="visitor@example.com", source={"channel": "web"})
        lead_id = lead.id
    done = sign_up(client, name="Vera Visitor", email="Visitor@example.com")
    assert done.status_code == 201, done.json
    sync_now(db)
    with central_db.read() as session:
        member = session.get(Customer, uuid.UUID(done.json["customer"]["customer_id"]))
        assert member.status == "customer" and member.email == "visitor@example.com"
        assert session.get(Customer, lead_id).merged_into_id == member.id
        assert session.scalars(select(Task)).all() == []  # a lead is not a duplicate


def test_a_lead_who_buys_is_a_customer(tills, central_db):
    client, db = tills["pos-1"]
    with central_db.transaction() as session:
        lead = interactions.new_lead(session, name="Caller", phone="+79125550301", email=None,
                                     source={"channel": "call"})
        lead_id = lead.id
    with db.transaction() as session:  # as a till that bootstrapped after the lead came in
        session.add(TillCustomer(id=lead_id, name="Caller", phone="+79125550301"))
    assert client.post("/api/v1/cart/customer", json={"customer_id": str(lead_id)}
                       ).status_code == 200
    add(client, sku="1001", quantity=1)
    checkout(client)
    sync_now(db)
    with central_db.read() as session:
        assert session.get(Customer, lead_id).status == "customer"


def test_what_the_till_refuses(tills, central_db):
    client, db = tills["pos-1"]
    printed, = stock(central_db, 1)
    sync_now(db)
    cases = [
        ({"name": "", "phone": "+79125550401"}, 422, "invalid_input"),
        ({"name": "No Contact"}, 422, "contact_required"),
        ({"name": "Bad Phone", "phone": "12"}, 422, "bad_phone"),
        ({"name": "Bad Mail", "email": "no-at-sign"}, 422, "bad_email"),
        ({"name": "Fax", "phone": "+79125550402", "consents": ["fax"]}, 422, "invalid_input"),
        ({"name": "Stranger Card", "phone": "+79125550403", "card_number": "7779999999999999"},
         404, "not_stock_card"),
        ({"name": "Anna's Card", "phone": "+79125550404", "card_number": "7770000000000001"},
         409, "card_taken"),
    ]
    for body, status, code in cases:
        resp = sign_up(client, **body)
        assert (resp.status_code, resp.json["error"]) == (status, code), (body, resp.json)
    assert sign_up(client, name="Holder", phone="+79125550405", card_number=printed
                   ).status_code == 201
    again = sign_up(client, name="Other", phone="+79125550406", card_number=printed)
    assert (again.status_code, again.json["error"]) == (409, "card_taken")
