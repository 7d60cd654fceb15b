"""What central does when sync meets real life, on SQLite and PostgreSQL: events it cannot apply,
late facts, replayed requests, skewed clocks, rotated and revoked keys, node status,
reconciliation, business-day close, per-node feeds and customers edited at two ends."""

import json
import uuid
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from kassa.central.access import people
from kassa.central.catalog.prices import delete_price, set_price
from kassa.central.catalog.stores import store_by_code
from kassa.central.crm import profiles
from kassa.central.models import (
    AuditEntry,
    Customer,
    Node,
    Price,
    Product,
    QuarantinedEvent,
    Sale,
    User,
)
from kassa.common.errors import Invalid
from kassa.common.signing import generate_private_key_pem, public_key_pem
from tests.helpers import basic_auth, count, signed
from tests.integration.test_sync_central import push, sale_event

STATUS = "/api/v1/sync/status"
MOSCOW = ZoneInfo("Europe/Moscow")  # the demo stores' zone


def basic(seeded, username):
    return basic_auth(username, seeded["users"][username]["password"])


def event(seq, kind, payload):
    return {"seq": seq, "event_id": str(uuid.uuid4()), "kind": kind,
            "occurred_at": datetime.now(timezone.utc).isoformat(), "payload": payload}


def cashier_id(db):
    with db.read() as session:
        return session.scalar(select(User.id).where(User.username == "cashier-s001"))


def shift_opened(seq, shift_id, at, cashier):
    return event(seq, "shift.opened", {"shift_id": shift_id, "number": 1, "cashier_id": cashier,
                                       "opened_at": at.isoformat(), "opening_float_minor": 0})


def shift_closed(seq, shift_id, at, cashier):
    return event(seq, "shift.closed", {
        "shift_id": shift_id, "closed_at": at.isoformat(), "closed_by": cashier,
        "expected_cash_minor": 0,
        "counted_cash_minor": 0, "cash_in_minor": 0, "cash_out_minor": 0})


def held(db):
    with db.read() as session:
        return {q.seq: q for q in session.scalars(
            select(QuarantinedEvent).where(QuarantinedEvent.status == "held"))}


def test_dependents_wait_in_quarantine_and_replay_after_repair(central_app, central_db,
                                                               enrolled, seeded):
    client = central_app.test_client()
    bad = sale_event(1, product_id=9999)
    post_void = event(2, "sale.post_voided", {
        "sale_id": bad["payload"]["sale_id"], "receipt_no": bad["payload"]["receipt_no"],
        "override_id": str(uuid.uuid4()), "reason": "wrong",
        "at": datetime.now(timezone.utc).isoformat()})
    resp = push(client, enrolled, [bad, post_void, sale_event(3)])
    assert resp.json == {"high_water": 3, "applied": 3}
    quarantined = held(central_db)
    assert {s: q.reason for s, q in quarantined.items()} == {
        1: "unknown_reference", 2: "depends_on_quarantined"}
    assert quarantined[2].depends_on_seq == 1 and count(central_db, Sale) == 1

    office = basic(seeded, "office")
    listed = client.get("/api/v1/quarantine", headers=office).json["events"]
    assert [e["seq"] for e in listed] == [1, 2]
    early = client.post(f"/api/v1/quarantine/{quarantined[2].id}/replay", json={},
                        headers=office)
    assert early.status_code == 409 and early.json["error"] == "dependency_held"
    as_is = client.post(f"/api/v1/quarantine/{quarantined[1].id}/replay", json={},
                        headers=office)
    assert as_is.status_code == 422 and as_is.json["error"] == "unknown_reference"
    repaired = dict(bad["payload"], lines=[dict(bad["payload"]["lines"][0], product_id=1)])
    ok = client.post(f"/api/v1/quarantine/{quarantined[1].id}/replay",
                     json={"payload": repaired, "note": "product id typo"}, headers=office)
    assert ok.status_code == 200 and ok.json["status"] == "replayed", ok.json
    ok = client.post(f"/api/v1/quarantine/{quarantined[2].id}/replay", json={}, headers=office)
    assert ok.status_code == 200, ok.json
    with central_db.read() as session:
        sale = session.get(Sale, uuid.UUID(bad["payload"]["sale_id"]))
        assert sale.status == "post_voided"
        assert session.scalar(select(AuditEntry.reason).where(
            AuditEntry.action == "quarantine:replayed",
            AuditEntry.reference_id == uuid.UUID(bad["event_id"]))) == "product id typo"
    assert held(central_db) == {}
    again = client.post(f"/api/v1/quarantine/{quarantined[1].id}/replay", json={},
                        headers=office)
    assert again.status_code == 409 and again.json["error"] == "not_held"


