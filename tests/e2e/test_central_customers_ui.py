"""The customers page in a real browser against real processes: office staff find Anna by
her phone number, see her purchase made at a real till beside one imported from a previous
system (too few buyers yet for a segment),
record her e-mail consent and log a call, and the timeline shows both."""

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import run_kassa
from tests.helpers import sign_in_central

pytestmark = pytest.mark.e2e


def test_office_sees_a_customer_whole_and_logs_a_call(browser, page, stack, tmp_path):
    till = requests.Session()
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    till.post(stack["node"] + "/api/v1/shifts/current", json={"opening_float": 0}, timeout=10)
    till.post(stack["node"] + "/api/v1/cart/lines", json={"sku": "3001", "quantity": 1},
              timeout=10)
    till.post(stack["node"] + "/api/v1/cart/customer", json={"card_number": "7770000000000001"},
              timeout=10)
    sale = till.post(stack["node"] + "/api/v1/cart/checkout", timeout=10, json={
        "payments": [{"method": "card", "amount": 149000, "reference": "RRN1"}]})
    assert sale.status_code == 201, sale.text
    run_kassa("pos", "sync-now", env=stack["node_env"])
    central = {"KASSA_CENTRAL_DB": stack["central_db"]}
    earlier = tmp_path / "previous-system.csv"  # what she bought before kassa
    earlier.write_text("customer,date,quantity,amount\n7770000000000001,1997-11-03,1,250.00\n")
    run_kassa("central", "import-transactions", str(earlier), env=central)
    run_kassa("central", "warehouse", "analyze", env=central)

    sign_in_central(page, stack["central"], "office", stack["users"]["office"]["password"])
    page.goto(stack["central"] + "/ops/customers")
    page.keyboard.type("+7 900 000-00-01")
    page.keyboard.press("Enter")
    expect(page.locator("#p-name")).to_have_text("Anna Petrova")
    expect(page.locator("#p-facts")).to_contain_text("2 purchases, ")
    expect(page.locator("#p-facts")).to_contain_text("1,740.00 in all")
    expect(page.locator("#p-facts")).to_contain_text("1 imported, ")
    expect(page.locator("#timeline-table tbody")).to_contain_text("receipt ")
    expect(page.locator("#timeline-table tbody tr").last).to_contain_text(
        "from the previous system")
    # One buyer in the chain: too few to rank into quintiles.
    expect(page.locator("#p-scores")).to_contain_text("Not scored yet")
    page.locator("#consents-table tbody tr", has_text="email").get_by_role(
        "button", name="agrees").click()
    expect(page.locator("#consents-table tbody tr", has_text="email")).to_contain_text("agreed")
    contact = page.locator("#contact-form")
    contact.locator("input[name=subject]").fill("Asked about the coffee week")
    contact.locator("button[type=submit]").click()
    expect(page.locator("#timeline-table tbody tr").first).to_contain_text(
        "from customer: Asked about the coffee week")
    page.shot_of(page, "34-central-customer")
