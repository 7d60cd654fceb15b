"""The customer's own page at central: sign-in with card and web PIN, lockout and rate limit,
only their own data, consents and a lost card through the same paths staff use."""

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import select

from kassa.central.access.auth import new_token
from kassa.central.membership import cards, loyalty_accounts, personal_offers
from kassa.central.models import (
    AuditEntry,
    ChangeFeedEntry,
    Customer,
    LoyaltyAccount,
    Offer,
    Product,
    Sale,
    Store,
    Task,
    User,
)
from kassa.central.selfservice import my_account as selfservice
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from tests.helpers import wait_until


@pytest.fixture
def two_cards(central_db, seeded, tmp_path):
    """Anna's and Ivan's new cards, each with web PIN 2468."""
    numbers = {}
    with central_db.transaction() as s:
        for name in ("Anna Petrova", "Ivan Sidorov"):
            customer = s.scalars(select(Customer).where(Customer.name == name)).one()
            account = s.scalars(select(LoyaltyAccount).where(
                LoyaltyAccount.customer_id == customer.id)).one()
            number = cards.issue(s, account, tmp_path).card_number
            selfservice.set_web_pin(s, number, "2468")
            numbers[name.split()[0].lower()] = number
    return numbers


def sign_in(client, number, pin="2468"):
    return client.post("/api/v1/me/sign-in", json={"card_number": number, "pin": pin})


def test_sign_in_shows_only_the_customers_own_page(central_app, two_cards):
    client = central_app.test_client()
    assert client.get("/api/v1/me").status_code == 401
    resp = sign_in(client, two_cards["anna"])
    assert resp.status_code == 200 and resp.json["name"] == "Anna Petrova"
    me = client.get("/api/v1/me").json
    assert me["card_number"] == two_cards["anna"] and me["tier"] == "base"
    assert me["next_tier"]["tier"] == "silver"
    assert client.get("/api/v1/me/purchases?page=1").json["page"] == 1
    # Ivan's card is not Anna's to report lost
    resp = client.post("/api/v1/me/lost-card", json={"card_number": two_cards["ivan"]},
                       headers={"X-CSRF-Token": "wrong"})
    assert resp.status_code == 403 and resp.json["error"] == "csrf_failed"


def test_wrong_pin_then_lockout_per_card(central_app, central_db, two_cards):
    client = central_app.test_client()
    for _ in range(selfservice.MAX_FAILURES):
        resp = sign_in(client, two_cards["anna"], "0000")
        assert resp.status_code == 401 and resp.json["error"] == "bad_credentials"
    resp = sign_in(client, two_cards["anna"])  # the right PIN, too late
    assert resp.status_code == 429 and resp.json["error"] == "card_locked"
    assert sign_in(client, two_cards["ivan"]).status_code == 200  # another card is not locked
    with central_db.read() as s:
        wrong = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "me_sign_in:wrong",
            AuditEntry.subject == f"card {two_cards['anna']}")).all()
    assert len(wrong) == selfservice.MAX_FAILURES


def test_sign_ins_per_client_address_are_limited(central_app, two_cards, monkeypatch):
    from kassa.central.selfservice import my_account_api as selfservice_api
    monkeypatch.setattr(selfservice_api, "SIGN_IN_LIMIT",
                        (selfservice_api.SIGN_IN_LIMIT[0], 3))
    client = central_app.test_client()
    for _ in range(3):
        assert sign_in(client, "7770000000009999", "1111").status_code == 401
    resp = sign_in(client, two_cards["ivan"])
    assert resp.status_code == 429 and resp.json["error"] == "rate_limited"


def test_staff_and_customers_do_not_cross(central_app, central_db, seeded, two_cards):
    client = central_app.test_client()
    with central_db.transaction() as s:
        office = s.scalars(select(User).where(User.username == "office")).one()
        token = new_token(s, office, "t")[1]
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 401
    sign_in(client, two_cards["anna"])
    assert client.get("/api/v1/stores").status_code == 401
    assert client.get("/api/v1/customers?q=Anna").status_code == 401


