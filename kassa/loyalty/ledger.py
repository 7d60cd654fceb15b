"""A loyalty account's ledger: every change of points is an entry keyed by its cause.

Earn, burn, reversal, expiry, adjustment and transfer are entries that are never changed or
removed. Each carries a *cause* (``sale:<id>:<line>:earn``, ``return:<id>:<line>:reverse``,
``expiry:<run>:<lot>``, ...): posting an entry whose cause is already in the ledger with the same
points is a no-op, and with other points a ``LedgerConflict``, so replaying a sync batch or a
retried request can never count twice. The balance is the sum of the entries.

Points come in *lots*: each positive entry is a lot with its own expiry. Points leave the
oldest-expiring lot first (FIFO by expiry, then by time), whatever takes them: a burn, a
reversal, an expiry. A balance may go below zero (two tills redeeming offline against the same
points); the debt is recorded, and the next lots pay it back before they can be spent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from typing import Any


class EntryKind(str, Enum):
    EARN = "earn"
    BURN = "burn"
    REVERSAL = "reversal"  # points earned by returned goods taken back
    REFUND = "refund"  # points burned on returned goods given back
    EXPIRY = "expiry"
    ADJUSTMENT = "adjustment"
    TRANSFER = "transfer"  # a replaced card's balance moving to the new card


class LedgerError(ValueError):
    """A refusal with a stable code, like ``kassa.common.errors`` (kept import-free here): a
    fixed sentence with ``%(name)s`` for its values, given apart, so a refusal made of it is
    translated (``template`` and ``values`` pass on to ``KassaError``)."""

    code = "ledger_error"

    def __init__(self, message: str, code: str | None = None, **values: Any):
        self.template, self.values = message, values
        super().__init__(message % values if values else message)
        self.code = code or self.code


class LedgerConflict(LedgerError):
    code = "ledger_conflict"


@dataclass(frozen=True)
class LedgerEntry:
    cause: str
    kind: EntryKind
    points: int
    at: datetime
    # A positive entry opens a lot that expires then (None: never).
    expires_at: datetime | None = None

    def __post_init__(self) -> None:
        if not self.cause:
            raise LedgerError("An entry needs its cause.", "cause_required")
        if self.points == 0:
            raise LedgerError("An entry of zero points means nothing.", "zero_points")
        if self.points < 0 and self.expires_at is not None:
            raise LedgerError("Only points added can expire.", "bad_expiry")
        if self.kind in (EntryKind.EARN, EntryKind.REFUND) and self.points < 0:
            raise LedgerError("A %(kind)s adds points.", "bad_sign", kind=self.kind.value)
        if self.kind in (EntryKind.BURN, EntryKind.REVERSAL, EntryKind.EXPIRY) and \
                self.points > 0:
            raise LedgerError("A %(kind)s takes points.", "bad_sign", kind=self.kind.value)


@dataclass
class Lot:
    """What is left of one positive entry."""

    cause: str
    at: datetime
    expires_at: datetime | None
    points: int


@dataclass
class Ledger:
    """One account's entries, in the order they were posted."""

    entries: list[LedgerEntry] = field(default_factory=list)
    _by_cause: dict[str, LedgerEntry] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        given, self.entries = self.entries, []
        for entry in given:
            self.post(entry)

    def post(self, entry: LedgerEntry) -> bool:
        """Add ``entry``; returns False if the same entry was there already (a replay)."""
        held = self._by_cause.get(entry.cause)
        if held is not None:
            if (held.kind, held.points, held.expires_at) != (entry.kind, entry.points,
                                                             entry.expires_at):
                raise LedgerConflict("Cause %(cause)s is in the ledger with %(held)s points, "
                                     "not %(points)s.", cause=entry.cause, held=held.points,
                                     points=entry.points)
            return False
        self.entries.append(entry)
        self._by_cause[entry.cause] = entry
        return True

    def has(self, cause: str) -> bool:
        return cause in self._by_cause

    @property
    def balance(self) -> int:
        return sum(e.points for e in self.entries)

    def position(self, as_of: datetime | None = None) -> tuple[list[Lot], int]:
        """The lots still holding points and the debt (points owed), after every entry up to
        ``as_of``: negative entries take from the oldest-expiring lots first; what no lot can
        cover becomes debt, which the next positive entries pay before they open a lot."""
        lots: list[Lot] = []
        debt = 0
        for e in sorted(self.entries, key=lambda e: e.at):
            if as_of is not None and e.at > as_of:
                break
            if e.points > 0:
                paid = min(debt, e.points)
                debt -= paid
                if e.points > paid:
                    lots.append(Lot(e.cause, e.at, e.expires_at, e.points - paid))
            else:
                debt += _take(lots, -e.points)
        return [lot for lot in lots if lot.points], debt

    def due_to_expire(self, as_of: datetime) -> list[Lot]:
        """Lots whose expiry has come by ``as_of`` and that still hold points."""
        lots, _debt = self.position(as_of)
        return [lot for lot in lots if lot.expires_at is not None and lot.expires_at <= as_of]

    def expire(self, as_of: datetime, run: str) -> list[LedgerEntry]:
        """Post the expiry of every lot due by ``as_of`` (one entry per lot, cause
        ``expiry:<run>:<lot cause>``); running it again posts nothing new."""
        posted = []
        for lot in self.due_to_expire(as_of):
            assert lot.expires_at is not None  # due_to_expire gives only lots with an expiry
            entry = LedgerEntry(f"expiry:{run}:{lot.cause}", EntryKind.EXPIRY, -lot.points,
                                lot.expires_at)
            if self.post(entry):
                posted.append(entry)
        return posted

    def expiring(self, as_of: datetime, until: datetime) -> list[tuple[date, int]]:
        """``(date, points)`` that will expire after ``as_of`` and by ``until``, soonest
        first, one line per date: what the till tells the customer ("N points expire on D")."""
        by_day: dict[date, int] = {}
        lots, _debt = self.position(as_of)
        for lot in lots:
            if lot.expires_at is not None and as_of < lot.expires_at <= until:
                day = lot.expires_at.date()
                by_day[day] = by_day.get(day, 0) + lot.points
        return sorted(by_day.items())


def _take(lots: list[Lot], points: int) -> int:
    """Take ``points`` from the lots, oldest expiry first (never-expiring lots last); returns
    what they could not cover."""
    order = sorted(lots, key=lambda lot: (lot.expires_at is None, lot.expires_at or lot.at,
                                          lot.at))
    for lot in order:
        if points == 0:
            break
        taken = min(lot.points, points)
        lot.points -= taken
        points -= taken
    return points
