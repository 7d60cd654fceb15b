"""The node's sync client against central over real loopback HTTP, on both central engines."""

import pytest
from sqlalchemy import delete, update

from kassa.central.models import Node, ReceivedEvent
from kassa.central.models import Payment as CentralPayment
from kassa.central.models import Sale as CentralSale
from kassa.central.models import SaleLine as CentralLine
from kassa.pos_node import shifts
from kassa.pos_node.cart import Tender
from kassa.pos_node.models import NodeIdentity, OutboxEvent, Product, User
from kassa.pos_node.sales import LineRequest, quick_sale
from kassa.sync.client import SyncError, sync_now
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

    from kassa.sync.scheduler import SyncScheduler

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
