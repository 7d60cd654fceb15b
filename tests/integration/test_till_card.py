"""The loyalty card at the till on the real stack: cards issued at central, the project's
virtual card behind pcscd's vpcd driver, the till's CardReader watching it with pyscard's
CardMonitor, central over real HTTP (SQLite and PostgreSQL).

Covers what the cashier sees for a genuine, expired, foreign, copied, blocked, edited and
replayed card; points paid under central's hold with the card's PIN (and the PIN blocking after
three wrong tries); the card pulled out between the sale's commit and the record write; and two
offline tills spending the same points, which central records as a debt in the fraud report
that later earnings repay."""

import uuid
from contextlib import ExitStack
from datetime import date

import pytest
from sqlalchemy import select

from kassa.central.membership import cards
from kassa.central.membership import loyalty_accounts as central_loyalty
from kassa.central.models import Customer, LoyaltyAccount, RedemptionHold
from kassa.common.db import utcnow
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from kassa.pos_node.cards.card_reader import CardReader
from kassa.pos_node.models import NodeIdentity, Sale
from kassa.pos_node.replication.client import sync_now
from kassa.smartcard import card_protocol as p
from kassa.smartcard.applet import LoyaltyCardApplet, load_card, save_card
from kassa.smartcard.vpcd import VPCD_PORT
from tests.helpers import point_a_rouble as point_a_rouble_rules
from tests.helpers import wait_until
from tests.unit.test_card_protocol import card as foreign_card

pytest_plugins = ("tests.smartcard_env",)
ANNA = "7770000000000001"
SECOND_PORT = VPCD_PORT + 1


def anna_account(central_db, name="Anna Petrova") -> LoyaltyAccount:
    with central_db.transaction() as session:
        customer = session.scalars(select(Customer).where(Customer.name == name)).one()
        return session.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == customer.id)).one()


@pytest.fixture
def point_a_rouble(central_db):
    """The rules these tests count with (``tests.helpers.point_a_rouble``: a point for each
    rouble of a receipt, a point pays a rouble); the tills get them at the test's next pull."""
    point_a_rouble_rules(central_db)


@pytest.fixture
def issue(central_db, tmp_path):
    """``issue(pin=None, today=None, points=0) -> card file path``: a card for Anna's account
    (or ``customer``'s), issued and activated at central, with ``points`` earned on it."""
    def make(pin=None, today=None, points=0, name="anna", customer="Anna Petrova"):
        account = anna_account(central_db, customer)
        with central_db.transaction() as session:
            state = cards.issue(session, account, tmp_path / "issuer", pin=pin, today=today)
            cards.activate(session, state.card_number)
            if points:
                central_loyalty.post(session, account.id, LedgerEntry(
                    f"test:{name}", EntryKind.EARN, points, utcnow()))
        path = tmp_path / f"{name}.card"
        save_card(state, path)
        return path
    return make


@pytest.fixture
def card_readers(tills, pcscd):
    """Each till's CardReader started on its own virtual reader (pos-1: 00 00, pos-2: 00 01),
    as ``kassa pos serve`` starts it; both readers are this test's alone meanwhile."""
    from tests.smartcard_env import reserved_reader, stop_card_monitor  # plugin, loaded by now
    started = {}
    with ExitStack() as held:
        for node_id, port in (("pos-1", VPCD_PORT), ("pos-2", SECOND_PORT)):
            client, db = tills[node_id]
            name = held.enter_context(reserved_reader(pcscd, port))
            reader = CardReader(db, name).start()
            client.application.extensions["kassa_card_reader"] = reader
            started[node_id] = reader
        assert wait_until(lambda: all(r.state().status == "absent"
                                      for r in started.values()), timeout=10)
        yield started
        for reader in started.values():
            reader.stop()
        stop_card_monitor()


def card_seen(client, after: int = -1, timeout: float = 10) -> dict:
    """``GET /api/v1/card`` once the reader reports a card event newer than ``after``."""
    seen = {}

    def changed():
        seen.update(client.get("/api/v1/card").json)
        return seen["seq"] > after and seen["status"] in ("identified", "refused")
    assert wait_until(changed, timeout=timeout), seen
    return seen


