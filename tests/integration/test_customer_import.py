"""Members from a previous system, loaded as CSV at central, on SQLite and PostgreSQL: each with
a loyalty account, their old card number and their opening points posted once; every bad row
reported with its line and column (a phone, e-mail or card another row or an existing customer
has is one), then nothing loaded unless ``skip_bad``; the same file once; spreadsheet exports
as Excel saves them; what the tills are sent; the command line; and who may import."""

import os
import subprocess
import sys
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select

from kassa.central.crm.customer_imports import import_customers
from kassa.central.membership.loyalty_accounts import check_balance
from kassa.central.models import (
    AuditEntry,
    ChangeFeedEntry,
    Consent,
    Customer,
    ImportBatch,
    LoyaltyAccount,
    LoyaltyEntry,
    Store,
    User,
)
from tests.helpers import staff_auth as who

HEADER = "name,phone,email,birthday,home_store,card_number,points,consents\n"
GOOD = (HEADER
        + "Maria Kuznetsova,8 (912) 345-67-01,Maria@Example.com,1985-04-12,S001,"
          "2000123456789,1500,sms|email\n"
        + "Pavel Orlov,+7 912 345 67 02,,12.04.1990,S002,,0,\n"
        + "Elena Volkova,,elena@example.com,,,123456,25,email\n")


def post(client, headers, body, **query):
    args = "&".join(f"{k}={v}" for k, v in query.items())
    data = body if isinstance(body, bytes) else body.encode()
    return client.post(f"/api/v1/customers/import?{args}", data=data,
                       headers={**headers, "Content-Type": "text/csv"})


def imported(central_db) -> dict[str, Customer]:
    """The customers the demo did not make, by name."""
    with central_db.read() as s:
        return {c.name: c for c in s.scalars(select(Customer).where(
            Customer.name.not_in(["Anna Petrova", "Ivan Sidorov", "Olga Smirnova"])))}


def test_a_good_file_opens_members_with_their_cards_and_points_once(central_app, central_db,
                                                                    seeded):
    api, office = central_app.test_client(), who(seeded, "office")
    checked = post(api, office, GOOD, dry_run="true")
    assert checked.status_code == 200, checked.json
    assert (checked.json["rows"], checked.json["written"], checked.json["created"]) == (
        3, False, 0)
    assert imported(central_db) == {}  # a dry run loads nothing and does not mark the file

    done = post(api, office, GOOD)
    assert done.status_code == 200, done.json
    report = done.json
    assert (report["created"], report["points"], report["written"]) == (3, 1525, True)
    assert len(report["batch"]) == 64 and report["errors"] == []
    members = imported(central_db)
    maria, pavel, elena = (members[n] for n in ("Maria Kuznetsova", "Pavel Orlov",
                                                "Elena Volkova"))
    assert (maria.phone, maria.email, maria.card_number, str(maria.birthday)) == (
        "+79123456701", "maria@example.com", "2000123456789", "1985-04-12")
    assert (pavel.phone, pavel.email, pavel.card_number, str(pavel.birthday)) == (
        "+79123456702", None, None, "1990-04-12")
    assert elena.home_store_id is None and elena.card_number == "123456"
    assert all(c.status == "customer" for c in members.values())
    with central_db.read() as s:
        stores = {code: sid for code, sid in s.execute(select(Store.code, Store.id))}
        assert (maria.home_store_id, pavel.home_store_id) == (stores["S001"], stores["S002"])
        accounts = {a.customer_id: a for a in s.scalars(select(LoyaltyAccount).where(
            LoyaltyAccount.customer_id.in_([c.id for c in members.values()])))}
        assert {c.name: accounts[c.id].balance for c in members.values()} == {
            "Maria Kuznetsova": 1500, "Pavel Orlov": 0, "Elena Volkova": 25}
        for account in accounts.values():
            cached, ledger = check_balance(s, account.id)
            assert cached == ledger
        entries = s.scalars(select(LoyaltyEntry).where(
            LoyaltyEntry.account_id.in_([a.id for a in accounts.values()]))).all()
        assert sorted((e.kind, e.points, e.expires_at) for e in entries) == [
            ("adjustment", 25, None), ("adjustment", 1500, None)]
        assert all(e.cause.startswith("import:" + report["batch"][:16]) for e in entries)
        consents = s.execute(select(Consent.customer_id, Consent.channel, Consent.granted,
                                    Consent.source, Consent.recorded_by_id)).all()
        office_id = s.scalar(select(User.id).where(User.username == "office"))
        assert sorted((c.channel, c.granted, c.recorded_by_id) for c in consents
                      if c.customer_id in (maria.id, elena.id)) == [
            ("email", True, office_id), ("email", True, office_id), ("sms", True, office_id)]
        assert not any(c.customer_id == pavel.id for c in consents)
        feed = {(e.entity, e.entity_key): e for e in s.scalars(select(ChangeFeedEntry))}
        sent = feed[("customer", str(maria.id))]
        assert (sent.payload["card_number"], sent.payload["phone"]) == (
            "2000123456789", "+79123456701")
        assert sent.region_id == s.scalar(select(Store.region_id).where(
            Store.code == "S001"))
        assert feed[("loyalty_account", str(accounts[maria.id].id))].payload["balance"] == 1500
        assert feed[("customer", str(elena.id))].region_id is None
        batch = s.scalars(select(ImportBatch)).one()
        assert (batch.kind, batch.batch, batch.actor_id) == (
            "customers", report["batch"], office_id)

    again = post(api, office, GOOD)
    assert again.status_code == 200
    assert (again.json["already_imported"], again.json["created"], again.json["rows"]) == (
        True, 0, 3)
    assert len(imported(central_db)) == 3
    with central_db.read() as s:
        assert s.scalar(select(func.sum(LoyaltyEntry.points)).where(
            LoyaltyEntry.cause.like("import:%"))) == 1525
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "masterdata_import")
                          ).all()
    assert [a.subject for a in audit] == ["customers: 3 new, 1525 opening points"]


