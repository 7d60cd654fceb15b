"""The customers page in a real browser against real processes: office staff find Anna by
her phone number, see her purchase made at a real till beside one imported from a previous
system (too few buyers yet for a segment),
record her e-mail consent and log a call, and the timeline shows both."""

import re
from pathlib import Path

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
        "button", name="Give").click()
    expect(page.locator("#consents-table tbody tr", has_text="email")).to_contain_text("given")
    contact = page.locator("#contact-form")
    contact.locator("input[name=subject]").fill("Asked about the coffee week")
    contact.locator("button[type=submit]").click()
    expect(page.locator("#timeline-table tbody tr").first).to_contain_text(
        "from customer: Asked about the coffee week")
    page.shot_of(page, "34-central-customer")


# What the page says in each language, as the user reads it (issue 22, finding 5).
WORDS = {
    "en": {"edit": "Edit details", "looks_like": "This looks like", "anyway": "Save anyway",
           "saved": "Saved.", "block": "Block", "blocked": "blocked: lost",
           "unblock": "Unblock", "active": "active", "replace": "Replace",
           "replaced": "replaced by", "printed": "(printed)", "adjust": "Adjust",
           "over": "at most 20000 points", "adjusted": "adjusted by hand",
           "history": "Points history", "receipt": "Receipt ", "give": "Give",
           "withdraw": "Withdraw", "given": "given", "withdrawn": "withdrawn",
           "by_phone": "on a phone call, office", "other": "ru", "other_history": "История баллов"},
    "ru": {"edit": "Изменить данные", "looks_like": "Похоже на", "anyway": "Всё равно сохранить",
           "saved": "Сохранено.", "block": "Заблокировать", "blocked": "заблокирована: потеряна",
           "unblock": "Разблокировать", "active": "действует", "replace": "Заменить",
           "replaced": "заменена на", "printed": "(печатная)", "adjust": "Провести",
           "over": "не больше 20000 баллов", "adjusted": "изменено вручную",
           "history": "История баллов", "receipt": "Чек ", "give": "Дать",
           "withdraw": "Отозвать", "given": "дано", "withdrawn": "отозвано",
           "by_phone": "по телефону, office", "other": "en", "other_history": "Points history"},
}


def buy_with_card(stack, card_number: str) -> None:
    till = requests.Session()
    till.post(stack["node"] + "/api/v1/session", timeout=10, json={
        "username": "cashier-s001", "pin": stack["users"]["cashier-s001"]["pin"]})
    till.post(stack["node"] + "/api/v1/shifts/current", json={"opening_float": 0}, timeout=10)
    till.post(stack["node"] + "/api/v1/cart/lines", json={"sku": "3001", "quantity": 1},
              timeout=10)
    till.post(stack["node"] + "/api/v1/cart/customer", json={"card_number": card_number},
              timeout=10)
    sale = till.post(stack["node"] + "/api/v1/cart/checkout", timeout=10, json={
        "payments": [{"method": "cash", "amount": 150000}]})
    assert sale.status_code == 201, sale.text
    run_kassa("pos", "sync-now", env=stack["node_env"])


def type_over(page, field, text: str) -> None:
    """Click into a field, take out what is there with Backspace, type anew: as a person does."""
    field.click()
    page.keyboard.press("End")
    for _ in range(len(field.input_value())):
        page.keyboard.press("Backspace")
    page.keyboard.type(text)