def test_a_staff_cookie_is_no_customer_session_and_back(central_app, seeded, two_cards):
    from tests.integration.test_central_signin import sign_in as staff_sign_in
    client = central_app.test_client()
    staff_sign_in(client, "office", seeded["users"]["office"]["password"])
    assert client.get("/api/v1/stores").status_code == 200  # the staff session works
    assert client.get("/api/v1/me").status_code == 401
    assert 'id="signin"' in client.get("/my/").text
    sign_in(client, two_cards["anna"])  # one person per browser session: staff's ends
    assert client.get("/api/v1/stores").status_code == 401
    assert "/ops/signin" in client.get("/ops/nodes").headers["Location"]
    staff_sign_in(client, "office", seeded["users"]["office"]["password"])
    assert client.get("/api/v1/me").status_code == 401  # and the other way round


def test_consent_and_lost_card_reach_audit_and_feed(central_app, central_db, two_cards):
    client = central_app.test_client()
    csrf = sign_in(client, two_cards["anna"]).json["csrf"]
    headers = {"X-CSRF-Token": csrf}
    assert client.put("/api/v1/me/consents/offers", json={"granted": True},
                      headers=headers).status_code == 204
    assert {"channel": "offers", "granted": True} in client.get("/api/v1/me").json["consents"]
    resp = client.post("/api/v1/me/lost-card", json={"card_number": two_cards["ivan"]},
                       headers=headers)
    assert resp.status_code == 404  # not hers
    assert client.post("/api/v1/me/lost-card", json={"card_number": two_cards["anna"]},
                       headers=headers).status_code == 204
    assert client.get("/api/v1/me").status_code == 401  # her card is blocked: session ends
    with central_db.read() as s:
        actions = set(s.scalars(select(AuditEntry.action)))
        blocks = s.scalars(select(ChangeFeedEntry.entity_key).where(
            ChangeFeedEntry.entity == "card_block")).all()
    assert {"consent:given", "card_block"} <= actions
    with central_db.read() as s:
        anna = s.scalar(select(Customer.id).where(Customer.card_number == two_cards["anna"]))
        profiles = s.scalars(select(ChangeFeedEntry.payload).where(
            ChangeFeedEntry.entity == "offer_profile",
            ChangeFeedEntry.entity_key == str(anna))).all()
    assert [p["offers_ok"] for p in profiles] == [True]  # the tills learn of the consent
    assert blocks == [two_cards["anna"]]
    assert sign_in(client, two_cards["anna"]).status_code == 401
    with central_db.read() as s:  # and the store is asked for a new card
        asked = s.execute(select(Task.trigger, Task.customer_id, Task.status)).all()
    assert asked == [("card_replacement", anna, "open")]


def test_purchases_points_and_offers_are_the_customers_own(central_app, central_db, two_cards):
    with central_db.transaction() as s:
        store = s.scalars(select(Store).where(Store.code == "S002")).one()
        milk = s.scalars(select(Product).where(Product.sku == "1001")).one()
        conf = personal_offers.settings(s)
        conf.holdout_bp = 0  # nobody held out: the offer must show
        s.merge(conf)
        s.add(Offer(rule_key="test:milk", kind="cross_sell", product_id=milk.id,
                    trigger_product_ids=[], discount_bp=1500, segments=None))
        for who, receipt, points in (("anna", "A-1", 70), ("ivan", "I-1", 90)):
            customer = s.scalars(select(Customer).where(
                Customer.card_number == two_cards[who])).one()
            account = s.scalars(select(LoyaltyAccount).where(
                LoyaltyAccount.customer_id == customer.id)).one()
            s.add(Sale(id=uuid.uuid4(), receipt_no=receipt, node_id="pos-1", store_id=store.id,
                       customer_id=customer.id, sold_at=datetime.now(timezone.utc),
                       total_minor=points * 100, vat_minor=0))
            loyalty_accounts.post(s, account.id, LedgerEntry(
                f"test:{receipt}", EntryKind.EARN, points, datetime.now(timezone.utc)))
    client = central_app.test_client()
    csrf = sign_in(client, two_cards["anna"]).json["csrf"]
    bought = client.get("/api/v1/me/purchases").json["items"]
    assert [(p["receipt_no"], p["store_code"]) for p in bought] == [("A-1", "S002")]
    # Each purchase opens its receipt; another customer's receipt is not there.
    receipt = client.get("/api/v1/me/receipts/A-1")
    assert (receipt.status_code, receipt.json["total_minor"], receipt.json["fiscal"]) == (
        200, 7000, None)
    assert client.get("/api/v1/me/receipts/I-1").json["error"] == "receipt_not_found"
    assert [e["points"] for e in client.get("/api/v1/me/points").json["items"]] == [70]
    assert client.get("/api/v1/me").json["balance"] == 70
    assert client.get("/api/v1/me/offers").json == {"consented": False, "items": []}
    client.put("/api/v1/me/consents/offers", json={"granted": True},
               headers={"X-CSRF-Token": csrf})
    shown = client.get("/api/v1/me/offers").json
    assert shown == {"consented": True, "items": [
        {"product": milk.name, "discount_bp": 1500, "kind": "cross_sell"}]}


