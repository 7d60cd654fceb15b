"""Prices per chain, region and store over HTTP, on SQLite and PostgreSQL central, down to two
real tills: a scheduled change takes effect by each store's own wall clock, from the replica,
without asking central; a regional manager prices only their own region."""

from datetime import timedelta

from sqlalchemy import select

from kassa.central.models import AuditEntry
from kassa.central.replication.feed import page
from kassa.common import clock
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth as who


def shelf(client, sku):
    hits = client.get(f"/api/v1/products?q={sku}").json["products"]
    return {h["sku"]: h["price_minor"] for h in hits}[sku]


def test_scoped_and_scheduled_prices_reach_the_right_tills(central_app, central_db, seeded,
                                                           tills):
    api = central_app.test_client()
    office, rm_msk, rm_spb = (who(seeded, u) for u in ("office", "rm-msk", "rm-spb"))
    # Store S002 moves to UTC+14: there it is already tomorrow's 7 a.m. when Moscow (UTC+3)
    # has not reached it yet.
    s002 = [s for s in api.get("/api/v1/stores", headers=office).json["stores"]
            if s["code"] == "S002"][0]
    assert api.patch(f"/api/v1/stores/{s002['id']}", json={"timezone": "Pacific/Kiritimati"},
                     headers=office).json["timezone"] == "Pacific/Kiritimati"
    assert api.patch(f"/api/v1/stores/{s002['id']}", json={"timezone": "Mars/Olympus"},
                     headers=office).json["error"] == "bad_timezone"
    start = (clock.now() + timedelta(hours=7)).replace(tzinfo=None, microsecond=0)
    scheduled = api.post("/api/v1/prices", json={"sku": "1001", "amount_minor": 9990,
                                                 "effective_from": start.isoformat()},
                         headers=office)
    assert scheduled.status_code == 201, scheduled.json
    region = api.post("/api/v1/prices", json={"sku": "1002", "amount_minor": 4990,
                                              "region_code": "MSK"}, headers=rm_msk)
    assert region.status_code == 201 and region.json["region_code"] == "MSK"
    store = api.post("/api/v1/prices", json={"sku": "1003", "amount_minor": 19990,
                                             "store_code": "S002"}, headers=rm_spb)
    assert store.status_code == 201
    # Out of reach: another region's store or region, the chain, by a regional manager.
    assert api.post("/api/v1/prices", json={"sku": "1003", "amount_minor": 1,
                                            "store_code": "S001"},
                    headers=rm_spb).json["error"] == "store_not_found"
    assert api.post("/api/v1/prices", json={"sku": "1003", "amount_minor": 1,
                                            "region_code": "MSK"},
                    headers=rm_spb).json["error"] == "region_not_found"
    assert api.post("/api/v1/prices", json={"sku": "1003", "amount_minor": 1},
                    headers=rm_msk).json["error"] == "out_of_scope"
    assert api.delete(f"/api/v1/prices/{region.json['id']}",
                      headers=rm_spb).status_code == 404
    bad = api.post("/api/v1/prices", json={"sku": "1003", "amount_minor": -5,
                                           "store_code": "S001", "region_code": "MSK"},
                   headers=office)
    assert bad.status_code == 422
    assert api.post("/api/v1/prices", json={"sku": "nope", "amount_minor": 5},
                    headers=office).json["error"] == "product_not_found"
    # What each regional manager sees of milk: the chain's rows, not the other region's.
    spb_rows = api.get("/api/v1/prices?sku=1002", headers=rm_spb).json["prices"]
    assert [(r["region_code"], r["amount_minor"]) for r in spb_rows] == [(None, 5490)]

    for _client, db in tills.values():
        assert sync_now(db).pulled > 0
    pos1, pos2 = tills["pos-1"][0], tills["pos-2"][0]
    # Moscow: the milk change is still ahead; its region price for bread is in force.
    assert (shelf(pos1, "1001"), shelf(pos1, "1002"), shelf(pos1, "1003")) == (8990, 4990,
                                                                               21990)
    # UTC+14: the milk change is in force by the store's clock; the region price is Moscow's.
    assert (shelf(pos2, "1001"), shelf(pos2, "1002"), shelf(pos2, "1003")) == (9990, 5490,
                                                                               19990)
    # A sale prices by the same rule (the till never asks central).
    line = pos2.post("/api/v1/cart/lines", json={"barcode": "4600000010010", "quantity": 1})
    assert line.json["lines"][0]["unit_price_minor"] == 9990, line.json

    # Withdrawing the region price brings the chain's back at the next pull.
    assert api.delete(f"/api/v1/prices/{region.json['id']}", headers=rm_msk).status_code == 204
    sync_now(tills["pos-1"][1])
    assert shelf(pos1, "1002") == 5490
    assert api.delete(f"/api/v1/prices/{spb_rows[0]['id']}",
                      headers=office).json["error"] == "chain_price_required"

    with central_db.read() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "masterdata:price").order_by(AuditEntry.id)).all()
    assert [e.reason for e in entries] == ["created", "created", "created", "deleted"]
    assert entries[-1].details["before"]["region_code"] == "MSK"


def import_csv(api, text, headers, skip_bad=False):
    return api.post("/api/v1/prices/import" + ("?skip_bad=true" if skip_bad else ""),
                    data=text.encode(), content_type="text/csv", headers=headers)


