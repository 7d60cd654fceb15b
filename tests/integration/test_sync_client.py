"""The node's sync client against central over real loopback HTTP, on both central engines."""

import pytest
from sqlalchemy import delete, select, update

from kassa.central.models import Customer as CentralCustomer
from kassa.central.models import Node, NodeDayTotal, ReceivedEvent
from kassa.central.models import Payment as CentralPayment
from kassa.central.models import Sale as CentralSale
from kassa.central.models import SaleLine as CentralLine
from kassa.common.errors import KassaError
from kassa.pos_node.models import NodeIdentity, OutboxEvent, Product, User
from kassa.pos_node.replication.client import SyncError, sync_now
from kassa.pos_node.sale import shifts
from kassa.pos_node.sale.cart import Tender
from kassa.pos_node.sale.sales import LineRequest, quick_sale
from tests.helpers import count, install_identity, wait_until


@pytest.fixture
def node(node_db, live_central, enrolled):
    node_id, key = enrolled
    install_identity(node_db, node_id, 1, key, central_url=live_central)
    return node_db


def sell(db, n=1):
    """``n`` sales by cashier-s001 through the till's service layer (opening a shift once)."""
    for _ in range(n):
        with db.transaction() as session:
            cashier = session.query(User).filter_by(username="cashier-s001").one()
            if shifts.current(session) is None:
                shifts.open_shift(session, cashier, 0)
            quick_sale(session, cashier, [LineRequest(1000, sku="1001")], [Tender("cash", 10000)])


def test_first_sync_fills_the_replica_then_pushes_sales(node, central_db):
    result = sync_now(node)
    assert result.pulled > 0 and result.pushed == 0
    assert count(node, Product) == 12
    sell(node, 3)
    result = sync_now(node)
    assert (result.pushed, result.high_water) == (4, 4)  # the shift opened, three sales
    assert count(central_db, CentralSale) == 3
    assert count(node, OutboxEvent) == 4  # kept, marked acknowledged
    with node.transaction() as session:
        assert all(e.acked_at is not None for e in session.query(OutboxEvent))
    # Nothing more to push: central still holds up to 4, as it last said (it was 0).
    assert (sync_now(node).pushed, sync_now(node).high_water) == (0, 4)


def test_a_node_resends_what_central_lost(node, central_db):
    """Central restored from an older backup lacks events the node saw acknowledged: the push
    of new events meets seq_gap and the node resends from central's mark."""
    sync_now(node)
    sell(node, 3)
    sync_now(node)
    with central_db.transaction() as session:
        lost = session.query(ReceivedEvent).filter(ReceivedEvent.seq == 4).one()
        sale = session.query(CentralSale).order_by(CentralSale.receipt_no.desc()).first()
        session.execute(delete(CentralLine).where(CentralLine.sale_id == sale.id))
        session.execute(delete(CentralPayment).where(CentralPayment.sale_id == sale.id))
        session.delete(sale)
        session.delete(lost)
        session.execute(update(Node).where(Node.id == "pos-1").values(high_water=3))
    sell(node, 1)
    result = sync_now(node)
    assert result.high_water == 5
    assert count(central_db, CentralSale) == 4


def test_a_refused_push_keeps_events_and_records_the_error(node, central_db):
    sync_now(node)
    sell(node, 1)
    with central_db.transaction() as session:
        session.execute(update(Node).where(Node.id == "pos-1").values(active=False))
    with pytest.raises(SyncError) as err:
        sync_now(node)
    assert err.value.code == "unknown_node"
    with node.transaction() as session:
        identity = session.query(NodeIdentity).one()
        assert identity.last_sync_error.startswith("unknown_node")
        assert session.query(OutboxEvent).filter(OutboxEvent.acked_at.is_(None)).count() == 2
    assert count(central_db, CentralSale) == 0


def test_the_background_sync_pushes_by_itself_and_stops_when_told(node, central_db):
    import threading

    from kassa.pos_node.replication.scheduler import SyncScheduler

    scheduler = SyncScheduler(node, interval_s=0.2, timeout_s=5, batch_size=50)
    scheduler.start()
    try:
        assert wait_until(lambda: count(node, Product) == 12), "the first run pulled nothing"
        sell(node, 2)
        assert wait_until(lambda: count(central_db, CentralSale) == 2)
    finally:
        scheduler.stop()
    assert not scheduler.running
    assert not any(t.name.startswith("APScheduler") for t in threading.enumerate())


