"""Customers opened and corrected at central's API, on both engines: phone and e-mail
normalised, a likely duplicate refused with the record it looks like unless asked to keep
both, consents recorded with where they were given, home stores within the person's reach,
and every change audited (which fields, never their values) and in the tills' feed."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from kassa.central.models import AuditEntry, ChangeFeedEntry, Consent, Customer, Store
from kassa.central.replication.feed import page
from tests.helpers import staff_auth


def existing(central_db, name: str) -> str:
    with central_db.read() as session:
        return str(session.scalars(select(Customer.id).where(Customer.name == name)).one())


def test_office_opens_a_customer_and_a_likely_duplicate_is_refused(central_app, central_db,
                                                                     seeded):
    api, office = central_app.test_client(), staff_auth(seeded, "office")
    made = api.post("/api/v1/customers", headers=office, json={
        "name": "Marina Volkova", "phone": "8 (912) 345-67-89", "email": " Marina@Example.com ",
        "birthday": "1990-04-12", "home_store_code": "S002",
        "consents": [{"channel": "sms", "granted": True, "source": "paper form"}]})
    assert made.status_code == 201, made.json
    assert (made.json["phone"], made.json["email"], made.json["status"]) == (
        "+79123456789", "marina@example.com", "customer")
    marina = made.json["id"]

    same_phone = api.post("/api/v1/customers", headers=office,
                          json={"name": "M. Volkova", "phone": "+7 912 345 67 89"})
    assert same_phone.status_code == 409
    assert same_phone.json["error"] == "likely_duplicate"
    assert same_phone.json["details"]["customer_id"] == marina
    same_name = api.post("/api/v1/customers", headers=office,
                         json={"name": "volkova  marina", "birthday": "1990-04-12"})
    assert (same_name.status_code, same_name.json["details"]["customer_id"]) == (409, marina)
    other_day = api.post("/api/v1/customers", headers=office,
                         json={"name": "Volkova Marina", "birthday": "1991-04-12"})
    assert other_day.status_code == 201  # a namesake born another day is someone else
    kept = api.post("/api/v1/customers", headers=office,
                    json={"name": "M. Volkova", "phone": "89123456789", "force": True})
    assert kept.status_code == 201

    for body, code in [({"name": ""}, "invalid_input"),
                       ({"name": "X", "phone": "12"}, "bad_phone"),
                       ({"name": "X", "consents": [{"channel": "fax", "granted": True,
                                                     "source": "x"}]}, "invalid_input"),
                       ({"name": "X", "home_store_code": "S999"}, "store_not_found")]:
        refused = api.post("/api/v1/customers", headers=office, json=body)
        assert refused.json["error"] == code and 400 <= refused.status_code < 500, body

    with central_db.read() as session:
        consent = session.scalars(select(Consent).where(
            Consent.customer_id == uuid.UUID(marina))).one()
        assert (consent.channel, consent.granted, consent.source) == (
            "sms", True, "paper form (office)")
        line = session.scalars(select(AuditEntry).where(
            AuditEntry.subject == f"customer {marina}",
            AuditEntry.action == "masterdata:customer")).one()
        assert line.details["after"] == {"fields": ["birthday", "email", "home_store", "name",
                                                    "phone"]}
        assert "Marina" not in str(line.details)  # the audit log outlives a customer's data
        fed = [c for c in page(session, 0, 10_000)["changes"]
               if c["entity"] == "customer" and c["key"] == marina]
        assert fed and fed[-1]["data"]["phone"] == "+79123456789"
        s002 = session.scalars(select(Store).where(Store.code == "S002")).one()
        entry = session.scalars(select(ChangeFeedEntry).where(
            ChangeFeedEntry.entity_key == marina).order_by(ChangeFeedEntry.version.desc())).first()
        assert entry.region_id == s002.region_id  # the home store's region's tills get it


def test_home_stores_stay_within_reach(central_app, seeded):
    api = central_app.test_client()
    sm, rm_msk = staff_auth(seeded, "sm-s001"), staff_auth(seeded, "rm-msk")
    own = api.post("/api/v1/customers", headers=sm, json={"name": "Petr Ivanov"})
    assert own.status_code == 201
    assert api.get(f"/api/v1/customers/{own.json['id']}", headers=sm).status_code == 200
    assert api.post("/api/v1/customers", headers=sm, json={
        "name": "Other store", "home_store_code": "S002"}).json["error"] == "store_not_found"
    assert api.post("/api/v1/customers", headers=rm_msk, json={
        "name": "Nowhere"}).json["error"] == "home_store_required"
    assert api.post("/api/v1/customers", headers=rm_msk, json={
        "name": "Other region", "home_store_code": "S002"}).json["error"] == "store_not_found"
    # A duplicate in another region is not shown to a regional manager (nor refused).
    assert api.post("/api/v1/customers", headers=rm_msk, json={
        "name": "Olga S.", "phone": "+79000000003", "home_store_code": "S001"}
    ).status_code == 201


def test_corrections_keep_records_apart_unless_asked(central_app, central_db, seeded):
    api, office = central_app.test_client(), staff_auth(seeded, "office")
    anna, ivan = existing(central_db, "Anna Petrova"), existing(central_db, "Ivan Sidorov")
    clash = api.patch(f"/api/v1/customers/{ivan}", headers=office,
                      json={"phone": "8 900 000 00 01"})  # Anna's phone
    assert (clash.status_code, clash.json["error"]) == (409, "likely_duplicate")
    assert clash.json["details"]["customer_id"] == anna
    moved = api.patch(f"/api/v1/customers/{ivan}", headers=office, json={
        "home_store_code": "S002", "email": "ivan@example.com",
        "consents": [{"channel": "email", "granted": True, "source": "a call"}]})
    assert moved.status_code == 200 and moved.json["email"] == "ivan@example.com"
    forced = api.patch(f"/api/v1/customers/{ivan}", headers=office,
                       json={"phone": "89000000001", "force": True})
    assert forced.status_code == 200 and forced.json["phone"] == "+79000000001"
    with central_db.read() as session:
        ivan_row = session.get(Customer, uuid.UUID(ivan))
        assert session.get(Store, ivan_row.home_store_id).code == "S002"
        consent = session.scalars(select(Consent).where(
            Consent.customer_id == ivan_row.id)).one()
        assert consent.source == "a call (office)"