def test_discarding_needs_a_reason_and_an_operator(central_app, central_db, enrolled, seeded):
    client = central_app.test_client()
    push(client, enrolled, [event(1, "sale.teleported", {})])
    (q,) = held(central_db).values()
    url = f"/api/v1/quarantine/{q.id}/discard"
    assert client.post(url, json={"reason": "x"},
                       headers=basic(seeded, "rm-msk")).status_code == 403
    assert client.post(url, json={"reason": ""}, headers=basic(seeded, "office")).status_code \
        == 422
    ok = client.post(url, json={"reason": "test event from a dev build"},
                     headers=basic(seeded, "office"))
    assert ok.status_code == 200 and ok.json["status"] == "discarded"
    gone = client.get("/api/v1/quarantine?status=discarded", headers=basic(seeded, "office"))
    assert [e["seq"] for e in gone.json["events"]] == [1]
    assert client.post("/api/v1/quarantine/999999/replay", json={},
                       headers=basic(seeded, "office")).status_code == 404


def test_a_late_sale_keeps_its_time_and_is_flagged(central_app, central_db, enrolled, seeded):
    """A sale from an offline till arrives after central saw its shift closed (here: it was
    quarantined, then replayed); another arrives for a business day central closed."""
    client = central_app.test_client()
    three_days_ago = datetime.now(timezone.utc) - timedelta(days=3)
    shift_id = str(uuid.uuid4())
    late = sale_event(2, product_id=9999)
    late["payload"].update(shift_id=shift_id, sold_at=three_days_ago.isoformat())
    cashier = cashier_id(central_db)
    push(client, enrolled, [shift_opened(1, shift_id, three_days_ago, cashier), late,
                            shift_closed(3, shift_id, three_days_ago + timedelta(hours=8),
                                         cashier)])
    (q,) = held(central_db).values()
    repaired = dict(late["payload"], lines=[dict(late["payload"]["lines"][0], product_id=1)])
    assert client.post(f"/api/v1/quarantine/{q.id}/replay", json={"payload": repaired},
                       headers=basic(seeded, "office")).status_code == 200

    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date()
    closed = client.post("/api/v1/business-days/close", json={
        "store_code": "S001", "day": yesterday.isoformat(), "force": True},
        headers=basic(seeded, "office"))
    assert closed.status_code == 200, closed.json
    after_close = sale_event(4)
    after_close["payload"]["sold_at"] = datetime.combine(
        yesterday, datetime.min.time(), tzinfo=timezone.utc).replace(hour=15).isoformat()
    push(client, enrolled, [after_close])
    with central_db.read() as session:
        sales = {s.receipt_no: s for s in session.scalars(select(Sale))}
    assert sales["pos-1-00000002"].late_reason == "shift_closed"
    assert sales["pos-1-00000002"].sold_at == three_days_ago
    assert sales["pos-1-00000004"].late_reason == "day_closed"

    report = client.get(f"/api/v1/reports/reconciliation?from={three_days_ago.date()}"
                        f"&to={yesterday}", headers=basic(seeded, "office")).json
    late_by_day = {r["day"]: r["late_sales"] for r in report["rows"]}  # the store's days
    assert late_by_day == {three_days_ago.astimezone(MOSCOW).date().isoformat(): 1,
                           yesterday.isoformat(): 1}


