"""Card lifecycle at central, on SQLite and PostgreSQL: issue, activate, block, replace; the
block list and issuer keys reach nodes through the feed."""

import stat
from datetime import date

import pytest
from sqlalchemy import select

from kassa.central.membership import cards, loyalty_accounts
from kassa.central.models import Card, Customer
from kassa.central.replication.feed import NodeScope, page
from kassa.smartcard.applet import LoyaltyCardApplet
from kassa.smartcard.card_protocol import load_public
from kassa.smartcard.reader import Trust, read_card
from tests.unit.test_card_protocol import InProcess


@pytest.fixture
def anna_account(central_db):
    with central_db.transaction() as session:
        anna = session.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one()
        return loyalty_accounts.open_account(session, anna).id


def test_issue_activate_block_and_replace(central_db, anna_account, tmp_path):
    keys = tmp_path / "issuer"
    with central_db.transaction() as session:
        account = session.get(loyalty_accounts.LoyaltyAccount, anna_account)
        state = cards.issue(session, account, keys, pin="2468", today=date(2026, 11, 27))
        cards.activate(session, state.card_number)
    assert stat.S_IMODE((keys / "issuer-1.pem").stat().st_mode) == 0o600
    assert state.card_number.startswith("777") and state.expiry == "20311127"
    with central_db.read() as session:
        changes = page(session, 0, 1000, NodeScope(1, 1))["changes"]
        (issuer,) = [c["data"] for c in changes if c["entity"] == "issuer_key"]
    reading = read_card(InProcess(LoyaltyCardApplet(state)),
                        Trust({1: load_public(issuer["public_key_pem"])}, {}.get,
                              lambda n: False, lambda n: 0), date(2026, 11, 27))
    assert reading.identity.card_number == state.card_number

    with central_db.transaction() as session:
        new = cards.replace(session, state.card_number, keys)
        with pytest.raises(cards.Conflict):
            cards.replace(session, state.card_number, keys)
        with pytest.raises(cards.Invalid):
            cards.block(session, new.card_number, "bored")
    with central_db.read() as session:
        old_row, new_row = session.get(Card, state.card_number), session.get(Card, new.card_number)
        assert (old_row.status, old_row.replaced_by) == ("replaced", new.card_number)
        assert (new_row.status, new_row.account_id) == ("active", anna_account)
        blocks = [c for c in page(session, 0, 1000, NodeScope(2, 2))["changes"]
                  if c["entity"] == "card_block"]
    assert [b["key"] for b in blocks] == [state.card_number]  # every node gets the block
    assert blocks[0]["data"]["reason"] == "replaced"


def test_a_till_checks_cards_with_what_the_feed_brought(central_db, anna_account, tmp_path,
                                                        node_db, node_key, enrolled):
    """Issue two cards at central, block one; the till's replica then accepts the first, refuses
    the blocked one, trusts records its peers signed, and catches a replayed record."""
    from kassa.common.signing import generate_private_key_pem
    from kassa.pos_node.cards import card_trust as till_cards
    from kassa.pos_node.models import NodeIdentity
    from kassa.pos_node.replication import replica
    from kassa.smartcard.card_protocol import load_private
    from kassa.smartcard.reader import CardError, write_record
    from tests.helpers import install_identity

    with central_db.transaction() as session:
        account = session.get(loyalty_accounts.LoyaltyAccount, anna_account)
        good = cards.issue(session, account, tmp_path)
        lost = cards.issue(session, account, tmp_path)
        cards.block(session, lost.card_number, "lost")
    install_identity(node_db, "pos-1", 1, node_key)
    with central_db.read() as central, node_db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).one()
        feed = page(central, 0, 1000, NodeScope(1, 1))
        replica.apply_page(session, node, feed["changes"], feed["next_since"])
    good_slot = InProcess(LoyaltyCardApplet(good))
    with node_db.transaction() as session:
        trust = till_cards.trust(session)
        reading = read_card(good_slot, trust, date(2026, 11, 27))
        assert reading.identity.card_number == good.card_number
        with pytest.raises(CardError) as err:
            read_card(InProcess(LoyaltyCardApplet(lost)), trust, date(2026, 11, 27))
        assert err.value.code == "card_blocked"
        # pos-1 (enrolled: its key came down the feed) writes records 1 and 2.
        write_record(good_slot, good.card_number, 100, 0, 1, "pos-1", load_private(node_key), 1)
        till_cards.saw_counter(session, good.card_number, 1)
        write_record(good_slot, good.card_number, 150, 0, 2, "pos-1", load_private(node_key), 2)
        till_cards.saw_counter(session, good.card_number, 2)
        till_cards.saw_counter(session, good.card_number, 1)  # never lowered
        assert read_card(good_slot, till_cards.trust(session), date(2026, 11, 27)).record_trusted
        # A record signed by a key no node has is not trusted.
        stranger = load_private(generate_private_key_pem())
        write_record(good_slot, good.card_number, 9999, 3, 3, "pos-1", stranger, 3)
        reading = read_card(good_slot, till_cards.trust(session), date(2026, 11, 27))
        assert reading.record_problem == "record_tampered"


