"""How long one APDU takes through the real PC/SC stack to the virtual card.

Figure: round-trip time of one APDU, pyscard ``transmit`` -> pcscd -> vpcd driver -> TCP ->
``kassa.smartcard.vpcd.VirtualCard`` -> echo applet and back; p50/p95 over N APDUs (default
200), SELECT-sized (12 bytes in, SW out) and UPDATE RECORD-sized (250 bytes in, echoed back).
Also: the same without ``quick_ack`` (what Debian's vpcd costs with delayed ACKs), and how long
pcscd takes to report a card put in (``start()``) or pulled out (``stop()``), which is bounded
by its 0.4 s presence polling. Target: none fixed; a card read at the till is ~5 APDUs and must
stay far below the ~100 ms a cashier notices.
Uses a running pcscd with the vpcd readers, or starts one (as root) and stops it afterwards, the
same way the tests do (tests/smartcard_env.py).
Run: ``.venv/bin/python bench/bench_card_roundtrip.py [N_APDUS]``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.smartcard_env

from smartcard.System import readers  # noqa: E402

from kassa.smartcard import vpcd  # noqa: E402
from tests.smartcard_env import inserted_card, pcscd_session, wait_for_card  # noqa: E402

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
SLOW_N = 25
TRIALS = 5
SELECT = [0x00, 0xA4, 0x04, 0x00, 0x07, 0xF0, 0x4B, 0x41, 0x53, 0x53, 0x41, 0x01, 0x00]
UPDATE = [0x80, 0xDC, 0x01, 0x00, 250, *range(250), 0x00]


class EchoApplet:
    """Answers every APDU with its data and 9000, like a card that does no work."""

    def power_on(self) -> None:
        pass

    def power_off(self) -> None:
        pass

    def process(self, apdu: bytes) -> bytes:
        return apdu[5:5 + apdu[4]] + b"\x90\x00" if len(apdu) > 5 else b"\x90\x00"


def round_trips(connection, apdu: list[int], n: int) -> list[float]:
    """Milliseconds per transmit, after a few warm-up APDUs."""
    for _ in range(5):
        connection.transmit(apdu)
    out = []
    for _ in range(n):
        start = time.perf_counter()
        _data, sw1, _sw2 = connection.transmit(apdu)
        out.append((time.perf_counter() - start) * 1000)
        assert sw1 == 0x90
    return out


def p50_p95(samples: list[float]) -> str:
    cuts = statistics.quantiles(samples, n=20, method="inclusive")
    return f"p50 {statistics.median(samples):7.3f} ms   p95 {cuts[18]:7.3f} ms"


def seconds_to_notice(card, reader: str) -> tuple[list[float], list[float]]:
    """Milliseconds from stop()/start() until pcscd reports the card gone/there."""
    removed, inserted = [], []
    for _ in range(TRIALS):
        start = time.perf_counter()
        card.stop()
        assert wait_for_card(reader, present=False)
        removed.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        card.start()
        assert wait_for_card(reader, present=True)
        inserted.append((time.perf_counter() - start) * 1000)
    return removed, inserted


def measure(pcscd) -> None:
    reader = pcscd.reader()
    with inserted_card(pcscd, EchoApplet()) as card:
        connection = next(r for r in readers() if str(r) == reader).createConnection()
        connection.connect()
        short, long = round_trips(connection, SELECT, N), round_trips(connection, UPDATE, N)
        fast_ack = vpcd.quick_ack
        vpcd.quick_ack = lambda sock: None
        try:
            slow = round_trips(connection, SELECT, SLOW_N)
        finally:
            vpcd.quick_ack = fast_ack
        connection.disconnect()
        removed, inserted = seconds_to_notice(card, reader)
    started = "started for this run" if pcscd.started else "already running"
    print(f"APDU round trip through pcscd ({started}) to the virtual card in {reader!r}")
    for label, samples in ((f"SELECT (13 bytes in, SW out), {N} APDUs", short),
                           (f"UPDATE (256 bytes in, 252 out), {N} APDUs", long),
                           (f"SELECT without quick_ack, {SLOW_N} APDUs", slow)):
        print(f"  {label:<46}{p50_p95(samples)}")
    print(f"pcscd notices a card (worst case, one 400 ms presence poll), {TRIALS} trials: "
          f"removed {statistics.median(removed):.0f} ms, inserted "
          f"{statistics.median(inserted):.0f} ms (median)")

def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, pcscd_session(Path(tmp) / "pcscd.log") as pcscd:
        measure(pcscd)


if __name__ == "__main__":
    main()
