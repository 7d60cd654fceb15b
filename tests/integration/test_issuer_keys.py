"""Rotating and retiring the card issuer's key (central on SQLite and PostgreSQL): new cards are
signed with the newest key, old cards keep working at the till until their key is retired, and
then the till refuses them as cards it does not know the issuer of."""

import stat
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select

from kassa.central.membership import cards, loyalty_accounts
from kassa.central.models import AuditEntry, Customer, IssuerKey
from kassa.central.replication.feed import NodeScope, page
from kassa.common.errors import KassaError
from kassa.pos_node.models import IssuerKey as TillIssuerKey
from kassa.pos_node.replication.client import sync_now
from kassa.smartcard.applet import load_card, save_card
from kassa.smartcard.card_protocol import load_private, load_public
from tests.integration.test_till_card import card_readers, card_seen, insert, swap  # noqa: F401

pytest_plugins = ("tests.smartcard_env",)


def issue(central_db, key_dir, customer: str, today=None):
    """An active card for ``customer``, issued at central; its card state."""
    with central_db.transaction() as session:
        person = session.scalars(select(Customer).where(Customer.name == customer)).one()
        state = cards.issue(session, loyalty_accounts.open_account(session, person), key_dir,
                            today=today)
        cards.activate(session, state.card_number)
    return state


def refusal(central_db, work) -> KassaError:
    with pytest.raises(KassaError) as err, central_db.transaction() as session:
        work(session)
    return err.value


def test_old_and_new_cards_work_until_the_old_key_is_retired(
        tills, card_readers, virtual_card_factory, central_db, tmp_path):  # noqa: F811
    client, db = tills["pos-1"]
    keys = tmp_path / "issuer"
    old = issue(central_db, keys, "Anna Petrova")
    with central_db.transaction() as session:
        assert cards.rotate_issuer_key(session, keys).id == 2
    new = issue(central_db, keys, "Ivan Sidorov")
    assert (old.issuer_key_id, new.issuer_key_id) == (1, 2)  # C5 on the card
    for state in (old, new):
        save_card(state, tmp_path / f"{state.card_number}.card")
    old_file, new_file = (tmp_path / f"{s.card_number}.card" for s in (old, new))

    sync_now(db)
    inserted = insert(virtual_card_factory, old_file)
    seen = card_seen(client)
    assert (seen["status"], seen["card_number"]) == ("identified", old.card_number), seen
    seen = swap(inserted, new_file, client)
    assert (seen["status"], seen["card_number"]) == ("identified", new.card_number), seen

    with central_db.transaction() as session:
        assert cards.retire_issuer_key(session, 1, force=True) == 1  # the old card
    sync_now(db)
    with db.read() as session:
        assert [k.id for k in session.scalars(select(TillIssuerKey))] == [2]
    seen = swap(inserted, old_file, client)
    assert (seen["status"], seen["error"]["code"]) == ("refused", "card_unknown_issuer"), seen
    seen = swap(inserted, new_file, client)
    assert (seen["status"], seen["card_number"]) == ("identified", new.card_number), seen


def test_rotation_makes_a_private_file_and_publishes_the_public_half(central_db, tmp_path):
    keys = tmp_path / "issuer"
    issue(central_db, keys, "Anna Petrova")  # key 1, made on first use
    (keys / "issuer-2.pem").write_text("left by a rotation that rolled back")
    with central_db.transaction() as session:
        key = cards.rotate_issuer_key(session, keys)
        assert (key.id, key.active) == (2, True)
    assert stat.S_IMODE((keys / "issuer-2.pem").stat().st_mode) == 0o600
    private = load_private((keys / "issuer-2.pem").read_text())
    (aside,) = keys.glob("issuer-2.pem.unused-*")  # moved aside, never overwritten
    assert aside.read_text() == "left by a rotation that rolled back"
    assert sorted(p.name for p in keys.glob("*.pem")) == ["issuer-1.pem", "issuer-2.pem"]
    with central_db.read() as session:
        rows = list(session.scalars(select(IssuerKey).order_by(IssuerKey.id)))
        assert [(k.id, k.active) for k in rows] == [(1, True), (2, True)]
        assert not any("PRIVATE" in k.public_key_pem for k in rows)
        published = [c for c in page(session, 0, 1000, NodeScope(2, 2))["changes"]
                     if c["entity"] == "issuer_key"]
        assert [(c["key"], c["deleted"]) for c in published] == [("1", False), ("2", False)]
        assert published[1]["data"]["public_key_pem"] == rows[1].public_key_pem
        assert load_public(rows[1].public_key_pem).public_numbers() == \
            private.public_key().public_numbers()  # the file and the database agree
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "issuer_key_rotate")).one()
        assert (audited.subject, audited.details) == ("issuer key 2", {"previous": 1})


