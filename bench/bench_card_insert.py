"""Insert-to-identified: how long from a loyalty card going into the reader until the till holds
its verified identity and its record, through the real PC/SC stack.

Figures. Each round (default 100, ``--rounds``) puts the virtual card in (``VirtualCard.start()``
of ``kassa.smartcard.vpcd``); pyscard's ``CardMonitor`` tells a ``CardObserver``, as it will at
the till; the till connects (``PcscTransport``) and runs ``read_card`` in full: SELECT, GET DATA,
issuer certificate, INTERNAL AUTHENTICATE over a fresh challenge, block list, READ RECORD of a
node-signed record written on the card beforehand, so the reading comes back trusted. Then the
card is pulled out (``stop()``) and the observer's removal awaited. Printed: p50/p95/max of
insert-to-identified and of its parts (pcscd's presence poll, the notification, connect,
``read_card``), and of the removal notice. Same run, card left in: ``read_card`` on an already
connected card (``--reads``), and the baseline, a bare SELECT round trip through pcscd
(``--apdus``). Target: none fixed; a cashier notices ~100 ms.

What bounds the detection latency is not pyscard: ``CardMonitor``'s thread blocks in
``SCardGetStatusChange`` (timeout 60 s, every reader plus the PnP pseudo-reader), which pcscd
answers within a millisecond of its reader state changing. pcscd itself learns of a card by
polling: the vpcd driver gives it no event callback, so pcscd's per-reader event thread asks the
driver for presence every 400 ms (``PCSCLITE_STATUS_POLL_RATE``, pcsc-lite 1.9.9), and vpcd
accepts the waiting card's connection only inside that check. A card put in at a random moment
is seen 0-400 ms later: ~200 ms at p50, ~380 ms at p95, whatever the rest costs. Each round
therefore waits a random 0-400 ms after the removal notice before inserting, as a customer's
card arrives at a random phase of the poll (inserting at once would land just after a poll,
~400 ms before the next, every time). The removal figure has no such pause: the card is pulled
a few ms after the poll that found it, so it shows the worst case, ~400 ms. A USB CCID reader
with an interrupt endpoint reports insertion to pcscd itself (libccid's polling thread), so this
floor belongs to the virtual reader, not necessarily to the till's. A round spans two polls,
~0.85 s: the defaults take ~1.5 minutes.
Uses a running pcscd with the vpcd readers, or starts one (as root) and stops it afterwards, the
same way the tests do (tests/smartcard_env.py).
Run: ``.venv/bin/python bench/bench_card_insert.py [--rounds N] [--reads N] [--apdus N]``.
"""

from __future__ import annotations

import argparse
import queue
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.smartcard_env

from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from smartcard.CardMonitoring import CardMonitor, CardObserver  # noqa: E402

from kassa.common.signing import generate_private_key_pem  # noqa: E402
from kassa.smartcard import card_protocol as p
from kassa.smartcard.applet import LoyaltyCardApplet  # noqa: E402
from kassa.smartcard.issuer import issue_card  # noqa: E402
from kassa.smartcard.pcsc import PcscTransport  # noqa: E402
from kassa.smartcard.reader import Trust, read_card, write_record  # noqa: E402
from tests.smartcard_env import inserted_card, pcscd_session, wait_for_card  # noqa: E402

PCSCD_POLL = 0.4
"""pcscd's presence poll of a reader without event support (PCSCLITE_STATUS_POLL_RATE)."""
NOTICE_TIMEOUT = 5.0
CARD_NUMBER = "7770000000000042"
NODE_ID = "pos-1"


class StampedApplet:
    """The loyalty applet, noting when pcscd first powers it: the poll that found the card."""

    def __init__(self, applet: LoyaltyCardApplet):
        self.applet = applet
        self.powered_at: float | None = None

    def power_on(self) -> None:
        if self.powered_at is None:
            self.powered_at = time.perf_counter()
        self.applet.power_on()

    def power_off(self) -> None:
        self.applet.power_off()

    def process(self, apdu: bytes) -> bytes:
        return self.applet.process(apdu)


