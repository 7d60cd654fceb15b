"""A cashier signs up new members at the keyboard, in a real headless Chromium against a real
till and central, with a stock smart card in a real pcscd's virtual reader: offline (central
stopped), the card going in opens the sign-up, the sale earns points on it at once and the
card gets its records; central, started again, has the member with the card and the points.
In Russian: a printed stock card's number scanned into the sign-up that F2 offers for a phone
nobody has, and a phone a customer already has asked about first. Screenshots as in
``test_till_ui``."""

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from kassa.central.models import Card, Customer, LoyaltyAccount, Task
from kassa.common.db import Database
from kassa.smartcard.applet import LoyaltyCardApplet, load_card
from kassa.smartcard.vpcd import VPCD_PORT
from tests.e2e.conftest import KASSA, free_port, run_kassa
from tests.e2e.test_till_ui import scan, sign_in_and_open_shift

pytestmark = pytest.mark.e2e
pytest_plugins = ("tests.smartcard_env",)


@pytest.fixture
def member_stack(tmp_path, pcscd, supervisor, seeded_central):
    """Central and till pos-1 (S001) as real processes; S001's stock: two smart cards (card
    files in ``stock/``) and one printed card; the till watches virtual reader 00 00."""
    from tests.smartcard_env import reserved_reader
    central_db = tmp_path / "central.sqlite"
    central_env = {"KASSA_CENTRAL_DB": str(central_db),
                   "KASSA_ISSUER_KEY_DIR": str(tmp_path / "issuer")}
    secrets = seeded_central(central_db)
    chips = run_kassa("card", "issue", "--stock", "2", "--store", "S001", "--out",
                      str(tmp_path / "stock"), env=central_env).stdout.split()
    printed = run_kassa("card", "issue", "--stock", "1", "--store", "S001", "--printed",
                        env=central_env).stdout.split()
    assert [len(n) for n in chips + printed] == [16, 16, 16]
    with reserved_reader(pcscd, VPCD_PORT) as reader:
        node_env = {"KASSA_NODE_DB": str(tmp_path / "pos-1.sqlite"), "KASSA_SYNC_INTERVAL": "0",
                    "KASSA_CARD_READER": reader}
        cport, nport = free_port(), free_port()
        central, node = f"http://127.0.0.1:{cport}", f"http://127.0.0.1:{nport}"
        command = KASSA + ["central", "serve", "--port", str(cport)]
        supervisor.start("central", command, central_env)
        supervisor.wait_http("central", central + "/health")
        run_kassa("pos", "init", "--node-id", "pos-1", "--central-url", central,
                  "--enroll-code", secrets["nodes"]["pos-1"]["enroll_code"], env=node_env)
        supervisor.start("pos-1", KASSA + ["pos", "serve", "--port", str(nport)], node_env)
        supervisor.wait_http("pos-1", node + "/health")
        yield {"node": node, "central": central, "users": secrets["users"],
               "node_env": node_env, "central_env": central_env, "central_db": central_db,
               "central_command": command, "chips": chips, "printed": printed[0],
               "stock_dir": tmp_path / "stock", "supervisor": supervisor}
        supervisor.stop_all()


def card_state(page) -> dict:
    return page.evaluate("fetch('/api/v1/card').then((r) => r.json())")


def central_member(stack, name: str):
    db = Database(f"sqlite:///{stack['central_db']}")
    try:
        with db.read() as session:
            customer = session.scalars(select(Customer).where(Customer.name == name)).one()
            account = session.scalars(select(LoyaltyAccount).where(
                LoyaltyAccount.customer_id == customer.id)).one()
            card = session.get(Card, customer.card_number) if customer.card_number else None
            return customer, account, card
    finally:
        db.dispose()


