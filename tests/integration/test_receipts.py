"""A receipt a customer can keep (issue 22, finding 3): it used to print a points payment as
``Points 613d4bfe-…`` (an internal id), leave out the customer, the points earned and the new
balance, date itself ``12/7/26`` and name the cashier by their login. Now the HTML copy and the
PDF carry the store's name and address, the store's local time in a form no reader can swap
(``7 Dec 2026 15:42``, ``07.12.2026 15:42``), the cashier's name, the customer masked, the
points earned and the balance after the sale; a return's receipt names the receipt it returns
from. Points paid with a card in the reader are shown as points and their value in
tests/e2e/test_till_card_ui.py."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from tests.integration.test_documents_locale import receipt, set_store
from tests.integration.test_returns import give_back
from tests.integration.test_till_workflow import add

ANNA = "7770000000000001"
MOSCOW = ZoneInfo("Europe/Moscow")
MONTHS_EN = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()

EXPECTED = {
    "en": {"date": lambda t: f"{t.day} {MONTHS_EN[t.month - 1]} {t:%Y %H:%M}",
           "words": ("Tverskaya 7", "7 Tverskaya St, Moscow 125009", "Maria Ivanova",
                     "Anna P., card •••• 0001", "Points earned", "Points balance")},
    "ru": {"date": lambda t: f"{t:%d.%m.%Y %H:%M}",
           "words": ("Tverskaya 7", "7 Tverskaya St, Moscow 125009", "Maria Ivanova",
                     "Anna P., карта •••• 0001", "Начисление баллов", "Баланс баллов")},
}


def sell_to_anna(till) -> dict:
    resp = till.post("/api/v1/cart/customer", json={"card_number": ANNA})
    assert resp.status_code == 200, resp.json
    balance = resp.json["customer"]["balance"]
    add(till, sku="1001", quantity=2)                    # milk, 2 x 89.90
    total = till.get("/api/v1/cart").json["total_minor"]
    sale = till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": total}]})
    assert sale.status_code == 201, sale.json
    return {**sale.json, "balance_before": balance}


@pytest.mark.parametrize("locale", sorted(EXPECTED))
def test_a_receipt_says_where_when_who_and_what_the_customer_earned(tills, locale):
    till, db = tills["pos-1"]
    set_store(db, locale)
    sale = sell_to_anna(till)
    earned = sum(ln["points_earned"] for ln in sale["lines"])
    assert earned > 0
    sold_here = datetime.fromisoformat(sale["sold_at"]).astimezone(MOSCOW)
    text, html = receipt(till, sale["receipt_no"])
    for copy in (text, html):
        assert EXPECTED[locale]["date"](sold_here) in copy, copy
        for words in EXPECTED[locale]["words"]:
            assert words in copy, (words, copy)
        assert "cashier-s001" not in copy          # the login is not for customers' eyes
        assert "Petrova" not in copy and ANNA not in copy
        assert f"+{earned}" in copy
        assert str(sale["balance_before"] + earned) in copy
    assert f'id="points-balance">{sale["balance_before"] + earned}<' in html


def test_a_return_receipt_names_the_receipt_it_returns_from(tills):
    till, _db = tills["pos-1"]
    sale = sell_to_anna(till)
    back = give_back(till, sale["receipt_no"], [{"line_no": 1, "quantity": 1}], reason="sour")
    assert back.status_code == 201, back.json
    text, html = receipt(till, back.json["return_no"])
    for copy in (text, html):
        assert "RETURN" in copy and "REFUND" in copy
        assert sale["receipt_no"] in copy and "Returned from receipt" in copy
        assert "89.90" in copy and "Anna P., card •••• 0001" in copy
    assert f'id="original-receipt">{sale["receipt_no"]}<' in html


def test_no_receipt_by_that_number_is_a_clear_404(till):
    resp = till.get("/receipts/pos-1-R99999999")
    assert resp.status_code == 404
