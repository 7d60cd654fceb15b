"""The cashier's UI in a real headless Chromium against a real node and central: selling,
an override, a return and closing the shift, with the keyboard (and scanner) alone; the
customer's display following the sale.

Screenshots go to the test's temporary folder; with KASSA_SCREENSHOTS=DIR they are also
saved to DIR (``docs/screenshots`` holds the ones we looked at).
"""

import re

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kassa.central.models import Customer, Offer, Product
from kassa.central.replication import feed
from kassa.common.db import Database
from tests.e2e.conftest import run_kassa

pytestmark = pytest.mark.e2e


def ready(page):
    """The page's script is in: keys typed from now on are handled, not lost."""
    expect(page.locator("body[data-ready]")).to_have_count(1)


def sign_in_and_open_shift(page, stack, float_text="1000",
                           headings=("Sign in", "Open a shift")):
    """Sign in as cashier-s001 and open a shift: the float field is clicked and typed into,
    as a cashier does (it starts empty)."""
    page.goto(stack["node"] + "/")
    expect(page.locator("h1")).to_have_text(headings[0])
    ready(page)
    page.shot("01-sign-in")
    page.keyboard.type("cashier-s001")
    page.keyboard.press("Tab")
    page.keyboard.type(stack["users"]["cashier-s001"]["pin"])
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(headings[1])
    ready(page)
    russian = headings[0] == "Вход"
    expect(page.locator("#float")).to_have_attribute("placeholder", "0,00" if russian else "0.00")
    page.locator("#float").click()
    page.keyboard.type(float_text)
    page.keyboard.press("Enter")
    expect(page.locator("#scan")).to_be_focused()
    ready(page)


def close_shift(page, counted: str,
                titles=("X report", "Close shift", "Z report", "Open a shift"),
                shot: str | None = None) -> None:
    """F11: the X report, F4 (close), the counted cash, the Z report (with nothing left to
    cancel), back to the start (``titles``: what each step is called in the till's language)."""
    x_report, close, z_report, start = titles
    page.keyboard.press("F11")
    expect(page.locator("#dialog-title")).to_contain_text(x_report)
    page.keyboard.press("F4")
    expect(page.locator("#dialog-title")).to_have_text(close)
    page.keyboard.type(counted)
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_contain_text(z_report)
    expect(page.locator("#dialog-cancel")).to_be_hidden()
    if shot:
        page.shot(shot)
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text(start)


def pay_cash(page, title: str, cash: str) -> None:
    """F9, the payment dialog titled ``title``, the cash received typed into its empty field."""
    page.keyboard.press("F9")
    expect(page.locator("#dialog-title")).to_have_text(title)
    page.keyboard.type(cash)
    page.keyboard.press("Enter")


def scan(page, code):
    """A barcode scanner is a keyboard: it types the code and Enter."""
    page.keyboard.type(code)
    page.keyboard.press("Enter")