class Watcher(CardObserver):
    """Queues ("added" | "removed", perf_counter) for one reader, from CardMonitor's thread.

    Only changes are queued: addObserver() also reports the cards the monitor already knows.
    """

    def __init__(self, reader: str):
        super().__init__()
        self.reader = reader
        self.present = False
        self.lock = threading.Lock()  # addObserver's thread and the monitor's both call update
        self.events: queue.Queue[tuple[str, float]] = queue.Queue()

    def update(self, observable, handlers) -> None:
        at = time.perf_counter()
        added, removed = handlers
        with self.lock:
            for kind, cards in (("removed", removed), ("added", added)):
                for card in cards:
                    if card.reader == self.reader and self.present != (kind == "added"):
                        self.present = kind == "added"
                        self.events.put((kind, at))

    def next(self, expected: str) -> float:
        """When CardMonitor reported the ``expected`` change."""
        try:
            kind, at = self.events.get(timeout=NOTICE_TIMEOUT)
        except queue.Empty:
            raise RuntimeError(f"CardMonitor reported nothing for {self.reader!r} in "
                               f"{NOTICE_TIMEOUT:.0f} s") from None
        if kind != expected:
            raise RuntimeError(f"CardMonitor reported {kind}, expected {expected}")
        return at


class Shop:
    """What the till trusts and the card it reads: an issuer, a node, one card with a record."""

    def __init__(self):
        issuer_pem = generate_private_key_pem()
        self.node_key = ec.generate_private_key(ec.SECP256R1())
        self.today = date.today()
        self.card = issue_card(issuer_pem, 1, CARD_NUMBER, self.today + timedelta(days=1000))
        nodes = {NODE_ID: self.node_key.public_key()}
        blocked: set[str] = set()
        self.trust = Trust({1: p.load_private(issuer_pem).public_key()}, nodes.get,
                           blocked.__contains__, lambda number: 1)


def ms_since(start: float, end: float) -> float:
    return (end - start) * 1000


def read_trusted(slot: PcscTransport, shop: Shop) -> None:
    reading = read_card(slot, shop.trust, shop.today)
    if not reading.record_trusted:
        raise RuntimeError(f"the record came back untrusted: {reading.record_problem}")


def card_left_in(reader: str, shop: Shop, reads: int, apdus: int) -> tuple[list[float], ...]:
    """Write the record, then time read_card and bare SELECTs on one connection (ms)."""
    slot = PcscTransport(reader)
    try:
        _data, sw = slot.transmit(p.SELECT)  # records go to the selected application
        if sw != p.SW_OK:
            raise RuntimeError(f"SELECT answered {sw:04X}")
        write_record(slot, CARD_NUMBER, 1250, 1, 1, NODE_ID, shop.node_key, int(time.time()))
        for _ in range(5):
            read_trusted(slot, shop)
        read_ms = []
        for _ in range(reads):
            start = time.perf_counter()
            read_trusted(slot, shop)
            read_ms.append(ms_since(start, time.perf_counter()))
        select, select_ms = list(p.SELECT), []
        for _ in range(apdus):
            start = time.perf_counter()
            _data, sw1, sw2 = slot.connection.transmit(select)
            select_ms.append(ms_since(start, time.perf_counter()))
            if (sw1, sw2) != (0x90, 0x00):
                raise RuntimeError(f"SELECT answered {sw1:02X}{sw2:02X}")
        return read_ms, select_ms
    finally:
        slot.close()


