"""Customer 360 at central, on SQLite and PostgreSQL: contacts from every channel matched by
card, phone or e-mail (or a new lead), consents with their history, purchases from every store
through real tills, one timeline; the website's form with its rate limit and bot guard; and a
regional manager reaching only their region's customers."""

import io
import uuid

import pytest
from pypdf import PdfReader
from sqlalchemy import delete, func, select

from kassa.central import create_app
from kassa.central.crm import profiles
from kassa.central.membership import cards, loyalty_accounts
from kassa.central.models import (
    AuditEntry,
    Card,
    CompanyDetails,
    Customer,
    Interaction,
    LoyaltyAccount,
    Store,
)
from kassa.central.replication.feed import page
from kassa.common.config import CentralConfig
from kassa.common.db import utcnow
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from kassa.pos_node.models import BlockedCard
from kassa.pos_node.models import Customer as NodeCustomer
from kassa.pos_node.replication.client import sync_now
from tests.helpers import point_a_rouble
from tests.helpers import staff_auth as who


def anna_id(central_db):
    with central_db.read() as s:
        return str(s.scalars(select(Customer.id).where(
            Customer.card_number == "7770000000000001")).one())


def test_every_channel_lands_on_the_customer_and_the_timeline(central_app, central_db, seeded,
                                                               tills):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = anna_id(central_db)
    point_a_rouble(central_db)  # so that a carton of milk earns points to show
    # Purchases in both stores, by card, through real tills and sync.
    for node_id in ("pos-1", "pos-2"):
        till, db = tills[node_id]
        sync_now(db)  # the rules
        till.post("/api/v1/cart/lines", json={"sku": "1001", "quantity": 1})
        assert till.post("/api/v1/cart/customer",
                         json={"card_number": "7770000000000001"}).status_code == 200
        assert till.post("/api/v1/cart/checkout", json={"payments": [
            {"method": "cash", "amount": 8990}]}).status_code == 201
        sync_now(db)
    call = {"channel": "call", "subject": "Asked about the coffee week", "body": "Called in",
            "match": {"phone": "8 (900) 000-00-01"}, "external_id": "pbx-1001"}
    first = api.post("/api/v1/interactions", json=call, headers=office)
    assert first.status_code == 201, first.json
    assert (first.json["customer_id"], first.json["created_lead"]) == (anna, False)
    again = api.post("/api/v1/interactions", json=call, headers=office)
    assert again.json["repeated"] is True and again.json["id"] == first.json["id"]
    nobody = api.post("/api/v1/interactions", json={
        "channel": "email", "subject": "Hello", "match": {"email": "new@example.com"}},
        headers=office)
    assert nobody.status_code == 404 and nobody.json["error"] == "customer_not_found"
    lead = api.post("/api/v1/interactions", json={
        "channel": "email", "subject": "Do you deliver?", "match": {"email": "New@Example.com"},
        "lead": {"name": "Pavel", "store_code": "S002"}}, headers=office)
    assert lead.status_code == 201 and lead.json["created_lead"] is True
    pavel = api.get(f"/api/v1/customers/{lead.json['customer_id']}", headers=office).json
    assert (pavel["status"], pavel["email"], pavel["lead_source"]["channel"],
            pavel["home_store_code"]) == ("lead", "new@example.com", "email", "S002")

    assert api.put(f"/api/v1/customers/{anna}/consents/email", json={
        "granted": True, "source": "phone call"}, headers=office).json["granted"] is True
    assert api.put(f"/api/v1/customers/{anna}/consents/email", json={"granted": False},
                   headers=office).json["granted"] is False
    assert api.put(f"/api/v1/customers/{anna}/consents/fax", json={"granted": True},
                   headers=office).json["error"] == "bad_channel"
    noted = api.post(f"/api/v1/customers/{anna}/interactions", json={
        "channel": "meeting", "subject": "Tasting event", "direction": "out"}, headers=office)
    assert noted.status_code == 201

    view = api.get(f"/api/v1/customers/{anna}", headers=office).json
    assert view["purchases"]["count"] == 2 and view["purchases"]["total_minor"] == 2 * 8990
    assert {p["store_code"] for p in view["purchases"]["recent"]} == {"S001", "S002"}
    assert {c["channel"]: c["granted"] for c in view["consents"]} == {
        "sms": False, "email": False, "phone": False, "offers": False}
    assert [h["granted"] for h in view["consent_history"]] == [False, True]
    assert view["consent_history"][1]["source"].startswith("phone call")
    kinds = [e["kind"] for e in view["timeline"]]
    assert kinds.count("purchase") == 2 and "call" in kinds and "meeting" in kinds
    assert view["timeline"] == sorted(view["timeline"], key=lambda e: e["at"], reverse=True)
    assert view["loyalty"]["balance"] > 0 and view["loyalty"]["entries"]
    with central_db.read() as s:
        assert [a.action for a in s.scalars(select(AuditEntry).where(
            AuditEntry.action.like("consent:%")).order_by(AuditEntry.id))] == [
            "consent:given", "consent:withdrawn"]

    # Saint Petersburg's manager: not Anna (Moscow), but the lead of their store.
    spb = who(seeded, "rm-spb")
    assert api.get(f"/api/v1/customers/{anna}", headers=spb).status_code == 404
    assert api.get("/api/v1/customers?q=Anna", headers=spb).json["customers"] == []
    assert [c["name"] for c in api.get("/api/v1/customers?q=pav", headers=spb).json[
        "customers"]] == ["Pavel"]
    assert api.post("/api/v1/interactions", json={**call, "external_id": None},
                    headers=spb).status_code == 404