def test_sell_override_return_and_close_a_shift_with_the_keyboard(page, stack):
    sign_in_and_open_shift(page, stack)
    scan(page, "4600000010010")                        # milk
    scan(page, "4600000010010")                        # milk again: counts up to 2
    scan(page, "0.750*2001")                           # apples by weight, PLU 2001
    expect(page.locator("#cart tbody tr[data-line]")).to_have_count(2)
    selected = page.locator("#cart tbody tr.selected")  # the line just scanned, as F8 acts on
    expect(selected).to_have_attribute("data-line", "2")
    page.keyboard.type("black tea")                    # name search
    page.keyboard.press("F3")
    expect(page.locator("#search-results li")).to_have_count(1)
    page.keyboard.press("Enter")
    expect(page.locator("#cart tbody tr[data-line]")).to_have_count(3)
    expect(selected).to_have_attribute("data-line", "3")
    scan(page, "1002")                                 # bread, by mistake: F8 takes it off
    expect(selected).to_have_attribute("data-line", "4")
    page.keyboard.press("F8")
    expect(page.locator("#message")).to_contain_text("Deleted Rye bread")
    expect(page.locator("#cart tbody tr[data-line]")).to_have_count(3)
    expect(page.locator("#scan")).to_be_focused()
    # 2 x 89.90 + 119.93 + (349.90 - 15 %: 297.41) = 597.14
    expect(page.locator("#t-total")).to_have_text("597.14")

    page.keyboard.press("F6")                          # 20 % on the receipt: over the limit
    page.keyboard.type("20")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_have_text("Manager approval")
    page.keyboard.type("sm-s001")
    page.keyboard.press("Tab")
    page.keyboard.type(stack["users"]["sm-s001"]["pin"])
    page.keyboard.press("Tab")
    page.keyboard.type("loyal customer")
    page.shot("03-manager-override")
    page.keyboard.press("Enter")
    expect(page.locator("#t-total")).to_have_text("477.71")
    page.shot("02-cart")

    page.keyboard.press("F9")
    expect(page.locator("#dialog-title")).to_have_text("Payment: 477.71")
    expect(page.locator("#dialog input[name=cash]")).to_have_attribute("placeholder", "477.71")
    page.keyboard.type("500")
    page.shot("04-payment")
    page.keyboard.press("Enter")
    expect(page.locator("#last-change")).to_have_text("22.29")
    receipt = page.locator("#last-receipt").inner_text()
    assert re.fullmatch(r"pos-1-\d{8}", receipt)
    expect(page.locator("#t-total")).to_have_text("0.00")
    page.shot("05-paid")
    receipt_page = page.context.new_page()
    receipt_page.goto(f"{stack['node']}/receipts/{receipt}")
    expect(receipt_page.locator("body")).to_contain_text("TOTAL")
    expect(receipt_page.locator(".total")).to_contain_text("477.71")
    page.shot_of(receipt_page, "10-receipt")
    receipt_page.close()

    page.keyboard.press("F7")                          # return one milk from that receipt
    page.keyboard.type(receipt)
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_have_text(f"Return from {receipt}")
    page.locator("input[data-line='1']").fill("1")
    page.shot("06-return")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("refund cash 71.92")

    page.keyboard.press("F11")                         # X report, then close the shift
    expect(page.locator("#dialog-title")).to_contain_text("X report")
    expect(page.locator("#expected-cash b")).to_have_text("1,405.79")  # 1000 + 477.71 - 71.92
    page.shot("07-x-report")
    page.keyboard.press("F4")
    expect(page.locator("#dialog-title")).to_have_text("Close shift")
    page.keyboard.type("1400.00")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_contain_text("Z report")
    expect(page.locator("#difference b")).to_have_text("-5.79")
    page.shot("08-z-report")
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Open a shift")


def test_refusals_are_shown_and_the_focus_returns_to_the_scan_field(page, stack):
    sign_in_and_open_shift(page, stack, "0")
    scan(page, "9999999999999")
    expect(page.locator("#message")).to_contain_text("No product with barcode 9999999999999")
    expect(page.locator("#scan")).to_be_focused()
    page.keyboard.press("F9")
    expect(page.locator("#message")).to_contain_text("Nothing to pay for")
    scan(page, "1001")
    page.keyboard.press("F5")                          # a price override: the label says 85
    expect(page.locator("#dialog-title")).to_have_text("Discount on Milk 3.2% 1 l")
    expect(page.locator("#dialog input[name=p]")).to_be_focused()
    page.keyboard.press("Tab")
    expect(page.locator("#dialog input[name=price]")).to_be_focused()
    page.keyboard.type("85")
    page.shot("12-price-override")
    page.keyboard.press("Enter")
    expect(page.locator("#t-total")).to_have_text("85.00")  # 5.5 % under: the cashier's call
    page.keyboard.press("F10")
    expect(page.locator("#dialog-title")).to_have_text("Void this sale?")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Sale voided")
    expect(page.locator("#badge")).to_contain_text("to sync")
    page.shot("09-refusal")
    close_shift(page, "0")