def insert_rounds(card, applet: StampedApplet, reader: str, shop: Shop, rounds: int,
                  rng: random.Random) -> dict[str, list[float]]:
    """Put the card in, identify it, pull it out, ``rounds`` times (plus one warm-up); ms."""
    watcher = Watcher(reader)
    monitor = CardMonitor()
    monitor.addObserver(watcher)
    parts: dict[str, list[float]] = {}
    try:
        for n in range(rounds + 1):
            time.sleep(rng.uniform(0, PCSCD_POLL))  # a random phase of pcscd's poll
            timings = identify_once(card, applet, watcher, reader, shop)
            for name, ms in timings.items():
                if n > 0:
                    parts.setdefault(name, []).append(ms)
    finally:
        monitor.deleteObserver(watcher)
    return parts


def identify_once(card, applet: StampedApplet, watcher: Watcher, reader: str,
                  shop: Shop) -> dict[str, float]:
    """One insertion as the till sees it, then the removal; each part in ms."""
    applet.powered_at = None
    inserted = time.perf_counter()
    card.start()
    noticed = watcher.next("added")
    slot = PcscTransport(reader)
    connected = time.perf_counter()
    try:
        read_trusted(slot, shop)
        identified = time.perf_counter()
    finally:
        slot.close()
    pulled = time.perf_counter()
    card.stop()
    gone = watcher.next("removed")
    powered = applet.powered_at
    if powered is None or not inserted < powered < noticed:
        raise RuntimeError("pcscd did not power the card between start() and the notification; "
                           "the poll/notify split would be wrong")
    return {"total": ms_since(inserted, identified), "poll": ms_since(inserted, powered),
            "notify": ms_since(powered, noticed), "connect": ms_since(noticed, connected),
            "read": ms_since(connected, identified), "removal": ms_since(pulled, gone)}


def figures(samples: list[float], with_max: bool = False) -> str:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    text = f"p50 {statistics.median(samples):8.3f} ms   p95 {cuts[18]:8.3f} ms"
    return text + (f"   max {max(samples):8.3f} ms" if with_max else "")


def measure(pcscd, args: argparse.Namespace) -> None:
    shop = Shop()
    applet = StampedApplet(LoyaltyCardApplet(shop.card))
    reader = pcscd.reader()
    with inserted_card(pcscd, applet) as card:
        read_ms, select_ms = card_left_in(reader, shop, args.reads, args.apdus)
        card.stop()  # the rounds start from an empty reader, and watch it fill
        if not wait_for_card(reader, present=False):
            raise RuntimeError(f"{reader!r} still holds a card after stop()")
        parts = insert_rounds(card, applet, reader, shop, args.rounds, random.Random(args.seed))
    started = "started for this run" if pcscd.started else "already running"
    print(f"Insert-to-identified through pcscd ({started}), virtual card in {reader!r}")
    label = f"insert -> identified, {args.rounds} insertions"
    print(f"  {label:<44}{figures(parts['total'], True)}")
    for name, label in (("poll", "pcscd presence poll (start -> powered)"),
                        ("notify", "powered -> CardObserver.update"),
                        ("connect", "connect (PcscTransport)"),
                        ("read", "read_card (4 APDUs, 3 ECDSA verifies)"),
                        ("removal", "removal: stop() -> observer (worst case)")):
        print(f"    {label:<42}{figures(parts[name], True)}")
    print("Same run, card left in the reader")
    for label, samples in ((f"read_card on a connected card, {args.reads} reads", read_ms),
                           (f"baseline: bare SELECT, {args.apdus} APDUs", select_ms)):
        print(f"  {label:<44}{figures(samples)}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=100,
                        help="timed insertions (each ~0.85 s: two pcscd polls)")
    parser.add_argument("--reads", type=int, default=200,
                        help="timed read_card calls on a connected card")
    parser.add_argument("--apdus", type=int, default=200, help="timed bare SELECT round trips")
    parser.add_argument("--seed", type=int, default=1, help="seed of the insertion phases")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp, pcscd_session(Path(tmp) / "pcscd.log") as pcscd:
        measure(pcscd, args)


if __name__ == "__main__":
    main()
