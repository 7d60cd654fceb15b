"""Central's master-data page in a real browser against real processes: central office sets a
region's price with the form and the till sells at it after its next pull; registers a till
and is shown its one-time code; stops a promotion; changes the offline caps. A regional
manager sees only their region."""

import json
import os
import sqlite3
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from tests.e2e.conftest import run_kassa
from tests.helpers import sign_in_central

pytestmark = pytest.mark.e2e


def retype(page, field, text: str) -> None:
    """Replace what a field shows as a person does: click into it, go to its end, rub out
    what is there with Backspace, type the new text."""
    field.click()
    page.keyboard.press("End")
    for _ in range(len(field.input_value())):
        page.keyboard.press("Backspace")
    page.keyboard.type(text)


def test_office_keeps_master_data_and_the_till_follows(browser, page, stack, tmp_path):
    sign_in_central(page, stack["central"], "office", stack["users"]["office"]["password"])
    page.goto(stack["central"] + "/ops/masterdata")
    product = page.locator("form[data-post='/api/v1/products']")
    product.locator("input[name=sku]").fill("6001")
    product.locator("input[name=name]").fill("Kefir 1 l")
    product.locator("select[name=vat]").select_option("10")
    product.locator("input[name=category]").fill("dairy")
    product.locator("input[name=barcodes]").fill("4600000060012 4600000060029")
    product.locator("input[name=amount]").fill("79.90")
    product.locator("button[type=submit]").click()
    expect(page.locator("#products-table tbody tr", has_text="6001")).to_contain_text(
        "4600000060012 4600000060029")
    csv_file = tmp_path / "products.csv"
    csv_file.write_text("sku,name,vat_rate_bp,unit,category,barcodes,price,active\n"
                        "6002,Ryazhenka 0.5 l,1000,pcs,dairy,4600000060036,64.90,1\n"
                        "6003,,1000,pcs,dairy,,1.00,1\n")
    upload = page.locator("#products-csv")
    upload.locator("input[name=file]").set_input_files(str(csv_file))
    upload.locator("button[type=submit]").click()
    expect(page.locator("#import-report")).to_contain_text("Nothing written")
    expect(page.locator("#import-report")).to_contain_text("line 3 6003 name")
    upload.locator("input[name=skip_bad]").check()
    upload.locator("button[type=submit]").click()
    expect(page.locator("#import-report")).to_contain_text("Written: 1 new")

    prices = page.locator("form[data-post='/api/v1/prices']")
    expect(prices.locator("select[name=region_code] option")).to_have_count(3)  # –, MSK, SPB
    prices.locator("input[name=sku]").fill("1004")
    prices.locator("input[name=amount]").fill("99.90")
    prices.locator("select[name=region_code]").select_option("MSK")
    prices.locator("button[type=submit]").click()
    expect(page.locator("#message")).to_have_text("Saved.")
    row = page.locator("#prices-table tbody tr", has_text="MSK")
    expect(row).to_contain_text("99.90")
    prices.locator("input[name=sku]").fill("1004")
    prices.locator("input[name=amount]").fill("109.90")
    prices.locator("input[name=effective_from]").fill("2030-01-01T00:00")
    prices.locator("button[type=submit]").click()
    expect(page.locator("#prices-table tbody")).to_contain_text("2030-01-01 00:00:00")

    tills = page.locator("form[data-post='/api/v1/nodes']")
    tills.locator("input[name=node_id]").fill("pos-7")
    tills.locator("button[type=submit]").click()
    expect(page.locator("#enroll-code")).to_contain_text("One-time code for pos-7: ")

    promo = page.locator("#promotions-table tbody tr", has_text="Tea 15 % off")
    promo.get_by_role("button", name="stop").click()
    expect(page.locator("#promotions-table tbody tr", has_text="Tea 15 % off")
           ).to_contain_text("stopped")
    caps = page.locator("#rules-form")
    retype(page, caps.locator("input[name=offline_points_per_day]"), "250")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Loyalty rules saved as version")
    expect(page.locator("#rules-versions tbody tr").first).to_contain_text(
        "offline points per day")
    bad = page.locator("form[data-post='/api/v1/users']")
    bad.locator("input[name=username]").fill("new-cashier")
    bad.locator("input[name=pin]").fill("12")
    bad.locator("button[type=submit]").click()
    expect(page.locator("#message")).to_contain_text("pin: 4 to 8 digits")
    page.shot_of(page, "33-central-masterdata")  # the whole page

    # The till sells at the region's price from its next pull; the 2030 one waits for 2030.
    run_kassa("pos", "sync-now", env=stack["node_env"])
    till = requests.Session()
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    hits = till.get(stack["node"] + "/api/v1/products?q=1004", timeout=10).json()["products"]
    assert [h["price_minor"] for h in hits if h["sku"] == "1004"] == [9990]