def test_every_bad_row_is_reported_and_nothing_is_loaded(central_app, central_db, seeded):
    api, office = central_app.test_client(), who(seeded, "office")
    body = (HEADER
            + "Good Person,+79120000001,,,,,,\n"                                    # 2: good
            + ",+79120000002,x@,31.02.1990,S404,12 34,-5,fax\n"                    # 3
            + "Second Good,+7 912 000-00-01,,,,,,\n"                                # 4
            + "Anna Again,8 900 000 00 01,,,,,,\n"                                  # 5
            + "Card Thief,,,,,7770000000000002,,\n"                                 # 6
            + "Old Card Twice,,,,,555555,,\n"
            + "Old Card Thrice,,,,,555-555,,\n"                                     # 8
            + "Too Many,,,,,,,,extra\n"                                             # 9
            + f"{'x' * 201},,,1899-12-31,,,99999999999,\n")                         # 10
    refused = post(api, office, body)
    assert refused.status_code == 422, refused.json
    report = refused.json
    messages = {(e["line"], e["field"]): e["message"] for e in report["errors"]}
    assert set(messages) == {
        (3, "name"), (3, "email"), (3, "birthday"), (3, "home_store"), (3, "card_number"),
        (3, "points"), (3, "consents"), (4, "phone"), (5, "phone"), (6, "card_number"),
        (8, "card_number"), (9, ""), (10, "name"), (10, "birthday"), (10, "points")}
    assert messages[(4, "phone")] == "the same as line 2"
    assert messages[(8, "card_number")] == "the same as line 7"
    assert messages[(5, "phone")].startswith("customer ") and messages[(5, "phone")].endswith(
        " has it already")
    assert messages[(6, "card_number")] == "kassa's own cards start with 777"
    assert messages[(3, "home_store")] == "a store code of the chain"
    assert (report["rows"], report["bad_rows"], report["errors_total"]) == (9, 7, 15)
    assert report["written"] is False and imported(central_db) == {}

    lacking = post(api, office, "phone,email\n+79120000001,\n", skip_bad="true")
    assert lacking.status_code == 422  # a file it cannot read loads nothing, skip_bad or not
    assert [(e["line"], e["field"]) for e in lacking.json["errors"]] == [(1, "name")]
    twice = post(api, office, "name,Phone,phone\n")
    assert [(e["line"], e["field"], e["message"]) for e in twice.json["errors"]] == [
        (1, "phone", "these columns appear twice")]
    assert api.post("/api/v1/customers/import", json={"rows": []},
                    headers=office).status_code == 415
    latin1 = post(api, office, (HEADER + "Jörg,,,,,,,\n").encode("latin-1"))
    assert (latin1.status_code, latin1.json["error"]) == (422, "bad_encoding")
    assert imported(central_db) == {}

    skipped = post(api, office, body, skip_bad="true")
    assert skipped.status_code == 200, skipped.json
    assert (skipped.json["created"], skipped.json["skipped"], skipped.json["written"]) == (
        2, 7, True)
    assert set(imported(central_db)) == {"Good Person", "Old Card Twice"}
    # The good rows are in, so the same file again is known and changes nothing.
    again = post(api, office, body, skip_bad="true")
    assert again.json["already_imported"] is True
    assert set(imported(central_db)) == {"Good Person", "Old Card Twice"}


