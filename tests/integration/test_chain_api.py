"""Master data over HTTP on SQLite and PostgreSQL: regions, people, role limits, promotions,
loyalty rules (offline caps included) and tills, each change scoped to who makes it, in the
change feed for the tills and in the audit log with its before and after."""

from sqlalchemy import select

from kassa.central.models import AuditEntry
from kassa.central.replication.feed import page
from kassa.common.signing import generate_private_key_pem, public_key_pem
from tests.helpers import staff_auth as who


def feed_of(central_db, entity):
    with central_db.read() as session:
        return [c for c in page(session, 0, 100_000)["changes"] if c["entity"] == entity]


def audited(central_db, action):
    with central_db.read() as session:
        return session.scalars(select(AuditEntry).where(AuditEntry.action == action)
                               .order_by(AuditEntry.id)).all()


def test_people_are_managed_within_reach(central_app, central_db, seeded):
    api = central_app.test_client()
    office, rm_msk, rm_spb, sm = (who(seeded, u) for u in ("office", "rm-msk", "rm-spb",
                                                           "sm-s001"))
    made = api.post("/api/v1/users", json={"username": "olga", "role": "cashier",
                                           "full_name": "Olga P.", "pin": "4321",
                                           "store_code": "S001"}, headers=rm_msk)
    assert made.status_code == 201 and made.json["store_code"] == "S001", made.json
    for body, headers, code in [
        ({"username": "x1", "role": "cashier", "pin": "4321", "store_code": "S002"}, rm_msk,
         "store_not_found"),  # another region's store
        ({"username": "x2", "role": "admin", "password": "a" * 12}, rm_msk,
         "role_not_manageable"),
        ({"username": "x3", "role": "store_manager", "pin": "4321", "store_code": "S001"}, sm,
         "role_not_manageable"),
        ({"username": "x4", "role": "cashier", "store_code": "S001"}, sm, "pin_required"),
        ({"username": "x5", "role": "central_office"}, office, "password_required"),
        ({"username": "x7", "role": "central_office", "password": "qwerty123456"}, office,
         "weak_password"),
        ({"username": "olga", "role": "cashier", "pin": "1111", "store_code": "S001"}, office,
         "duplicate_user"),
        ({"username": "x6", "role": "cashier", "pin": "12", "store_code": "S001"}, office,
         "invalid_input"),
    ]:
        resp = api.post("/api/v1/users", json=body, headers=headers)
        assert resp.json["error"] == code, (body, resp.json)
    assert api.post("/api/v1/users", json={"username": "petr", "role": "cashier", "pin": "9876",
                                           "store_code": "S001"}, headers=sm).status_code == 201
    path = f"/api/v1/users/{made.json['id']}"
    assert api.patch(path, json={"pin": "5555"}, headers=rm_spb).status_code == 404
    changed = api.patch(path, json={"pin": "5555", "full_name": "Olga Petrova"}, headers=sm)
    assert changed.status_code == 200 and changed.json["full_name"] == "Olga Petrova"
    assert [u["username"] for u in api.get("/api/v1/users", headers=rm_spb).json["users"]
            ] == ["cashier-s002", "rm-spb", "sm-s002"]
    # The till gets the new PIN hash; the audit log says a PIN was set, never what it is.
    olga = [c for c in feed_of(central_db, "user") if c["key"] == str(made.json["id"])]
    assert len(olga) == 2 and olga[-1]["data"]["full_name"] == "Olga Petrova"
    assert olga[-1]["data"]["pin_hash"] != olga[0]["data"]["pin_hash"]
    last = audited(central_db, "masterdata:user")[-1]
    assert last.details["after"]["changed"] == ["pin"] and "5555" not in str(last.details)
    # A password reset ends the old password at once.
    rm = [u for u in api.get("/api/v1/users", headers=office).json["users"]
          if u["username"] == "rm-msk"][0]
    assert api.patch(f"/api/v1/users/{rm['id']}", json={"password": "new-secret-1234"},
                     headers=office).status_code == 200
    assert api.get("/api/v1/users", headers=rm_msk).status_code == 401
    assert api.get("/api/v1/users", headers=who(seeded, "rm-msk", "new-secret-1234")
                   ).status_code == 200


