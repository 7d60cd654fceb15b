"""Languages and local rules, on SQLite and PostgreSQL: a store's language and currency reach
its tills in the feed, so the till, its refusals and its receipts speak Russian; a manager
chooses their own language for central's pages; VAT rates are master data that products must
use."""

from sqlalchemy import select

from kassa.central.models import AuditEntry, Product
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth as who
from tests.integration.test_returns import sell

HEADER = "sku,name,vat_rate_bp,unit,category,barcodes,price,active\n"


def test_a_store_set_to_russian_gets_its_tills_speaking_russian(central_app, seeded, tills):
    till, till_db = tills["pos-1"]
    office = who(seeded, "office")
    resp = central_app.test_client().patch("/api/v1/stores/1", headers=office,
                                           json={"locale": "ru", "currency": "RUB"})
    assert resp.status_code == 200 and resp.json["locale"] == "ru"
    assert till.get("/").data.decode().startswith("<!doctype html>\n<html lang=\"en\">")
    sync_now(till_db)
    page = till.get("/").data.decode()
    assert '<html lang="ru">' in page and '"decimal": ","' in page
    refused = till.post("/api/v1/cart/lines", json={"sku": "no-such-sku", "quantity": 1})
    assert refused.status_code == 422 and refused.json["error"] == "unknown_product"
    assert "no-such-sku" in refused.json["message"] and "SKU" not in refused.json["message"]
    sale = sell(till, [{"method": "cash", "amount": 8990}], sku="1001", quantity=1)
    receipt = till.get(f"/receipts/{sale['receipt_no']}").data.decode()
    assert "<span>ИТОГ</span><span>89,90\xa0₽</span>" in receipt and "Наличные" in receipt
    # the other store stays English
    other, _ = tills["pos-2"]
    assert '<html lang="en">' in other.get("/").data.decode()


def test_a_store_refuses_a_language_or_currency_it_cannot_have(central_app, seeded):
    office = who(seeded, "office")
    client = central_app.test_client()
    for body in ({"locale": "de"}, {"currency": "XYZ"}, {"currency": "rub"}):
        resp = client.patch("/api/v1/stores/1", headers=office, json=body)
        assert resp.status_code == 422 and resp.json["error"] == "invalid_input", body


def test_a_manager_chooses_their_own_language(central_app, seeded):
    client = central_app.test_client()
    office = who(seeded, "office")
    assert client.get("/api/v1/account/language", headers=office).json == {"locale": None}
    # no setting: the browser's language
    resp = client.patch("/api/v1/stores/999999", json={"name": "x"},
                        headers={**office, "Accept-Language": "ru"})
    assert resp.status_code == 404 and resp.json == {"error": "store_not_found",
                                                     "message": "Нет такого магазина."}
    resp = client.put("/api/v1/account/language", headers=office, json={"locale": "ru"})
    assert resp.status_code == 200 and resp.json == {"locale": "ru"}
    assert client.put("/api/v1/account/language", headers=office,
                      json={"locale": "fr"}).status_code == 422
    # signing in to the pages takes the user's own language, whatever the browser says
    page = client.get("/ops/signin").data.decode()
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    resp = client.post("/ops/signin", data={"username": "office", "csrf": csrf,
                                            "password": seeded["users"]["office"]["password"]},
                       headers={"Accept-Language": "en"})
    assert resp.status_code == 302
    assert '<html lang="ru">' in client.get("/ops/nodes").data.decode()