def test_a_failing_schedule_backs_off_and_sync_now_skips_the_wait(node, central_db):
    from kassa.pos_node.replication.scheduler import SyncScheduler, backoff_delay

    assert [backoff_delay(n, 5, 300, rng=_Top()) for n in range(0, 8)] == \
        [0, 10, 20, 40, 80, 160, 300, 300]
    with central_db.transaction() as session:
        session.execute(update(Node).where(Node.id == "pos-1").values(active=False))
    scheduler = SyncScheduler(node, interval_s=0.1, timeout_s=5, batch_size=50,
                              backoff_max_s=600)
    assert scheduler.run_once() is False and scheduler.run_once() is False
    assert scheduler.failures == 2
    waited = scheduler.not_before
    scheduler._scheduled()  # a scheduled run inside the back-off does nothing
    assert scheduler.failures == 2 and scheduler.not_before == waited
    with central_db.transaction() as session:
        session.execute(update(Node).where(Node.id == "pos-1").values(active=True))
    scheduler.trigger()
    scheduler._scheduled()
    assert scheduler.failures == 0 and count(node, Product) == 12


class _Top:
    """The top of the jitter range, to read the doubling off."""

    def uniform(self, _low, high):
        return high


def test_the_node_reports_itself_and_central_can_reconcile(node, central_db):
    sync_now(node)
    sell(node, 2)
    sync_now(node)
    with central_db.read() as session:
        row = session.get(Node, "pos-1")
        assert (row.node_seq, row.high_water, row.queue_depth) == (3, 3, 0)
        assert row.feed_cursor > 0
        totals = session.scalars(select(NodeDayTotal)).all()
    assert [(t.sales_count, t.sales_minor) for t in totals] == [(2, 2 * 8990)]


def test_a_customer_corrected_at_the_till_reaches_central(node, central_db):
    from kassa.pos_node.models import Customer
    from kassa.pos_node.sale import customers

    sync_now(node)
    with node.transaction() as session:
        cashier = session.query(User).filter_by(username="cashier-s001").one()
        (anna,) = customers.find(session, "7770000000000001")
        customers.update(session, cashier, anna["id"], {"phone": "+7 912 000-11-22"})
        with pytest.raises(KassaError):
            customers.update(session, cashier, anna["id"], {"name": " "})
    sync_now(node)
    # Stored as central stores phones, so the till's search and central's find the customer
    # however the number is typed.
    with central_db.read() as session:
        assert session.get(CentralCustomer, anna["id"]).phone == "+79120001122"
    with node.read() as session:
        assert session.get(Customer, anna["id"]).phone == "+79120001122"
        assert [c["name"] for c in customers.find(session, "8 912 000 11 22")] == [
            "Anna Petrova"]


def test_a_node_rotates_its_key_and_keeps_syncing(node, central_db):
    from kassa.common.signing import public_key_pem
    from kassa.pos_node.replication.client import rotate_key

    sync_now(node)
    with node.transaction() as session:  # the till made its cookie secret when it first served
        session.query(NodeIdentity).one().session_secret = "old secret"
    new_public = rotate_key(node)
    with central_db.read() as session:
        assert session.get(Node, "pos-1").public_key_pem == new_public
    with node.read() as session:
        identity = session.query(NodeIdentity).one()
        assert public_key_pem(identity.private_key_pem) == new_public
        assert identity.pending_private_key_pem is None
        # Both secrets the replica holds are renewed together (docs/decisions.md).
        assert identity.session_secret not in (None, "old secret")
    sell(node, 1)
    assert sync_now(node).pushed == 2


def test_answers_cut_short_fail_the_run_and_change_nothing(node_db, live_central, enrolled,
                                                          central_db):
    """Through a proxy that cuts every response: each run fails cleanly (never a crash on a
    half answer), applies nothing, and the next clean run does everything once."""
    from urllib.parse import urlsplit

    from tests.faultproxy import FaultProxy

    node_id, key = enrolled
    port = urlsplit(live_central).port
    with FaultProxy(("127.0.0.1", port), seed=7, auto_replay=False) as proxy:
        install_identity(node_db, node_id, 1, key, central_url=proxy.url)
        for fault in ("truncate", "reset", "lose_reply", "drop"):
            proxy.set_faults(**{fault: 1.0})
            for _ in range(3):
                with pytest.raises(SyncError) as err:
                    sync_now(node_db, timeout=2)
                assert err.value.code in ("unreachable", "bad_response"), err.value
            assert count(node_db, Product) == 0
        proxy.set_faults()
        assert sync_now(node_db, timeout=2).pulled > 0
        sell(node_db, 2)
        proxy.set_faults(lose_reply=1.0)
        with pytest.raises(SyncError):
            sync_now(node_db, timeout=2)
        proxy.set_faults()
        assert sync_now(node_db, timeout=2).high_water == 3
    assert count(central_db, CentralSale) == 2