def test_the_website_form_makes_leads_and_keeps_bots_out(central_app, central_db):
    api = central_app.test_client()
    form = {"name": "Irina", "phone": "+7 912 345-67-89", "message": "Call me about a card",
            "store_code": "S001", "consent_sms": True, "utm_source": "vk",
            "utm_campaign": "winter", "referrer": "https://vk.com/kassa", "fill_ms": 9000}
    assert api.post("/api/v1/public/leads", json=form).status_code == 202
    assert api.post("/api/v1/public/leads", json={**form, "phone": None}).status_code == 422
    # Bots: the hidden field filled in, or the form sent faster than a person types.
    for bot in ({**form, "website": "http://spam"}, {**form, "fill_ms": 150}):
        assert api.post("/api/v1/public/leads", json={**bot, "name": "Bot"}).status_code == 202
    with central_db.read() as s:
        irina = s.scalars(select(Customer).where(Customer.phone == "+79123456789")).one()
        assert (irina.status, irina.lead_source["utm_campaign"]) == ("lead", "winter")
        assert s.scalar(select(func.count()).select_from(Customer).where(
            Customer.name == "Bot")) == 0
        contact = s.scalars(select(Interaction).where(
            Interaction.customer_id == irina.id)).one()
        assert (contact.channel, contact.body) == ("web_form", "Call me about a card")
    # Five forms per ten minutes from one address, bots' included (three so far; the refused
    # one never got past validation): the sixth is refused, with how long to wait.
    assert [api.post("/api/v1/public/leads", json=form).status_code for _ in range(2)] == [
        202, 202]
    refused = api.post("/api/v1/public/leads", json=form)
    assert refused.status_code == 429 and refused.json["error"] == "rate_limited"
    assert refused.json["details"]["retry_after_s"] == 600
    with central_db.read() as s:  # a repeat from the same person: the same lead, more contacts
        assert s.scalar(select(func.count()).select_from(Customer).where(
            Customer.phone == "+79123456789")) == 1
    # A client cannot name its own address to get past the limit...
    spoofed = api.post("/api/v1/public/leads", json=form,
                       headers={"X-Forwarded-For": "203.0.113.9"})
    assert spoofed.status_code == 429
    # ...but behind the TLS proxy central is told to believe, each visitor is counted apart.
    proxied = create_app(CentralConfig(db_url=central_app.config["KASSA"].db_url,
                                       clock_skew_seconds=300, trusted_proxies=1))
    behind = proxied.test_client()
    codes = [behind.post("/api/v1/public/leads", json=form, headers={
        "X-Forwarded-For": "203.0.113.9"}).status_code for _ in range(6)]
    assert codes == [202] * 5 + [429]
    assert behind.post("/api/v1/public/leads", json=form, headers={
        "X-Forwarded-For": "198.51.100.7"}).status_code == 202
    proxied.extensions["kassa_db"].dispose()


