"""The virtual card (``kassa.smartcard.vpcd``) is a card to the real PC/SC stack: pyscard, through
pcscd and its vpcd driver, lists the reader, connects, reads the ATR, exchanges APDUs, and sees
the card pulled out (``stop()``) and put back (``start()``) as the POS will, via CardMonitor.

The first tests speak the vpcd protocol against a scripted vpcd on a loopback socket, so that
framing, control messages and shutdown are pinned down without pcscd's timing.
"""

from __future__ import annotations

import queue
import socket
import struct
import threading
from functools import reduce

import pytest
from smartcard.CardMonitoring import CardMonitor, CardObserver
from smartcard.Exceptions import CardConnectionException, NoCardException
from smartcard.System import readers as pcsc_readers

from kassa.smartcard.vpcd import DEFAULT_ATR, VirtualCard

pytest_plugins = ("tests.smartcard_env",)

AID = bytes.fromhex("F0 4B 41 53 53 41 FE")
INS_ECHO, INS_CRASH = 0xEE, 0xEC
DEADLINE = 5.0


def t1_atr(historical: bytes) -> bytes:
    """A T=1-only ATR with these historical bytes and its check byte."""
    body = bytes([0x80 | len(historical), 0x81, 0x31, 0xFE, 0x45]) + historical
    return b"\x3b" + body + bytes([reduce(lambda a, b: a ^ b, body, 0)])


ECHO_ATR = t1_atr(b"\x80\x55ECHO!")


class EchoApplet:
    """SELECT of AID, then INS EE echoes its data; power_on forgets the selection."""

    def __init__(self):
        self.selected = False
        self.power_ons = 0
        self.seen: list[bytes] = []

    def power_on(self) -> None:
        self.selected = False
        self.power_ons += 1

    def power_off(self) -> None:
        self.selected = False

    def process(self, apdu: bytes) -> bytes:
        self.seen.append(apdu)
        if apdu[:4] == b"\x00\xa4\x04\x00":
            self.selected = apdu[5:5 + apdu[4]] == AID
            return b"\x90\x00" if self.selected else b"\x6a\x82"
        if apdu[1] == INS_CRASH:
            raise RuntimeError("applet bug")
        if apdu[1] != INS_ECHO:
            return b"\x6d\x00"
        if not self.selected:
            return b"\x69\x85"
        return apdu[5:5 + apdu[4]] + b"\x90\x00"


def select_apdu(aid: bytes = AID) -> list[int]:
    return [0x00, 0xA4, 0x04, 0x00, len(aid), *aid, 0x00]


def echo_apdu(data: bytes) -> list[int]:
    return [0x80, INS_ECHO, 0x00, 0x00, len(data), *data, 0x00]


# -- the protocol, against a scripted vpcd ------------------------------------------------------

