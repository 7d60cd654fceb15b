"""Printed documents speak the store's language and count in its currency: the till's receipt
(PDF and HTML) of a store set to Russian is in Russian with amounts written "1 234,50"; the same
receipt of an English store stays as it was. A quote or invoice for a customer of a Russian
store is in Russian too."""

import io
import uuid

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from kassa.central.models import Customer
from kassa.central.models import Store as CentralStore
from kassa.pos_node.models import Store
from tests.helpers import staff_auth

# Coffee beans 1 kg (1,490.00) and 0.75 kg of a weighed item (119.93): 1,609.93 in all.
SALE = {"lines": [{"sku": "3001", "quantity": 1},
                  {"barcode": "2100000020016", "quantity": "0.750"}],
        "payments": [{"method": "cash", "amount": 200000}]}


def set_store(db, locale: str, currency: str = "RUB") -> None:
    with db.transaction() as s:
        store = s.get(Store, 1)
        store.locale, store.currency = locale, currency


def pdf_text(data: bytes) -> str:
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return text.replace("\u00a0", " ").replace("\u202f", " ")


def sell(till) -> dict:
    resp = till.post("/api/v1/sales", json=SALE)
    assert resp.status_code == 201, resp.json
    assert resp.json["total_minor"] == 160993 and resp.json["change_minor"] == 39007
    return resp.json


def receipt(till, receipt_no: str) -> tuple[str, str]:
    pdf = till.get(f"/receipts/{receipt_no}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    html = till.get(f"/receipts/{receipt_no}")
    assert html.status_code == 200
    return pdf_text(pdf.data), html.get_data(as_text=True).replace("\u00a0", " ")


# What each language's receipt says (PDF; the HTML copy), and what it must not.
RECEIPTS = {
    "ru": (("Чек {no}", "Касса pos-1", "ИТОГ", "1 609,93 ₽", "1 490,00", "0,75 кг",
            "в т. ч. НДС", "Наличные", "2 000,00", "Сдача", "390,07", "Спасибо за покупку!"),
           ("TOTAL", "Receipt", "Cash", "Change", "Thank you", "1,609.93"),  # product names stay
           ("ИТОГ", "1 609,93 ₽", "0,75 кг", "Наличные", "Сдача", 'lang="ru"')),
    "en": (("Receipt {no}", "Till pos-1", "TOTAL", "RUB 1,609.93", "1,490.00", "0.75 kg",
            "incl. VAT", "Cash", "2,000.00", "Change due", "390.07", "Thank you!"),
           ("ИТОГ", "₽"),
           ("TOTAL", "RUB 1,609.93", "0.75 kg", "Cash", 'lang="en"')),
}


@pytest.mark.parametrize("locale", sorted(RECEIPTS))
def test_a_receipt_is_in_its_stores_language(till, stocked_node, locale):
    set_store(stocked_node, locale)
    sale = sell(till)
    text, html = receipt(till, sale["receipt_no"])
    shown, absent, in_html = RECEIPTS[locale]
    for expected in shown:
        assert expected.format(no=sale["receipt_no"]) in text, (expected, text)
    for other in absent:
        assert other not in text, (other, text)
    for expected in in_html:
        assert expected in html, expected


def test_a_receipt_counts_in_its_stores_currency(till, stocked_node):
    set_store(stocked_node, "en", "EUR")
    sale = sell(till)
    text, html = receipt(till, sale["receipt_no"])
    assert "€1,609.93" in text and "€1,609.93" in html and "RUB" not in text


@pytest.fixture
def russian_customer(central_db):
    """Anna, whose home store is set to Russian."""
    with central_db.transaction() as s:
        anna = s.scalars(select(Customer).where(
            Customer.card_number == "7770000000000001")).one()
        s.get(CentralStore, anna.home_store_id).locale = "ru"
        s.add(anna)
        anna.address = "Арбат 10, Москва"
        return str(anna.id)


def test_a_russian_customers_invoice_is_in_russian(central_app, seeded, russian_customer):
    api = central_app.test_client()
    made = api.post(f"/api/v1/customers/{uuid.UUID(russian_customer)}/documents", json={
        "kind": "invoice", "items": [{"sku": "3001", "quantity": 2}]},
        headers=staff_auth(seeded, "office"))
    assert made.status_code == 201, made.data
    text = pdf_text(made.data)
    number = made.headers["Content-Disposition"].split("filename=")[1].removesuffix(".pdf")
    for expected in (f"Счёт № {number}", "Покупатель:", "Арбат 10, Москва", "Итого: 2 980,00 ₽",
                     "Платёжные реквизиты", "ИНН", "Назначение платежа"):
        assert expected in text, (expected, text)
    assert "Invoice" not in text and "Total" not in text