def insert(virtual_card_factory, path, port=VPCD_PORT):
    return virtual_card_factory(LoyaltyCardApplet(load_card(path), path), port=port)


def swap(inserted, path, client):
    """Take the card out, wait until the till saw it go, put another in."""
    inserted.stop()
    assert wait_until(lambda: client.get("/api/v1/card").json["status"] == "absent")
    seq = client.get("/api/v1/card").json["seq"]
    inserted.applet = LoyaltyCardApplet(load_card(path), path)
    inserted.start()
    return card_seen(client, seq)


def test_the_till_identifies_a_genuine_card_and_refuses_bad_ones(
        tills, card_readers, issue, virtual_card_factory, central_db, tmp_path):
    client, db = tills["pos-1"]
    genuine = issue(points=420)
    expired = issue(today=date(2020, 1, 1), name="expired", customer="Ivan Sidorov")
    blocked = issue(name="blocked", customer="Olga Smirnova")
    with central_db.transaction() as session:
        cards.block(session, load_card(blocked).card_number, "stolen")
    sync_now(db)
    number = load_card(genuine).card_number
    inserted = insert(virtual_card_factory, genuine)
    seen = card_seen(client)
    assert seen["status"] == "identified" and seen["card_number"] == number, seen
    assert seen["account"] is not None, seen
    assert seen["account"]["name"] == "Anna Petrova" and seen["account"]["balance"] == 420
    assert seen["account"]["tier"] == "base" and seen["record"] is None  # a blank card
    # Copied data on a card without its key; a card of another issuer; expired; blocked.
    copy = foreign_card()
    real = load_card(genuine)
    copy.card_number, copy.card_key_hex = real.card_number, real.card_key_hex
    copy.issuer_cert_hex, copy.expiry = real.issuer_cert_hex, real.expiry
    save_card(copy, tmp_path / "copy.card")
    save_card(foreign_card(number="7770000000000077"), tmp_path / "foreign.card")
    for path, code in [(tmp_path / "copy.card", "card_clone_suspected"),
                       (tmp_path / "foreign.card", "card_unknown_issuer"),
                       (expired, "card_expired"), (blocked, "card_blocked")]:
        seen = swap(inserted, path, client)
        assert (seen["status"], seen["error"]["code"]) == ("refused", code), seen
        assert seen["account"] is None


def test_points_pay_under_centrals_hold_with_the_pin_and_the_record_follows(
        tills, card_readers, issue, virtual_card_factory, central_db, point_a_rouble):
    client, db = tills["pos-1"]
    path = issue(pin="2580", points=1000)
    sync_now(db)
    number = load_card(path).card_number
    insert(virtual_card_factory, path)
    assert card_seen(client)["account"]["card_has_pin"] is True
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 3})  # 269.70
    cart = client.post("/api/v1/cart/customer", json={"card_number": number}).json
    assert cart["card_number"] == number  # the card itself: it may spend
    no_pin = client.post("/api/v1/cart/points", json={"points": 100})
    assert no_pin.status_code == 422 and no_pin.json["error"] == "pin_required"
    wrong = client.post("/api/v1/cart/points", json={"points": 100, "pin": "0000"})
    assert wrong.json["error"] == "pin_wrong" and wrong.json["details"]["tries_left"] == 2
    paid = client.post("/api/v1/cart/points", json={"points": 100, "pin": "2580"})
    assert paid.status_code == 200, paid.json
    assert (paid.json["points_value_minor"], paid.json["points_offline"]) == (10000, False)
    with central_db.transaction() as session:
        hold = session.scalars(select(RedemptionHold)).one()
        assert (hold.status, hold.points) == ("held", 100)
    sale = client.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 16970}]}).json
    assert [(pm["method"], pm["amount_minor"]) for pm in sale["payments"]] == [
        ("points", 10000), ("cash", 16970)]
    # No points on the part paid with points: 169.70 earns 169.
    assert sum(ln["points_earned"] for ln in sale["lines"]) == 169
    assert sale["card_record_written"] is True
    seen = client.get("/api/v1/card").json
    assert seen["written"]["balance"] == 1000 - 100 + 169
    # Record 1 went on the blank card when it was read, record 2 after the sale.
    assert seen["written"]["counter"] == 2 and seen["written"]["writer"] == "pos-1"
    sync_now(db)
    account = anna_account(central_db)
    assert (account.balance, account.held) == (1069, 0)
    with central_db.transaction() as session:
        assert session.get(RedemptionHold, hold.id).status == "committed"


