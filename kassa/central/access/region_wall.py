"""Row-level security on PostgreSQL: the second wall behind the API's region scoping.

Every query a regional manager's request makes runs as the database role ``kassa_regional``
with ``kassa.region_id`` set for the transaction; the policies of migration 0013 then show
that role only its region's stores, tills, sales, returns and prices, and let it change only
its region's stores and prices. A query that forgot the region filter in Python finds nothing
outside the region instead of leaking it. Other people's requests and the tills' run as the
owner, which the policies do not restrict. SQLite has no such thing; the API's own checks are
the only wall there.
"""

from __future__ import annotations

from flask import g, has_request_context
from sqlalchemy import event, text

from kassa.common.db import Database

ROLE = "kassa_regional"


def enter(connection, region_id: int) -> None:
    """Make the current transaction a regional manager's (PostgreSQL only)."""
    connection.exec_driver_sql(f"SET LOCAL ROLE {ROLE}")
    connection.execute(text("SELECT set_config('kassa.region_id', :region, true)"),
                       {"region": str(region_id)})


def scope_request(region_id: int | None) -> None:
    """Called once the request's person is known: their region, or None for no wall."""
    g.kassa_region_id = region_id


def install(db: Database) -> None:
    """Every transaction begun during a regional manager's request enters the wall."""
    if db.engine.dialect.name != "postgresql":
        return

    def after_begin(_session, _transaction, connection):
        if has_request_context():
            region = g.get("kassa_region_id")
            if region is not None:
                enter(connection, region)

    for factory in (db.sessions, db.read_sessions):
        event.listen(factory, "after_begin", after_begin)