def test_the_page_carries_only_its_own_sessions_token(central_app, two_cards):
    client = central_app.test_client()
    page = client.get("/my/").get_data(as_text=True)
    assert 'id="signin"' in page and '<meta name="csrf" content="">' in page
    csrf = sign_in(client, two_cards["anna"]).json["csrf"]
    assert f'<meta name="csrf" content="{csrf}">' in client.get("/my/").get_data(as_text=True)


def test_the_page_on_a_phone(central_app, central_db, live_central, two_cards, anna_by_mail,
                             smtp, tmp_path):
    """Sign in through the form on a 375 px screen, see the points, allow offers; then in
    Russian, with a code by e-mail."""
    from playwright.sync_api import expect, sync_playwright

    from tests.helpers import CHROMIUM_ARGS
    with central_db.transaction() as s:
        account = s.scalars(select(LoyaltyAccount).join(
            Customer, Customer.id == LoyaltyAccount.customer_id).where(
            Customer.card_number == two_cards["anna"])).one()
        loyalty_accounts.post(s, account.id, LedgerEntry("test:welcome", EntryKind.EARN, 350,
                                                         datetime.now(timezone.utc)))
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 375, "height": 740}).new_page()
            page.goto(f"{live_central}/my/")
            page.fill("input[name=card_number]", two_cards["anna"])
            page.fill("input[name=pin]", "2468")
            page.click("#signin button[type=submit]")
            expect(page.locator("#balance")).to_have_text("350")
            expect(page.locator("#points li").first).to_contain_text("+350")
            assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways
            for folder in [tmp_path] + ([Path(os.environ["KASSA_SCREENSHOTS"])]
                                        if os.environ.get("KASSA_SCREENSHOTS") else []):
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / "selfservice-phone.png"), full_page=True)
            page.locator("#consents label", has_text="Personal offers").locator("input").check()
            expect(page.locator("#message")).to_have_text("Saved")
            page.click("#sign-out")
            page.click("a[lang=ru]")
            expect(page.locator("html")).to_have_attribute("lang", "ru")
            page.click("#by-code summary")
            page.fill("input[name=email]", anna_by_mail)
            page.click("#code-ask button")
            expect(page.locator("#code-sent")).to_contain_text("код уже отправлен")
            assert wait_until(lambda: smtp.messages, timeout=10)
            code, text = _mailed_code(smtp, anna_by_mail)
            assert "Код для входа" in text
            page.fill("input[name=code]", code)
            page.click("#code-signin button")
            expect(page.locator("#balance-unit")).to_have_text("баллов")  # 350: the "many" form
            expect(page.locator("#consents")).to_contain_text("Персональные предложения")
            for folder in [tmp_path] + ([Path(os.environ["KASSA_SCREENSHOTS"])]
                                        if os.environ.get("KASSA_SCREENSHOTS") else []):
                page.screenshot(path=str(folder / "selfservice-phone-ru.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= 375
        finally:
            browser.close()
    with central_db.read() as s:
        assert s.scalar(select(AuditEntry.subject).where(
            AuditEntry.action == "consent:given")).endswith(" offers")


def test_the_office_gives_a_card_its_web_pin(central_db, central_db_url, two_cards,
                                             monkeypatch):
    """``kassa card web-pin``: a new PIN (printed once) replaces the old; bad ones refused."""
    from click.testing import CliRunner

    from kassa.cli import main
    monkeypatch.setenv("KASSA_CENTRAL_DB", central_db_url)
    runner = CliRunner()
    made = runner.invoke(main, ["card", "web-pin", two_cards["anna"]])
    assert made.exit_code == 0, made.output
    pin = made.output.strip()
    assert len(pin) == 6 and pin.isdigit()
    with central_db.transaction() as s:
        assert selfservice.sign_in(s, two_cards["anna"], "2468", "test") == "bad_credentials"
        assert isinstance(selfservice.sign_in(s, two_cards["anna"], pin, "test"), Customer)
    for args, code in ((["card", "web-pin", two_cards["anna"], "--pin", "12a4"], "bad_pin"),
                       (["card", "web-pin", "0000", "--pin", "1234"], "card_not_found")):
        refused = runner.invoke(main, args)
        assert refused.exit_code == 1 and f"[{code}]" in refused.output, refused.output


# --- one-time codes by e-mail ------------------------------------------------------------

def ask_code(client, address: str):
    """Ask for a code; closing the answer is what sends the mail (after the answer, as a real
    server does once it has written it)."""
    resp = client.post("/api/v1/me/code", json={"email": address})
    resp.close()
    return resp


def _mailed_code(inbox, address: str) -> tuple[str, str]:
    """The code in the last mail to ``address`` (a real SMTP server received it), and the
    mail's text."""
    import email
    import email.policy
    import re
    mails = [email.message_from_string(text, policy=email.policy.default)
             for rcpts, text in inbox.messages if address in rcpts]
    assert mails, f"no mail to {address}"
    body = mails[-1].get_content()
    return re.search(r"\b(\d{6})\b", body).group(1), str(mails[-1]["Subject"]) + "\n" + body


@pytest.fixture
def anna_by_mail(central_db, two_cards):
    with central_db.transaction() as s:
        s.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one().email = \
            "anna@example.ru"
    return "anna@example.ru"


def test_a_code_mailed_to_the_customer_signs_them_in_once(central_app, central_db, two_cards,
                                                          anna_by_mail, smtp):
    client = central_app.test_client()
    resp = ask_code(client, "Anna@Example.RU")
    assert resp.status_code == 202 and resp.json == {"minutes": 10}
    code, text = _mailed_code(smtp, anna_by_mail)
    assert "10 minutes" in text
    wrong = "000000" if code != "000000" else "111111"
    resp = client.post("/api/v1/me/sign-in", json={"email": anna_by_mail, "code": wrong})
    assert resp.status_code == 401 and resp.json["error"] == "bad_credentials"
    resp = client.post("/api/v1/me/sign-in", json={"email": anna_by_mail, "code": code})
    assert resp.status_code == 200 and resp.json["name"] == "Anna Petrova"
    assert client.get("/api/v1/me").json["card_number"] == two_cards["anna"]
    # used once: the same code does not open a second session
    other = central_app.test_client()
    resp = other.post("/api/v1/me/sign-in", json={"email": anna_by_mail, "code": code})
    assert resp.status_code == 401
    with central_db.read() as s:
        actions = [a.action for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action.like("me_%")).order_by(AuditEntry.id))]
    assert actions[-4:] == ["me_code:sent", "me_sign_in:wrong", "me_sign_in:ok",
                            "me_sign_in:wrong"]


