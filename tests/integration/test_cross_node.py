"""Two tills and central over real loopback HTTP (central on SQLite and PostgreSQL): the
whole workflow goes up, and a receipt from one till is returned at another."""

from sqlalchemy import select

from kassa.central.models import AuditEntry, Return, Sale, Shift
from kassa.pos_node.replication.client import sync_now
from tests.helpers import count
from tests.integration.test_returns import give_back, sell
from tests.integration.test_till_workflow import add, manager


def test_a_receipt_from_one_till_is_returned_at_another(tills, central_db):
    one, one_db = tills["pos-1"]
    two, two_db = tills["pos-2"]
    sale = sell(one, [{"method": "card", "amount": 26970, "reference": "RRN1"}],
                sku="1001", quantity=3)
    receipt = sale["receipt_no"]
    # Not at central yet: pos-2 cannot know the sale.
    assert give_back(two, receipt, [{"line_no": 1, "quantity": 1}]).json["error"] == \
        "receipt_not_found"
    sync_now(one_db)
    first = give_back(two, receipt, [{"line_no": 1, "quantity": 1}])
    assert first.status_code == 201, first.json
    assert first.json["refunds"] == [{"method": "card", "amount_minor": 8990,
                                      "reference": "RRN1"}]
    # pos-2's return has not gone up yet; pos-2 still counts it.
    lookup = two.get(f"/api/v1/returns/lookup?receipt={receipt}").json
    assert lookup["lines"][0]["returnable_milli"] == 2000
    sync_now(two_db)
    over = give_back(two, receipt, [{"line_no": 1, "quantity": 3}])
    assert over.status_code == 422 and over.json["error"] == "return_exceeds_sold"
    assert give_back(two, receipt, [{"line_no": 1, "quantity": 2}]).status_code == 201
    sync_now(two_db)
    with central_db.transaction() as session:
        returns = session.scalars(select(Return).where(Return.original_receipt_no == receipt))
        assert sorted(r.total_minor for r in returns) == [8990, 17980]
        assert {r.node_id for r in session.scalars(select(Return))} == {"pos-2"}


def test_shifts_voids_and_overrides_reach_central(tills, central_db, demo_secrets):
    one, one_db = tills["pos-1"]
    pins = {u: v["pin"] for u, v in demo_secrets["users"].items() if v["pin"]}
    add(one, sku="1001")
    one.post("/api/v1/cart/void", json={"reason": "customer left"})
    sale = sell(one, [{"method": "cash", "amount": 20000}], sku="1002")
    one.post(f"/api/v1/sales/{sale['id']}/post-void",
             json={"reason": "double scan", "override": manager(pins)})
    one.post("/api/v1/shifts/current/cash", json={"kind": "in", "amount": 5000, "reason": "x"})
    z = one.post("/api/v1/shifts/current/close", json={"counted_cash": 105000}).json
    result = sync_now(one_db)
    assert result.pushed == 7
    with central_db.transaction() as session:
        shift = session.scalars(select(Shift)).one()
        assert (shift.counted_cash_minor, shift.expected_cash_minor, shift.cash_in_minor) == \
            (105000, z["expected_cash_minor"], 5000)
        assert session.get(Sale, __import__("uuid").UUID(sale["id"])).status == "post_voided"
        audit = {(a.action, a.reason) for a in session.scalars(select(AuditEntry))}
        assert audit == {("void", "customer left"), ("override:post_void", "approved at the till")}
    assert count(central_db, Sale) == 1
