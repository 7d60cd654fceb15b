"""The customer at the cashier's screen, in a real headless Chromium against a real till and
central, with the project's virtual card in a real pcscd reader: the card goes in and the
customer shows up; points are spent with the card's PIN before the money; a damaged card's
number is keyed in (F2). Screenshots as in ``test_till_ui``."""

import re
import uuid

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kassa.central.membership import loyalty_accounts
from kassa.central.models import Customer, LoyaltyAccount
from kassa.common.db import Database, utcnow
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from kassa.smartcard.applet import LoyaltyCardApplet, load_card
from kassa.smartcard.vpcd import VPCD_PORT
from tests.e2e.conftest import KASSA, free_port, run_kassa
from tests.e2e.test_till_ui import scan, sign_in_and_open_shift

pytestmark = pytest.mark.e2e
pytest_plugins = ("tests.smartcard_env",)
PIN = "2580"


@pytest.fixture
def card_stack(tmp_path, pcscd, supervisor, seeded_central):
    """Central and till pos-1 as real processes; Anna holds a card with PIN and 500 points;
    the till watches virtual reader 00 00, which is this test's alone."""
    from tests.smartcard_env import reserved_reader
    central_env = {"KASSA_CENTRAL_DB": str(tmp_path / "central.sqlite"),
                   "KASSA_ISSUER_KEY_DIR": str(tmp_path / "issuer")}
    secrets = seeded_central(tmp_path / "central.sqlite")
    card_file = tmp_path / "anna.card"
    number = run_kassa("card", "issue", "--customer", "+79000000001", "--out", str(card_file),
                       "--pin", PIN, env=central_env).stdout.strip()
    db = Database(f"sqlite:///{central_env['KASSA_CENTRAL_DB']}")
    with db.transaction() as session:
        customer = session.scalars(select(Customer).where(Customer.card_number == number)).one()
        account = session.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id == customer.id)).one()
        loyalty_accounts.post(session, account.id, LedgerEntry(
            f"test:{uuid.uuid4()}", EntryKind.EARN, 500, utcnow()))
    db.dispose()
    with reserved_reader(pcscd, VPCD_PORT) as reader:
        node_env = {"KASSA_NODE_DB": str(tmp_path / "pos-1.sqlite"), "KASSA_SYNC_INTERVAL": "2",
                    "KASSA_CARD_READER": reader}
        cport, nport = free_port(), free_port()
        central, node = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{nport}"
        supervisor.start("central", KASSA + ["central", "serve", "--port", str(cport)],
                         central_env)
        supervisor.wait_http("central", central + "/health")
        run_kassa("pos", "init", "--node-id", "pos-1", "--central-url", central,
                  "--enroll-code", secrets["nodes"]["pos-1"]["enroll_code"], env=node_env)
        supervisor.start("pos-1", KASSA + ["pos", "serve", "--port", str(nport)], node_env)
        supervisor.wait_http("pos-1", node + "/health")
        yield {"node": node, "users": secrets["users"], "card_file": card_file,
               "number": number}
        supervisor.stop_all()


def test_the_card_brings_the_customer_and_pays_with_points(page, card_stack,
                                                            virtual_card_factory):
    sign_in_and_open_shift(page, card_stack)
    display = page.context.new_page()  # the customer's monitor
    display.goto(card_stack["node"] + "/display")
    path = card_stack["card_file"]
    inserted = virtual_card_factory(LoyaltyCardApplet(load_card(path), path))
    expect(page.locator("#customer-name")).to_contain_text("Anna Petrova", timeout=10_000)
    expect(page.locator("#customer-balance")).to_have_text("500")
    expect(display.locator("#d-customer-name")).to_have_text("Anna")
    scan(page, "1001")  # milk, keyed by its PLU
    scan(page, "3*1001")  # three more
    expect(page.locator("#cart tbody tr")).to_have_count(1)
    expect(page.locator("#t-total")).to_have_text("359.60")
    # the card is in the reader: the display offers points to pay part of the sale
    expect(display.locator("#d-spend-row")).to_be_visible()
    expect(display.locator("#d-spend")).to_have_text(re.compile(r"^[1-9]\d*$"))
    page.shot("20-card-customer")
    page.keyboard.press("F9")
    expect(page.locator("#dialog-title")).to_have_text("Points: Anna Petrova has 500")
    page.keyboard.type("150")
    page.keyboard.press("Tab")
    page.keyboard.type(PIN)
    page.shot("21-points-with-pin")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_have_text("Payment: 209.60 (after 150 points)")
    expect(display.locator("#d-points-label")).to_have_text("150 points")
    expect(display.locator("#d-total")).to_have_text("209.60")
    page.keyboard.press("Enter")
    expect(page.locator("#last-receipt")).to_have_text(re.compile(r"pos-1-\d{8}"))
    # The demo's base tier gives 1 % back on what was paid in money: 209.60 earns 2 points.
    expect(page.locator("#last-points")).to_have_text("2")
    expect(display.locator("#d-thanks")).to_be_visible()
    expect(display.locator("#d-thanks-earned")).to_have_text("2")
    expect(display.locator("#d-thanks-balance")).to_have_text(str(500 - 150 + 2))
    page.shot_of(display, "till-customer-display-paid-with-points")
    display.close()
    page.shot("22-paid-with-points")
    # The receipt says what the points paid, as points and money, and what the customer has
    # now; never an internal id (finding 3 of issue 22: "Points 613d4bfe-…").
    receipt_no = page.locator("#last-receipt").inner_text()
    receipt = page.context.new_page()
    receipt.goto(f"{card_stack['node']}/receipts/{receipt_no}")
    points_row = receipt.locator(".tender", has_text="Points")
    expect(points_row).to_have_text(re.compile(r"Points \(150 points\)\s*150\.00"))
    expect(receipt.locator("body")).not_to_contain_text(re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-"))
    expect(receipt.locator("#receipt-customer")).to_have_text(
        f"Anna P., card •••• {card_stack['number'][-4:]}")
    expect(receipt.locator("#points-earned")).to_have_text("+2")
    expect(receipt.locator("#points-balance")).to_have_text(str(500 - 150 + 2))
    page.shot_of(receipt, "10-receipt-with-points")
    receipt.close()
    # A damaged card: the number keyed in finds the customer, who earns but cannot spend.
    inserted.stop()
    expect(page.locator("#customer")).to_be_hidden(timeout=10_000)
    scan(page, "1001")
    page.keyboard.press("F2")
    expect(page.locator("#dialog-title")).to_have_text("Customer")
    page.keyboard.type(card_stack["number"])
    page.keyboard.press("Enter")
    expect(page.locator("#customer-name")).to_contain_text("Anna Petrova")
    expect(page.locator("#customer")).to_contain_text("typed in: points cannot be spent")
    expect(page.locator("#customer-balance")).to_have_text(str(500 - 150 + 2))
    page.shot("23-card-number-keyed-in")