def test_an_empty_or_cut_200_is_no_answer(node_db, enrolled):
    """A reply cut inside its headers reaches the client as a 200 with no body (urllib3 only
    warns): a call to central must fail as ``bad_response``, not hand ``{}`` to its caller
    (the soak run found a till answering 500 on an authorization that way)."""
    import socket
    import threading

    from kassa.pos_node.replication.client import ask
    replies = [b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Cut"]
    server = socket.create_server(("127.0.0.1", 0))

    def answer():
        for reply in replies:
            conn, _ = server.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    threading.Thread(target=answer, daemon=True).start()
    node_id, key = enrolled
    install_identity(node_db, node_id, 1, key,
                     central_url=f"http://127.0.0.1:{server.getsockname()[1]}")
    try:
        for _ in replies:
            with pytest.raises(SyncError) as err:
                ask(node_db, "GET", "/api/v1/authorizations/x", timeout=5)
            assert err.value.code in ("bad_response", "unreachable"), err.value
    finally:
        server.close()


def test_the_node_commands_refuse_clearly_before_init(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kassa.cli import main
    monkeypatch.setenv("KASSA_NODE_DB", str(tmp_path / "never-initialised.sqlite"))
    for command in ("sync-now", "rotate-key"):
        result = CliRunner().invoke(main, ["pos", command])
        assert result.exit_code == 1 and result.exception.__class__ is SystemExit, command
        assert "error [node_not_initialised]" in result.output and "kassa pos init" in \
            result.output, result.output


def test_a_busy_central_turns_tills_away_and_they_wait_as_told(node, central_db, central_app):
    """Issue 25, a reconnect storm: a central already working on as many tills' syncs as it
    may answers the next one 503 with ``Retry-After`` before reading it; the till waits at
    least that long (plus jitter), and syncs once central has room again."""
    import time

    from kassa.central.replication.sync_api import sync_gate
    from kassa.pos_node.replication.scheduler import SyncScheduler

    gate = sync_gate(central_app)
    held = 0
    while gate.acquire(blocking=False):  # every permit taken, as by tills in flight
        held += 1
    assert held == central_app.config["KASSA"].sync_concurrency
    try:
        with pytest.raises(SyncError) as refused:
            sync_now(node)
        assert refused.value.code == "busy"
        low, high = central_app.config["KASSA"].sync_retry_after
        assert low <= refused.value.retry_after <= high
        scheduler = SyncScheduler(node, interval_s=0.1, timeout_s=5, batch_size=50)
        before = time.monotonic()
        assert scheduler.run_once() is False
        assert scheduler.not_before - before >= low  # not the 0.1 s back-off
    finally:
        for _ in range(held):
            gate.release()
    assert sync_now(node).pulled > 0


def test_a_till_waits_briefly_for_a_place_before_it_is_turned_away(node, central_app):
    """Syncs take milliseconds: a call arriving while every place is taken waits up to
    ``KASSA_SYNC_WAIT`` for one to free (a burst of a steady chain is served, not refused)."""
    import threading

    from kassa.central.replication.sync_api import sync_gate

    gate = sync_gate(central_app)
    held = 0
    while gate.acquire(blocking=False):
        held += 1
    freed = threading.Timer(central_app.config["KASSA"].sync_wait / 5, gate.release)
    freed.start()
    try:
        assert sync_now(node).pulled > 0  # it waited for the place freed meanwhile
    finally:
        freed.join()
        for _ in range(held - 1):
            gate.release()


def test_pruning_the_outbox_keeps_what_central_may_ask_again(node, central_db):
    """Issue 25, housekeeping: acknowledged events older than the retention go; events not
    yet acknowledged, recent ones (a central restored from a backup asks for them again) and
    the last acknowledged one (the till counts what central holds from it) stay; numbering goes
    on, and central takes the next sale."""
    from datetime import timedelta

    from kassa.common.db import utcnow
    from kassa.pos_node.replication import outbox

    sync_now(node)
    sell(node, 4)                                   # the shift opened, four sales: seq 1-5
    sync_now(node)
    sell(node, 1)                                   # seq 6, not pushed
    with node.transaction() as session:             # 1-4 acknowledged long ago, 5 lately
        session.execute(update(OutboxEvent).where(OutboxEvent.seq <= 5)
                        .values(acked_at=utcnow() - timedelta(days=30)))
        session.execute(update(OutboxEvent).where(OutboxEvent.seq == 3)
                        .values(acked_at=utcnow() - timedelta(days=1)))
    with node.transaction() as session:
        assert outbox.prune(session, timedelta(days=7)) == 3  # seq 1, 2, 4
    with node.read() as session:
        kept = {e.seq: e.acked_at is not None for e in session.query(OutboxEvent)}
    assert kept == {3: True, 5: True, 6: False}
    with node.transaction() as session:
        assert outbox.prune(session, timedelta(days=0)) == 1  # 3 now; never 5 nor 6
    result = sync_now(node)
    assert (result.pushed, result.high_water) == (1, 6)
    sell(node, 1)
    assert sync_now(node).high_water == 7 and count(central_db, CentralSale) == 6