@pytest.mark.parametrize("lang", ["en", "ru"])
def test_the_office_works_from_the_customer_page(browser, page, stack, tmp_path, lang):
    """The page used to be read-only: no points history, no card block, no edits, no points
    adjustment, consents that only said "agrees", and a language switch that lost the
    customer. Now the office does all of it by keyboard and clicks."""
    w = WORDS[lang]
    # Anna for the English pass, Ivan for the Russian one: both of store S001.
    card, phone, name = {"en": ("7770000000000001", "+7 900 000-00-01", "Anna Petrova"),
                         "ru": ("7770000000000002", "+7 900 000-00-02", "Ivan Sidorov")}[lang]
    buy_with_card(stack, card)
    central = {"KASSA_CENTRAL_DB": stack["central_db"],
               # central's keys, kept beside its database for every test of the module
               "KASSA_ISSUER_KEY_DIR": str(Path(stack["central_db"]).parent / "issuer")}
    chip = run_kassa("card", "issue", "--customer", card, "--out", str(tmp_path / "a.card"),
                     env=central).stdout.strip()

    sign_in_central(page, stack["central"], "office", stack["users"]["office"]["password"])
    page.goto(stack["central"] + f"/ops/customers?lang={lang}")
    page.keyboard.type(phone)
    page.keyboard.press("Enter")
    expect(page.locator("#p-name")).to_have_text(name)

    # Cards: block the chip card as lost, find it again, replace it with a printed number.
    row = page.locator(f"#cards-table tr[data-card='{chip}']")
    row.get_by_role("button", name=w["block"], exact=True).click()
    expect(row).to_contain_text(w["blocked"])
    row.get_by_role("button", name=w["unblock"]).click()
    expect(row).to_contain_text(w["active"])
    row.get_by_role("button", name=w["replace"]).click()
    page.keyboard.press("Enter")  # the stock card's field is empty: a new printed number
    expect(row).to_contain_text(w["replaced"])
    expect(page.locator("#cards-table tbody")).to_contain_text(w["printed"])

    # Points by hand: above the office's limit is refused, within it posted with its reason.
    page.locator("#adjust-form input[name=points]").click()
    page.keyboard.type("25000")
    page.locator("#adjust-form input[name=reason]").click()
    page.keyboard.type("Birthday gift")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text(w["over"])
    type_over(page, page.locator("#adjust-form input[name=points]"), "300")
    page.get_by_role("button", name=w["adjust"], exact=True).click()
    first = page.locator("#points-table tbody tr").first
    expect(first).to_contain_text(w["adjusted"])
    expect(first).to_contain_text("+300")
    expect(first.locator(".why")).to_have_text("Birthday gift (office)")

    # Consents: give, then withdraw, with where it came from.
    sms = page.locator("#consents-table tbody tr").first
    sms.get_by_role("button", name=w["give"]).click()
    expect(sms).to_contain_text(w["given"])
    expect(sms).to_contain_text(w["by_phone"])
    sms.get_by_role("button", name=w["withdraw"]).click()
    expect(sms).to_contain_text(w["withdrawn"])

    # Contact details: Olga's phone warns of a likely duplicate; kept apart only when asked.
    page.get_by_role("button", name=w["edit"]).click()
    type_over(page, page.locator("#edit-form input[name=phone]"), "+7 900 000-00-03")
    page.keyboard.press("Enter")
    warning = page.locator("#edit-duplicate")
    expect(warning).to_contain_text(w["looks_like"])
    expect(warning).to_contain_text("+79000000003")
    expect(page.locator("#p-facts")).not_to_contain_text("+79000000003")
    page.get_by_role("button", name=w["anyway"]).click()
    expect(page.locator("#message")).to_contain_text(w["saved"])
    expect(page.locator("#p-facts")).to_contain_text("+79000000003")

    # The purchase's receipt number opens the receipt, and it is in the address.
    page.locator("#points-table a").first.click()
    expect(page.locator("#r-title")).to_contain_text(w["receipt"])
    expect(page.locator("#receipt-lines tbody")).to_contain_text("Coffee beans 1 kg")
    expect(page).to_have_url(re.compile(r"receipt="))

    # Another language: the same customer, the same receipt, the page in that language.
    page.click(f"a[data-lang={w['other']}]")
    expect(page.locator("html")).to_have_attribute("lang", w["other"])
    expect(page.locator("#p-name")).to_have_text(name)
    expect(page.locator("#receipt")).to_be_visible()
    expect(page.get_by_role("heading", name=w["other_history"])).to_be_visible()
    # Named by the language it shows: the English pass ends in Russian, and the other way.
    page.shot_of(page, "34-central-customer" + ("-ru" if w["other"] == "ru" else "-actions"))
