"""Central goes down: the till says so, keeps selling and counts what waits; when central is
back, one sync sends it all and the badge turns green again."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import KASSA, run_kassa
from tests.e2e.test_till_ui import scan, sign_in_and_open_shift

pytestmark = pytest.mark.e2e


def test_the_till_sells_through_an_outage_and_catches_up(page, stack):  # noqa: F811
    sup = stack["supervisor"]
    central = dict(sup.children)["central"]
    central.terminate()
    central.wait(timeout=20)
    down = run_kassa("pos", "sync-now", env=stack["node_env"], check=False)
    assert down.returncode == 1 and "unreachable" in down.stderr

    sign_in_and_open_shift(page, stack, "0")
    expect(page.locator("#badge")).to_contain_text("offline")
    for n in range(1, 4):
        scan(page, "4600000010010")
        expect(page.locator("#cart tbody tr[data-line]")).to_have_count(1)
        page.keyboard.press("F9")
        expect(page.locator("#dialog")).to_be_visible()
        expect(page.locator("#dialog-title")).to_have_text("Payment: 89.90")
        page.keyboard.press("Enter")
        expect(page.locator("#last-receipt")).to_have_text(f"pos-1-{n:08d}")
    page.reload()
    expect(page.locator("#badge")).to_contain_text("offline · 4 to sync")  # shift + 3 sales
    page.shot("11-offline")

    port = stack["central"].rsplit(":", 1)[1]
    sup.start("central-again", KASSA + ["central", "serve", "--port", port],
              {"KASSA_CENTRAL_DB": stack["central_db"]})
    sup.wait_http("central-again", stack["central"] + "/health")
    up = run_kassa("pos", "sync-now", env=stack["node_env"])
    assert "pushed 4 events" in up.stdout
    page.reload()
    expect(page.locator("#badge")).to_contain_text("online · 0 to sync")
