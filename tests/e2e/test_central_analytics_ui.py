"""The analytics page in a real browser against a real central: half a year of purchases by
60 customers, analysed twice by `kassa central warehouse analyze` (60 days apart), show as
segment sizes per run with the moves between them, the lifetime-value runs with their fitted
parameters, and a product's weekly demand with its
forecast."""

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from kassa.common.db import Database
from tests.e2e.conftest import run_kassa
from tests.helpers import sign_in_central
from tests.integration.test_analytics import TODAY, plant_history

pytestmark = pytest.mark.e2e


def test_segments_and_demand(page, stack):
    db = Database(f"sqlite:///{stack['central_db']}")
    with db.transaction() as session:
        plant_history(session, n_customers=60)
    db.dispose()
    env = {"KASSA_CENTRAL_DB": stack["central_db"]}
    run_kassa("central", "warehouse", "analyze", "--as-of", str(TODAY - timedelta(days=60)),
              env=env)
    run_kassa("central", "warehouse", "analyze", env=env)

    sign_in_central(page, stack["central"], "office", stack["users"]["office"]["password"])
    page.goto(stack["central"] + "/ops/analytics")
    expect(page.locator("#chart-segments .plot-container")).to_be_visible()
    expect(page.locator("#movements tbody tr").first).to_contain_text("(new)")
    expect(page.locator("#demand-summary")).to_contain_text("1001 at S001")
    expect(page.locator("#chart-demand .plot-container")).to_be_visible()
    runs = page.locator("#lifetime-runs tbody tr")  # newest first, each with what it fitted
    expect(runs).to_have_count(2)
    expect(runs.first.locator("td").nth(1)).to_have_text("90")
    expect(runs.first.locator("td").nth(3)).to_contain_text(", ")
    page.shot_of(page, "38-central-analytics")

    # A store's manager sees the demand of their store, not the chain's segments.
    page.goto(stack["central"] + "/ops/analytics")
    sm = stack["users"]["sm-s001"]["password"]
    page.context.clear_cookies()
    sign_in_central(page, stack["central"], "sm-s001", sm)
    page.goto(stack["central"] + "/ops/analytics")
    expect(page.locator("#segments")).to_have_count(0)
    expect(page.locator("#demand-summary")).to_contain_text("1001 at S001")
