"""Card lifecycle at central, on SQLite and PostgreSQL: issue, activate, block, replace; the
block list and issuer keys reach nodes through the feed."""

import stat
from datetime import date

import pytest
from sqlalchemy import select

from kassa.central import cards, loyalty
from kassa.central.feed import NodeScope, page
from kassa.central.models import Card, Customer
from kassa.smartcard.applet import LoyaltyCardApplet
from kassa.smartcard.protocol import load_public
from kassa.smartcard.reader import Trust, read_card
from tests.unit.test_card_protocol import InProcess


@pytest.fixture
def anna_account(central_db):
    with central_db.transaction() as session:
        anna = session.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one()
        return loyalty.open_account(session, anna).id


def test_issue_activate_block_and_replace(central_db, anna_account, tmp_path):
    keys = tmp_path / "issuer"
    with central_db.transaction() as session:
        account = session.get(loyalty.LoyaltyAccount, anna_account)
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
