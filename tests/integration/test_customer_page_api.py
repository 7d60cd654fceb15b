"""What the office does from a customer's page, through central's API on both engines (issue 22,
finding 5): points adjusted by hand within each role's limit (audited, and on the tills at their
next pull), cards blocked, unblocked and replaced, the points history with its receipts, a
receipt opened, contact details corrected; each within the person's region or store."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from kassa.central.membership import cards
from kassa.central.models import AuditEntry, Customer, LoyaltyAccount, Sale, SaleLine, Store
from kassa.central.replication.feed import page
from kassa.pos_node.models import BlockedCard
from kassa.pos_node.models import LoyaltyAccount as NodeAccount
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth as who


def customer_id(central_db, name: str) -> str:
    with central_db.read() as s:
        return str(s.scalars(select(Customer.id).where(Customer.name == name)).one())


def test_points_adjusted_by_hand_within_the_role_limit(central_app, central_db, seeded, tills):
    api = central_app.test_client()
    anna = customer_id(central_db, "Anna Petrova")  # home store S001, region MSK
    url = f"/api/v1/customers/{anna}/points-adjustments"
    sm = who(seeded, "sm-s001")
    given = api.post(url, headers=sm, json={"points": 500, "reason": "The coffee was cold"})
    assert given.status_code == 201, given.json
    assert (given.json["points"], given.json["balance"]) == (500, 500)
    over = api.post(url, headers=sm, json={"points": 1500, "reason": "A big apology"})
    assert (over.status_code, over.json["error"], over.json["details"]) == (
        403, "points_over_limit", {"limit": 1000})
    assert api.post(url, headers=sm, json={"points": -1001, "reason": "Too much"}
                    ).json["error"] == "points_over_limit"
    office = who(seeded, "office")
    assert api.post(url, headers=office, json={"points": 1500, "reason": "A big apology"}
                    ).json["balance"] == 2000
    short = api.post(url, headers=office, json={"points": -2001, "reason": "Taken back"})
    assert (short.status_code, short.json["error"]) == (409, "points_short")
    for body in ({"points": 0, "reason": "Nothing"}, {"points": "5", "reason": "Text"},
                 {"points": 5, "reason": "ok"}, {"points": 5}, {"reason": "No points"},
                 {"points": 5, "reason": "x" * 201}, {"points": 10**10, "reason": "Huge"}):
        refused = api.post(url, headers=office, json=body)
        assert (refused.status_code, refused.json["error"]) == (422, "invalid_input"), body
    # The wall: another store's manager, another region's manager find nobody.
    for other in ("sm-s002", "rm-spb"):
        hidden = api.post(url, headers=who(seeded, other), json={"points": 5, "reason": "Hello"})
        assert (hidden.status_code, hidden.json["error"]) == (404, "customer_not_found")
    assert api.post(url, headers=who(seeded, "rm-msk"), json={"points": -100,
                    "reason": "Counted twice"}).json["balance"] == 1900

    # The limit is a role limit like the till's: an admin raises the store manager's.
    admin = who(seeded, "admin")
    raised = api.put("/api/v1/role-limits/store_manager", headers=admin, json={
        "max_discount_bp": 5000, "max_refund_minor": 10000000, "max_points_adjust": 2000})
    assert raised.json["max_points_adjust"] == 2000
    kept = api.put("/api/v1/role-limits/store_manager", headers=admin, json={
        "max_discount_bp": 4000, "max_refund_minor": 10000000})
    assert kept.json["max_points_adjust"] == 2000  # left out: unchanged
    assert api.put("/api/v1/role-limits/store_manager", headers=admin, json={
        "max_discount_bp": 4000, "max_refund_minor": 0, "max_points_adjust": -1}
    ).json["error"] == "invalid_input"
    assert api.post(url, headers=sm, json={"points": 1500, "reason": "A big apology"}
                    ).status_code == 201

    history = api.get(f"/api/v1/customers/{anna}", headers=office).json["loyalty"]["history"]
    assert [(h["source"], h["points"], h["reason"], h["by"]) for h in history] == [
        ("adjustment", 1500, "A big apology", "sm-s001"),
        ("adjustment", -100, "Counted twice", "rm-msk"),
        ("adjustment", 1500, "A big apology", "office"),
        ("adjustment", 500, "The coffee was cold", "sm-s001")]
    with central_db.read() as s:
        lines = s.scalars(select(AuditEntry).where(AuditEntry.action == "points_adjusted")
                          .order_by(AuditEntry.id)).all()
        assert [(line.subject, line.reason, line.details["points"]) for line in lines][0] == (
            f"customer {anna}", "The coffee was cold", 500)
        assert len(lines) == 4  # the refusals changed nothing
        limit_change = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "masterdata:role_limit")).first()
        assert limit_change.details["after"]["max_points_adjust"] == 2000
        account_id = s.scalars(select(LoyaltyAccount.id).where(
            LoyaltyAccount.customer_id == uuid.UUID(anna))).one()
    # The till has the new balance after its next pull, as after any other change.
    _till, node_db = tills["pos-1"]
    sync_now(node_db)
    with node_db.read() as s:
        assert s.get(NodeAccount, account_id).balance == 3400


def test_a_card_is_blocked_found_again_and_replaced(central_app, central_db, seeded, tills,
                                                    tmp_path):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = customer_id(central_db, "Anna Petrova")
    with central_db.transaction() as s:
        account = s.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == uuid.UUID(anna))).one()
        number = cards.issue(s, account, tmp_path).card_number
        cards.activate(s, number)
        s001 = s.scalars(select(Store).where(Store.code == "S001")).one()
        s002 = s.scalars(select(Store).where(Store.code == "S002")).one()
        stock = cards.issue_stock(s, s001, 2, tmp_path, printed=True)
        far_stock = cards.issue_stock(s, s002, 1, tmp_path, printed=True)[0]
    _till, node_db = tills["pos-1"]

    assert api.post(f"/api/v1/cards/{number}/block", headers=who(seeded, "rm-spb"),
                    json={"reason": "lost"}).json["error"] == "card_not_found"
    assert api.post(f"/api/v1/cards/{number}/block", headers=office,
                    json={"reason": "forgot"}).json["error"] == "invalid_input"
    blocked = api.post(f"/api/v1/cards/{number}/block", headers=office, json={"reason": "lost"})
    assert (blocked.json["status"], blocked.json["block_reason"]) == ("blocked", "lost")
    sync_now(node_db)
    with node_db.read() as s:
        assert s.get(BlockedCard, number) is not None
    found = api.post(f"/api/v1/cards/{number}/unblock", headers=who(seeded, "rm-msk"),
                     json={})
    assert found.status_code == 200, found.json
    assert (found.json["status"], found.json["block_reason"]) == ("active", None)
    again = api.post(f"/api/v1/cards/{number}/unblock", headers=office, json={})
    assert (again.status_code, again.json["error"]) == (409, "card_not_blocked")
    sync_now(node_db)
    with node_db.read() as s:
        assert s.get(BlockedCard, number) is None  # the till takes the card again

    api.post(f"/api/v1/cards/{number}/block", headers=office, json={"reason": "stolen"})
    printed = api.post(f"/api/v1/cards/{number}/replace", headers=office, json={})
    assert printed.status_code == 201, printed.json
    assert (printed.json["kind"], printed.json["status"]) == ("printed", "active")
    new = printed.json["card_number"]
    assert api.post(f"/api/v1/cards/{number}/unblock", headers=office, json={}
                    ).json["error"] == "card_replaced"
    assert api.post(f"/api/v1/cards/{number}/replace", headers=office, json={}
                    ).json["error"] == "card_replaced"
    # A regional manager hands over a card from their region's stock, not another region's.
    rm = who(seeded, "rm-msk")
    assert api.post(f"/api/v1/cards/{new}/replace", headers=rm, json={"stock_card": far_stock}
                    ).json["error"] == "card_not_found"
    assert api.post(f"/api/v1/cards/{new}/replace", headers=rm, json={"stock_card": "12"}
                    ).json["error"] == "invalid_input"
    handed = api.post(f"/api/v1/cards/{new}/replace", headers=rm, json={"stock_card": stock[0]})
    assert handed.status_code == 201 and handed.json["card_number"] == stock[0]
    assert api.post(f"/api/v1/cards/{stock[0]}/replace", headers=rm, json={
        "stock_card": stock[0]}).json["error"] == "card_not_in_stock"

    view = api.get(f"/api/v1/customers/{anna}", headers=office).json
    assert {c["card_number"]: (c["status"], c["replaced_by"]) for c in view["cards"]} == {
        number: ("replaced", new), new: ("replaced", stock[0]), stock[0]: ("active", None)}
    with central_db.read() as s:
        assert s.get(Customer, uuid.UUID(anna)).card_number == stock[0]
        actions = [a for a, in s.execute(select(AuditEntry.action).where(
            AuditEntry.action.like("card_%")).order_by(AuditEntry.id))]
        # The stolen card was blocked already when it was replaced: no second block line.
        assert actions == ["card_stock", "card_stock", "card_block", "card_unblock",
                           "card_block", "card_replace", "card_block", "card_replace"]
        changes = [c for c in page(s, 0, 100_000)["changes"]
                   if c["entity"] == "stock_card" and c["key"] == stock[0]]
        assert changes[-1]["deleted"]  # the store's tills no longer offer it to a new member
    sync_now(node_db)
    with node_db.read() as s:
        assert s.get(BlockedCard, number) is not None and s.get(BlockedCard, new) is not None


def test_the_points_history_names_receipts_that_open(central_app, central_db, seeded, tills):
    api, office = central_app.test_client(), who(seeded, "office")
    anna = customer_id(central_db, "Anna Petrova")
    till, node_db = tills["pos-1"]
    till.post("/api/v1/cart/lines", json={"sku": "3001", "quantity": 2})
    till.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
    assert till.post("/api/v1/cart/customer",
                     json={"card_number": "7770000000000001"}).status_code == 200
    sold = till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "card", "amount": 306990, "reference": "RRN7"}]})
    assert sold.status_code == 201, sold.json
    sync_now(node_db)
    with central_db.read() as s:
        sale = s.scalars(select(Sale).where(Sale.customer_id == uuid.UUID(anna))).one()
        earned = sum(s.scalars(select(SaleLine.points_earned).where(
            SaleLine.sale_id == sale.id)))
        receipt_no, total = sale.receipt_no, sale.total_minor
    view = api.get(f"/api/v1/customers/{anna}", headers=office).json
    purchase = [h for h in view["loyalty"]["history"] if h["source"] == "sale"]
    assert [(h["receipt_no"], h["points"], h["kind"], h["store_code"]) for h in purchase] == [
        (receipt_no, earned, "earn", "S001")]  # one line for the purchase, not one a line
    assert view["timeline"][0]["receipt_no"] == receipt_no

    receipt = api.get(f"/api/v1/customers/{anna}/receipts/{receipt_no}", headers=office)
    assert receipt.status_code == 200, receipt.json
    assert (receipt.json["total_minor"], receipt.json["points_earned"],
            receipt.json["store_code"]) == (total, earned, "S001")
    assert [ln["sku"] for ln in receipt.json["lines"]] == ["3001", "1001"]
    assert receipt.json["payments"] == [{"method": "card", "amount_minor": total}]
    ivan = customer_id(central_db, "Ivan Sidorov")
    assert api.get(f"/api/v1/customers/{ivan}/receipts/{receipt_no}", headers=office
                   ).json["error"] == "receipt_not_found"  # not his receipt
    assert api.get(f"/api/v1/customers/{anna}/receipts/{receipt_no}",
                   headers=who(seeded, "rm-spb")).json["error"] == "customer_not_found"


def test_contact_details_corrected_from_the_page(central_app, central_db, seeded):
    api, office = central_app.test_client(), who(seeded, "office")
    ivan = customer_id(central_db, "Ivan Sidorov")
    url = f"/api/v1/customers/{ivan}"
    assert api.patch(url, headers=who(seeded, "rm-spb"), json={"name": "Ivan S."}
                     ).json["error"] == "customer_not_found"
    clash = api.patch(url, headers=office, json={"name": "Ivan Sidorov",
                                                  "phone": "+7 900 000-00-03"})  # Olga's
    assert (clash.status_code, clash.json["error"]) == (409, "likely_duplicate")
    olga = customer_id(central_db, "Olga Smirnova")
    assert clash.json["details"]["customer_id"] == olga
    with central_db.read() as s:
        assert s.get(Customer, uuid.UUID(ivan)).phone == "+79000000002"  # nothing half-done
    saved = api.patch(url, headers=office, json={
        "name": "Ivan Sidorov", "phone": "+7 900 000-00-03", "email": "ivan@example.com",
        "birthday": "1985-02-03", "home_store_code": "S002", "force": True})
    assert saved.status_code == 200, saved.json
    view = api.get(url, headers=office).json
    assert (view["phone"], view["email"], view["birthday"], view["home_store_code"]) == (
        "+79000000003", "ivan@example.com", "1985-02-03", "S002")
    assert view["likely_duplicate"]["id"] == olga  # shown on the page to merge, if it is so
    assert api.patch(url, headers=office, json={"birthday": "3 Feb"}
                     ).json["error"] == "invalid_input"
