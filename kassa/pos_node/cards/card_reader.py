"""The till's card reader: pyscard's ``CardMonitor`` tells it a card went in or came out; it
reads the card with the protocol's checks (``kassa.smartcard.reader.read_card``) against the
till's trust, keeps what it found for ``GET /api/v1/card``, checks the PIN when points are
spent, and writes the card's new record after each sale.

One ``CardReader`` lives in the serve process. pcscd may start after the till, or restart: a
watchdog thread (re)attaches the monitor whenever pcscd answers and the monitor is not running,
and the card API says ``no_reader`` meanwhile; selling never waits on it.

The record after a sale is written once the sale is committed. A card pulled out in between
keeps its old record (the card writes all or nothing): the sale stands, the till's and
central's ledgers have the points, and the next read of the card at this till rewrites the
record when the card allows it. Until then the card-held balance is stale by at most that one
sale's points; it is used only where the till has no replica of the account, and spending
against it offline is bounded by the per-card daily allowance (``docs/decisions.md``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from datetime import date

from smartcard.CardMonitoring import CardMonitor, CardMonitoringThread, CardObserver
from smartcard.Exceptions import SmartcardException
from smartcard.Observer import Observable
from smartcard.pcsc.PCSCExceptions import BaseSCardException
from smartcard.System import readers as pcsc_readers

from kassa.common.db import Database, utcnow
from kassa.common.errors import KassaError
from kassa.pos_node.cards import card_trust, till_loyalty
from kassa.pos_node.models import NodeIdentity
from kassa.smartcard import card_protocol as p
from kassa.smartcard.pcsc import PcscTransport, end_monitor_thread
from kassa.smartcard.reader import (
    CardError,
    CardReading,
    CardRecord,
    read_card,
    verify_pin,
    write_record,
)

log = logging.getLogger("kassa.card")

WATCHDOG_SECONDS = 2.0


class CardRefused(KassaError):
    status = 422
    code = "card_refused"


def refusal(err: CardError) -> CardRefused:
    status = 409 if err.code in ("pin_blocked", "card_blocked") else 422
    return CardRefused(str(err), code=err.code, status=status, details=err.details or None)


@dataclass(frozen=True)
class CardState:
    """What is in the reader: ``absent``, ``identified`` or ``refused`` (with the error), or
    ``no_reader`` while pcscd or the reader is missing. ``seq`` moves on every change."""

    status: str
    seq: int
    reader: str | None = None
    reading: CardReading | None = None
    error: CardError | None = None
    # The last record this till wrote to the card while it is in (``reading`` keeps what was
    # read at insertion), and whether the last write worked (None: not tried).
    written: CardRecord | None = None
    record_written: bool | None = None

    @property
    def card_number(self) -> str | None:
        return self.reading.identity.card_number if self.reading else None


class CardReader(CardObserver):
    def __init__(self, db: Database, reader_name: str | None = None):
        super().__init__()
        self.db = db
        self.wanted = reader_name  # None: the first reader pcscd lists
        self._lock = threading.RLock()
        self._state = CardState("no_reader", 0)
        self._pins: dict[str, str] = {}  # card number -> PIN, only until the record is written
        self._stop = threading.Event()
        self._monitor: CardMonitor | None = None
        self._watchdog = threading.Thread(target=self._watch, name="card-watchdog",
                                          daemon=True)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> "CardReader":
        self._watchdog.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._watchdog.join(timeout=5)
        self._detach()

    def _watch(self) -> None:
        while not self._stop.is_set():
            try:
                self._ensure_monitor()
                state = self._state
                if state.status == "absent" and state.error is not None and state.reader:
                    # Told of a card that could not be reached yet (it went in and out
                    # between two of pcscd's polls): look again.
                    self.read(state.reader)
            except Exception:  # noqa: BLE001 - the watchdog must outlive any reader trouble
                log.exception("card reader watchdog")
            self._stop.wait(WATCHDOG_SECONDS)

    def _ensure_monitor(self) -> None:
        reader = self._reader_name()
        if reader is None:
            self._detach()
            if self._state.status != "no_reader":
                self._set(CardState("no_reader", self._state.seq + 1))
            return
        thread = CardMonitoringThread.instance
        if self._monitor is not None and thread is not None and thread.is_alive():
            return
        self._detach()
        with self._lock:
            if self._state.status == "no_reader":
                self._set(CardState("absent", self._state.seq + 1, reader))
        self._monitor = CardMonitor()
        self._monitor.addObserver(self)

    def _detach(self) -> None:
        if self._monitor is not None:
            monitor, self._monitor = self._monitor, None
            singleton = CardMonitor.instance or monitor.instance
            if singleton.countObservers() <= 1:
                # pyscard's deleteObserver would sit out the thread's 60 s poll: end the
                # thread first, and let the next observer start a fresh one.
                end_monitor_thread()
                singleton.rmthread = None
            Observable.deleteObserver(singleton, self)

    def _reader_name(self) -> str | None:
        try:
            names = [str(r) for r in pcsc_readers()]
        except (SmartcardException, BaseSCardException):
            return None
        if self.wanted is not None:
            return self.wanted if self.wanted in names else None
        return names[0] if names else None

    # -- card events (the monitor's thread) -------------------------------------------------------

    def update(self, observable, handlers) -> None:
        added, removed = handlers
        reader = self._reader_name()
        for card in removed:
            if str(card.reader) == reader:
                with self._lock:
                    self._pins.pop(self._state.card_number or "", None)
                    self._set(CardState("absent", self._state.seq + 1, reader))
        for card in added:
            if str(card.reader) == reader:
                self.read(reader)

    def read(self, reader: str) -> CardState:
        """Read the card in ``reader`` now (on insertion; tests may call it directly)."""
        with self._lock:
            try:
                transport = PcscTransport(reader)
            except CardError as err:
                return self._set(CardState("absent" if err.code == "card_absent" else "refused",
                                           self._state.seq + 1, reader, error=err))
            try:
                with self.db.read() as session:
                    reading = read_card(transport, card_trust.trust(session), _today())
                state = self._set(CardState("identified", self._state.seq + 1, reader, reading))
                self._refresh_record(transport, reading)
            except CardError as err:
                state = self._set(CardState("refused", self._state.seq + 1, reader, error=err))
            finally:
                transport.close()
            return self._state if state.status == "identified" else state

    def _set(self, state: CardState) -> CardState:
        with self._lock:
            self._state = state
        return state

    # -- what the till asks ---------------------------------------------------------------------

    def state(self) -> CardState:
        with self._lock:
            return self._state

    def card_in_reader(self) -> str | None:
        """The number of an identified card in the reader, else None."""
        state = self.state()
        return state.card_number if state.status == "identified" else None

    def check_pin(self, card_number: str, pin: str) -> None:
        """Let the card check the customer's PIN (three wrong and it blocks); kept in memory
        until the record after the sale is written, which needs it to lower the balance."""
        with self._lock:
            reader = self._state.reader
            # An identified card's state always names its reader: ``None`` is for the type checker.
            if self.card_in_reader() != card_number or reader is None:
                raise CardRefused("Put the customer's card in the reader.",
                                  code="card_required")
            try:
                transport = PcscTransport(reader)
                try:
                    _select(transport)
                    verify_pin(transport, pin)
                finally:
                    transport.close()
            except CardError as err:
                raise refusal(err) from None
            self._pins[card_number] = pin

    def forget_pin(self, card_number: str) -> None:
        with self._lock:
            self._pins.pop(card_number, None)

    def write_after(self, card_number: str | None) -> bool | None:
        """Write the card's new record (balance, tier, counter + 1, signed by this till) after
        a completed sale, or a new member's first. True when written, False when the card
        refused or was pulled out (the sale stands), None when the card is not in the
        reader."""
        with self._lock:
            state = self._state
            if card_number is None or state.status != "identified" \
                    or state.card_number != card_number:
                return None
            # An identified card's state names its reader and holds what was read.
            assert state.reader is not None and state.reading is not None
            try:
                transport = PcscTransport(state.reader)
            except CardError:
                self._set(replace(state, record_written=False))
                return False
            try:
                written = self._write(transport, state.reading)
            finally:
                transport.close()
            return written

    # -- writing records ------------------------------------------------------------------------

    def _refresh_record(self, transport: PcscTransport, reading: CardReading) -> None:
        """On insertion: a record that lags the account (a write lost to a pulled card, or a
        sale elsewhere) is rewritten now, unless that lowers the balance of a card with a PIN
        (then at the next sale, when the customer has given it)."""
        with self.db.read() as session:
            try:
                account = till_loyalty.by_card(session, reading.identity.card_number)
            except KassaError:
                return
        record = self._state.written or reading.record
        if record is not None and (record.balance, record.tier) == (
                max(account.balance, 0), _tier_code(account.tier)) and reading.record_trusted:
            return
        lowering = record is not None and max(account.balance, 0) < record.balance
        if lowering and account.card_has_pin and account.card_number not in self._pins:
            return
        self._write(transport, reading)

    def _write(self, transport: PcscTransport, reading: CardReading) -> bool:
        number = reading.identity.card_number
        last = self._state.written or reading.record
        counter = (last.counter if last else 0) + 1
        try:
            with self.db.read() as session:
                account = till_loyalty.by_card(session, number)
                node = session.query(NodeIdentity).one()
                node_id, key_pem = node.node_id, node.private_key_pem
            _select(transport)
            record = write_record(transport, number, max(account.balance, 0),
                                  _tier_code(account.tier), counter, node_id,
                                  p.load_private(key_pem), int(utcnow().timestamp()),
                                  pin=self._pins.get(number))
        except (CardError, KassaError) as err:
            log.warning("card %s: record not written: %s", number, err)
            self._set(replace(self._state, record_written=False))
            return False
        with self.db.transaction() as session:
            card_trust.saw_counter(session, number, counter)
        self._pins.pop(number, None)
        self._set(replace(self._state, written=record, record_written=True,
                          seq=self._state.seq + 1))
        return True


def _select(transport: PcscTransport) -> None:
    _data, sw = transport.transmit(p.SELECT)
    if sw != p.SW_OK:
        raise CardError("This is not a loyalty card of ours.", "card_not_kassa")


def _tier_code(tier: str) -> int:
    return p.TIERS.index(tier) if tier in p.TIERS else 0


def _today() -> date:
    return utcnow().date()
