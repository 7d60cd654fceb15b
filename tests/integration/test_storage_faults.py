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