def test_a_replayed_request_is_refused(central_app, enrolled):
    client = central_app.test_client()
    node_id, key = enrolled
    body = {"node_id": node_id, "events": [sale_event(1)]}
    first = signed(client, "POST", "/api/v1/sync/push", node_id, key, body,
                   nonce="same-nonce-0123456789")
    again = signed(client, "POST", "/api/v1/sync/push", node_id, key, body,
                   nonce="same-nonce-0123456789")
    assert first.status_code == 200
    assert again.status_code == 401 and again.json["error"] == "replayed_request"
    short = signed(client, "POST", "/api/v1/sync/push", node_id, key, body, nonce="short")
    assert short.status_code == 401 and short.json["error"] == "unsigned_request"


def node_state(client, seeded, node_id="pos-1"):
    nodes = client.get("/api/v1/nodes/status", headers=basic(seeded, "office")).json["nodes"]
    return next(n for n in nodes if n["node_id"] == node_id)


def test_central_names_a_node_whose_clock_is_off(central_app, enrolled, seeded):
    client = central_app.test_client()
    node_id, key = enrolled
    day_ahead = int(datetime.now(timezone.utc).timestamp()) + 86400
    resp = signed(client, "GET", "/api/v1/sync/changes", node_id, key, stamp=day_ahead)
    assert resp.status_code == 401 and resp.json["error"] == "clock_skew"
    state = node_state(client, seeded)
    assert state["state"] == "clock_skew" and 86000 < state["clock_skew_seconds"] <= 86400
    assert signed(client, "GET", "/api/v1/sync/changes", node_id, key).status_code == 200
    assert node_state(client, seeded)["state"] == "online"


def test_keys_rotate_without_downtime_and_revocation_is_immediate(central_app, central_db,
                                                                  enrolled, seeded):
    client = central_app.test_client()
    node_id, old = enrolled
    new = generate_private_key_pem()
    rotate = {"public_key_pem": public_key_pem(new)}
    resp = signed(client, "POST", "/api/v1/sync/rotate-key", node_id, old, rotate)
    assert resp.status_code == 200 and resp.json["previous_key_valid_until"]
    # A request signed with the old key just before the switch still passes, and a retry of
    # the rotation (its answer lost) changes nothing.
    assert signed(client, "GET", "/api/v1/sync/changes", node_id, old).status_code == 200
    assert signed(client, "POST", "/api/v1/sync/rotate-key", node_id, old,
                  rotate).status_code == 200
    assert signed(client, "GET", "/api/v1/sync/changes", node_id, new).status_code == 200
    with central_db.transaction() as session:
        session.execute(update(Node).where(Node.id == node_id).values(
            previous_key_until=datetime.now(timezone.utc) - timedelta(seconds=1)))
    expired = signed(client, "GET", "/api/v1/sync/changes", node_id, old)
    assert expired.status_code == 401 and expired.json["error"] == "bad_signature"

    assert client.post(f"/api/v1/nodes/{node_id}/revoke",
                       headers=basic(seeded, "office"), json={}).status_code == 403
    revoked = client.post(f"/api/v1/nodes/{node_id}/revoke", headers=basic(seeded, "admin"),
                          json={})
    assert revoked.status_code == 200 and revoked.json["nodes"][0]["state"] == "revoked"
    refused = signed(client, "GET", "/api/v1/sync/changes", node_id, new)
    assert refused.status_code == 401 and refused.json["error"] == "unknown_node"
    with central_db.read() as session:
        node_changes = [c for c in feed_of(session) if c["entity"] == "node"]
    assert node_changes[-1]["deleted"] and not node_changes[0]["deleted"]


def feed_of(session, scope=None):
    from kassa.central.replication.feed import page
    return page(session, 0, 1000, scope)["changes"]


