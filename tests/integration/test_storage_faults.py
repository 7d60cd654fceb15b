"""A full disk or a read-only database refuses the sale with a clear message and leaves
nothing partial behind."""

import pytest
from sqlalchemy import event

from kassa.pos_node.models import OutboxEvent, Payment, Sale, SaleLine
from tests.helpers import count

SALE = {"lines": [{"sku": "1001", "quantity": 2}, {"sku": "3001", "quantity": 1}],
        "payments": [{"method": "cash", "amount": 200000}]}


def restrict(app, pragma_sql):
    engine = app.extensions["kassa_db"].engine
    engine.dispose()  # new connections get the restriction

    @event.listens_for(engine, "connect")
    def _restricted(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        if "max_page_count" in pragma_sql:
            pages = cur.execute("PRAGMA page_count").fetchone()[0]
            cur.execute(f"PRAGMA max_page_count = {pages}")
        else:
            cur.execute(pragma_sql)
        cur.close()


@pytest.mark.parametrize("pragma, code", [("PRAGMA max_page_count", "storage_full"),
                                          ("PRAGMA query_only = ON", "storage_read_only")])
def test_a_sale_that_cannot_be_written_is_refused_whole(till, node_app, stocked_node, pragma,
                                                        code):
    before = count(stocked_node, OutboxEvent)
    restrict(node_app, pragma)
    refused = None
    for _ in range(200):  # until the database's last free page is used up
        resp = till.post("/api/v1/sales", json=SALE)
        if resp.status_code != 201:
            refused = resp
            break
    assert refused is not None, "the restriction never bit"
    assert refused.status_code == 503, refused.json
    assert refused.json["error"] == code
    assert "nothing was saved" in refused.json["message"]
    # Every sale that was stored is whole: lines, payment and its outbox event.
    with stocked_node.transaction() as s:
        sales = s.query(Sale).all()
        events = s.query(OutboxEvent).filter(OutboxEvent.kind == "sale.completed").count()
    assert events == len(sales) == count(stocked_node, OutboxEvent) - before
    assert count(stocked_node, SaleLine) == 2 * len(sales)
    assert count(stocked_node, Payment) == len(sales)


def test_central_out_of_database_connections_sheds_load_with_retry_after(pg_server):
    """Issue 25: app servers x workers x pool can exceed what PostgreSQL allows; a request that
    finds no connection is answered 503 with ``Retry-After`` (a till backs off and comes
    back), not 500. The limit is met for real: a role allowed one connection, holding it."""
    import uuid

    import psycopg

    from kassa.central import create_app
    from kassa.central.models import MIGRATIONS
    from kassa.common.config import CentralConfig
    from kassa.common.storage.migrate import upgrade
    from tests.conftest import PG_ADMIN

    name = pg_server.create()
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    upgrade(MIGRATIONS, "postgresql+psycopg://" + dsn.split("://", 1)[1])
    role = f"kassa_one_{uuid.uuid4().hex[:8]}"
    pg_server.admin.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 1')
    try:
        with psycopg.connect(dsn, autocommit=True) as owner:
            owner.execute(f'GRANT ALL ON ALL TABLES IN SCHEMA public TO "{role}"')
        limited = dsn.replace("://", f"://{role}@", 1)
        app = create_app(CentralConfig(db_url="postgresql+psycopg://" + limited.split("://", 1)[1],
                                       clock_skew_seconds=300))
        with psycopg.connect(limited):  # the one connection the role may have, taken
            answer = app.test_client().post("/api/v1/me/sign-in", json={
                "card_number": "7770000000000001", "pin": "1234"})
        app.extensions["kassa_db"].dispose()
        assert answer.status_code == 503, answer.json
        assert answer.json["error"] == "storage_unavailable"
        assert answer.headers["Retry-After"] == "5"
    finally:
        pg_server.drop(name)
        pg_server.admin.execute(f'DROP ROLE IF EXISTS "{role}"')


def test_idle_postgresql_connections_are_checked_and_busy_ones_reused(pg_server, monkeypatch):
    """Issue 25: a connection handed out again within ``PING_IDLE_AFTER`` goes straight to
    work (a till's pull paid two pings before), one that lay idle longer is checked first, and
    one found dead (PostgreSQL restarted, an idle timeout) is replaced before the transaction
    starts: the caller never sees it."""
    import psycopg
    from sqlalchemy import text

    from kassa.common import db as dbmod
    from tests.conftest import PG_ADMIN

    name = pg_server.create()
    dsn = PG_ADMIN.rsplit("/", 1)[0] + "/" + name
    database = dbmod.Database("postgresql+psycopg://" + dsn.split("://", 1)[1])
    pings = []
    real_ping = database.engine.dialect.do_ping
    monkeypatch.setattr(database.engine.dialect, "do_ping",
                        lambda conn: pings.append(1) or real_ping(conn))
    try:
        for _ in range(3):
            with database.read() as session:
                session.execute(text("SELECT 1"))
        assert len(pings) == 1  # the new connection only; reused at once, not pinged again
        with database.read() as session:
            backend = session.execute(text("SELECT pg_backend_pid()")).scalar_one()
        with psycopg.connect(dsn, autocommit=True) as other:
            other.execute("SELECT pg_terminate_backend(%s)", (backend,))
        monkeypatch.setattr(dbmod, "PING_IDLE_AFTER", 0.0)  # as if it lay idle long
        with database.read() as session:
            assert session.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
        assert len(pings) >= 2
    finally:
        database.dispose()
        pg_server.drop(name)
