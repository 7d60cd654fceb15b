"""Store-local days for central's reports: a sale belongs to the day on its store's wall clock,
the day its till's Z report puts it on, whatever zone central or the reader are in.

A report's period is a span of such days. For a query that only has instants (an index on
``sold_at``), :func:`bounds` gives the instants that hold every one of those days in every zone
asked about; :func:`on_days` adds the exact test on the store's own day when the zones differ.
Facts that belong to no store (loyalty entries, leads) fall on the days of the reader's one
zone, or UTC days when the reader's stores are in several.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from kassa.central.models import Store
from kassa.common.db import local_date, zone_info


def zones(session: Session, stores=None) -> list[str]:
    """The time zones of the stores (a subquery of store ids; None: every store), sorted."""
    stmt = select(Store.timezone).distinct()
    if stores is not None:
        stmt = stmt.where(Store.id.in_(stores))
    return sorted(session.scalars(stmt)) or ["UTC"]


def home_zone(names: list[str]) -> str:
    """The zone a report's days are counted in when a fact has no store of its own."""
    return names[0] if len(names) == 1 else "UTC"


def today(names: list[str], now: datetime) -> date:
    return now.astimezone(zone_info(home_zone(names))).date()


def latest_today(names: list[str], now: datetime) -> date:
    """The newest of the stores' todays: a period ending on it holds every store's today
    (after 21:00 UTC a Moscow store is on tomorrow's UTC date)."""
    return max(now.astimezone(zone_info(name)).date() for name in names or ["UTC"])


def day_start(day: date, zone: str) -> datetime:
    """Midnight opening ``day`` on the zone's wall clock, as an aware UTC instant (at the
    calendar's very ends, year 1 or 9999, the first or last instant there is)."""
    try:
        return datetime.combine(day, time.min, tzinfo=zone_info(zone)).astimezone(timezone.utc)
    except OverflowError:
        edge = datetime.min if day.year == date.min.year else datetime.max
        return edge.replace(tzinfo=timezone.utc)


def _day_after(day: date) -> date:
    return day if day == date.max else day + timedelta(days=1)


def bounds(first: date, last: date, names: list[str]) -> tuple[datetime, datetime]:
    """From the earliest midnight opening ``first`` to the latest one closing ``last``, over
    the zones: every instant of those days in any of them is inside."""
    after = _day_after(last)
    return (min(day_start(first, z) for z in names), max(day_start(after, z) for z in names))


def on_days(instant, zone, first: date | None, last: date | None, names: list[str]) -> list:
    """WHERE conditions: ``instant`` falls on a day from ``first`` to ``last`` (either may be
    open) on the wall clock of ``zone`` (the store's zone column). The instants narrow the rows
    first (an index); one zone needs nothing else."""
    where, day = [], local_date(instant, zone)
    if first is not None:
        where.append(instant >= min(day_start(first, z) for z in names))
        if len(names) > 1:
            where.append(day >= first)
    if last is not None:
        where.append(instant < max(day_start(_day_after(last), z) for z in names))
        if len(names) > 1:
            where.append(day <= last)
    return where