def test_regions_limits_promotions_rules_and_tills(central_app, central_db, seeded):
    api = central_app.test_client()
    office, rm_msk = who(seeded, "office"), who(seeded, "rm-msk")
    region = api.post("/api/v1/regions", json={"code": "NSK", "name": "Novosibirsk"},
                      headers=office)
    assert region.status_code == 201
    assert api.post("/api/v1/regions", json={"code": "NSK", "name": "x"},
                    headers=office).json["error"] == "duplicate_region"
    assert [r["code"] for r in api.get("/api/v1/regions", headers=rm_msk).json["regions"]
            ] == ["MSK"]
    assert api.patch(f"/api/v1/regions/{region.json['id']}", json={"name": "Novosibirsk obl."},
                     headers=office).json["name"] == "Novosibirsk obl."
    assert [c["data"]["name"] for c in feed_of(central_db, "region")
            if c["data"]["code"] == "NSK"] == ["Novosibirsk", "Novosibirsk obl."]

    limit = api.put("/api/v1/role-limits/cashier", json={"max_discount_bp": 700,
                                                         "max_refund_minor": 150000},
                    headers=office)
    assert limit.status_code == 200, limit.json
    assert feed_of(central_db, "role_limit")[-1]["data"] == {
        "role": "cashier", "max_discount_bp": 700, "max_refund_minor": 150000}
    assert api.put("/api/v1/role-limits/cashier", json={"max_discount_bp": 20000,
                                                        "max_refund_minor": 0},
                   headers=office).status_code == 422

    promo = api.post("/api/v1/promotions", json={
        "name": "Coffee week", "kind": "percent", "skus": ["3001"], "percent_bp": 1000,
        "starts_at": "2026-12-01T00:00:00+03:00", "ends_at": "2026-12-08T00:00:00+03:00"},
        headers=office)
    assert promo.status_code == 201 and promo.json["skus"] == ["3001"], promo.json
    assert api.post("/api/v1/promotions", json={"name": "x", "kind": "percent",
                                                "skus": ["3001", "nope"], "percent_bp": 5},
                    headers=office).json["error"] == "product_not_found"
    assert api.post("/api/v1/promotions", json={"name": "x", "kind": "n_for_m",
                                                "skus": ["3001"], "n": 2, "m": 3},
                    headers=office).json["error"] == "bad_promotion"
    stopped = api.patch(f"/api/v1/promotions/{promo.json['id']}", json={"active": False},
                        headers=office)
    assert stopped.json["active"] is False
    assert feed_of(central_db, "promotion")[-1]["data"]["active"] is False

    caps = api.patch("/api/v1/loyalty-rules", json={"changes": {
        "offline_points_per_day": 100, "offline_max_hours": 6}}, headers=office)
    assert caps.status_code == 200 and caps.json["document"]["offline_points_per_day"] == 100
    assert feed_of(central_db, "loyalty_rules")[-1]["data"]["document"][
        "offline_max_hours"] == 6
    assert api.patch("/api/v1/loyalty-rules", json={"changes": {"tiers": [["gold", 5]]}},
                     headers=office).json["error"] == "bad_rules"
    rule_log = audited(central_db, "masterdata:loyalty_rules")
    assert [e.details["after"] for e in rule_log] == [
        {"offline_points_per_day": 100, "offline_max_hours": 6}]

    till = api.post("/api/v1/nodes", json={"node_id": "pos-9", "store_code": "S001"},
                    headers=office)
    assert till.status_code == 201
    enrolled = api.post("/api/v1/nodes/enroll", json={
        "node_id": "pos-9", "code": till.json["enroll_code"],
        "public_key_pem": public_key_pem(generate_private_key_pem())})
    assert enrolled.status_code == 200 and enrolled.json["store_id"] == 1
    assert api.post("/api/v1/nodes", json={"node_id": "pos-9", "store_code": "S001"},
                    headers=office).json["error"] == "duplicate_node"
    assert api.post("/api/v1/nodes", json={"node_id": "pos-10", "store_code": "S404"},
                    headers=office).json["error"] == "store_not_found"
    actions = {e.action for e in audited(central_db, "masterdata:region")} | {
        e.action for e in audited(central_db, "masterdata:node")} | {
        e.action for e in audited(central_db, "masterdata:role_limit")} | {
        e.action for e in audited(central_db, "masterdata:promotion")}
    assert actions == {"masterdata:region", "masterdata:node", "masterdata:role_limit",
                       "masterdata:promotion"}