def test_vat_rates_are_master_data_products_must_use(central_app, central_db, seeded):
    client = central_app.test_client()
    office = who(seeded, "office")
    rates = client.get("/api/v1/vat-rates", headers=who(seeded, "sm-s001")).json["rates"]
    assert [(r["rate_bp"], r["active"]) for r in rates] == [(2000, True), (1000, True), (0, True)]
    assert rates[0]["products"] > 0
    new = {"sku": "9100", "name": "Tonic", "vat_rate_bp": 2200, "price_minor": 9900}
    resp = client.post("/api/v1/products", headers=office, json=new)
    assert resp.status_code == 422 and resp.json["error"] == "bad_vat_rate"
    imported = client.post("/api/v1/products/import", headers={**office,
                           "Content-Type": "text/csv"},
                           data=HEADER + "9101,Gin,2200,pcs,,,10.00,1\n")
    assert imported.status_code == 422
    assert imported.json["errors"][0]["field"] == "vat_rate_bp"
    assert client.post("/api/v1/vat-rates", headers=who(seeded, "rm-msk"),
                       json={"rate_bp": 2200, "name": "standard 2026"}).status_code == 403
    resp = client.post("/api/v1/vat-rates", headers=office,
                       json={"rate_bp": 2200, "name": "standard 2026"})
    assert resp.status_code == 201
    assert client.post("/api/v1/products", headers=office, json=new).status_code == 201
    # the old standard rate cannot be retired while products carry it
    resp = client.patch("/api/v1/vat-rates/2000", headers=office, json={"active": False})
    assert resp.status_code == 409 and resp.json["error"] == "vat_rate_in_use"
    with central_db.transaction() as session:
        for product in session.scalars(select(Product).where(Product.vat_rate_bp == 2000)):
            product.vat_rate_bp = 2200
    resp = client.patch("/api/v1/vat-rates/2000", headers=office, json={"active": False})
    assert resp.status_code == 200 and resp.json["active"] is False
    new["sku"] = "9102"
    resp = client.post("/api/v1/products", headers=office, json={**new, "vat_rate_bp": 2000})
    assert resp.status_code == 422 and resp.json["error"] == "bad_vat_rate"
    with central_db.read() as session:
        logged = session.scalars(select(AuditEntry.subject).where(
            AuditEntry.action == "masterdata:vat_rate")).all()
    assert logged == ["vat_rate 2200", "vat_rate 2000"]


def test_a_tills_question_to_central_is_answered_in_the_tills_language(central_app,
                                                                        central_db, tills):
    """A refusal with a value cannot be translated at the till (its English is filled in): the
    till asks central in the language of the request it serves."""
    from kassa.central.models import Customer, LoyaltyAccount
    from kassa.pos_node.replication.client import SyncError, ask
    _till, till_db = tills["pos-1"]
    with central_db.read() as session:
        account = session.scalars(select(LoyaltyAccount.id).join(
            Customer, Customer.id == LoyaltyAccount.customer_id).where(
            Customer.name == "Anna Petrova")).one()
    for language, start in (("ru", "Свободных баллов на счёте: "), ("en", "The account has ")):
        with central_app.test_request_context(headers={"Accept-Language": language}):
            try:
                ask(till_db, "POST", "/api/v1/loyalty/holds",
                    {"account_id": str(account), "points": 10**6})
            except SyncError as err:
                assert err.code == "insufficient_points" and str(err).startswith(start), err
            else:
                raise AssertionError("central granted a million points")


def _page_messages(html: str) -> dict:
    import json
    import re
    found = re.search(r'<script id="i18n" type="application/json">(.*?)</script>', html, re.S)
    assert found, html[:500]
    return json.loads(found.group(1))["messages"]


def test_each_apps_pages_carry_only_their_own_scripts_messages(central_app, node_app):
    """Finding 11 of issue 22: every till page carried the office's messages too (~18 KB).
    A message of the till's scripts is on the till's page and not on central's; the office's
    the other way round; common's (the money field's) on both."""
    from babel.messages.pofile import read_po

    from kassa.common.i18n import catalog_files
    with catalog_files()["ru"].open("rb") as f:
        catalog = read_po(f, locale="ru")

    def only(folder: str) -> set[str]:
        return {m.id for m in catalog if isinstance(m.id, str) and m.string and m.locations
                and all(path.startswith(folder) and path.endswith(".js")
                        for path, _ in m.locations)}

    till_only, office_only = only("kassa/pos_node/"), only("kassa/central/")
    common = only("kassa/common/")
    assert till_only and office_only and common
    till_page = node_app.test_client().get("/", headers={"Accept-Language": "ru"})
    office_page = central_app.test_client().get("/ops/signin?lang=ru")
    assert till_page.status_code == office_page.status_code == 200
    on_till = _page_messages(till_page.get_data(as_text=True))
    on_office = _page_messages(office_page.get_data(as_text=True))
    assert till_only <= set(on_till) and not office_only & set(on_till)
    assert office_only <= set(on_office) and not till_only & set(on_office)
    assert common <= set(on_till) and common <= set(on_office)
