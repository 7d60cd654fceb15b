"""The first-install steps of docs/operations.md, walked in order on a new central of each
engine with the real commands and a real browser: init-db, the first administrator, sign-in to
Master data, a region, a store and a till typed into the page, the till enrolled with the code
the page showed, and central seeing it."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.conftest import _sqlalchemy_url
from tests.e2e.conftest import KASSA, run_kassa
from tests.helpers import free_port

pytestmark = pytest.mark.e2e
PASSWORD = "Opening-day-at-S777"


@pytest.fixture
def new_central(central_engine, tmp_path, request):
    if central_engine == "sqlite":
        return str(tmp_path / "central.sqlite")
    return _sqlalchemy_url(request.getfixturevalue("pg_server").create())


def type_into(form, field: str, text: str) -> None:
    form.locator(f"[name={field}]").press_sequentially(text)


def test_a_new_central_from_nothing_to_an_enrolled_till(new_central, supervisor, browser,
                                                          page, tmp_path):
    central_env = {"KASSA_CENTRAL_DB": new_central, "KASSA_VAR_DIR": str(tmp_path / "var"),
                   "KASSA_CENTRAL_JOBS": "off", "KASSA_WAREHOUSE": "off"}
    run_kassa("central", "init-db", env=central_env)
    made = run_kassa("central", "create-user", "admin", "--role", "admin", "--password-stdin",
                     env=central_env, input=PASSWORD + "\n")
    assert "admin admin created" in made.stdout
    port = free_port()
    central = f"http://127.0.0.1:{port}"
    supervisor.start("central", KASSA + ["central", "serve", "--port", str(port)], central_env)
    supervisor.wait_http("central", central + "/health")

    page.goto(central + "/ops/masterdata")  # not signed in: to the sign-in page and back
    type_into(page, "username", "admin")
    type_into(page, "password", PASSWORD)
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/ops/masterdata$"))

    region = page.locator("form[data-post='/api/v1/regions']")
    type_into(region, "code", "NSK")
    type_into(region, "name", "Novosibirsk")
    region.get_by_role("button").click()
    store = page.locator("form[data-post='/api/v1/stores']")
    expect(store.locator("select[name=region_code] option")).to_have_count(1)
    type_into(store, "code", "S777")
    type_into(store, "name", "Krasny prospekt 1")
    store.locator("select[name=locale]").select_option("ru")
    store.get_by_role("button").click()
    expect(page.locator("#stores-table tbody tr", has_text="S777")).to_contain_text("NSK")
    till = page.locator("form[data-post='/api/v1/nodes']")
    expect(till.locator("select[name=store_code] option")).to_have_count(1)
    type_into(till, "node_id", "pos-1")
    till.get_by_role("button").click()
    shown = page.locator("#enroll-code")
    expect(shown).to_contain_text("One-time code for pos-1: ")
    page.shot("first-install-masterdata")
    code = shown.inner_text().rsplit(": ", 1)[1].strip()

    node_env = {"KASSA_NODE_DB": str(tmp_path / "pos-1.sqlite"), "KASSA_SYNC_INTERVAL": "0",
                "KASSA_VAR_DIR": str(tmp_path / "pos-var")}
    run_kassa("pos", "init", "--node-id", "pos-1", "--central-url", central,
              "--enroll-code", code, env=node_env)
    listed = run_kassa("central", "nodes", env=central_env).stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [["pos-1", "S777"]]
    assert "refused" not in listed[1] and "never" not in listed[1]
