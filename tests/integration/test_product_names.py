"""Product names in more than one language (issue 22, finding 11): the demo catalogue was
English only, so a Russian cashier's search for "молоко" found nothing. A product now has its
names by language at central; a till shows its store's and its name search finds any."""

import pytest

from tests.helpers import staff_auth as who
from tests.integration.test_documents_locale import set_store
from tests.integration.test_till_workflow import add


@pytest.mark.parametrize(("locale", "shown"), [("en", "Milk 3.2% 1 l"),
                                               ("ru", "Молоко 3,2% 1 л")])
def test_a_till_shows_its_stores_name_and_finds_either(till, stocked_node, locale, shown):
    set_store(stocked_node, locale)
    for query in ("молоко", "milk", "Моло"):
        found = till.get("/api/v1/products", query_string={"q": query}).json
        assert [p["name"] for p in found["products"]] == [shown], (query, found)
    line = add(till, barcode="4600000010010")["lines"][0]
    assert line["name"] == shown


def test_central_keeps_a_products_names_checked(central_app, seeded):
    api = central_app.test_client()
    office = who(seeded, "office")
    made = api.post("/api/v1/products", headers=office, json={
        "sku": "7001", "name": "Kefir 1 l", "names": {"ru": "Кефир 1 л"}, "vat_rate_bp": 1000,
        "price_minor": 7990})
    assert made.status_code == 201, made.json
    assert made.json["names"] == {"ru": "Кефир 1 л"}
    found = api.get("/api/v1/products", headers=office, query_string={"q": "7001"}).json
    assert [p["names"] for p in found["products"]] == [{"ru": "Кефир 1 л"}]
    bad = api.patch("/api/v1/products/7001", headers=office, json={"names": {"xx": "?"}})
    assert (bad.status_code, bad.json["error"]) == (422, "invalid_input")
    kept = api.patch("/api/v1/products/7001", headers=office, json={"category": "dairy"})
    assert kept.json["names"] == {"ru": "Кефир 1 л"}  # a change of something else keeps them


def test_a_csv_import_of_other_columns_keeps_a_products_names(tills, central_app, seeded):
    """An import knows nothing of names: the tills keep the Russian name it did not touch."""
    from kassa.pos_node.replication.client import sync_now
    till, db = tills["pos-1"]
    body = ("sku,name,vat_rate_bp,unit,category,barcodes,price,active\n"
            "1001,Milk 3.2% 1 l,1000,pcs,grocery,4600000010010,91.90,true\n")
    done = central_app.test_client().post("/api/v1/products/import", data=body.encode(),
                                          headers={**who(seeded, "office"),
                                                   "Content-Type": "text/csv"})
    assert done.status_code == 200, done.json
    set_store(db, "ru")
    sync_now(db)
    found = till.get("/api/v1/products", query_string={"q": "молоко"}).json["products"]
    assert [(p["name"], p["price_minor"]) for p in found] == [("Молоко 3,2% 1 л", 9190)]