def test_an_unknown_address_gets_the_same_answer_and_no_mail(central_app, two_cards, smtp):
    client = central_app.test_client()
    resp = ask_code(client, "nobody@example.ru")
    assert resp.status_code == 202 and resp.json == {"minutes": 10}
    assert smtp.messages == []
    resp = client.post("/api/v1/me/sign-in", json={"email": "nobody@example.ru",
                                                   "code": "123456"})
    assert resp.status_code == 401
    resp = client.post("/api/v1/me/sign-in", json={"email": "nobody@example.ru", "pin": "1234"})
    assert resp.status_code == 422  # an address with a PIN is neither way in


def test_codes_expire_die_after_wrong_guesses_and_are_rationed(central_app, central_db,
                                                               two_cards, anna_by_mail, smtp):
    from kassa.central.models import SignInCode
    client = central_app.test_client()
    ask_code(client, anna_by_mail)
    code, _ = _mailed_code(smtp, anna_by_mail)
    with central_db.transaction() as s:
        for c in s.scalars(select(SignInCode)):
            c.expires_at = datetime(2020, 1, 1, tzinfo=timezone.utc)
    resp = client.post("/api/v1/me/sign-in", json={"email": anna_by_mail, "code": code})
    assert resp.status_code == 401  # late
    for _ in range(selfservice.CODES_PER_WINDOW - 1):
        ask_code(client, anna_by_mail)
    mailed = len(smtp.messages)
    assert mailed == selfservice.CODES_PER_WINDOW
    ask_code(client, anna_by_mail)
    assert len(smtp.messages) == mailed  # no more codes in this window
    code, _ = _mailed_code(smtp, anna_by_mail)
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(selfservice.MAX_FAILURES):
        client.post("/api/v1/me/sign-in", json={"email": anna_by_mail, "code": wrong})
    resp = client.post("/api/v1/me/sign-in", json={"email": anna_by_mail, "code": code})
    assert resp.status_code == 429 and resp.json["error"] == "card_locked"
    # The lock is the address's, as it would be for an address nobody has; the card's PIN
    # has its own count.
    assert sign_in(client, two_cards["anna"]).status_code == 200


