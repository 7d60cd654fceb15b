"""A personal offer at the cashier's screen, in a real headless Chromium against a real till
and central: central publishes an offer and the customer's profile through its change feed,
the till pulls them, the customer's card number is keyed in (F2), milk is scanned and the
screen offers coffee at 10 % off; the coffee scanned next is sold at the offer's price, with
the keyboard and the scanner alone. Screenshots as in ``test_till_ui``
(``docs/screenshots/36-till-offer.png``)."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kassa.central.models import Customer, Offer, OfferExposure, Product
from kassa.central.replication import feed
from kassa.common.db import Database
from tests.e2e.conftest import run_kassa
from tests.e2e.test_till_ui import scan, sign_in_and_open_shift

pytestmark = pytest.mark.e2e
ANNA = "7770000000000001"


@pytest.fixture
def offer(stack):
    """Coffee at 10 % off for customers with milk in the cart; Anna consented to offers."""
    db = Database(f"sqlite:///{stack['central_db']}")
    try:
        with db.transaction() as s:
            products = dict(s.execute(select(Product.sku, Product.id)).all())
            anna = s.scalars(select(Customer.id).where(Customer.card_number == ANNA)).one()
            row = Offer(rule_key="e2e:milk->coffee", kind="cross_sell",
                        product_id=products["3001"], trigger_product_ids=[products["1001"]],
                        discount_bp=1000, segments=None, active=True)
            s.add(row)
            s.flush()
            feed.record_change(s, "offer", row.id, {
                "id": row.id, "kind": "cross_sell", "product_id": row.product_id,
                "trigger_product_ids": row.trigger_product_ids, "discount_bp": 1000,
                "segments": None, "active": True})
            feed.record_change(s, "offer_profile", str(anna), {
                "customer_id": str(anna), "segment": "Loyal", "offers_ok": True,
                "held_out": False})
            offer_id = row.id
        run_kassa("pos", "sync-now", env=stack["node_env"])
        yield {"id": offer_id, "db": db}
    finally:
        db.dispose()


def test_the_cashier_sees_the_offer_and_the_customer_gets_its_price(page, stack, offer):
    sign_in_and_open_shift(page, stack)
    page.keyboard.press("F2")                           # the customer: a card number keyed in
    expect(page.locator("#dialog-title")).to_have_text("Customer")
    page.keyboard.type(ANNA)
    page.keyboard.press("Enter")
    expect(page.locator("#customer-name")).to_contain_text("Anna Petrova")
    expect(page.locator("#offers")).to_be_hidden()      # nothing in the cart to go with yet
    scan(page, "4600000010010")                         # milk: coffee goes with it
    expect(page.locator("#offers .offer")).to_have_count(1)
    expect(page.locator("#offers")).to_contain_text("Offer: Coffee beans 1 kg, -10 %")
    expect(page.locator("#offers .price")).to_have_text("1,341.00 instead of 1,490.00")
    expect(page.locator("#offers .plu")).to_contain_text("PLU 3001")
    expect(page.locator("#scan")).to_be_focused()
    expect(page.locator("#message")).to_be_hidden(timeout=10_000)  # "Customer: ..." goes
    page.shot("36-till-offer")

    scan(page, "4600000030018")                         # the customer takes the coffee
    expect(page.locator("#cart tbody tr[data-line]")).to_have_count(2)
    expect(page.locator("#cart tbody tr[data-line='2']")).to_contain_text(
        "personal offer -10 %")
    expect(page.locator("#offers")).to_be_hidden()
    expect(page.locator("#t-total")).to_have_text("1,430.90")  # 89.90 + 1490.00 - 10 %
    page.shot("37-till-offer-taken")
    page.keyboard.press("F9")
    expect(page.locator("#dialog-title")).to_have_text("Payment: 1,430.90")
    page.keyboard.press("Enter")
    expect(page.locator("#last-receipt")).to_be_visible()

    run_kassa("pos", "sync-now", env=stack["node_env"])
    with offer["db"].read() as s:
        seen = s.scalars(select(OfferExposure)).one()
        assert (seen.offer_id, seen.accepted, seen.held_out) == (offer["id"], True, False)