def test_amounts_are_typed_as_people_type_them(page, stack):
    """Finding 1 of issue 22: a cashier clicked the float field (which held 0.00 with the
    cursor before it), typed 5000 and opened the shift with 50,000.00. Every amount field now
    starts empty, reads 5000, 5 000, 5000,5 and 5,000.50 alike, shows what it read, and refuses
    what could mean two things. The shift menu works by its keys alone (finding 8)."""
    page.goto(stack["node"] + "/")
    ready(page)
    page.keyboard.type("cashier-s001")
    page.keyboard.press("Tab")
    page.keyboard.type(stack["users"]["cashier-s001"]["pin"])
    page.keyboard.press("Enter")
    expect(page.locator("h1")).to_have_text("Open a shift")
    ready(page)
    float_field = page.locator("#float")
    expect(float_field).to_have_value("")
    expect(float_field).to_have_attribute("placeholder", "0.00")
    float_field.click()
    page.keyboard.type("5.000")                        # five, or five thousand?
    expect(page.locator("output.money-shown")).to_have_text(
        "“5.000” could be 5,000.00 or 5.00: type 5000 or 5.00.")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("could be 5,000.00 or 5.00")
    expect(page.locator("h1")).to_have_text("Open a shift")
    for _ in range(5):
        page.keyboard.press("Backspace")
    page.keyboard.type("5 000")
    expect(page.locator("output.money-shown")).to_have_text("= 5,000.00")
    page.shot("till-float-typed")
    page.keyboard.press("Enter")
    expect(page.locator("#scan")).to_be_focused()
    ready(page)

    page.keyboard.press("F11")                         # X report: the float as typed
    expect(page.locator("#dialog-title")).to_contain_text("X report")
    expect(page.locator(".report")).to_contain_text("5,000.00")
    expect(page.locator("[data-choice=in]")).to_be_focused()
    page.keyboard.press("F2")                          # cash in, with a thousands comma
    expect(page.locator("#dialog-title")).to_have_text("Cash in")
    page.keyboard.type("1,000.50")
    expect(page.locator("output.money-shown")).to_have_text("= 1,000.50")
    page.keyboard.press("Tab")
    page.keyboard.type("change from the bank")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Expected in the drawer: 6,000.50")
    page.keyboard.press("F11")                         # cash out, with a decimal comma
    page.keyboard.press("F3")
    expect(page.locator("#dialog-title")).to_have_text("Cash out")
    page.keyboard.type("500,5")
    expect(page.locator("output.money-shown")).to_have_text("= 500.50")
    page.keyboard.press("Tab")
    page.keyboard.type("to the safe")
    page.keyboard.press("Enter")
    expect(page.locator("#message")).to_contain_text("Expected in the drawer: 5,500.00")
    page.keyboard.press("F11")                         # Esc: back to selling, nothing done
    page.keyboard.press("Escape")
    expect(page.locator("#dialog")).not_to_be_visible()
    expect(page.locator("#scan")).to_be_focused()
    scan(page, "1001")                                 # milk; the customer pays 100 in cash
    page.keyboard.press("F9")
    expect(page.locator("#dialog-title")).to_have_text("Payment: 89.90")
    page.keyboard.type("1oo")                          # letters are not an amount
    expect(page.locator("output.money-shown").first).to_contain_text("is not an amount")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-error")).to_contain_text("is not an amount")
    page.keyboard.press("Backspace")
    page.keyboard.press("Backspace")
    page.keyboard.type("00")
    page.keyboard.press("Enter")
    expect(page.locator("#last-change")).to_have_text("10.10")
    close_shift(page, "5 589,90")                      # 5,500.00 + 89.90, the Russian way