def report(client, enrolled, days, seq=0, depth=0):
    node_id, key = enrolled
    return signed(client, "POST", STATUS, node_id, key, {
        "node_id": node_id, "node_seq": seq, "queue_depth": depth, "feed_cursor": 0,
        "days": days})


def test_reconciliation_sets_node_counts_beside_centrals(central_app, enrolled, seeded):
    client = central_app.test_client()
    today = datetime.now(MOSCOW).date().isoformat()  # the store's day, as its till counts
    push(client, enrolled, [sale_event(1), sale_event(2)])
    resp = report(client, enrolled, [{"day": today, "sales_count": 3, "sales_minor": 3 * 17980,
                                      "returns_count": 0, "returns_minor": 0}], seq=3, depth=1)
    assert resp.status_code == 200 and resp.json == {"high_water": 2, "quarantined": 0}
    state = node_state(client, seeded)
    assert (state["node_seq"], state["events_behind"], state["queue_depth"]) == (3, 1, 1)
    url = f"/api/v1/reports/reconciliation?from={today}&to={today}"
    (row,) = client.get(url, headers=basic(seeded, "rm-msk")).json["rows"]
    assert (row["node_sales_count"], row["central_sales_count"], row["status"]) == \
        (3, 2, "mismatch")
    push(client, enrolled, [sale_event(3)])
    report(client, enrolled, [{"day": today, "sales_count": 3, "sales_minor": 3 * 17980,
                               "returns_count": 0, "returns_minor": 0}], seq=3)
    (row,) = client.get(url, headers=basic(seeded, "office")).json["rows"]
    assert row["status"] == "match"
    assert client.get(url, headers=basic(seeded, "rm-spb")).json["rows"] == []
    bad = client.get(f"/api/v1/reports/reconciliation?from={today}&to=2000-01-01",
                     headers=basic(seeded, "office"))
    assert bad.status_code == 422
    wrong_node = signed(client, "POST", STATUS, enrolled[0], enrolled[1], {
        "node_id": "pos-2", "node_seq": 0, "queue_depth": 0, "feed_cursor": 0})
    assert wrong_node.status_code == 403


def test_closing_a_day_warns_of_nodes_that_may_hold_its_events(central_app, enrolled, seeded):
    client = central_app.test_client()
    # S001's days are Moscow's: from 21:00 UTC on, the UTC date is already Moscow's yesterday.
    yesterday = (datetime.now(MOSCOW) - timedelta(days=1)).date().isoformat()
    body = {"store_code": "S001", "day": yesterday}
    report(client, enrolled, [], seq=5, depth=2)
    refused = client.post("/api/v1/business-days/close", json=body,
                          headers=basic(seeded, "rm-msk"))
    assert refused.status_code == 409 and refused.json["error"] == "unsynced_nodes"
    assert [n["node_id"] for n in refused.json["details"]["nodes"]] == ["pos-1"]
    assert refused.json["details"]["nodes"][0]["events_behind"] == 5
    other_region = client.post("/api/v1/business-days/close", json=body,
                               headers=basic(seeded, "rm-spb"))
    assert other_region.status_code == 404
    forced = client.post("/api/v1/business-days/close", json={**body, "force": True},
                         headers=basic(seeded, "rm-msk"))
    assert forced.status_code == 200 and forced.json["unsynced_nodes"][0]["node_id"] == "pos-1"
    twice = client.post("/api/v1/business-days/close", json={**body, "force": True},
                        headers=basic(seeded, "office"))
    assert twice.status_code == 409 and twice.json["error"] == "day_closed"
    today = client.post("/api/v1/business-days/close", json={
        "store_code": "S001", "day": datetime.now(MOSCOW).date().isoformat()},
        headers=basic(seeded, "office"))
    assert today.status_code == 422 and today.json["error"] == "day_not_over"