def test_price_lists_import_all_or_nothing_and_export(central_app, central_db, seeded):
    api = central_app.test_client()
    office, rm_spb = who(seeded, "office"), who(seeded, "rm-spb")
    head = "sku,store_code,region_code,price,effective_from\n"
    bad = head + ("1001,,MSK,79.90,\n"
                  "1002,S001,,49.90,2026-12-01T00:00\n"
                  "nope,,,1.00,\n"                        # unknown SKU
                  "1003,S001,MSK,1.00,\n"                 # both scopes
                  "1004,,,-1,\n"                          # negative
                  "1005,,,9.90,tomorrow\n"                # not a time
                  "1001,,MSK,78.90,\n")                   # the same slot as line 2
    refused = import_csv(api, bad, office)
    assert refused.status_code == 422
    assert [(e["line"], e["field"]) for e in refused.json["errors"]] == [
        (4, "sku"), (5, "store_code"), (6, "price"), (7, "effective_from"),
        (8, "effective_from")]
    with central_db.read() as session:
        assert not [c for c in page(session, 0, 100_000)["changes"]
                    if c["entity"] == "price" and c["data"] and c["data"]["region_id"]]
    partial = import_csv(api, bad, office, skip_bad=True)
    assert partial.status_code == 200 and (partial.json["created"], partial.json["skipped"]
                                           ) == (2, 5)
    again = import_csv(api, head + "1001,,MSK,77.90,\n", office)
    assert (again.json["created"], again.json["updated"]) == (0, 1)
    # A regional manager's list: their region and stores only.
    theirs = import_csv(api, head + "1001,S001,,1.00,\n1001,,,1.00,\n1001,S002,,69.90,\n",
                        rm_spb)
    assert [(e["line"], e["field"]) for e in theirs.json["errors"]] == [
        (2, "store_code"), (3, "region_code")]
    assert import_csv(api, head + "1001,S002,,69.90,\n", rm_spb).status_code == 200
    exported = api.get("/api/v1/prices/export", headers=rm_spb).get_data(as_text=True)
    assert "1001,S002,,69.90," in exported and "MSK" not in exported
    everything = api.get("/api/v1/prices/export", headers=office).get_data(as_text=True)
    assert "1002,S001,,49.90,2026-12-01T00:00:00" in everything
    assert "1001,,MSK,77.90," in everything
    assert import_csv(api, everything, office).json["updated"] == everything.count("\n") - 1


def test_a_new_standing_price_outranks_scheduled_ones_already_started(central_app, seeded,
                                                                      tills):
    api = central_app.test_client()
    office = who(seeded, "office")
    pos1, db1 = tills["pos-1"]
    past = api.post("/api/v1/prices", json={"sku": "1004", "amount_minor": 12990,
                                            "effective_from": "2020-01-01T00:00:00"},
                    headers=office)
    ahead = api.post("/api/v1/prices", json={"sku": "1004", "amount_minor": 13990,
                                             "effective_from": "2999-01-01T00:00:00"},
                     headers=office)
    assert past.status_code == ahead.status_code == 201
    sync_now(db1)
    assert shelf(pos1, "1004") == 12990
    assert api.post("/api/v1/prices", json={"sku": "1004", "amount_minor": 9990},
                    headers=office).status_code == 201
    sync_now(db1)
    assert shelf(pos1, "1004") == 9990  # from now on; the change ahead is still scheduled
    rows = api.get("/api/v1/prices?sku=1004", headers=office).json["prices"]
    assert [(r["amount_minor"], r["effective_from"]) for r in rows] == [
        (9990, None), (13990, "2999-01-01T00:00:00")]
    for bad in ({"effective_from": "1970-01-01T00:00:00"}, {"amount_minor": -1}):
        assert api.post("/api/v1/prices", json={"sku": "1004", "amount_minor": 1, **bad},
                        headers=office).status_code == 422
    head = "sku,store_code,region_code,price,effective_from\n"
    for row in ("1004,,,NaN,\n", "1004,,,Infinity,\n", "1004,,,1.00,1970-01-01T00:00\n"):
        assert import_csv(api, head + row, office).status_code == 422, row


def test_superseded_prices_are_pruned_and_the_tills_keep_what_is_in_force(central_app,
                                                                           central_db, seeded,
                                                                           tills):
    """Issue 25, housekeeping: a scheduled price replaced everywhere by a later one that has
    started goes, at central and at the tills (a tombstone in the feed); the standing price,
    the one in force and the one still ahead stay, and the shelf price does not move."""
    from kassa.central import jobs
    api = central_app.test_client()
    office = who(seeded, "office")
    pos1, db1 = tills["pos-1"]
    for start, amount in (("2020-01-01T00:00:00", 11990), ("2021-01-01T00:00:00", 12490),
                          ("2022-01-01T00:00:00", 12990), ("2999-01-01T00:00:00", 13990)):
        assert api.post("/api/v1/prices", json={"sku": "1004", "amount_minor": amount,
                                                "effective_from": start},
                        headers=office).status_code == 201
    sync_now(db1)
    assert shelf(pos1, "1004") == 12990
    assert jobs.run(central_db, "prune_prices") == 2           # 2020 and 2021
    assert jobs.run(central_db, "prune_prices") == 0           # nothing twice
    rows = api.get("/api/v1/prices?sku=1004", headers=office).json["prices"]
    assert sorted((r["amount_minor"], r["effective_from"]) for r in rows) == [
        (11990, None), (12990, "2022-01-01T00:00:00"), (13990, "2999-01-01T00:00:00")]
    sync_now(db1)
    from kassa.pos_node.models import Price as TillPrice
    with db1.read() as session:
        kept = sorted(p.amount_minor for p in session.scalars(
            select(TillPrice).where(TillPrice.product_id == 4)))
    assert kept == [11990, 12990, 13990]
    assert shelf(pos1, "1004") == 12990