def test_the_badge_names_a_clock_central_refuses(page, stack):
    """Central refused the till for its clock: the badge says so (selling goes on)."""
    import sqlite3
    db = sqlite3.connect(stack["node_env"]["KASSA_NODE_DB"])
    try:
        with db:
            db.execute("UPDATE node_identity SET sync_error_code = 'clock_skew', "
                       "clock_skew_seconds = 86400, last_sync_error = 'clock_skew: +86400 s'")
        page.goto(stack["node"] + "/")
        expect(page.locator("#badge")).to_contain_text("clock skew: 24 h ahead")
        expect(page.locator("#badge")).to_have_class(re.compile("clock_skew"))
        page.shot("till-clock-skew-badge")
    finally:
        with db:
            db.execute("UPDATE node_identity SET sync_error_code = NULL, "
                       "clock_skew_seconds = NULL, last_sync_error = NULL")
        db.close()


ANNA = "7770000000000001"


@pytest.fixture
def offer_for_anna(stack):
    """Coffee at 10 % off with milk for Anna, who consented to offers (as in
    ``test_till_offer_ui``), published by central and pulled by the till."""
    db = Database(f"sqlite:///{stack['central_db']}")
    try:
        with db.transaction() as s:
            coffee, milk = (s.scalars(select(Product.id).where(Product.sku == sku)).one()
                            for sku in ("3001", "1001"))
            anna = s.scalars(select(Customer.id).where(Customer.card_number == ANNA)).one()
            row = Offer(rule_key="e2e:display", kind="cross_sell", product_id=coffee,
                        trigger_product_ids=[milk], discount_bp=1000, segments=None, active=True)
            s.add(row)
            s.flush()
            feed.record_change(s, "offer", row.id, {
                "id": row.id, "kind": "cross_sell", "product_id": coffee,
                "trigger_product_ids": [milk], "discount_bp": 1000, "segments": None,
                "active": True})
            feed.record_change(s, "offer_profile", str(anna), {
                "customer_id": str(anna), "segment": "Loyal", "offers_ok": True,
                "held_out": False})
    finally:
        db.dispose()
    run_kassa("pos", "sync-now", env=stack["node_env"])


@pytest.mark.usefixtures("offer_for_anna")
def test_the_customer_display_follows_the_sale(page, stack):
    """The customer's monitor (a second page, as a second window on the till's machine)
    mirrors the cashier's screen within a second: lines, total, the customer's first name and
    points, the offer for them; then thanks with the new balance."""
    display = page.context.new_page()
    display.set_viewport_size({"width": 1280, "height": 800})
    display.goto(stack["node"] + "/display")
    expect(display.locator("#d-idle")).to_contain_text("Welcome")
    page.shot_of(display, "till-customer-display-idle")
    sign_in_and_open_shift(page, stack)
    page.keyboard.press("F2")                           # Anna's card number keyed in
    page.keyboard.type(ANNA)
    page.keyboard.press("Enter")
    expect(page.locator("#customer-name")).to_contain_text("Anna Petrova")
    expect(display.locator("#d-customer-name")).to_have_text("Anna", timeout=1000)
    scan(page, "4600000010010")                         # milk: the offer of coffee
    scan(page, "0.750*2001")                            # apples by weight
    expect(page.locator("#t-total")).to_have_text("209.83")
    expect(display.locator("#d-lines tr")).to_have_count(2, timeout=1000)
    expect(display.locator("#d-lines tr").first).to_contain_text("Milk 3.2% 1 l", timeout=1000)
    expect(display.locator("#d-total")).to_have_text("209.83", timeout=1000)
    expect(display.locator("#d-offer")).to_contain_text("Coffee beans 1 kg", timeout=1000)
    expect(display.locator("#d-earn")).to_have_text(re.compile(r"\+[1-9]\d*"), timeout=1000)
    expect(display.locator("#d-spend-row")).to_be_hidden()  # typed in: points cannot be spent
    expect(display.locator("body")).not_to_contain_text("Petrova")  # first name only
    balance = int(display.locator("#d-balance").inner_text())
    earned = int(display.locator("#d-earn").inner_text())
    page.shot_of(display, "till-customer-display-cart")
    display.set_viewport_size({"width": 1024, "height": 600})  # the smaller monitor
    page.shot_of(display, "till-customer-display-cart-1024x600")

    pay_cash(page, "Payment: 209.83", "250")
    expect(page.locator("#last-change")).to_have_text("40.17")
    expect(display.locator("#d-thanks-title")).to_have_text("Thank you, Anna!", timeout=1000)
    expect(display.locator("#d-change")).to_have_text("40.17")
    expect(display.locator("#d-thanks-earned")).to_have_text(str(earned))
    expect(display.locator("#d-thanks-balance")).to_have_text(str(balance + earned))
    page.shot_of(display, "till-customer-display-thanks")
    scan(page, "1001")                                  # the next customer: their cart at once
    expect(display.locator("#d-lines tr")).to_have_count(1, timeout=1000)
    expect(display.locator("#d-customer")).to_be_hidden()
    page.keyboard.press("F10")                          # the cashier reads the question first
    expect(page.locator("#dialog-title")).to_have_text("Void this sale?")
    page.keyboard.press("Enter")
    expect(display.locator("#d-idle")).to_be_visible(timeout=1000)
    display.close()
    close_shift(page, "1209.83")                        # for the next test


