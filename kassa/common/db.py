"""Engines and transactions for both apps: SQLite tuned for a till, PostgreSQL through psycopg 3.

SQLite gets WAL, foreign keys, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction, so a
writer takes the lock up front instead of failing half-way when a reader upgrades. Counters that
must be gap-free (outbox seq, receipt numbers) rely on that serialization.
"""

from __future__ import annotations

import math
import time
from contextlib import contextmanager
from datetime import date, datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, TypeVar, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import (
    JSON,
    Connection,
    CursorResult,
    Date,
    DateTime,
    Dialect,
    Engine,
    Integer,
    Result,
    Table,
    TypeDecorator,
    create_engine,
    event,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.expression import FunctionElement

from kassa.common import clock
from kassa.common.storage.private import private_dir, private_file, tighten

if TYPE_CHECKING:
    import sqlite3

    from sqlalchemy.pool import ConnectionPoolEntry
    from sqlalchemy.sql.compiler import SQLCompiler

_M = TypeVar("_M")

BUSY_TIMEOUT_MS = 5000
WAL_AUTOCHECKPOINT_PAGES = 10000


# Every constraint gets a predictable name, so migrations can drop or alter it on SQLite too;
# each app's declarative base uses it (kassa.central.models, kassa.pos_node.models).
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def make_engine(url: str, checkpoints: bool = True) -> Engine:
    """``checkpoints=False`` when Litestream watches the file: it checkpoints the WAL itself,
    after copying it (``kassa.common.storage.backup``), and must be the only one that does."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        file = Path(path) if path and path != ":memory:" and "mode=memory" not in path else None
        if file is not None:
            private_dir(file.parent)
        engine = create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})
        _tune_sqlite(engine, checkpoints, file)
        return engine
    # Sessions in UTC, so that casting a timestamp to a date gives the UTC day on both engines.
    engine = create_engine(url, pool_size=10, max_overflow=20,
                           connect_args={"options": "-c timezone=UTC"})
    _ping_when_idle(engine)
    return engine


# A PostgreSQL connection the pool hands out again is checked first (a round trip) only if it
# lay idle longer than this. A busy central reuses its connections within milliseconds, and
# SQLAlchemy's pool_pre_ping, checking every one, cost each till's pull two round trips. One
# that dies while in use (PostgreSQL restarted under load) fails its statement instead; the
# pool then drops every connection it holds, and the request is answered 503
# ``storage_unavailable`` with ``Retry-After``, which tills honour.
PING_IDLE_AFTER = 10.0


def _ping_when_idle(engine: Engine) -> None:
    @event.listens_for(engine, "checkin")
    def _returned(_dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info["kassa_returned"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked(dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
        if time.monotonic() - record.info.get("kassa_returned", -math.inf) <= PING_IDLE_AFTER:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as err:
            raise DisconnectionError("a pooled connection was found closed") from err


class utc_date(FunctionElement[date]):  # noqa: N801 - used like a SQL function
    """``utc_date(column)``: the UTC calendar day of a timestamp column, on SQLite and
    PostgreSQL (whose sessions run in UTC, see :func:`make_engine`)."""

    type = Date()
    inherit_cache = True
    name = "utc_date"


@compiles(utc_date, "sqlite")
def _utc_date_sqlite(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date({compiler.process(element.clauses, **kw)})"


@compiles(utc_date, "postgresql")
def _utc_date_pg(element: utc_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS DATE)"


class local_date(FunctionElement[date]):  # noqa: N801 - used like a SQL function
    """``local_date(instant, zone)``: the calendar day of a timestamp column on the wall clock
    of an IANA zone (a column such as ``Store.timezone``, or a bound name): a store's day."""

    type = Date()
    inherit_cache = True
    name = "local_date"


class local_hour(FunctionElement[int]):  # noqa: N801 - used like a SQL function
    """``local_hour(instant, zone)``: the hour (0-23) of a timestamp on a zone's wall clock."""

    type = Integer()
    inherit_cache = True
    name = "local_hour"


@compiles(local_date, "sqlite")
def _local_date_sqlite(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    return f"date(kassa_local_time({compiler.process(element.clauses, **kw)}))"


@compiles(local_date, "postgresql")
def _local_date_pg(element: local_date, compiler: SQLCompiler, **kw: Any) -> str:
    instant, zone = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(timezone({zone}, {instant}) AS DATE)"


@compiles(local_hour, "sqlite")
def _local_hour_sqlite(element: local_hour, compiler: SQLCompiler, **kw: Any) -> str:
    return (f"CAST(strftime('%H', kassa_local_time("
            f"{compiler.process(element.clauses, **kw)})) AS INTEGER)")


@compiles(local_hour, "postgresql")
def _local_hour_pg(element: local_hour, compiler: SQLCompiler, **kw: Any) -> str:
    instant, zone = (compiler.process(c, **kw) for c in element.clauses)
    return f"CAST(EXTRACT(HOUR FROM timezone({zone}, {instant})) AS INTEGER)"


@lru_cache(maxsize=64)
def zone_info(name: str | None) -> ZoneInfo:
    """The zone of that IANA name; UTC for none or one this machine does not know (stores'
    zones are checked when they are set, so that is an old or hand-edited row)."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _sqlite_local_time(value: str | None, zone: str | None) -> str | None:
    """SQLite has no time zones: ``kassa_local_time(stored UTC text, zone)`` gives the wall
    clock there, as SQLite's own date functions read it."""
    if value is None:
        return None
    at = datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
    return at.astimezone(zone_info(zone)).strftime("%Y-%m-%d %H:%M:%S")


def _tune_sqlite(engine: Engine, checkpoints: bool, file: Path | None) -> None:
    if file is not None:
        @event.listens_for(engine, "do_connect")
        def _private(*_args: Any) -> None:
            # Before SQLite opens the file: it makes a missing one 0644 (or what the umask
            # leaves), and gives the -wal and -shm it makes later the database's mode.
            private_file(file)
            tighten(file.with_name(file.name + "-wal"), file.with_name(file.name + "-shm"),
                    file.with_name(file.name + "-journal"))

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_conn.create_function("kassa_local_time", 2, _sqlite_local_time,
                                   deterministic=True)
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is ours.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        # FULL: a sale the cashier was told of survives a power cut, not only a crash (in WAL
        # mode NORMAL may lose the last commits on power loss); it costs one fsync per commit.
        cur.execute("PRAGMA synchronous=FULL")
        # Checkpoint the WAL every ~40 MB instead of every 4 MB: the checkpoint runs inside
        # whichever commit crosses the mark, and at the default it showed in the p99 of a
        # scan (bench/bench_till.py). A larger one, 10 times rarer, is well under 1 % of scans.
        cur.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES if checkpoints else 0}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Readers (Database.read) take no write lock; everything else takes it up front.
        read_only = conn.get_execution_options().get("kassa_read_only", False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """One engine and its session factory; ``transaction()`` is the unit of work."""

    def __init__(self, url: str, checkpoints: bool = True):
        self.url = url
        self.engine = make_engine(url, checkpoints)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessions = sessionmaker(self.engine.execution_options(kassa_read_only=True),
                                          expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """Commit on success, roll back everything on any exception.

        An exception may carry ``commit_anyway = True`` when what was written before it is
        bookkeeping of the refusal itself (a failed-PIN count), never part of an action.
        """
        with self.sessions() as session:
            session.begin()
            try:
                yield session
            except BaseException as exc:
                if getattr(exc, "commit_anyway", False):
                    session.commit()
                else:
                    session.rollback()
                raise
            session.commit()

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only unit of work: on SQLite a deferred transaction that never blocks the
        writer. Closing the session ends the transaction without committing anything; the
        objects read stay usable (detached, not expired)."""
        with self.read_sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamps stored in UTC and always handed back timezone-aware (SQLite keeps them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; kassa stores aware UTC timestamps only")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect
                             ) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def table(model: Any) -> Table:
    """A mapped class's ``Table``, for Core statements and bulk writes (SQLAlchemy types
    ``__table__`` as any ``FromClause``; a declarative class always has a ``Table``)."""
    return cast(Table, model.__table__)


def rowcount(result: Result[Any]) -> int:
    """How many rows an UPDATE or DELETE executed through a session touched (its result is
    a ``CursorResult``, which SQLAlchemy's types do not say)."""
    return cast(CursorResult[Any], result).rowcount


def locked(session: Session, model: type[_M], key: Any, missing: Exception) -> _M:
    """The row of ``model`` whose primary key is ``key``, locked until the transaction ends
    (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite's writer holds the database already), or
    ``missing`` raised when there is none."""
    row = session.get(model, key, with_for_update=True)
    if row is None:
        raise missing
    return row


def utcnow() -> datetime:
    """Now, in UTC, by kassa's clock (``kassa.common.clock``)."""
    return clock.now()


# JSON documents: JSONB on PostgreSQL, JSON text on SQLite.
JSONDoc = JSON().with_variant(JSONB(), "postgresql")
