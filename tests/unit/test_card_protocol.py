"""The card protocol without hardware: the applet the virtual card runs and the reader's checks,
talking through an in-process transport. (The same pair over the real pcscd is tested in
tests/integration.)"""

import dataclasses
from datetime import date

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from kassa.smartcard import card_protocol as p
from kassa.smartcard.applet import LoyaltyCardApplet, load_card, save_card
from kassa.smartcard.issuer import issue_card
from kassa.smartcard.reader import CardError, Trust, read_card, verify_pin, write_record

TODAY = date(2026, 11, 27)


def pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


ISSUER = ec.generate_private_key(ec.SECP256R1())
NODE = ec.generate_private_key(ec.SECP256R1())
OTHER = ec.generate_private_key(ec.SECP256R1())


class InProcess:
    """A reader slot holding an applet: what pcscd does, minus the wire."""

    def __init__(self, applet):
        self.applet = applet

    def transmit(self, apdu):
        answer = self.applet.process(apdu)
        return answer[:-2], int.from_bytes(answer[-2:], "big")


def trust(blocked=(), seen=0, nodes=None):
    keys = nodes if nodes is not None else {"pos-1": NODE.public_key()}
    return Trust({1: ISSUER.public_key()}, keys.get, lambda n: n in blocked, lambda n: seen)


def card(pin=None, expiry=date(2030, 1, 31), number="7770000000000001", issuer=ISSUER):
    return issue_card(pem(issuer), 1, number, expiry, pin)


def test_a_genuine_blank_card_is_identified_and_takes_records_in_order():
    slot = InProcess(LoyaltyCardApplet(card()))
    reading = read_card(slot, trust(), TODAY)
    assert reading.identity.card_number == "7770000000000001"
    assert reading.record is None and not reading.record_trusted
    write_record(slot, "7770000000000001", 120, 1, 1, "pos-1", NODE, 1_790_000_000)
    reading = read_card(slot, trust(), TODAY)
    assert reading.record_trusted and reading.record.balance == 120 and reading.record.tier == 1
    with pytest.raises(CardError) as err:  # counter must be +1
        write_record(slot, "7770000000000001", 130, 1, 1, "pos-1", NODE, 1_790_000_100)
    assert err.value.code == "record_counter_mismatch"


@pytest.mark.parametrize("make, code", [
    (lambda: card(expiry=date(2026, 11, 26)), "card_expired"),
    (lambda: card(issuer=OTHER), "card_unknown_issuer"),
])
def test_expired_and_foreign_cards_are_refused(make, code):
    with pytest.raises(CardError) as err:
        read_card(InProcess(LoyaltyCardApplet(make())), trust(), TODAY)
    assert err.value.code == code


def test_a_copy_of_the_data_without_the_key_is_caught():
    genuine = card()
    copy = dataclasses.replace(card(), card_number=genuine.card_number,
                               card_key_hex=genuine.card_key_hex,
                               issuer_cert_hex=genuine.issuer_cert_hex, expiry=genuine.expiry)
    with pytest.raises(CardError) as err:
        read_card(InProcess(LoyaltyCardApplet(copy)), trust(), TODAY)
    assert err.value.code == "card_clone_suspected"


def test_a_blocked_card_is_refused():
    with pytest.raises(CardError) as err:
        read_card(InProcess(LoyaltyCardApplet(card())), trust(blocked={"7770000000000001"}),
                  TODAY)
    assert err.value.code == "card_blocked"


def test_an_edited_or_replayed_record_is_not_trusted(tmp_path):
    state = card()
    applet = LoyaltyCardApplet(state, tmp_path / "card.json")
    slot = InProcess(applet)
    read_card(slot, trust(), TODAY)
    write_record(slot, state.card_number, 500, 0, 1, "pos-1", NODE, 1_790_000_000)
    # Someone edits the balance in the card's storage.
    edited = load_card(tmp_path / "card.json")
    record = p.parse_tlv(bytes.fromhex(edited.record_hex))
    record[p.BALANCE] = p.uint(50_000)
    edited.record_hex = b"".join(p.tlv(t, v) for t, v in record.items()).hex()
    save_card(edited, tmp_path / "card.json")
    reading = read_card(InProcess(LoyaltyCardApplet(load_card(tmp_path / "card.json"))),
                        trust(), TODAY)
    assert (reading.record_trusted, reading.record_problem) == (False, "record_tampered")
    # An older genuine record while the till has seen counter 3 for this card.
    reading = read_card(slot, trust(seen=3), TODAY)
    assert (reading.record_trusted, reading.record_problem) == (False, "record_replayed")
    # A record signed by a node central does not know.
    reading = read_card(slot, trust(nodes={}), TODAY)
    assert reading.record_problem == "record_tampered"


def test_the_pin_guards_lowering_the_balance_and_blocks_after_three_tries(tmp_path):
    state = card(pin="4321")
    slot = InProcess(LoyaltyCardApplet(state, tmp_path / "card.json"))
    read_card(slot, trust(), TODAY)
    write_record(slot, state.card_number, 300, 0, 1, "pos-1", NODE, 1)  # raising: no PIN
    with pytest.raises(CardError) as err:
        write_record(slot, state.card_number, 100, 0, 2, "pos-1", NODE, 2)
    assert err.value.code == "pin_required"
    write_record(slot, state.card_number, 100, 0, 2, "pos-1", NODE, 2, pin="4321")
    tries = []
    for _ in range(3):
        with pytest.raises(CardError) as err:
            verify_pin(slot, "0000")
        tries.append((err.value.code, err.value.details.get("tries_left")))
    assert tries == [("pin_wrong", 2), ("pin_wrong", 1), ("pin_blocked", None)]
    with pytest.raises(CardError) as err:
        verify_pin(slot, "4321")  # the right PIN no longer helps
    assert err.value.code == "pin_blocked"
    assert load_card(tmp_path / "card.json").pin_tries_left == 0  # survives power loss


def test_apdu_edge_cases_answer_status_words():
    applet = LoyaltyCardApplet(card())
    assert applet.process(b"\x00") == b"\x67\x00"
    assert applet.process(bytes.fromhex("80CA000100")) == b"\x69\x85"  # not selected
    assert applet.process(bytes.fromhex("00A4040003AABBCC00")) == b"\x6a\x82"
    assert applet.process(p.SELECT) == b"\x90\x00"
    assert applet.process(bytes.fromhex("80FF000000")) == b"\x6d\x00"
    assert applet.process(bytes.fromhex("B0CA000100")) == b"\x6e\x00"
    assert applet.process(bytes.fromhex("80880000020102")) == b"\x67\x00"
    assert applet.process(bytes.fromhex("80DC010003C10100")) == b"\x6a\x80"