def test_a_regional_manager_sees_only_their_region(browser, page, stack):
    sign_in_central(page, stack["central"], "rm-spb", stack["users"]["rm-spb"]["password"])
    page.goto(stack["central"] + "/ops/masterdata")
    expect(page.locator("#stores-table tbody tr")).to_have_count(1)
    expect(page.locator("#stores-table tbody")).to_contain_text("S002")
    expect(page.locator("#tills")).to_have_count(0)
    expect(page.locator("#prices-table tbody")).not_to_contain_text("MSK")


def test_the_office_works_in_russian_and_gives_a_store_its_language(browser, page, stack):
    """The language links make the person's own setting; VAT rates come from master data; a
    store's language is changed in place and reaches the store API (and the tills' feed)."""
    office = ("office", stack["users"]["office"]["password"])
    sign_in_central(page, stack["central"], *office)
    page.goto(stack["central"] + "/ops/masterdata")
    page.click("a[data-lang=ru]")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    expect(page.locator("header nav")).to_contain_text("Узлы")
    assert requests.get(stack["central"] + "/api/v1/account/language", auth=office,
                        timeout=10).json() == {"locale": "ru"}
    expect(page.locator("#vat-table tbody tr")).to_have_count(3)
    expect(page.locator("#vat-table tbody tr").first).to_contain_text("действует")
    expect(page.locator("select[name=vat] option")).to_have_count(3)
    page.locator("#stores-table tbody tr", has_text="S002").locator("select").select_option("ru")
    expect(page.locator("#message")).to_contain_text("Сохранено")
    stores = requests.get(stack["central"] + "/api/v1/stores", auth=office, timeout=10).json()
    assert {s["code"]: s["locale"] for s in stores["stores"]} == {"S001": "en", "S002": "ru"}
    page.shot_of(page, "central-masterdata-ru")
    page.click("a[data-lang=en]")  # as the other tests expect the office
    expect(page.locator("html")).to_have_attribute("lang", "en")
    requests.patch(stack["central"] + "/api/v1/stores/2", json={"locale": "en"}, auth=office,
                   timeout=10).raise_for_status()


def test_a_store_is_given_its_time_zone_in_place(browser, page, stack):
    """The office types a store's zone into its row: a known one is saved (the reports and the
    store's tills count its days by it), one central does not know is refused and not kept."""
    office = ("office", stack["users"]["office"]["password"])
    sign_in_central(page, stack["central"], *office)
    page.goto(stack["central"] + "/ops/masterdata")
    zone = page.get_by_label("Time zone of S002")
    expect(zone).to_have_value("Europe/Moscow")

    def retype(text: str) -> None:
        zone.click()
        page.keyboard.press("End")
        for _ in range(len(zone.input_value())):
            page.keyboard.press("Backspace")
        page.keyboard.type(text)
        page.keyboard.press("Tab")

    try:
        retype("Mars/Olympus")
        expect(page.locator("#message")).to_contain_text("Unknown time zone")
        expect(zone).to_have_value("Europe/Moscow")
        retype("Asia/Yekaterinburg")
        expect(page.locator("#message")).to_contain_text("Saved")
        stores = requests.get(stack["central"] + "/api/v1/stores", auth=office,
                              timeout=10).json()["stores"]
        assert {s["code"]: s["timezone"] for s in stores} == {
            "S001": "Europe/Moscow", "S002": "Asia/Yekaterinburg"}
    finally:
        requests.patch(stack["central"] + "/api/v1/stores/2", auth=office, timeout=10,
                       json={"timezone": "Europe/Moscow"})


def test_a_store_manager_resets_a_cashiers_forgotten_pin(page, stack):
    """Finding 11 of issue 22: Master data could not reset a PIN or a password. The store
    manager types a new PIN into the cashier's row; a PIN too short is refused; the till has
    the new one after its next pull and the cashier signs in with it."""
    sign_in_central(page, stack["central"], "sm-s001", stack["users"]["sm-s001"]["password"])
    page.goto(stack["central"] + "/ops/masterdata#users")
    row = page.locator("#users-table tr", has_text="cashier-s001")
    row.locator("input.secret").click()
    page.keyboard.type("12")
    row.get_by_role("button", name="reset PIN").click()
    expect(page.locator("#message, .message").first).to_contain_text("4 to 8 digits")
    row.locator("input.secret").click()
    page.keyboard.type("864213")
    row.get_by_role("button", name="reset PIN").click()
    expect(page.locator("#message, .message").first).to_contain_text(
        "New PIN of cashier-s001 saved")
    page.shot("central-masterdata-pin-reset")
    run_kassa("pos", "sync-now", env=stack["node_env"])
    till = requests.Session()
    assert till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": "864213"}).status_code == 200
    assert till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]}
    ).status_code == 401
    stack["users"]["cashier-s001"]["pin"] = "864213"  # for what runs after on this stack