class ScriptedVpcd:
    """The vpcd end of one connection: a listening socket the card connects to."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.server.settimeout(DEADLINE)
        self.conn: socket.socket | None = None

    def accept(self) -> None:
        self.conn, _ = self.server.accept()
        self.conn.settimeout(DEADLINE)

    def send(self, message: bytes, split: bool = False) -> None:
        """Like vpcd 0.8: the length and the message may come in two writes."""
        header = struct.pack("!H", len(message))
        if split:
            self.conn.sendall(header)
            self.conn.sendall(message)
        else:
            self.conn.sendall(header + message)

    def receive(self) -> bytes:
        (length,) = struct.unpack("!H", self._exact(2))
        return self._exact(length)

    def _exact(self, size: int) -> bytes:
        buf = b""
        while len(buf) < size:
            chunk = self.conn.recv(size - len(buf))
            assert chunk, "card closed the connection"
            buf += chunk
        return buf

    def close(self) -> None:
        if self.conn:
            self.conn.close()
        self.server.close()


@pytest.fixture
def scripted():
    vpcd = ScriptedVpcd()
    yield vpcd
    vpcd.close()


def test_protocol_messages(scripted):
    applet = EchoApplet()
    card = VirtualCard(applet, port=scripted.port, atr=ECHO_ATR).start()
    try:
        scripted.accept()
        scripted.send(b"\x04", split=True)
        assert scripted.receive() == ECHO_ATR
        scripted.send(b"\x01")
        scripted.send(bytes(select_apdu()), split=True)
        assert scripted.receive() == b"\x90\x00"
        scripted.send(bytes(echo_apdu(b"abc")))
        assert scripted.receive() == b"abc\x90\x00"
        scripted.send(b"\x02")  # reset: power off + on, the selection is gone
        scripted.send(bytes(echo_apdu(b"abc")))
        assert scripted.receive() == b"\x69\x85"
        scripted.send(bytes([0x80, INS_CRASH, 0, 0]))
        assert scripted.receive() == b"\x6f\x00"  # an applet bug does not hang the reader
        scripted.send(b"\x00")
        scripted.send(b"\x04")
        assert scripted.receive() == ECHO_ATR
        assert applet.power_ons == 2
    finally:
        card.stop()
    assert not card.running
    assert scripted.conn.recv(1) == b""  # stop() closed the connection: "card removed"


def test_card_reconnects_after_vpcd_drops_it(scripted):
    card = VirtualCard(EchoApplet(), port=scripted.port).start()
    try:
        scripted.accept()
        scripted.send(b"\x04")
        assert scripted.receive() == DEFAULT_ATR
        scripted.conn.close()
        scripted.accept()  # the card came back by itself
        scripted.send(b"\x04")
        assert scripted.receive() == DEFAULT_ATR
    finally:
        card.stop()


def test_stop_ends_the_thread_while_waiting_for_vpcd():
    """Nobody listens: the card keeps retrying, and stop() still ends it at once."""
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))  # a port nobody listens on
        port = placeholder.getsockname()[1]
        card = VirtualCard(EchoApplet(), port=port).start()
        assert card.running
        card.stop(timeout=2)
    assert not card.running


def test_run_returns_when_its_event_is_set(scripted):
    """run() in a caller's thread (``kassa card emulate``) ends on the caller's event."""
    stop = threading.Event()
    card = VirtualCard(EchoApplet(), port=scripted.port)
    thread = threading.Thread(target=card.run, args=(stop,), daemon=True)
    thread.start()
    scripted.accept()
    scripted.send(b"\x04")
    assert scripted.receive() == DEFAULT_ATR
    stop.set()
    thread.join(DEADLINE)
    assert not thread.is_alive()


# -- the real stack: pyscard -> pcscd -> vpcd -> VirtualCard ----------------------------------

def test_pyscard_lists_the_vpcd_readers(pcscd):
    names = [str(r) for r in pcsc_readers()]
    assert pcscd.reader() in names
    assert pcscd.reader().startswith("Virtual PCD ") and pcscd.reader().endswith(" 00")
    assert pcscd.reader(35964).endswith(" 01")


def test_apdus_round_trip_through_pcscd(pcscd, virtual_card_factory):
    applet = EchoApplet()
    virtual_card_factory(applet, atr=ECHO_ATR)
    connection = _reader(pcscd).createConnection()
    connection.connect()
    try:
        assert bytes(connection.getATR()) == ECHO_ATR
        assert connection.transmit(select_apdu(b"\xa0\x00")) == ([], 0x6A, 0x82)
        assert connection.transmit(select_apdu()) == ([], 0x90, 0x00)
        assert connection.transmit(echo_apdu(b"kassa")) == (list(b"kassa"), 0x90, 0x00)
        big = bytes(range(255))
        assert connection.transmit(echo_apdu(big)) == (list(big), 0x90, 0x00)
        assert connection.transmit([0x80, 0x42, 0x00, 0x00, 0x00]) == ([], 0x6D, 0x00)
        assert connection.transmit([0x80, INS_CRASH, 0x00, 0x00, 0x00]) == ([], 0x6F, 0x00)
    finally:
        connection.disconnect()
    assert bytes(echo_apdu(big)) in applet.seen


class Recorder(CardObserver):
    """Queues ("added" | "removed", atr) for one reader, from CardMonitor's thread.

    Only changes are queued: addObserver() reports the cards the monitor knows, and when it
    races the monitor's own notification the same insertion arrives twice.
    """

    def __init__(self, reader: str):
        super().__init__()
        self.reader = reader
        self.present = False
        self.lock = threading.Lock()  # addObserver's thread and the monitor's both call update
        self.events: queue.Queue[tuple[str, bytes]] = queue.Queue()

    def update(self, observable, handlers):
        added, removed = handlers
        with self.lock:
            for kind, cards in (("removed", removed), ("added", added)):
                for card in cards:
                    if card.reader == self.reader and self.present != (kind == "added"):
                        self.present = kind == "added"
                        self.events.put((kind, bytes(card.atr)))

    def next(self) -> tuple[str, bytes]:
        try:
            return self.events.get(timeout=DEADLINE)
        except queue.Empty:
            pytest.fail(f"CardMonitor reported nothing for {self.reader!r} in {DEADLINE} s")


def test_card_monitor_sees_removal_and_insertion(pcscd, virtual_card_factory):
    applet = EchoApplet()
    card = virtual_card_factory(applet, atr=ECHO_ATR)
    monitor, recorder = CardMonitor(), Recorder(pcscd.reader())
    monitor.addObserver(recorder)
    try:
        assert recorder.next() == ("added", ECHO_ATR)  # present when the observer joined
        card.stop()
        assert recorder.next() == ("removed", ECHO_ATR)
        with pytest.raises((NoCardException, CardConnectionException)):
            _reader(pcscd).createConnection().connect()
        card.start()
        assert recorder.next() == ("added", ECHO_ATR)
        connection = _reader(pcscd).createConnection()
        connection.connect()
        try:  # a fresh insertion: powered on again, nothing selected
            assert connection.transmit(echo_apdu(b"x")) == ([], 0x69, 0x85)
        finally:
            connection.disconnect()
        assert applet.power_ons >= 2
    finally:
        monitor.deleteObserver(recorder)


def _reader(pcscd):
    return next(r for r in pcsc_readers() if str(r) == pcscd.reader())
