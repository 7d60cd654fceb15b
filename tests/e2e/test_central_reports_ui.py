"""The managers' reports page in a real browser against real processes: a sale made at a real
till shows in the figures and the chart (plotly, served by central itself: no network), the
CSV link downloads the same rows, and a regional manager sees only their region."""

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import run_kassa
from tests.helpers import sign_in_central

pytestmark = pytest.mark.e2e


def test_the_morning_reports_show_todays_sales(browser, page, stack):
    till = requests.Session()
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    till.post(stack["node"] + "/api/v1/shifts/current", json={"opening_float": 0}, timeout=10)
    for sku in ("3001", "1001"):
        till.post(stack["node"] + "/api/v1/cart/lines", json={"sku": sku, "quantity": 1},
                  timeout=10)
    assert till.post(stack["node"] + "/api/v1/cart/checkout", timeout=10, json={
        "payments": [{"method": "card", "amount": 157990, "reference": "RRN2"}]}
    ).status_code == 201
    run_kassa("pos", "sync-now", env=stack["node_env"])

    sign_in_central(page, stack["central"], "office", stack["users"]["office"]["password"])
    page.goto(stack["central"] + "/ops/reports")
    expect(page.locator("#kpis .kpi", has_text="Revenue")).to_contain_text("1,579.90")
    expect(page.locator("section[data-report=sales] tbody")).to_contain_text("S001")
    expect(page.locator("#chart-sales .main-svg").first).to_be_visible()  # plotly drew
    href = page.locator("section[data-report=sales] a.csv").get_attribute("href")
    csv_text = page.request.get(stack["central"] + href).text()
    assert csv_text.startswith("key,receipts,revenue_minor") and "S001,1,157990" in csv_text
    page.locator("#report-period select[name=group]").select_option("hour")
    page.locator("#report-period button[type=submit]").click()
    expect(page.locator("section[data-report=sales] thead")).to_contain_text("Receipts")
    page.locator("#report-period select[name=group]").select_option("store")
    page.locator("#report-period button[type=submit]").click()
    expect(page.locator("section[data-report=sales] tbody")).to_contain_text("S001")
    page.shot_of(page, "35-central-reports")

    page.context.clear_cookies()
    sign_in_central(page, stack["central"], "rm-spb", stack["users"]["rm-spb"]["password"])
    page.goto(stack["central"] + "/ops/reports")
    expect(page.locator("section[data-report=sales] tbody")).to_contain_text(
        "Nothing in this period")