def test_spreadsheet_exports_with_a_bom_semicolons_and_crlf(central_app, central_db, seeded):
    """Excel in a Russian locale writes a BOM, semicolons and CRLF, and dates as DD.MM.YYYY."""
    api, office = central_app.test_client(), who(seeded, "office")
    body = ("\ufeffИмя;Name;Phone;Birthday;Points\r\n"
            "x;Ирина Соколова;8 912 111-22-33;05.11.1979;100\r\n"
            ";;;;\r\n"
            "y;Олег Попов;;;\r\n").encode()
    done = post(api, office, body)
    assert done.status_code == 200, done.json
    assert done.json["ignored_columns"] == ["имя"]
    assert (done.json["rows"], done.json["created"], done.json["points"]) == (2, 2, 100)
    members = imported(central_db)
    assert str(members["Ирина Соколова"].birthday) == "1979-11-05"
    assert members["Ирина Соколова"].phone == "+79121112233"


def test_a_large_file_is_checked_and_written_in_bulk(central_db, seeded):
    body = HEADER + "".join(f"Member {i},8 913 {i:07d},m{i}@example.com,,S001,{900000 + i},"
                            f"{i % 7},sms\n" for i in range(1200))
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(central_db.engine, "before_cursor_execute", listener)
    try:
        with central_db.transaction() as s:
            report = import_customers(s, body.encode())
    finally:
        event.remove(central_db.engine, "before_cursor_execute", listener)
    assert (report.created, report.errors_total) == (1200, 0)
    assert report.points == sum(i % 7 for i in range(1200))
    assert len(statements) < 40, statements
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(ChangeFeedEntry).where(
            ChangeFeedEntry.entity == "customer")) >= 1200


def test_a_bad_row_after_chunks_were_written_undoes_them(central_db, seeded, monkeypatch):
    """Chunks are written while the next ones are checked; a clash found in a later chunk
    (or a row of text that is not CSV) takes back what the earlier ones wrote."""
    from kassa.central.crm import customer_imports
    monkeypatch.setattr(customer_imports, "CHUNK", 10)
    good = "".join(f"Chunked {i},8 914 {i:07d},,,,,{i},\n" for i in range(45))
    clash = "Clash,+79000000002,,,,,,\n"  # Ivan's phone, on line 47: the fifth chunk
    twice = "Twice,8 914 0000003,,,,,,\n"  # line 4's phone, two chunks later

    def load(body, **options):
        with central_db.transaction() as s:
            return import_customers(s, (HEADER + body).encode(), **options)

    def feed_entries():
        with central_db.read() as s:
            return s.scalar(select(func.count()).select_from(ChangeFeedEntry))

    before = feed_entries()
    refused = load(good + clash + twice)
    assert (refused.written, refused.created, refused.rows) == (False, 0, 47)
    assert [(e["line"], e["field"]) for e in refused.errors] == [(48, "phone"), (47, "phone")]
    assert refused.errors[0]["message"] == "the same as line 5"
    assert imported(central_db) == {} and feed_entries() == before
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(LoyaltyEntry).where(
            LoyaltyEntry.cause.like("import:%"))) == 0
        assert s.scalars(select(ImportBatch)).all() == []

    # A cell past the csv module's limit: the reader cannot go on, so nothing loads.
    broken = load(good + f'"{"x" * 200_000},,,,,,,\n', skip_bad=True)
    assert broken.unreadable and not broken.written
    assert broken.errors[-1]["message"].startswith("not CSV: field larger than field limit")
    assert imported(central_db) == {} and feed_entries() == before

    skipped = load(good + clash + twice, skip_bad=True)
    assert (skipped.written, skipped.created, skipped.skipped) == (True, 45, 2)
    assert skipped.points == sum(range(45))
    assert len(imported(central_db)) == 45
    with central_db.read() as s:
        assert s.scalar(select(func.count()).select_from(ChangeFeedEntry).where(
            ChangeFeedEntry.entity == "loyalty_account",
            ChangeFeedEntry.payload.is_not(None))) >= 45