def test_a_stock_smart_card_signs_a_member_up_offline(page, member_stack,
                                                      virtual_card_factory):
    stack = member_stack
    sign_in_and_open_shift(page, stack)
    central = dict(stack["supervisor"].children)["central"]
    central.terminate()  # the network is down: the till signs members up all the same
    central.wait(timeout=20)
    number = stack["chips"][0]
    path = stack["stock_dir"] / f"{number}.card"
    virtual_card_factory(LoyaltyCardApplet(load_card(path), path))
    # A card from the store's stock in the reader: the sign-up opens by itself.
    expect(page.locator("#dialog-title")).to_have_text("New member", timeout=10_000)
    expect(page.locator("#dialog-body")).to_contain_text(number)
    expect(page.locator("#member-name")).to_be_focused()
    page.keyboard.type("Maria Kuznetsova")
    page.keyboard.press("Tab")
    page.keyboard.type("8 912 555-01-01")
    page.keyboard.press("Tab")
    page.keyboard.type("maria@example.com")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")                       # SMS
    page.keyboard.press("Tab")
    page.keyboard.press("Space")                       # e-mail
    page.shot("30-new-member")
    page.keyboard.press("Enter")
    expect(page.locator("#customer-name")).to_contain_text("Maria Kuznetsova")
    expect(page.locator("#customer-balance")).to_have_text("0")
    expect(page.locator("#customer")).to_contain_text("card in the reader")
    expect(page.locator("#message")).to_contain_text("Welcome, Maria Kuznetsova")
    written = card_state(page)["written"]
    assert (written["balance"], written["counter"]) == (0, 1)  # the card's first record
    page.shot("31-new-member-in-the-sale")
    scan(page, "4600000010010")                        # milk 89.90
    scan(page, "4600000010010")
    expect(page.locator("#t-total")).to_have_text("179.80")
    page.keyboard.press("F9")
    expect(page.locator("#dialog-title")).to_contain_text("Payment: 179.80")
    page.keyboard.press("Enter")                       # exact cash, as typed in for her
    expect(page.locator("#last-points")).to_have_text("1")  # the demo's 1 % of 179.80
    assert load_card(path).counter == 2                # the sale's record on the card
    assert card_state(page)["written"]["balance"] == 1
    page.shot("32-new-member-paid")
    expect(page.locator("#pending")).not_to_have_text("0")

    stack["supervisor"].start("central-again", stack["central_command"], stack["central_env"])
    stack["supervisor"].wait_http("central-again", stack["central"] + "/health")
    run_kassa("pos", "sync-now", env=stack["node_env"])
    run_kassa("pos", "sync-now", env=stack["node_env"])
    customer, account, card = central_member(stack, "Maria Kuznetsova")
    assert (customer.phone, customer.email, customer.card_number) == (
        "+79125550101", "maria@example.com", number)
    assert account.balance == 1
    assert (card.status, card.account_id, card.assigned_by_node) == ("active", account.id,
                                                                     "pos-1")


def test_a_russian_till_signs_up_with_a_printed_card(page, member_stack):
    stack = member_stack
    import requests
    requests.patch(stack["central"] + "/api/v1/stores/1", json={"locale": "ru"}, timeout=10,
                   auth=("office", stack["users"]["office"]["password"])).raise_for_status()
    run_kassa("pos", "sync-now", env=stack["node_env"])
    sign_in_and_open_shift(page, stack, headings=("Вход", "Открытие смены"))
    scan(page, "4600000010010")
    # F2 with a phone nobody has: Enter again signs them up, the phone already filled in.
    page.keyboard.press("F2")
    expect(page.locator("#dialog-title")).to_have_text("Покупатель")
    page.keyboard.type("8 912 555 02 02")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-error")).to_contain_text("Нет покупателя")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-title")).to_have_text("Новый участник")
    expect(page.locator("#member-phone")).to_have_value("8 912 555 02 02")
    page.keyboard.type("Олег Попов")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    page.keyboard.press("Space")                       # SMS
    for _ in range(4):
        page.keyboard.press("Tab")                     # past the other consents to the card
    expect(page.locator("#member-card")).to_be_focused()
    page.shot("till-ru-new-member")
    scan(page, stack["printed"])                       # the scanner types it and Enter
    expect(page.locator("#customer-name")).to_contain_text("Олег Попов")
    expect(page.locator("#message")).to_contain_text("теперь участник")
    page.shot("till-ru-new-member-in-the-sale")
    # A phone Anna Petrova has: the till asks first; Enter again signs up all the same.
    page.keyboard.press("Insert")
    expect(page.locator("#dialog-title")).to_have_text("Новый участник")
    page.keyboard.type("Анна Петрова-младшая")
    page.keyboard.press("Tab")
    page.keyboard.type("+7 900 000-00-01")
    page.keyboard.press("Enter")
    expect(page.locator("#dialog-error")).to_contain_text("Anna Petrova")
    expect(page.locator("#dialog-error")).to_contain_text("Enter ещё раз — зарегистрировать")
    page.shot("till-ru-new-member-known-phone")
    page.keyboard.press("Enter")
    expect(page.locator("#customer-name")).to_contain_text("Анна Петрова-младшая")
    run_kassa("pos", "sync-now", env=stack["node_env"])
    oleg, _account, card = central_member(stack, "Олег Попов")
    assert (oleg.phone, card.kind, card.status) == ("+79125550202", "printed", "active")
    db = Database(f"sqlite:///{stack['central_db']}")
    with db.read() as session:
        tasks = session.scalars(select(Task.trigger)).all()
    db.dispose()
    assert tasks == ["member_duplicate"]