def test_duplicates_merge_into_one_customer(central_app, central_db, seeded, tmp_path):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = anna_id(central_db)
    with central_db.transaction() as s:
        store = s.scalars(select(Store).where(Store.code == "S001")).one()
        twin = profiles.create_customer(s, "petrova anna", phone=None, email="anna@example.com",
                                        home_store=store)
        account = loyalty_accounts.open_account(s, twin)
        loyalty_accounts.post(s, account.id, LedgerEntry("test:twin", EntryKind.ADJUSTMENT, 70,
                                                         utcnow()))
        twin_card = cards.issue(s, account, tmp_path).card_number
        twin_id = str(twin.id)
        anna_balance = s.scalars(select(LoyaltyAccount.balance).join(Customer).where(
            Customer.id == uuid.UUID(anna))).one()
    groups = api.get("/api/v1/customers/duplicates", headers=office).json["groups"]
    named = [g for g in groups if g["reason"] == "name"]
    assert {c["id"] for c in named[0]["customers"]} == {anna, twin_id}
    merged = api.post(f"/api/v1/customers/{anna}/merge", json={"other_id": twin_id},
                      headers=office)
    assert merged.status_code == 200, merged.json
    assert merged.json["email"] == "anna@example.com"  # filled from the duplicate
    again = api.post(f"/api/v1/customers/{anna}/merge", json={"other_id": twin_id},
                     headers=office)
    assert again.json["error"] == "bad_merge"
    view = api.get(f"/api/v1/customers/{anna}", headers=office).json
    assert view["loyalty"]["balance"] == anna_balance + 70
    assert api.get("/api/v1/customers?q=anna@example.com", headers=office).json[
        "customers"][0]["id"] == anna
    with central_db.read() as s:
        assert s.get(Card, twin_card).status == "blocked"  # Anna keeps her own card
        changes = page(s, 0, 100_000)["changes"]
    assert any(c["entity"] == "customer" and c["key"] == twin_id and c["deleted"]
               for c in changes)
    assert any(c["entity"] == "card_block" and c["key"] == twin_card for c in changes)


def test_a_customer_takes_their_data_out_or_has_it_erased(central_app, central_db, seeded,
                                                           tills):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = anna_id(central_db)
    till, db = tills["pos-1"]
    till.post("/api/v1/cart/lines", json={"sku": "3001", "quantity": 1})
    till.post("/api/v1/cart/customer", json={"card_number": "7770000000000001"})
    assert till.post("/api/v1/cart/checkout", json={"payments": [
        {"method": "cash", "amount": 149000}]}).status_code == 201
    sync_now(db)
    api.post(f"/api/v1/customers/{anna}/interactions", json={
        "channel": "call", "subject": "Lives at Tverskaya 1"}, headers=office)
    export = api.get(f"/api/v1/customers/{anna}/export", headers=office)
    assert export.headers["Content-Disposition"].startswith("attachment")
    data = export.json
    assert data["name"] == "Anna Petrova" and data["purchases"]["all"][0]["lines"][0][
        "sku"] == "3001"
    assert data["interactions"][0]["subject"] == "Lives at Tverskaya 1"
    before = api.get("/api/v1/reports/sales-by-store", headers=office).json
    assert api.post(f"/api/v1/customers/{anna}/anonymize", json={"reason": "asked by letter"},
                    headers=who(seeded, "rm-msk")).status_code == 403
    erased = api.post(f"/api/v1/customers/{anna}/anonymize",
                      json={"reason": "asked by letter"}, headers=office)
    assert erased.status_code == 200 and erased.json["name"] == "(anonymized)"
    view = api.get(f"/api/v1/customers/{anna}", headers=office).json
    assert (view["phone"], view["email"], view["interactions"][0]["subject"]) == (
        None, None, "(anonymized)")
    assert view["purchases"]["count"] == 1  # what she bought stays, anonymous
    assert api.get("/api/v1/reports/sales-by-store", headers=office).json == before
    assert api.get("/api/v1/customers?q=Anna", headers=office).json["customers"] == []
    # The till gets the anonymous record and refuses her card.
    sync_now(db)
    with db.read() as s:
        mirrored = s.get(NodeCustomer, uuid.UUID(anna))
        assert (mirrored.name, mirrored.phone, mirrored.card_number) == (
            "(anonymized)", None, None)
        assert s.get(BlockedCard, "7770000000000001") is not None


