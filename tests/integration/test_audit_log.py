"""The audit log read back, on SQLite and PostgreSQL: filters, CSV export (formula-safe), and a
regional manager seeing their region's tills only."""

import csv
import io

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from kassa.central.access import audit, audit_api
from tests.helpers import basic_auth, signed
from tests.integration.test_authorizations import ask


def test_the_audit_log_filters_and_exports_csv(central_app, enrolled, seeded):
    client = central_app.test_client()
    approved = ask(client, enrolled, subject='=HYPERLINK("evil")').json
    decided = client.post(f"/api/v1/authorizations/{approved['id']}/decision",
                          json={"approve": False, "reason": "-10 % is too much"},
                          headers=basic_auth("office", seeded["users"]["office"]["password"]))
    assert decided.status_code == 200
    office = basic_auth("office", seeded["users"]["office"]["password"])
    rows = client.get("/api/v1/audit?action=authorization:", headers=office).json["entries"]
    assert [(r["action"], r["actor"], r["node_id"]) for r in rows] == [
        ("authorization:declined", "office", "pos-1")]
    assert client.get("/api/v1/audit?user=nobody-here", headers=office).json["entries"] == []
    export = client.get("/api/v1/audit?action=authorization:declined&format=csv",
                        headers=office)
    assert export.status_code == 200 and export.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(export.text)))
    assert table[0]["actor"] == "office" and table[0]["reason"].startswith("default:review")
    assert table[0]["subject"] == 'refund 250000 =HYPERLINK("evil")'
    # A cell that starts like a formula is quoted, so a spreadsheet shows it as text.
    assert [audit_api._cell(v) for v in ("=1+1", "@SUM(A1)", "ok", None)] == [
        "'=1+1", "'@SUM(A1)", "ok", ""]
    bad = client.get("/api/v1/audit?since=yesterday", headers=office)
    assert bad.status_code == 422
    # pos-1 is in Moscow: Saint Petersburg's regional manager does not see its entries.
    spb = basic_auth("rm-spb", seeded["users"]["rm-spb"]["password"])
    assert client.get("/api/v1/audit?node_id=pos-1", headers=spb).json["entries"] == []
    msk = basic_auth("rm-msk", seeded["users"]["rm-msk"]["password"])
    assert client.get("/api/v1/audit?node_id=pos-1", headers=msk).json["entries"]
    node_id, key = enrolled
    assert signed(client, "GET", "/api/v1/audit", node_id, key).status_code == 401


def test_the_audit_log_cannot_be_changed_or_deleted(central_db):
    """Append-only below the application too: a trigger refuses UPDATE and DELETE."""
    with central_db.transaction() as s:
        audit.record(s, "sign_in:ok", "user office")
    for statement in ("UPDATE audit_log SET reason = 'edited'", "DELETE FROM audit_log"):
        with pytest.raises(DBAPIError, match="append-only"), central_db.transaction() as s:
            s.execute(text(statement))
    with central_db.read() as s:
        assert s.execute(text("SELECT count(*) FROM audit_log WHERE reason = 'edited'")
                         ).scalar() == 0