def set_store_language(stack, locale: str) -> None:
    """Central sets store S001's language; the till takes it at its next pull."""
    import requests
    requests.patch(stack["central"] + "/api/v1/stores/1", json={"locale": locale}, timeout=10,
                   auth=("office", stack["users"]["office"]["password"])).raise_for_status()
    run_kassa("pos", "sync-now", env=stack["node_env"])


def test_a_till_set_to_russian_sells_in_russian(page, stack):
    """The store speaks Russian from the till's next pull: the cashier's screen, the customer's
    display and the receipt, amounts written the Russian way; keyboard alone, as in English."""
    set_store_language(stack, "ru")
    try:
        display = page.context.new_page()
        display.set_viewport_size({"width": 1024, "height": 600})
        display.goto(stack["node"] + "/display")
        expect(display.locator("#d-idle")).to_contain_text("Добро пожаловать")
        sign_in_and_open_shift(page, stack, "1 000,00", headings=("Вход", "Открытие смены"))
        expect(page.locator("#badge-state")).to_have_text("на связи")  # not "online" (finding 11)
        scan(page, "4600000010010")                     # milk
        scan(page, "4600000010010")
        scan(page, "0.750*2001")                        # apples by weight
        expect(page.locator("#t-total")).to_have_text("299,73")
        expect(page.locator("#cart tbody")).to_contain_text("0,75")
        expect(display.locator("#d-total")).to_have_text("299,73", timeout=1000)
        page.shot("till-ru-sale")
        page.keyboard.press("F11")                      # the float typed as "1 000,00"
        expect(page.locator(".report")).to_contain_text("1 000,00")
        expect(page.locator("[data-choice=close]")).to_contain_text("Закрыть смену (Z-отчёт)")
        page.shot("till-ru-x-report")
        page.keyboard.press("Escape")
        pay_cash(page, "Оплата: 299,73", "500")
        expect(page.locator("#last-change")).to_have_text("200,27")
        expect(display.locator("#d-thanks")).to_be_visible(timeout=1000)
        expect(display.locator("#d-thanks-title")).to_have_text("Спасибо за покупку!")
        expect(display.locator("#d-change")).to_have_text("200,27")
        page.shot_of(display, "till-customer-display-ru-thanks")
        receipt = page.locator("#last-receipt").inner_text()
        page.goto(f"{stack['node']}/receipts/{receipt}")
        expect(page.locator("body")).to_contain_text("ИТОГ")
        expect(page.locator("body")).to_contain_text("299,73")
        page.shot("till-ru-receipt")
        page.goto(stack["node"] + "/")
        ready(page)
        close_shift(page, "1 299,73", ("X-отчёт", "Закрыть смену", "Z-отчёт", "Открытие смены"),
                    shot="till-ru-z-report")
        display.close()
    finally:
        set_store_language(stack, "en")
