"""The chain's loyalty rules as the office edits them over the API (central on SQLite and
PostgreSQL): each change is checked whole and refused naming the field at fault, numbered as a
new version that is kept with who made it, audited with the fields before and after, and
reaches a till at its next pull, where the next sale earns by it."""

from sqlalchemy import func, select

from kassa.central.models import AuditEntry, LoyaltyRulesVersion
from kassa.central.replication.feed import page
from kassa.pos_node.models import LoyaltyRules as TillRules
from kassa.pos_node.replication.client import sync_now
from tests.helpers import staff_auth as who

ANNA = "7770000000000001"


def test_the_demo_gives_a_few_per_cent_back(central_app, seeded):
    doc = central_app.test_client().get("/api/v1/loyalty-rules",
                                        headers=who(seeded, "office")).json["document"]
    back = {tier: rate * doc["minor_per_point"] / 1000
            for tier, rate in doc["rate_milli_by_tier"].items()}
    assert back == {"base": 1, "silver": 2, "gold": 3, "platinum": 5}  # per cent
    assert doc["minor_per_point"] == 100 and doc["version"] == 1  # set once, by the demo


def test_each_change_is_a_numbered_version_audited_and_in_the_feed(central_app, central_db,
                                                                   seeded):
    api, office = central_app.test_client(), who(seeded, "office")
    before = api.get("/api/v1/loyalty-rules", headers=office).json["document"]
    rates = {**before["rate_milli_by_tier"], "gold": 40}
    saved = api.patch("/api/v1/loyalty-rules", json={"changes": {"rate_milli_by_tier": rates}},
                      headers=office)
    assert saved.status_code == 200, saved.json
    doc = saved.json["document"]
    assert (doc["version"], doc["rate_milli_by_tier"]["gold"]) == (2, 40) and doc["changed_at"]
    again = api.patch("/api/v1/loyalty-rules", json={"changes": {"rate_milli_by_tier": rates}},
                      headers=office)
    assert again.json["document"]["version"] == 2  # nothing changed: no new version

    versions = api.get("/api/v1/loyalty-rules/versions", headers=office).json["versions"]
    assert [(v["version"], v["changed_by"], v["fields"]) for v in versions] == [
        (2, "office", ["rate_milli_by_tier"]), (1, None, [])]
    assert versions[1]["document"]["rate_milli_by_tier"]["gold"] == 30  # what it was
    with central_db.read() as s:
        line = s.scalars(select(AuditEntry).where(
            AuditEntry.action == "masterdata:loyalty_rules")).one()
        assert line.subject == "loyalty_rules 2"
        assert (line.details["before"]["rate_milli_by_tier"]["gold"],
                line.details["after"]["rate_milli_by_tier"]["gold"]) == (30, 40)
        feed = [c for c in page(s, 0, 10_000, None)["changes"] if c["entity"] == "loyalty_rules"]
    assert feed[-1]["data"]["document"]["version"] == 2


def test_a_bad_change_is_refused_naming_its_field_and_changes_nothing(central_app, central_db,
                                                                      seeded):
    api, office = central_app.test_client(), who(seeded, "office")
    rates = api.get("/api/v1/loyalty-rules", headers=office).json["document"][
        "rate_milli_by_tier"]
    for changes, field in (
            ({"rate_milli_by_tier": {**rates, "gold": 2000}}, "rate_milli_by_tier.gold"),
            ({"rate_milli_by_tier": {**rates, "gold": -1}}, "rate_milli_by_tier.gold"),
            ({"rate_milli_by_tier": {**rates, "gold": "3 %"}}, "rate_milli_by_tier.gold"),
            ({"tiers": [["base", 0], ["silver", 500], ["gold", 400], ["platinum", 10**7]]},
             "tiers.2"),
            ({"minor_per_point": 0}, "minor_per_point"),
            ({"minor_per_point": "a rouble"}, "minor_per_point"),
            ({"offline_max_hours": -1}, "offline_max_hours"),
            ({"max_share_bp": 12_000}, "max_share_bp"),
            ({"version": 99}, "version"),
            ({"cashback": 5}, "cashback")):
        resp = api.patch("/api/v1/loyalty-rules", json={"changes": changes}, headers=office)
        assert resp.status_code == 422, (changes, resp.json)
        assert (resp.json["error"], resp.json["details"]["field"]) == ("bad_rules", field)
    russian = api.patch("/api/v1/loyalty-rules", headers={**office, "Accept-Language": "ru"},
                        json={"changes": {"rate_milli_by_tier": {**rates, "gold": 2000}}})
    assert russian.json["message"] == "Уровень возвращает не больше 100 % потраченного."
    assert api.patch("/api/v1/loyalty-rules", json={"changes": []},
                     headers=office).status_code == 422
    assert api.patch("/api/v1/loyalty-rules", json={"changes": {"min_points": 5}},
                     headers=who(seeded, "rm-msk")).status_code == 403
    with central_db.read() as s:
        assert s.scalar(select(func.max(LoyaltyRulesVersion.version))) == 1
        assert s.scalar(select(func.count()).where(
            AuditEntry.action == "masterdata:loyalty_rules")) == 0


def test_a_change_reaches_the_till_and_its_next_sale_earns_by_it(central_app, seeded, tills):
    """Milk and eggs, 209.80: 2 points at the demo's 1 %; the office makes it 5 %, the till
    pulls, and the same basket earns 10."""
    till, db = tills["pos-1"]

    def basket() -> int:
        for sku in ("1001", "1004"):
            assert till.post("/api/v1/cart/lines", json={"sku": sku, "quantity": 1}
                             ).status_code == 201
        assert till.post("/api/v1/cart/customer", json={"card_number": ANNA}).status_code == 200
        sale = till.post("/api/v1/cart/checkout", json={"payments": [
            {"method": "cash", "amount": 20980}]})
        assert sale.status_code == 201, sale.json
        return sum(ln["points_earned"] for ln in sale.json["lines"])

    assert basket() == 2
    api, office = central_app.test_client(), who(seeded, "office")
    rates = api.get("/api/v1/loyalty-rules", headers=office).json["document"][
        "rate_milli_by_tier"]
    assert api.patch("/api/v1/loyalty-rules", json={"changes": {
        "rate_milli_by_tier": {**rates, "base": 50}}}, headers=office).status_code == 200
    assert basket() == 2  # not pulled yet: the till sells by the version it holds
    sync_now(db)
    with db.read() as s:
        assert s.get(TillRules, 1).document["version"] == 2
    assert basket() == 10