def test_the_code_mail_is_in_the_language_of_the_page(central_app, two_cards, anna_by_mail,
                                                      smtp):
    client = central_app.test_client()
    client.get("/my/?lang=ru")
    ask_code(client, anna_by_mail)
    code, text = _mailed_code(smtp, anna_by_mail)
    assert f"Код для входа: {code}" in text and "10 мин." in text


# --- card numbers as printed, points a purchase a row, a PIN set by the customer -----------

def in_groups(number: str, between: str = " ") -> str:
    """A card number as printed on the card: four groups of four."""
    return between.join(number[i:i + 4] for i in range(0, 16, 4))


def test_a_card_number_typed_as_printed_signs_in(central_app, two_cards):
    anna = two_cards["anna"]
    for typed in (in_groups(anna), in_groups(anna, "-"), f" {in_groups(anna)} "):
        client = central_app.test_client()
        resp = sign_in(client, typed)
        assert resp.status_code == 200, (typed, resp.json)
        assert client.get("/api/v1/me").json["card_number"] == anna
    for typed in (anna[:15], in_groups(anna) + " 1", anna[:4] + "/" + anna[4:]):
        resp = sign_in(central_app.test_client(), typed)
        assert resp.status_code == 422 and resp.json["error"] == "invalid_input", typed
    client = central_app.test_client()
    csrf = sign_in(client, anna).json["csrf"]
    lost = client.post("/api/v1/me/lost-card", json={"card_number": in_groups(anna, "-")},
                       headers={"X-CSRF-Token": csrf})
    assert lost.status_code == 204


def _purchase(s, account, store, receipt: str, lines: dict[int, int], at, total: int):
    sale = Sale(id=uuid.uuid4(), receipt_no=receipt, node_id="pos-1", store_id=store.id,
                customer_id=account.customer_id, sold_at=at, total_minor=total, vat_minor=0)
    s.add(sale)
    s.flush()
    loyalty_accounts.post_many(s, account.id, [
        LedgerEntry(f"sale:{sale.id}:{n}:earn", EntryKind.EARN, points, at)
        for n, points in lines.items()])
    return sale