def test_three_wrong_pins_block_the_card_for_spending(
        tills, card_readers, issue, virtual_card_factory):
    client, db = tills["pos-1"]
    path = issue(pin="2580", points=500)
    sync_now(db)
    insert(virtual_card_factory, path)
    card_seen(client)
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    client.post("/api/v1/cart/customer", json={"card_number": load_card(path).card_number})
    answers = [client.post("/api/v1/cart/points", json={"points": 10, "pin": "1111"})
               for _ in range(3)]
    assert [(a.status_code, a.json["error"], (a.json.get("details") or {}).get("tries_left"))
            for a in answers] == [(422, "pin_wrong", 2), (422, "pin_wrong", 1),
                                  (409, "pin_blocked", None)]
    right = client.post("/api/v1/cart/points", json={"points": 10, "pin": "2580"})
    assert right.json["error"] == "pin_blocked"
    assert load_card(path).pin_tries_left == 0  # kept by the card, not the till
    # The sale goes on without points.
    done = client.post("/api/v1/cart/checkout", json={"payments": [{"method": "cash",
                                                                    "amount": 8990}]})
    assert done.status_code == 201 and done.json["points_burned"] == 0


def test_an_edited_or_older_record_is_not_trusted(
        tills, card_readers, issue, virtual_card_factory, tmp_path, point_a_rouble):
    client, db = tills["pos-1"]
    path = issue(points=300)
    sync_now(db)
    number = load_card(path).card_number
    inserted = insert(virtual_card_factory, path)
    card_seen(client)
    for _ in range(2):  # two sales: records 2 and 3 (1 went on the blank card)
        client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
        client.post("/api/v1/cart/customer", json={"card_number": number})
        sale = client.post("/api/v1/cart/checkout", json={"payments": [
            {"method": "cash", "amount": 8990}]}).json
        assert sale["card_record_written"] is True
        if _ == 0:
            save_card(load_card(path), tmp_path / "after-first.card")
    # The balance edited in the card's storage.
    edited = load_card(path)
    record = p.parse_tlv(bytes.fromhex(edited.record_hex))
    record[p.BALANCE] = p.uint(50_000)
    edited.record_hex = b"".join(p.tlv(t, v) for t, v in record.items()).hex()
    save_card(edited, tmp_path / "edited.card")
    seen = swap(inserted, tmp_path / "edited.card", client)
    assert seen["status"] == "identified"  # the card is ours; its record is not believed
    assert (seen["record"]["trusted"], seen["record"]["problem"]) == (False, "record_tampered")
    assert seen["account"]["balance"] == 300 + 89 * 2  # the till's figure, not the card's
    # The record of the first sale, replayed after the till saw the second.
    seen = swap(inserted, tmp_path / "after-first.card", client)
    assert seen["record"] is not None, seen
    assert (seen["record"]["counter"], seen["record"]["problem"]) == (2, "record_replayed")