def test_quotes_and_invoices_come_from_the_crm_as_pdf(central_app, central_db, seeded):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = anna_id(central_db)
    assert api.patch(f"/api/v1/customers/{anna}", json={
        "address": "Arbat 10, Moscow", "email": " Anna@Example.COM "}, headers=office
    ).json["email"] == "anna@example.com"
    made = api.post(f"/api/v1/customers/{anna}/documents", json={
        "kind": "invoice", "items": [{"sku": "3001", "quantity": 2},
                                     {"sku": "1001", "quantity": 1}]}, headers=office)
    assert made.status_code == 201 and made.mimetype == "application/pdf"
    number = made.headers["Content-Disposition"].split("filename=")[1].removesuffix(".pdf")
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(made.data)).pages)
    for expected in (f"Invoice No. {number}", "Anna Petrova", "Arbat 10, Moscow",
                     "Coffee beans 1 kg", "Total: RUB 3,069.90", "Payment details",
                     "40702810000000000000"):
        assert expected in text, (expected, text)
    quote = api.post(f"/api/v1/customers/{anna}/documents", json={
        "kind": "quote", "items": [{"sku": "1001", "quantity": 3}]}, headers=office)
    quote_text = PdfReader(io.BytesIO(quote.data)).pages[0].extract_text()
    assert "valid until" in quote_text and "Payment details" not in quote_text
    assert api.post(f"/api/v1/customers/{anna}/documents", json={
        "kind": "invoice", "items": [{"sku": "nope", "quantity": 1}]},
        headers=office).json["error"] == "product_not_found"
    timeline = api.get(f"/api/v1/customers/{anna}", headers=office).json["interactions"]
    assert {i["subject"].split(":")[0] for i in timeline} >= {f"Invoice {number}"}

    # The seller's details are master data: central office changes them, audited.
    company = {**api.get("/api/v1/company", headers=office).json,
               "account": "40702810999999999999"}
    assert api.put("/api/v1/company", json={**company, "bic": "12"}, headers=office
                   ).status_code == 422
    assert api.put("/api/v1/company", json={**company, "account": company["account"] + "\n"},
                   headers=office).status_code == 422
    assert api.put("/api/v1/company", json=company, headers=who(seeded, "rm-msk")
                   ).status_code == 403
    assert api.put("/api/v1/company", json=company, headers=office).status_code == 200
    again = api.post(f"/api/v1/customers/{anna}/documents", json={
        "kind": "invoice", "items": [{"sku": "1001", "quantity": 1}]}, headers=office)
    assert "40702810999999999999" in PdfReader(io.BytesIO(again.data)).pages[0].extract_text()
    with central_db.transaction() as s:
        s.execute(delete(CompanyDetails))
    missing = api.post(f"/api/v1/customers/{anna}/documents", json={
        "kind": "invoice", "items": [{"sku": "1001", "quantity": 1}]}, headers=office)
    assert (missing.status_code, missing.json["error"]) == (409, "company_details_missing")


def test_contacts_come_in_bulk_from_another_system(central_app, central_db, seeded):
    api = central_app.test_client()
    office = who(seeded, "office")
    head = "channel,direction,subject,body,at,card_number,phone,email,lead_name,external_id\n"
    bad = head + ("call,in,Asked about delivery,,2026-11-20T10:15:00+03:00,,8 900 000 00 01,"
                  ",,crm-1\n"
                  "email,out,Newsletter,,2026-11-21T09:00:00+03:00,,,new@example.com,Pavel,"
                  "crm-2\n"
                  "fax,in,x,,2026-11-21T09:00:00+03:00,,,a@b.cd,,crm-3\n"       # channel
                  "call,in,x,,yesterday,,,a@b.cd,,crm-4\n"                      # time
                  "call,in,x,,2026-11-21T09:00:00,,,a@b.cd,,crm-5\n"            # no zone
                  "call,in,x,,2026-11-21T09:00:00+03:00,,,,,crm-6\n")           # nobody
    refused = api.post("/api/v1/interactions/import", data=bad.encode(),
                       content_type="text/csv", headers=office)
    assert refused.status_code == 422
    assert [(e["line"], e["field"]) for e in refused.json["errors"]] == [
        (4, "channel"), (5, "at"), (6, "at"), (7, "phone")]
    assert all(set(e) == {"line", "field", "message"} for e in refused.json["errors"])
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 0
    done = api.post("/api/v1/interactions/import?skip_bad=true", data=bad.encode(),
                    content_type="text/csv", headers=office).json
    assert (done["created"], done["leads"], done["skipped"]) == (2, 1, 4)
    again = api.post("/api/v1/interactions/import?skip_bad=true", data=bad.encode(),
                     content_type="text/csv", headers=office).json
    assert (again["created"], again["repeated"]) == (0, 2)
    anna = api.get(f"/api/v1/customers/{anna_id(central_db)}", headers=office).json
    assert [i["subject"] for i in anna["interactions"]] == ["Asked about delivery"]