def test_retiring_is_refused_while_it_would_break_something(central_db, tmp_path):
    keys = tmp_path / "issuer"
    anna = issue(central_db, keys, "Anna Petrova")
    issue(central_db, keys, "Ivan Sidorov", today=date(2019, 1, 1))  # expired in 2024
    only = refusal(central_db, lambda s: cards.retire_issuer_key(s, 1))
    assert only.code == "issuer_key_current"
    with central_db.transaction() as session:
        cards.rotate_issuer_key(session, keys)
    newest = refusal(central_db, lambda s: cards.retire_issuer_key(s, 2, force=True))
    assert newest.code == "issuer_key_current"
    assert refusal(central_db, lambda s: cards.retire_issuer_key(s, 7)).code == \
        "issuer_key_not_found"
    in_use = refusal(central_db, lambda s: cards.retire_issuer_key(s, 1))
    assert (in_use.code, in_use.details) == ("issuer_key_has_cards", {"cards": 1})  # not expired

    with central_db.transaction() as session:
        cards.block(session, anna.card_number, "lost")
        assert cards.retire_issuer_key(session, 1) == 0  # a blocked card carries no trust
    assert refusal(central_db, lambda s: cards.retire_issuer_key(s, 1)).code == \
        "issuer_key_retired"
    with central_db.read() as session:
        assert [k.active for k in session.scalars(select(IssuerKey).order_by(IssuerKey.id))] \
            == [False, True]
        published = [(c["key"], c["deleted"]) for c in page(session, 0, 1000)["changes"]
                     if c["entity"] == "issuer_key"]
        assert published == [("1", False), ("2", False), ("1", True)]
        audited = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "issuer_key_retire")).one()
        assert (audited.subject, audited.details) == ("issuer key 1", {"cards_stopped": 0})
    # New cards still come from key 2 with key 1 gone.
    assert issue(central_db, keys, "Olga Smirnova").issuer_key_id == 2


def test_key_ids_end_at_255(central_db, tmp_path):
    keys = tmp_path / "issuer"
    issue(central_db, keys, "Anna Petrova")
    with central_db.transaction() as session:  # as if rotated 254 times
        first = session.get(IssuerKey, 1)
        session.add(IssuerKey(id=255, public_key_pem=first.public_key_pem, active=True))
    full = refusal(central_db, lambda s: cards.rotate_issuer_key(s, keys))
    assert full.code == "issuer_key_ids_exhausted"
    assert sorted(p.name for p in keys.iterdir()) == ["issuer-1.pem"]


def test_rotate_and_retire_from_the_command_line(central_db_url, central_db, tmp_path,
                                                 monkeypatch):
    from click.testing import CliRunner

    from kassa.cli import main

    monkeypatch.setenv("KASSA_CENTRAL_DB", central_db_url)
    monkeypatch.setenv("KASSA_ISSUER_KEY_DIR", str(tmp_path / "issuer"))
    run = CliRunner().invoke

    def card(*args):
        done = run(main, ["card", *args])
        assert done.exit_code == 0, done.output
        return load_card(Path(args[-1])).issuer_key_id, done.output.strip()

    ivan_key, ivan = card("issue", "--customer", "7770000000000002", "--out",
                          str(tmp_path / "ivan.card"))
    olga_key, _ = card("issue", "--customer", "7770000000000003", "--out",
                       str(tmp_path / "olga.card"))
    assert (ivan_key, olga_key) == (1, 1)
    rotated = run(main, ["central", "rotate-issuer-key"])
    assert rotated.exit_code == 0 and "issuer key 2 made" in rotated.output, rotated.output
    # Replacements and new cards alike are signed with the new key.
    assert card("replace", ivan, "--out", str(tmp_path / "ivan2.card"))[0] == 2
    assert card("issue", "--customer", "7770000000000001", "--out",
                str(tmp_path / "anna.card"))[0] == 2
    current = run(main, ["central", "retire-issuer-key", "2"])
    assert current.exit_code == 1 and "error [issuer_key_current]" in current.output
    olga_left = run(main, ["central", "retire-issuer-key", "1"])
    assert olga_left.exit_code == 1, olga_left.output
    assert "error [issuer_key_has_cards]: 1 card(s)" in olga_left.output
    forced = run(main, ["central", "retire-issuer-key", "1", "--force"])
    assert forced.exit_code == 0, forced.output
    assert forced.output.strip() == "issuer key 1 retired; 1 card signed with it stops working"


def test_a_new_till_bootstrapped_after_retirement_does_not_trust_the_retired_key(
        central_db, tmp_path):
    from kassa.central.replication import snapshot
    keys = tmp_path / "issuer"
    issue(central_db, keys, "Anna Petrova")
    with central_db.transaction() as session:
        cards.rotate_issuer_key(session, keys)
        cards.retire_issuer_key(session, 1, force=True)
    with snapshot.consistent_read(central_db) as conn:
        sent = [key for entity, key, _data in snapshot.rows(conn, NodeScope(1, 1))
                if entity == "issuer_key"]
    assert sent == ["2"]