def test_a_card_pulled_out_after_the_sale_keeps_the_sale_and_gets_its_record_next_time(
        tills, card_readers, issue, virtual_card_factory, point_a_rouble):
    client, db = tills["pos-1"]
    path = issue(points=200)
    sync_now(db)
    number = load_card(path).card_number
    inserted = insert(virtual_card_factory, path)
    card_seen(client)
    client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    client.post("/api/v1/cart/customer", json={"card_number": number})
    # The card leaves the reader in the window between the sale's commit and the record
    # write: the till has not heard of it yet (its monitor is held still, as by a busy
    # thread), the write finds no card.
    card_readers["pos-1"].stop()
    inserted.stop()
    sale = client.post("/api/v1/cart/checkout", json={"payments": [{"method": "cash",
                                                                    "amount": 8990}]})
    assert sale.status_code == 201 and sale.json["card_record_written"] is False
    with db.read() as session:
        assert session.get(Sale, uuid.UUID(sale.json["id"])).status == "completed"  # stands
    def card_balance():
        return int.from_bytes(p.parse_tlv(bytes.fromhex(load_card(path).record_hex))[p.BALANCE],
                              "big")
    assert card_balance() == 200  # the record from when it went in: none of the sale
    # Next time the card is read, the till writes the record it owes.
    from tests.smartcard_env import wait_for_card  # plugin module, loaded by now
    assert wait_for_card(card_readers["pos-1"].wanted, present=False)
    reader = CardReader(db, card_readers["pos-1"].wanted).start()
    client.application.extensions["kassa_card_reader"] = card_readers["pos-1"] = reader
    inserted.applet = LoyaltyCardApplet(load_card(path), path)
    inserted.start()
    seen = card_seen(client)
    assert (seen["record"]["balance"], seen["record_written"]) == (200, True)
    assert (seen["written"]["balance"], seen["written"]["counter"]) == (289, 2)
    assert card_balance() == 289


def test_offline_spends_at_two_tills_become_a_debt_that_earnings_repay(
        tills, card_readers, issue, virtual_card_factory, central_db, point_a_rouble):
    one, one_db = tills["pos-1"]
    two, two_db = tills["pos-2"]
    path = issue(points=300)
    point_a_rouble_rules(central_db, max_share_bp=10_000)  # points may pay a whole sale
    sync_now(one_db)
    sync_now(two_db)
    number = load_card(path).card_number
    urls = {}
    for db in (one_db, two_db):  # central goes away
        with db.transaction() as session:
            node = session.scalars(select(NodeIdentity)).one()
            urls[db], node.central_url = node.central_url, "http://127.0.0.1:9"
    inserted = insert(virtual_card_factory, path)
    for client in (one, two):
        if client is two:  # the customer walks to the other store with the card
            inserted.stop()
            inserted = insert(virtual_card_factory, path, port=SECOND_PORT)
        card_seen(client)
        client.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 4})  # 359.60
        client.post("/api/v1/cart/customer", json={"card_number": number})
        paid = client.post("/api/v1/cart/points", json={"points": 300})
        assert paid.status_code == 200 and paid.json["points_offline"] is True, paid.json
        over = client.post("/api/v1/cart/points", json={"points": 600})
        assert over.json["error"] in ("insufficient_points", "offline_allowance_exceeded")
        sale = client.post("/api/v1/cart/checkout", json={"payments": [
            {"method": "cash", "amount": 35960 - 30000}]})
        assert sale.status_code == 201, sale.json
    for db in (one_db, two_db):
        with db.transaction() as session:
            session.scalars(select(NodeIdentity)).one().central_url = urls[db]
        sync_now(db)
    account = anna_account(central_db)
    assert account.balance == 300 - 2 * 300 + 2 * 59  # below zero: recorded, not lost
    with central_db.transaction() as session:
        flagged = central_loyalty.overdrawn(session)
    assert [f["balance"] for f in flagged] == [account.balance]
    assert sorted(b["points"] for b in flagged[0]["burns"])[:2] == [-300, -300]
    # Later earnings repay the debt before anything can be spent.
    one.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 10})
    one.post("/api/v1/cart/customer", json={"card_number": number})
    one.post("/api/v1/cart/checkout", json={"payments": [{"method": "cash", "amount": 89900}]})
    sync_now(one_db)
    assert anna_account(central_db).balance == account.balance + 899
    with central_db.transaction() as session:
        assert central_loyalty.overdrawn(session) == []