def test_each_node_gets_only_its_share_of_the_feed(central_db, seeded):
    from kassa.central.replication.feed import NodeScope
    with central_db.transaction() as session:
        s002 = store_by_code(session, "S002")
        milk = session.scalars(select(Product).where(Product.sku == "1001")).one()
        set_price(session, milk, 7990, store=s002)
    with central_db.read() as session:
        s001 = NodeScope(store_id=1, region_id=1)
        changes = feed_of(session, s001)
        users = {c["data"]["username"] for c in changes if c["entity"] == "user"}
        prices = [c["data"] for c in changes if c["entity"] == "price"]
        assert users == {"sm-s001", "cashier-s001"}
        assert all(p["store_id"] is None for p in prices) and len(prices) == 12
        assert len([c for c in changes if c["entity"] == "customer"]) == 3
        regional = feed_of(session, NodeScope(1, 1, frozenset({"customer"})))
        assert {c["data"]["name"] for c in regional if c["entity"] == "customer"} == {
            "Anna Petrova", "Ivan Sidorov"}
        s002_changes = feed_of(session, NodeScope(2, 2))
        assert 7990 in {c["data"]["amount_minor"] for c in s002_changes
                        if c["entity"] == "price"}
        from kassa.central.replication.feed import page
        last = page(session, 0, 1000)["next_since"]
        # Entries for other nodes only at the end: the cursor still moves past them, as far
        # as the version read when the request was checked in when one is given (entries
        # after it are looked at again by the next pull, never skipped).
        assert page(session, last - 1, 10, s001)["next_since"] == last
        assert page(session, last - 1, 10, s001, newest=last)["next_since"] == last
        assert page(session, last - 1, 10, s001, newest=last - 1)["next_since"] == last - 1


def customer_update(seq, customer_id, changes):
    return event(seq, "customer.updated", {
        "customer_id": str(customer_id), "changes": changes, "user_id": None,
        "at": datetime.now(timezone.utc).isoformat()})


def test_customer_edits_merge_field_by_field_and_central_wins_conflicts(central_app,
                                                                        central_db, enrolled):
    with central_db.transaction() as session:
        anna = session.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one()
        profiles.update_customer(session, anna, email="anna@central.example")  # central's own edit
        anna_id, phone = anna.id, anna.phone
    resp = push(central_app.test_client(), enrolled, [customer_update(1, anna_id, {
        "phone": {"was": phone, "now": "+79990001122"},
        "email": {"was": None, "now": "anna@till.example"}})])
    assert resp.status_code == 200 and held(central_db) == {}
    with central_db.read() as session:
        anna = session.get(Customer, anna_id)
        assert (anna.phone, anna.email) == ("+79990001122", "anna@central.example")
        conflict = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "sync_conflict")).one()
        assert "email" in conflict.subject and "anna@central.example" in conflict.reason
        newest = [c for c in feed_of(session) if c["entity"] == "customer"][-1]
        assert newest["data"]["phone"] == "+79990001122"
        assert newest["data"]["email"] == "anna@central.example"
    unknown = push(central_app.test_client(), enrolled, [customer_update(2, uuid.uuid4(), {
        "phone": {"was": None, "now": "+7000"}})])
    assert unknown.status_code == 200 and held(central_db)[2].reason == "unknown_reference"


@pytest.mark.parametrize("role, allowed", [("office", True), ("rm-spb", True),
                                           ("sm-s001", True), ("admin", True)])
def test_node_status_is_scoped_to_the_reader(central_app, enrolled, seeded, role, allowed):
    client = central_app.test_client()
    signed(client, "GET", "/api/v1/sync/changes", *enrolled)
    resp = client.get("/api/v1/nodes/status", headers=basic(seeded, role))
    assert resp.status_code == 200
    ids = [n["node_id"] for n in resp.json["nodes"]]
    expected = {"office": ["pos-1", "pos-2"], "admin": ["pos-1", "pos-2"],
                "rm-spb": ["pos-2"], "sm-s001": ["pos-1"]}[role]
    assert ids == expected


