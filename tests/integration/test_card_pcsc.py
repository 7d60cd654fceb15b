"""The loyalty card over the real PC/SC stack: the project's virtual card (the applet behind
pcscd's vpcd driver) read and written by pyscard through pcscd, checks in the protocol's order."""

from datetime import date

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from kassa.smartcard.applet import LoyaltyCardApplet, load_card, save_card
from kassa.smartcard.pcsc import PcscTransport
from kassa.smartcard.reader import CardError, read_card, write_record
from kassa.smartcard.vpcd import reader_for_port
from tests.helpers import wait_until
from tests.unit.test_card_protocol import ISSUER, NODE, card, trust

pytest_plugins = ("tests.smartcard_env",)
TODAY = date(2026, 11, 27)


@pytest.fixture
def reader_name(pcscd):
    from smartcard.System import readers
    return reader_for_port([str(r) for r in readers()])


def test_a_card_in_the_virtual_reader_is_read_written_and_survives_a_restart(
        virtual_card_factory, reader_name, tmp_path):
    state = card(pin="2580")
    path = tmp_path / "anna.card"
    save_card(state, path)
    inserted = virtual_card_factory(LoyaltyCardApplet(load_card(path), path))
    slot = PcscTransport(reader_name)
    try:
        reading = read_card(slot, trust(), TODAY)
        assert reading.identity.card_number == state.card_number and reading.record is None
        write_record(slot, state.card_number, 240, 1, 1, "pos-1", NODE, 1_790_000_000)
    finally:
        slot.close()
    inserted.stop()  # the card is taken out; its state is in the file
    inserted.applet = LoyaltyCardApplet(load_card(path), path)  # the emulator restarted
    inserted.start()
    slot = connected(reader_name)
    try:
        reading = read_card(slot, trust(), TODAY)
        assert reading.record_trusted and reading.record.balance == 240
        with pytest.raises(CardError) as err:
            write_record(slot, state.card_number, 100, 1, 2, "pos-1", NODE, 1_790_000_100,
                         pin="0000")
        assert err.value.code == "pin_wrong" and err.value.details["tries_left"] == 2
    finally:
        slot.close()


def connected(reader_name):
    """A connection once pcscd has noticed the card (it polls every 0.4 s)."""
    slots = []

    def attempt():
        try:
            slots.append(PcscTransport(reader_name))
            return True
        except CardError:
            return False
    assert wait_until(attempt, timeout=10)
    return slots[0]


def test_a_copied_card_fails_over_pcsc(virtual_card_factory, reader_name):
    genuine = card()
    copy = card()
    copy.card_number, copy.card_key_hex = genuine.card_number, genuine.card_key_hex
    copy.issuer_cert_hex, copy.expiry = genuine.issuer_cert_hex, genuine.expiry
    virtual_card_factory(LoyaltyCardApplet(copy))
    slot = PcscTransport(reader_name)
    try:
        with pytest.raises(CardError) as err:
            read_card(slot, trust(), TODAY)
        assert err.value.code == "card_clone_suspected"
    finally:
        slot.close()
    assert isinstance(ISSUER, ec.EllipticCurvePrivateKey)


def test_no_card_in_the_reader_is_a_clear_error(pcscd, reader_name):
    with pytest.raises(CardError) as err:
        PcscTransport(reader_name)
    assert err.value.code == "card_absent"


def test_kassa_card_readers_lists_the_virtual_readers(pcscd):
    from click.testing import CliRunner

    from kassa.cli import main
    result = CliRunner().invoke(main, ["card", "readers"])
    assert result.exit_code == 0, result.output
    assert "Virtual PCD 00 00" in result.output and "Virtual PCD 00 01" in result.output