def test_the_public_form_cannot_touch_a_known_customer_or_a_spreadsheet(central_app,
                                                                         central_db, seeded):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = anna_id(central_db)
    api.put(f"/api/v1/customers/{anna}/consents/sms", json={"granted": False,
                                                             "source": "letter"},
            headers=office)
    assert api.post("/api/v1/public/leads", json={
        "name": "Someone", "phone": "+79000000001", "consent_sms": True, "fill_ms": 5000,
        "utm_source": '=HYPERLINK("http://evil","x")'}).status_code == 202
    view = api.get(f"/api/v1/customers/{anna}", headers=office).json
    assert {c["channel"]: c["granted"] for c in view["consents"]}["sms"] is False
    assert api.post("/api/v1/public/leads", json={
        "name": "Mallory", "email": "m@example.com", "fill_ms": 5000,
        "utm_source": '=HYPERLINK("http://evil","x")'}).status_code == 202
    exported = api.get("/api/v1/reports/leads?format=csv", headers=office).get_data(
        as_text=True)
    assert "'=HYPERLINK" in exported and "\n=HYPERLINK" not in exported


def test_a_merged_record_is_read_only(central_app, central_db, seeded):
    api = central_app.test_client()
    office = who(seeded, "office")
    anna = anna_id(central_db)
    with central_db.transaction() as s:
        twin = str(profiles.create_customer(s, "Anna P.", email="anna.p@example.com").id)
    assert api.post(f"/api/v1/customers/{anna}/merge", json={"other_id": twin},
                    headers=office).status_code == 200
    for method, path, body in [("PATCH", "", {"name": "Back"}),
                               ("PUT", "/consents/sms", {"granted": True}),
                               ("POST", "/interactions", {"channel": "call", "subject": "x"}),
                               ("POST", "/block", {"reason": "fraud"})]:
        resp = api.open(f"/api/v1/customers/{twin}{path}", method=method, json=body,
                        headers=office)
        assert (resp.status_code, resp.json["error"]) == (409, "customer_merged"), path
    assert api.post(f"/api/v1/customers/{twin}/merge", json={"other_id": anna},
                    headers=office).json["error"] == "bad_merge"
    assert api.post(f"/api/v1/customers/{anna}/merge", json={"other_id": anna},
                    headers=who(seeded, "rm-msk")).status_code == 403


def test_past_a_thousand_errors_a_bad_contact_is_still_bad(central_app, central_db, seeded):
    """A bad time on row 1,100 is skipped like the first thousand, never written with no time."""
    api = central_app.test_client()
    head = "channel,direction,subject,body,at,card_number,phone,email,lead_name,external_id\n"
    rows = "".join(f"fax,in,x,,2026-11-21T09:00:00+03:00,,,a@b.cd,,bad-{n}\n"
                   for n in range(1100))
    body = head + rows + "call,in,late,,yesterday,,,a@b.cd,,late-1\n"
    done = api.post("/api/v1/interactions/import?skip_bad=true", data=body.encode(),
                    content_type="text/csv", headers=who(seeded, "office"))
    assert done.status_code == 200, done.json
    assert (done.json["created"], done.json["skipped"]) == (0, 1101)
    assert len(done.json["errors"]) == 1000
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(Interaction)) == 0


@pytest.mark.parametrize("manager", ["rm-spb", "sm-s002"])
def test_a_manager_learns_nothing_of_a_customer_beyond_their_reach(central_app, central_db,
                                                                   seeded, manager):
    """Anna's home store is S001, in Moscow: to St Petersburg's regional manager and to S002's
    store manager a contact matching her phone is answered exactly as one matching nobody's,
    by the API and by the import, and her timeline is not touched."""
    api = central_app.test_client()
    anna = anna_id(central_db)
    answers = []
    for phone in ("8 (900) 000-00-01", "8 (900) 555-44-33"):  # Anna's; nobody's
        contact = {"channel": "call", "subject": "Hello", "match": {"phone": phone}}
        alone = api.post("/api/v1/interactions", json=contact, headers=who(seeded, manager))
        with_lead = api.post("/api/v1/interactions", json={
            **contact, "lead": {"name": "Someone", "store_code": "S002"}},
            headers=who(seeded, manager))
        csv = ("channel,direction,subject,body,at,card_number,phone,email,lead_name,"
               f"external_id\ncall,in,Hi,,2026-11-21T09:00:00+03:00,,{phone},,Someone,\n")
        imported = api.post("/api/v1/interactions/import", data=csv.encode(),
                            content_type="text/csv", headers=who(seeded, manager))
        answers.append((alone.status_code, alone.json, with_lead.status_code,
                        with_lead.json["created_lead"], imported.status_code,
                        {k: v for k, v in imported.json.items() if k != "batch"}))
    assert answers[0] == answers[1]
    assert answers[0][0] == 404 and answers[0][2:4] == (201, True)
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(Interaction).where(
            Interaction.customer_id == uuid.UUID(anna))) == 0