def test_cards_from_the_command_line(central_db_url, central_db, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kassa.cli import main
    from kassa.smartcard.applet import load_card

    monkeypatch.setenv("KASSA_CENTRAL_DB", central_db_url)
    monkeypatch.setenv("KASSA_ISSUER_KEY_DIR", str(tmp_path / "issuer"))
    run = CliRunner().invoke
    issued = run(main, ["card", "issue", "--customer", "7770000000000002", "--out",
                        str(tmp_path / "ivan.card"), "--pin", "1357"])
    assert issued.exit_code == 0, issued.output
    number = issued.output.strip()
    state = load_card(tmp_path / "ivan.card")
    assert state.card_number == number and state.pin == "1357"
    assert stat.S_IMODE((tmp_path / "ivan.card").stat().st_mode) == 0o600
    nobody = run(main, ["card", "issue", "--customer", "nobody", "--out", str(tmp_path / "x")])
    assert nobody.exit_code == 1 and "customer_not_found" in nobody.output
    replaced = run(main, ["card", "replace", number, "--out", str(tmp_path / "ivan2.card")])
    assert replaced.exit_code == 0, replaced.output
    blocked = run(main, ["card", "block", replaced.output.strip(), "--reason", "stolen"])
    assert blocked.exit_code == 0
    with central_db.read() as session:
        assert {c.status for c in session.scalars(select(Card))} == {"replaced", "blocked"}

    # A lead (met at an event) given a card is a member: a customer analytics counts.
    with central_db.transaction() as session:
        lead = Customer(name="Lena Lead", phone="+79005550101", status="lead")
        session.add(lead)
    given = run(main, ["card", "issue", "--customer", "8 (900) 555-01-01", "--out",
                       str(tmp_path / "lena.card")])
    assert given.exit_code == 0, given.output
    with central_db.read() as session:
        assert session.get(Customer, lead.id).status == "customer"


def test_blocking_a_card_over_the_api_is_audited_and_scoped(central_app, central_db,
                                                            anna_account, seeded, tmp_path):
    from kassa.central.models import AuditEntry
    from tests.helpers import basic_auth
    with central_db.transaction() as session:
        from kassa.central.models import LoyaltyAccount
        state = cards.issue(session, session.get(LoyaltyAccount, anna_account), tmp_path)
    client = central_app.test_client()
    path = f"/api/v1/cards/{state.card_number}/block"
    spb = basic_auth("rm-spb", seeded["users"]["rm-spb"]["password"])
    assert client.post(path, json={"reason": "lost"}, headers=spb).status_code == 404
    office = basic_auth("office", seeded["users"]["office"]["password"])
    assert client.post(path, json={"reason": "borrowed"}, headers=office).status_code == 422
    assert client.post("/api/v1/cards/77700000000000xx/block", json={"reason": "lost"},
                       headers=office).status_code == 404
    done = client.post(path, json={"reason": "stolen"}, headers=office)
    assert done.status_code == 200 and done.json["status"] == "blocked"
    with central_db.read() as session:
        entry = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "card_block")).one()
    assert (entry.subject, entry.reason) == (f"card {state.card_number}", "stolen")