def test_operators_work_the_quarantine_from_the_cli(central_app, central_db_url, central_db,
                                                    enrolled, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kassa.cli import main

    bad = sale_event(1, product_id=9999)
    push(central_app.test_client(), enrolled, [bad, sale_event(2, product_id=8888)])
    monkeypatch.setenv("KASSA_CENTRAL_DB", central_db_url)
    run = CliRunner().invoke
    listed = run(main, ["central", "quarantine", "list"])
    assert listed.exit_code == 0 and listed.output.count("unknown_reference") == 2
    ids = sorted(held(central_db)[s].id for s in (1, 2))
    shown = run(main, ["central", "quarantine", "show", str(ids[0])])
    payload = json.loads(shown.output)
    payload["lines"][0]["product_id"] = 1
    fixed = tmp_path / "fixed.json"
    fixed.write_text(json.dumps(payload))
    replayed = run(main, ["central", "quarantine", "replay", str(ids[0]), "--payload",
                          str(fixed), "--note", "typo"])
    assert replayed.exit_code == 0, replayed.output
    still_bad = run(main, ["central", "quarantine", "replay", str(ids[1])])
    assert still_bad.exit_code == 1 and "unknown_reference" in still_bad.output
    by_node = run(main, ["central", "quarantine", "replay-node", "pos-1"])
    assert "seq 2: unknown_reference" in by_node.output
    discarded = run(main, ["central", "quarantine", "discard", str(ids[1]), "--reason",
                           "no such product was ever sold"])
    assert discarded.exit_code == 0 and held(central_db) == {}
    nodes = run(main, ["central", "nodes"])
    assert nodes.exit_code == 0 and "pos-1" in nodes.output and "online" in nodes.output
    yesterday = (datetime.now(timezone.utc) - timedelta(days=1)).date().isoformat()
    refused = run(main, ["central", "close-day", "S001", yesterday])
    assert refused.exit_code == 1 and "unsynced_nodes" in refused.output
    forced = run(main, ["central", "close-day", "S001", yesterday, "--force"])
    assert forced.exit_code == 0 and "pos-1" in forced.output


def test_deletes_travel_as_tombstones_and_reach_the_replica(central_db, seeded, node_db,
                                                            node_key):
    from kassa.central.replication.feed import NodeScope, page
    from kassa.pos_node.models import NodeIdentity
    from kassa.pos_node.models import Price as NodePrice
    from kassa.pos_node.models import User as NodeUser
    from kassa.pos_node.replication import replica
    from tests.helpers import install_identity

    install_identity(node_db, "pos-1", 1, node_key)
    s001 = NodeScope(store_id=1, region_id=1)

    def pull():
        with central_db.read() as central, node_db.transaction() as session:
            node = session.query(NodeIdentity).one()
            changes = page(central, node.feed_cursor, 1000, s001)
            replica.apply_page(session, node, changes["changes"], changes["next_since"])
            return changes["changes"]

    with central_db.transaction() as session:
        s1 = store_by_code(session, "S001")
        milk = session.scalars(select(Product).where(Product.sku == "1001")).one()
        own_price = set_price(session, milk, 7490, store=s1)
        own_id = own_price.id
    pull()
    with node_db.read() as session:
        assert session.get(NodePrice, own_id).amount_minor == 7490
    with central_db.transaction() as session:
        delete_price(session, session.get(Price, own_id))
        cashier = session.scalars(select(User).where(
            User.username == "cashier-s001")).one()
        people.set_user_active(session, cashier, False)
        with pytest.raises(Invalid):
            chain = session.scalars(select(Price).where(Price.store_id.is_(None))).first()
            delete_price(session, chain)
    changes = pull()
    assert [c["deleted"] for c in changes if c["entity"] == "price"] == [True]
    with node_db.read() as session:
        assert session.get(NodePrice, own_id) is None
        assert session.query(NodeUser).filter_by(username="cashier-s001").one().active is False