def test_the_office_sets_the_loyalty_rules_in_their_form(browser, page, stack, tmp_path):
    """Gold's share back typed into the rules form, in English then in Russian: a share no
    chain gives (150 %) and one that is no number are refused beside the field and save
    nothing; a good one is saved as the next version, listed with who made it, and reaches the
    till at its next pull."""
    office = ("office", stack["users"]["office"]["password"])
    rules_api = stack["central"] + "/api/v1/loyalty-rules"
    first = requests.get(rules_api, auth=office, timeout=10).json()["document"]["version"]
    sign_in_central(page, stack["central"], *office)
    page.goto(stack["central"] + "/ops/masterdata#loyalty")
    form = page.locator("#rules-form")
    gold = form.locator("[data-field='rate_milli_by_tier.gold']")
    expect(gold).to_have_value("3")  # the demo's 3 % back at gold
    expect(form.locator("[data-field='rate_milli_by_tier.base']")).to_have_value("1")
    expect(form.locator("input[name=point_value]")).to_have_value("1.00")
    expect(page.locator("#rules-version")).to_contain_text(f"Version {first}, set ")

    gold_error = gold.locator("xpath=following-sibling::small")
    retype(page, gold, "150")
    page.keyboard.press("Enter")
    expect(gold_error).to_have_text("A tier gives back at most 100 % of what is spent.")
    expect(gold).to_have_attribute("aria-invalid", "true")
    retype(page, gold, "4 %")
    page.keyboard.press("Enter")
    expect(gold_error).to_have_text("A percentage such as 2.5.")
    expect(page.locator("#message")).to_have_text(
        "The rules were not saved: see the fields marked.")
    assert requests.get(rules_api, auth=office, timeout=10).json()["document"][
        "version"] == first
    retype(page, gold, "4.5")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(
        f"Loyalty rules saved as version {first + 1}.")
    expect(gold_error).to_have_text("")
    expect(page.locator("#rules-version")).to_contain_text(f"Version {first + 1}, set ")
    latest = page.locator("#rules-versions tbody tr").first
    expect(latest).to_contain_text("office")
    expect(latest).to_contain_text("earn rates")
    shot_of_part(page.locator("#loyalty"), "central-loyalty-rules", tmp_path)

    page.click("a[data-lang=ru]")
    expect(page.locator("html")).to_have_attribute("lang", "ru")
    page.goto(stack["central"] + "/ops/masterdata#loyalty")
    expect(gold).to_have_value("4,5")
    retype(page, gold, "150")
    page.keyboard.press("Enter")
    expect(gold_error).to_have_text("Уровень возвращает не больше 100 % потраченного.")
    retype(page, gold, "2,5")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_have_text(
        f"Правила лояльности сохранены как версия {first + 2}.")
    expect(page.locator("#rules-version")).to_contain_text(f"Версия {first + 2}, задана ")
    expect(page.locator("#rules-versions tbody tr").first).to_contain_text("начисление")
    shot_of_part(page.locator("#loyalty"), "central-loyalty-rules-ru", tmp_path)
    page.click("a[data-lang=en]")  # as the other tests expect the office
    expect(page.locator("html")).to_have_attribute("lang", "en")

    doc = requests.get(rules_api, auth=office, timeout=10).json()["document"]
    assert (doc["version"], doc["rate_milli_by_tier"]["gold"]) == (first + 2, 25)
    run_kassa("pos", "sync-now", env=stack["node_env"])
    with sqlite3.connect(stack["node_env"]["KASSA_NODE_DB"]) as till:
        held = json.loads(till.execute("SELECT document FROM loyalty_rules").fetchone()[0])
    assert (held["version"], held["rate_milli_by_tier"]["gold"]) == (first + 2, 25)


def shot_of_part(part, name: str, tmp_path) -> None:
    """A screenshot of one part of a page, kept where the page fixture keeps its own."""
    folders = [tmp_path] + ([Path(os.environ["KASSA_SCREENSHOTS"])]
                            if os.environ.get("KASSA_SCREENSHOTS") else [])
    for folder in folders:
        folder.mkdir(parents=True, exist_ok=True)
        part.screenshot(path=str(folder / f"{name}.png"))


def test_the_office_sets_how_many_points_a_role_may_adjust(page, stack):
    """The customer page's points adjustments have a limit per role (issue 22, finding 5);
    the office sets it in the role limits' table as it sets the others."""
    office = ("office", stack["users"]["office"]["password"])
    sign_in_central(page, stack["central"], *office)
    page.goto(stack["central"] + "/ops/masterdata#limits")
    field = page.get_by_label("Points a store manager may adjust at a time")
    field.click()
    page.keyboard.press("End")
    for _ in range(len(field.input_value())):
        page.keyboard.press("Backspace")
    page.keyboard.type("1500")
    page.locator("#limits-table tr", has=field).get_by_role("button", name="save").click()
    expect(page.locator("#message")).to_contain_text("Limits of the store manager saved")
    limits = requests.get(stack["central"] + "/api/v1/role-limits", auth=office,
                          timeout=10).json()["limits"]
    assert {r["role"]: r["max_points_adjust"] for r in limits}["store_manager"] == 1500
