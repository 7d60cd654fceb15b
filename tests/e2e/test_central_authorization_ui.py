"""A refund beyond the store manager's limit, end to end in two real browsers: the cashier's
screen asks central and waits; central-office staff see the request on their page and approve
it with a reason; the till completes the return at once. Real processes, real HTTP."""

import re

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.test_till_ui import sign_in_and_open_shift
from tests.helpers import sign_in_central

pytestmark = pytest.mark.e2e


def test_the_cashier_waits_while_central_office_approves_a_large_refund(browser, page, stack):
    sign_in_and_open_shift(page, stack)
    till = requests.Session()  # the big sale itself, through the API: 70 x coffee, by card
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    sale = till.post(stack["node"] + "/api/v1/sales", timeout=10, json={
        "lines": [{"sku": "3001", "quantity": 70}],
        "payments": [{"method": "card", "amount": 10_430_000, "reference": "RRN42"}]})
    assert sale.status_code == 201, sale.text
    receipt = sale.json()["receipt_no"]

    page.keyboard.press("F7")
    page.keyboard.type(receipt)
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_have_text(f"Return from {receipt}")
    page.locator("input[data-line='1']").fill("70")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_have_text("Waiting for central")
    page.shot("30-waiting-for-central")

    office = browser.new_context(viewport={"width": 1280, "height": 720})
    staff = office.new_page()
    sign_in_central(staff, stack["central"], "office", stack["users"]["office"]["password"])
    staff.goto(stack["central"] + "/ops/authorizations")
    row = staff.locator("#queue tbody tr").filter(has_text=receipt)
    expect(row).to_contain_text("104,300.00")
    row.locator("input.reason").fill("company order, invoice checked")
    page.shot_of(staff, "31-central-authorizations")
    row.get_by_role("button", name="Approve").click()
    expect(staff.locator("#message")).to_contain_text("Approved")

    expect(page.locator("#message")).to_contain_text("refund card 104,300.00", timeout=15_000)
    expect(page.locator("#message")).to_contain_text(re.compile(r"pos-1-R\d{8}"))
    page.shot("32-refund-approved")
    office.close()
