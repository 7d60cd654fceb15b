"""Products and prices in bulk as CSV, on SQLite and PostgreSQL: every bad row reported with
its line and field, all or nothing by default, good rows only when asked, updates by SKU, the
changes in the feed for the tills, the export readable by the import."""

from sqlalchemy import func, select

from kassa.central.models import AuditEntry, Price, Product
from kassa.central.replication.feed import page
from tests.helpers import basic_auth

HEADER = "sku,name,vat_rate_bp,unit,category,barcodes,price,active\n"
GOOD = ("9001,Oat milk 1 l,1000,pcs,grocery,4600000090012,129.90,1\n"
        "9002,Pears kg,1000,kg,produce,,199.00,1\n"
        "1001,Milk 3.2% 1 l (new pack),1000,pcs,grocery,4600000010010,92.50,1\n")
BAD = ("9003,,1000,pcs,,,10.00,1\n"  # no name
       "9004,Tea,20%,pcs,,,10.00,1\n"  # VAT as percent
       "9005,Soap,2000,box,,4600000040017,1.999,1\n")  # unit, another's barcode, price


def post(client, headers, body, **query):
    args = "&".join(f"{k}={v}" for k, v in query.items())
    return client.post(f"/api/v1/products/import?{args}", data=body.encode(),
                       headers={**headers, "Content-Type": "text/csv"})


def count(central_db, model):
    with central_db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_a_bad_row_keeps_the_whole_file_out_unless_asked(central_app, central_db, seeded):
    client = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    products = count(central_db, Product)
    refused = post(client, office, HEADER + GOOD + BAD)
    assert refused.status_code == 422 and refused.json["written"] is False
    errors = {(e["line"], e["field"]) for e in refused.json["errors"]}
    assert errors == {(5, "name"), (6, "vat_rate_bp"), (7, "unit"), (7, "price")}
    assert count(central_db, Product) == products  # nothing half imported
    done = post(client, office, HEADER + GOOD + BAD, skip_bad="true")
    assert done.status_code == 200, done.json
    assert (done.json["created"], done.json["updated"], done.json["skipped"]) == (2, 1, 3)
    with central_db.read() as session:
        milk = session.scalars(select(Product).where(Product.sku == "1001")).one()
        assert milk.name == "Milk 3.2% 1 l (new pack)"
        assert session.scalars(select(Price.amount_minor).where(
            Price.product_id == milk.id, Price.store_id.is_(None))).one() == 9250
        changes = page(session, 0, 10_000)["changes"]
        assert {c["key"] for c in changes if c["entity"] == "product"} >= {str(milk.id)}
        audit = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "masterdata_import")).one()
        assert audit.subject == "products: 2 new, 1 changed"
    # A barcode held by another product, or twice in a file, is a row error.
    clash = post(client, office, HEADER + "9010,Clash,1000,pcs,,4600000090012,1.00,1\n"
                 "9011,Twice,1000,pcs,,4600000099990,1.00,1\n"
                 "9012,Twice again,1000,pcs,,4600000099990,1.00,1\n")
    assert [(e["line"], e["field"]) for e in clash.json["errors"]] == [(2, "barcodes"),
                                                                       (4, "barcodes")]


def test_the_export_reads_back_in(central_app, central_db, seeded):
    client = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    exported = client.get("/api/v1/products/export", headers=office)
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert exported.text.startswith(HEADER.strip())
    assert "5001,Chocolate 90 g,2000,pcs,sweets,4600000050016|4600000050023,99.90,1" in \
        exported.text
    again = post(client, office, exported.text)
    assert again.status_code == 200 and again.json["created"] == 0
    assert again.json["updated"] == count(central_db, Product)
    wrong = client.post("/api/v1/products/import", json={"rows": []}, headers=office)
    assert wrong.status_code == 415
    header_only = post(client, office, "sku,name\n1,x\n")
    assert header_only.status_code == 422 and header_only.json["errors"][0]["line"] == 1


def test_one_product_at_a_time_with_its_barcodes(central_app, central_db, seeded):
    """Products over HTTP: made with barcodes, category and price; barcodes replaced; a barcode
    of another product refused; each change in the feed and the audit log."""
    api = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    made = api.post("/api/v1/products", json={
        "sku": "6001", "name": "Kefir 1 l", "vat_rate_bp": 1000, "category": "dairy",
        "barcodes": ["4600000060012", "4600000060029"], "price_minor": 7990}, headers=office)
    assert made.status_code == 201 and made.json["price_minor"] == 7990, made.json
    taken = api.post("/api/v1/products", json={
        "sku": "6002", "name": "x", "vat_rate_bp": 1000, "barcodes": ["4600000010010"],
        "price_minor": 1}, headers=office)
    assert taken.status_code == 409 and taken.json["error"] == "barcode_taken"
    changed = api.patch("/api/v1/products/6001", json={
        "barcodes": ["4600000060029", "4600000060036"], "active": False}, headers=office)
    assert changed.json["barcodes"] == ["4600000060029", "4600000060036"]
    assert changed.json["active"] is False
    assert api.patch("/api/v1/products/nope", json={"name": "x"},
                     headers=office).status_code == 404
    found = api.get("/api/v1/products?q=kefir", headers=office).json["products"]
    assert [p["sku"] for p in found] == ["6001"]
    with central_db.read() as session:
        docs = [c["data"] for c in page(session, 0, 100_000)["changes"]
                if c["entity"] == "product" and c["data"] and c["data"]["sku"] == "6001"]
    assert [d["barcodes"] for d in docs] == [["4600000060012", "4600000060029"],
                                             ["4600000060029", "4600000060036"]]
    log = api.get("/api/v1/audit?action=masterdata:product", headers=office).json["entries"]
    assert log[0]["details"]["before"]["active"] is True


def test_a_barcode_given_twice_is_kept_once(central_app, seeded):
    """A repeated barcode in one request broke the unique index (a 500, found by the fuzz
    test); the product keeps it once."""
    api = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    made = api.post("/api/v1/products", json={
        "sku": "7001", "name": "Rye bread", "vat_rate_bp": 1000,
        "barcodes": ["4600000070011", "4600000070011"], "price_minor": 5990}, headers=office)
    assert made.status_code == 201 and made.json["barcodes"] == ["4600000070011"], made.json
    changed = api.patch("/api/v1/products/7001", json={
        "barcodes": ["4600000070028", "4600000070028", "4600000070011"]}, headers=office)
    assert changed.status_code == 200, changed.json
    assert changed.json["barcodes"] == ["4600000070011", "4600000070028"]


def test_past_a_thousand_errors_a_bad_row_is_still_bad(central_app, central_db, seeded):
    """The report lists the first 1000 errors; the rows after them are checked all the same
    (a bad price on row 1,100 is neither written nor a crash)."""
    client = central_app.test_client()
    office = basic_auth("office", seeded["users"]["office"]["password"])
    nameless = "".join(f"8{n:04d},,1000,pcs,,,1.00,1\n" for n in range(1100))
    body = HEADER + nameless + "8999,Bad price,1000,pcs,,,-1,1\n" + "8998,Good,1000,pcs,,,2.00,1\n"
    done = post(client, office, body, skip_bad="true")
    assert done.status_code == 200, done.json
    assert (done.json["created"], done.json["skipped"]) == (1, 1101)
    assert len(done.json["errors"]) == 1000
    with central_db.read() as session:
        assert session.scalar(select(Product.sku).where(Product.sku.in_(("8999", "8998")))) \
            == "8998"