def test_points_are_listed_a_purchase_a_row(central_app, central_db, two_cards):
    """A receipt of three lines that also spent points under a hold is one row (its date,
    store, total, points earned and spent), a return of it another; an adjustment its own."""
    from datetime import timedelta

    from kassa.central.models import Return
    day = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
    with central_db.transaction() as s:
        store = s.scalars(select(Store).where(Store.code == "S001")).one()
        account = s.scalars(select(LoyaltyAccount).join(
            Customer, Customer.id == LoyaltyAccount.customer_id).where(
            Customer.card_number == two_cards["anna"])).one()
        loyalty_accounts.post(s, account.id, LedgerEntry("test:welcome", EntryKind.ADJUSTMENT,
                                                         100, day - timedelta(days=1)))
        first = _purchase(s, account, store, "pos-1-00000007", {1: 1, 2: 2, 3: 1}, day, 20980)
        hold = loyalty_accounts.hold(s, account.id, "pos-1", 40, sale_id=first.id)
        loyalty_accounts.commit(s, hold.id, "pos-1", first.id, day)
        back = Return(id=uuid.uuid4(), return_no="pos-1-R0001", node_id="pos-1",
                      store_id=store.id, original_sale_id=first.id,
                      original_receipt_no=first.receipt_no, reason="sour",
                      returned_at=day + timedelta(days=1), total_minor=8990, vat_minor=0)
        s.add(back)
        s.flush()
        loyalty_accounts.post(s, account.id, LedgerEntry(
            f"return:{back.id}:2:reverse", EntryKind.REVERSAL, -2, day + timedelta(days=1)))
        _purchase(s, account, store, "pos-1-00000009", {1: 3, 2: 1}, day + timedelta(days=2),
                  41990)
    client = central_app.test_client()
    sign_in(client, two_cards["anna"])
    rows = client.get("/api/v1/me/points").json
    assert rows["pages"] == 1
    assert [(r["kind"], r["receipt_no"], r["store_name"], r["total_minor"], r["earned"],
             r["spent"]) for r in rows["items"]] == [
        ("purchase", "pos-1-00000009", "Tverskaya 7", 41990, 4, 0),
        ("return", "pos-1-R0001", "Tverskaya 7", 8990, 0, -2),
        ("purchase", "pos-1-00000007", "Tverskaya 7", 20980, 4, -40),
        ("adjustment", None, None, None, 100, 0)]
    assert rows["items"][2]["at"].startswith("2026-11-02T12:00")  # the sale's own time


def test_a_customer_sets_their_own_web_pin_with_a_mailed_code(central_app, central_db,
                                                              two_cards, anna_by_mail, smtp):
    client = central_app.test_client()
    ask_code(client, anna_by_mail)
    code, _text = _mailed_code(smtp, anna_by_mail)

    def set_pin(email=anna_by_mail, with_code=code, pin="86420"):
        return client.post("/api/v1/me/web-pin", json={"email": email, "code": with_code,
                                                       "pin": pin})

    for bad in ("12", "12345678901", "12a4"):  # as `kassa card web-pin` refuses them
        resp = set_pin(pin=bad)
        assert resp.status_code == 422 and resp.json["error"] == "bad_pin", bad
    wrong = set_pin(with_code="000000" if code != "000000" else "111111")
    unknown = set_pin(email="nobody@example.ru")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json == unknown.json  # the answer does not tell whether the address is known
    resp = set_pin()  # the code survived the bad PINs
    assert resp.status_code == 200, resp.json
    assert (resp.json["name"], resp.json["card_number"]) == ("Anna Petrova", two_cards["anna"])
    assert client.get("/api/v1/me").json["card_number"] == two_cards["anna"]  # signed in
    assert set_pin(pin="97531").status_code == 401  # the code is spent
    assert sign_in(central_app.test_client(), two_cards["anna"], "86420").status_code == 200
    assert sign_in(central_app.test_client(), two_cards["anna"], "2468").status_code == 401
    with central_db.read() as s:
        line = s.scalars(select(AuditEntry).where(AuditEntry.action == "me_web_pin_set")
                         .order_by(AuditEntry.id.desc())).first()
    assert (line.subject, line.reason) == (f"card {two_cards['anna']}",
                                           "self-service, e-mailed code")
    assert "86420" not in f"{line.subject} {line.reason} {line.details}"


def _shots(tmp_path) -> list[Path]:
    return [tmp_path] + ([Path(os.environ["KASSA_SCREENSHOTS"])]
                         if os.environ.get("KASSA_SCREENSHOTS") else [])


