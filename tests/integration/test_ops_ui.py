"""Central's operator pages in a real headless Chromium over real HTTP: the node status table
and repairing a quarantined event, keyboard and mouse, on both central engines.

With KASSA_SCREENSHOTS=DIR the screenshots are also saved to DIR."""

import os
from pathlib import Path

import pytest
from playwright.sync_api import expect, sync_playwright

from tests.helpers import CHROMIUM_ARGS, sign_in_central
from tests.integration.test_sync_central import push, sale_event
from tests.integration.test_sync_faults import held


@pytest.fixture
def browser_for(seeded, tmp_path, live_central):
    shots = [tmp_path] + ([Path(os.environ["KASSA_SCREENSHOTS"])]
                          if os.environ.get("KASSA_SCREENSHOTS") else [])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)

        def open_as(username):
            context = browser.new_context(viewport={"width": 1280, "height": 720})
            page = context.new_page()
            sign_in_central(page, live_central, username, seeded["users"][username]["password"])

            def shot(name):
                for folder in shots:
                    folder.mkdir(parents=True, exist_ok=True)
                    page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
            page.shot = shot
            return page
        yield open_as
        browser.close()


def test_node_status_page_shows_lag_and_held_events(central_app, live_central, enrolled,
                                                    browser_for, central_engine):
    push(central_app.test_client(), enrolled, [sale_event(1), sale_event(2, product_id=999)])
    page = browser_for("office")
    page.goto(f"{live_central}/ops/nodes")
    row = page.locator("#nodes tr[data-node=pos-1]")
    expect(row).to_contain_text("online")
    expect(row.locator("td").nth(10)).to_have_text("1")  # one held event
    expect(page.locator("#nodes tr[data-node=pos-2]")).to_contain_text("not enrolled")
    if central_engine == "sqlite":
        page.shot("central-nodes")
    scoped = browser_for("rm-spb")
    scoped.goto(f"{live_central}/ops/nodes")
    expect(scoped.locator("#nodes tbody tr")).to_have_count(1)
    expect(scoped.locator("#nodes tr[data-node=pos-2]")).to_have_count(1)
    scoped.goto(f"{live_central}/ops/quarantine")
    expect(scoped.locator("body")).to_contain_text("may not open this page")


def test_an_operator_repairs_and_replays_a_held_sale(central_app, central_db, live_central,
                                                    enrolled, browser_for, central_engine):
    push(central_app.test_client(), enrolled, [sale_event(1, product_id=999)])
    page = browser_for("office")
    page.goto(f"{live_central}/ops/quarantine")
    expect(page.locator("body[data-ready]")).to_have_count(1)
    row = page.locator("#held tbody tr").first
    expect(row).to_contain_text("unknown_reference")
    row.get_by_role("button", name="Repair…").click()
    payload = page.locator("#repair-payload")
    expect(payload).to_be_focused()
    if central_engine == "sqlite":
        page.shot("central-quarantine-repair")
    payload.fill(payload.input_value().replace('"product_id": 999', '"product_id": 1'))
    page.locator("#repair-note").fill("product id typo at the till")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Replayed pos-1 seq 1")
    expect(page.locator("#held tbody")).to_contain_text("Nothing is held")
    assert held(central_db) == {}


def test_pages_ask_for_a_sign_in(live_central):
    import requests
    resp = requests.get(f"{live_central}/ops/nodes", timeout=5, allow_redirects=False)
    assert resp.status_code == 302
    assert resp.headers["Location"].endswith("/ops/signin?next=/ops/nodes")


def test_the_audit_log_page_filters_what_happened(live_central, browser_for, central_engine):
    page = browser_for("office")  # its web sign-in is the first entry
    page.goto(f"{live_central}/ops/audit")
    expect(page.locator("#audit tbody")).to_contain_text("sign_in:ok")
    page.fill("input[name=action]", "authorization:")
    page.keyboard.press("Enter")
    expect(page.locator("#audit tbody")).to_contain_text("Nothing matches")
    expect(page.locator("#audit-csv")).to_have_attribute(
        "href", "/api/v1/audit?action=authorization%3A&format=csv")
    page.fill("input[name=action]", "")
    page.keyboard.press("Enter")
    expect(page.locator("#audit tbody")).to_contain_text("user office")
    if central_engine == "sqlite":
        page.shot("central-audit")