def test_the_command_line_prints_a_summary_or_the_errors(central_db_url, central_db, seeded,
                                                         tmp_path):
    kassa = Path(sys.executable).parent / "kassa"
    env = {**os.environ, "KASSA_CENTRAL_DB": central_db_url}

    def run(*args):
        return subprocess.run([str(kassa), "central", "import-customers", *args], env=env,
                              capture_output=True, text=True, timeout=120)

    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    good.write_text(GOOD)
    bad.write_text(HEADER + "Someone,+79000000001,,,,,,\nNobody,,,,S404,,,\n"
                   "Fine Person,,fine@example.com,,,,5,\n")
    checked = run("--dry-run", str(good))
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.startswith("checked 3 rows: 3 members to open; nothing loaded")
    assert imported(central_db) == {}
    done = run(str(good))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("opened 3 members with 1525 points (batch ")
    again = run(str(good))
    assert again.returncode == 0 and "already imported" in again.stdout
    refused = run(str(bad))
    assert refused.returncode == 1
    assert "line 2, phone: customer " in refused.stderr
    assert "line 3, home_store: a store code of the chain" in refused.stderr
    assert "2 problems in 2 rows; nothing loaded" in refused.stderr
    assert len(imported(central_db)) == 3
    skipped = run("--skip-bad", str(bad))
    assert skipped.returncode == 0, skipped.stderr
    assert skipped.stdout.startswith("opened 1 members with 5 points")
    assert "2 problems in 2 rows skipped" in skipped.stdout
    assert "Fine Person" in imported(central_db)


def test_only_central_office_and_admins_may_import(central_app, central_db, seeded):
    api = central_app.test_client()
    assert post(api, who(seeded, "cashier-s001"), GOOD).status_code == 401
    for person in ("rm-msk", "sm-s001"):
        refused = post(api, who(seeded, person), GOOD)
        assert (refused.status_code, refused.json["error"]) == (403, "role_forbidden")
    assert imported(central_db) == {}
    assert post(api, who(seeded, "admin"), GOOD).status_code == 200
    assert len(imported(central_db)) == 3


CELLS = st.sampled_from(["Anna", "+79000000001", "8 912 000", "a@b", "a@b.ru", "1990-02-30",
                         "31.12.1999", "S001", "S404", "7770000000000001", "123456", "12345",
                         "-1", "1e9", "99999999999", "sms|fax", "", "\"", "\r", ";",
                         "x" * 100_000])


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(data=st.one_of(
    st.binary(max_size=200),
    st.lists(st.lists(CELLS, max_size=9), max_size=6).map(
        lambda rows: (HEADER + "\n".join(",".join(r) for r in rows)).encode()),
    st.lists(st.lists(CELLS, max_size=9), max_size=6).map(
        lambda rows: ("name;phone;points\n" + "\n".join(";".join(r) for r in rows)).encode())),
    skip=st.booleans())
def _never_500(api, token, data, skip):
    resp = api.post(f"/api/v1/customers/import?skip_bad={str(skip).lower()}", data=data,
                    headers={**token, "Content-Type": "text/csv"})
    assert resp.status_code in (200, 413, 415, 422), (resp.status_code, data[:200])


def test_no_file_gets_a_500(central_app, central_db, seeded):
    from kassa.central.access.auth import new_token
    with central_db.transaction() as s:
        office = s.scalars(select(User).where(User.username == "office")).one()
        _token, secret = new_token(s, office, "fuzz")
    _never_500(central_app.test_client(), {"Authorization": f"Bearer {secret}"})