def test_the_page_by_keyboard_in_english_and_russian(central_db, live_central, two_cards,
                                                      anna_by_mail, smtp, tmp_path):
    """Anna types her card number as printed and her PIN, sees one row for a receipt of
    three lines; then, in Russian, gets a code by e-mail and sets a new PIN with it (a
    mistyped repeat is refused), and signs in with it and her number typed with dashes."""
    from playwright.sync_api import expect, sync_playwright

    from tests.helpers import CHROMIUM_ARGS
    day = datetime(2026, 11, 2, 12, 0, tzinfo=timezone.utc)
    with central_db.transaction() as s:
        store = s.scalars(select(Store).where(Store.code == "S001")).one()
        account = s.scalars(select(LoyaltyAccount).join(
            Customer, Customer.id == LoyaltyAccount.customer_id).where(
            Customer.card_number == two_cards["anna"])).one()
        loyalty_accounts.post(s, account.id, LedgerEntry("test:welcome", EntryKind.ADJUSTMENT,
                                                         100, day))
        _purchase(s, account, store, "pos-1-00000007", {1: 1, 2: 2, 3: 1}, day, 20980)
    anna = two_cards["anna"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1024, "height": 900}).new_page()
            page.goto(f"{live_central}/my/?lang=en")
            page.click("input[name=card_number]")
            page.keyboard.type(in_groups(anna))
            page.keyboard.press("Tab")
            page.keyboard.type("2468")
            page.keyboard.press("Enter")
            expect(page.locator("#balance")).to_have_text("104")
            rows = page.locator("#points li")
            expect(rows).to_have_count(2)  # the receipt of three lines, and the welcome
            expect(rows.first).to_contain_text("Purchase · Tverskaya 7 · 209.80")
            expect(rows.first).to_contain_text("+4")
            expect(rows.nth(1)).to_contain_text("Points adjusted")
            for folder in _shots(tmp_path):
                folder.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(folder / "selfservice.png"), full_page=True)
            page.click("#sign-out")
            page.click("a[lang=ru]")
            expect(page.locator("html")).to_have_attribute("lang", "ru")

            page.click("#by-code summary")
            page.click("input[name=email]")
            page.keyboard.type(anna_by_mail)
            page.keyboard.press("Enter")
            expect(page.locator("#code-sent")).to_contain_text("код уже отправлен")
            assert wait_until(lambda: smtp.messages, timeout=10)
            code, _text = _mailed_code(smtp, anna_by_mail)
            expect(page.locator("input[name=code]")).to_be_focused()
            page.keyboard.type(code)
            page.keyboard.press("Tab")
            page.keyboard.type("13579")
            page.keyboard.press("Tab")
            page.keyboard.type("13578")
            page.keyboard.press("Enter")
            expect(page.locator("#signin-error")).to_have_text(
                "PIN-коды не совпадают: введите один и тот же дважды.")
            for folder in _shots(tmp_path):
                page.screenshot(path=str(folder / "selfservice-set-pin-ru.png"), full_page=True)
            page.click("input[name=new_pin_again]")
            page.keyboard.press("End")
            for _ in range(5):
                page.keyboard.press("Backspace")
            page.keyboard.type("13579")
            page.keyboard.press("Enter")
            expect(page.locator("#message")).to_have_text(
                f"PIN-код задан. В следующий раз входите с картой {in_groups(anna)} и этим "
                "PIN-кодом.")
            expect(page.locator("#points li").first).to_contain_text(
                "Покупка · Tverskaya 7 · 209,80")
            for folder in _shots(tmp_path):
                page.screenshot(path=str(folder / "selfservice-ru.png"), full_page=True)
            page.click("#sign-out")
            page.click("input[name=card_number]")
            page.keyboard.type(in_groups(anna, "-"))
            page.keyboard.press("Tab")
            page.keyboard.type("13579")
            page.keyboard.press("Enter")
            expect(page.locator("#balance")).to_have_text("104")
        finally:
            browser.close()
    with central_db.read() as s:
        assert s.scalar(select(AuditEntry.reason).where(
            AuditEntry.action == "me_web_pin_set").order_by(AuditEntry.id.desc()).limit(1)
        ) == "self-service, e-mailed code"
