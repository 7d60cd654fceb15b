"""Stores as master data over HTTP, on SQLite and PostgreSQL: opened by central office,
renamed within one's region, every change in the feed for the tills and in the audit log with
its before and after."""

from sqlalchemy import select

from kassa.central.models import AuditEntry
from kassa.central.replication.feed import page
from tests.helpers import staff_auth as who


def test_stores_are_opened_renamed_and_audited(central_app, central_db, seeded):
    client = central_app.test_client()
    office = who(seeded, "office")
    made = client.post("/api/v1/stores", json={"code": "S003", "name": "Arbat 12",
                                               "region_code": "MSK"}, headers=office)
    assert made.status_code == 201 and made.json["region_code"] == "MSK"
    again = client.post("/api/v1/stores", json={"code": "S003", "name": "x",
                                                "region_code": "MSK"}, headers=office)
    assert again.status_code == 409
    nowhere = client.post("/api/v1/stores", json={"code": "S004", "name": "x",
                                                  "region_code": "NSK"}, headers=office)
    assert nowhere.status_code == 404
    bad = client.post("/api/v1/stores", json={"code": "s 4", "name": "",
                                              "region_code": "MSK"}, headers=office)
    assert bad.status_code == 422
    path = f"/api/v1/stores/{made.json['id']}"
    # Saint Petersburg's manager cannot reach a Moscow store by its id; Moscow's can.
    assert client.patch(path, json={"name": "Arbat 14"},
                        headers=who(seeded, "rm-spb")).status_code == 404
    renamed = client.patch(path, json={"name": "Arbat 14"}, headers=who(seeded, "rm-msk"))
    assert renamed.status_code == 200 and renamed.json["name"] == "Arbat 14"
    spb_sees = client.get("/api/v1/stores", headers=who(seeded, "rm-spb")).json["stores"]
    assert [s["code"] for s in spb_sees] == ["S002"]
    manager_sees = client.get("/api/v1/stores", headers=who(seeded, "sm-s001")).json["stores"]
    assert [s["code"] for s in manager_sees] == ["S001"]
    with central_db.read() as session:
        changes = [c for c in page(session, 0, 10_000)["changes"] if c["entity"] == "store"
                   and c["key"] == str(made.json["id"])]
        assert [c["data"]["name"] for c in changes] == ["Arbat 12", "Arbat 14"]
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "masterdata:store").order_by(AuditEntry.id)).all()
    assert [(e.reason, e.details["before"] and e.details["before"]["name"],
             e.details["after"]["name"]) for e in entries] == [
        ("created", None, "Arbat 12"), ("changed", "Arbat 12", "Arbat 14")]
    audit = client.get("/api/v1/audit?action=masterdata:", headers=office).json["entries"]
    assert audit[0]["details"]["after"]["name"] == "Arbat 14" and audit[0]["actor"] == "rm-msk"
