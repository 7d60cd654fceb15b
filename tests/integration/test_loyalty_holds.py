"""Central's loyalty ledger and redemption holds, on SQLite and PostgreSQL: entries count once,
the cached balance equals the ledger, and tills racing for the same points never overdraw."""

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests
from sqlalchemy import select

from kassa.central.membership import loyalty_accounts, loyalty_rules
from kassa.central.models import Customer, LoyaltyAccount
from kassa.common.signing import signature_headers
from kassa.loyalty.ledger import EntryKind, LedgerEntry
from tests.helpers import signed

NOW = datetime(2026, 11, 27, 10, 0, tzinfo=timezone.utc)


@pytest.fixture
def account(central_db):
    """Anna's account with 300 points."""
    with central_db.transaction() as session:
        anna = session.scalars(select(Customer).where(Customer.name == "Anna Petrova")).one()
        acc = loyalty_accounts.open_account(session, anna)
        loyalty_accounts.post(session, acc.id, LedgerEntry(
            "sale:s1:1:earn", EntryKind.EARN, 300, NOW, NOW + timedelta(days=365)))
        return acc.id


def balance(db, account_id):
    with db.read() as session:
        acc = session.get(LoyaltyAccount, account_id)
        return acc.balance, acc.held


def test_entries_count_once_and_the_cache_equals_the_ledger(central_db, account):
    again = LedgerEntry("sale:s1:1:earn", EntryKind.EARN, 300, NOW, NOW + timedelta(days=365))
    with central_db.transaction() as session:
        assert loyalty_accounts.post(session, account, again) is False
        with pytest.raises(loyalty_accounts.Conflict) as err:
            loyalty_accounts.post(session, account,
                                  LedgerEntry("sale:s1:1:earn", EntryKind.EARN, 30, NOW))
        assert err.value.code == "ledger_conflict"
        loyalty_accounts.post(session, account,
                              LedgerEntry("adjust:1", EntryKind.ADJUSTMENT, -20, NOW))
    with central_db.read() as session:
        assert loyalty_accounts.check_balance(session, account) == (280, 280)


def test_hold_commit_and_release_are_idempotent(central_app, central_db, enrolled, account):
    client = central_app.test_client()
    node_id, key = enrolled
    sale = str(uuid.uuid4())
    resp = signed(client, "POST", "/api/v1/loyalty/holds", node_id, key,
                  {"account_id": str(account), "points": 120, "sale_id": sale})
    assert resp.status_code == 201 and resp.json["status"] == "held", resp.json
    hold_id = resp.json["id"]
    assert balance(central_db, account) == (300, 120)
    too_much = signed(client, "POST", "/api/v1/loyalty/holds", node_id, key,
                      {"account_id": str(account), "points": 181})
    assert too_much.status_code == 409 and too_much.json["details"]["available"] == 180
    for _ in range(2):  # the answer lost: the till commits again
        done = signed(client, "POST", f"/api/v1/loyalty/holds/{hold_id}/commit", node_id, key,
                      {"sale_id": sale})
        assert done.status_code == 200 and done.json["status"] == "committed"
    assert balance(central_db, account) == (180, 0)
    other = signed(client, "POST", f"/api/v1/loyalty/holds/{hold_id}/commit", node_id, key,
                   {"sale_id": str(uuid.uuid4())})
    assert other.status_code == 409 and other.json["error"] == "hold_conflict"
    late = signed(client, "POST", f"/api/v1/loyalty/holds/{hold_id}/release", node_id, key)
    assert late.status_code == 409 and late.json["error"] == "hold_closed"

    second = signed(client, "POST", "/api/v1/loyalty/holds", node_id, key,
                    {"account_id": str(account), "points": 80}).json["id"]
    for _ in range(2):
        freed = signed(client, "POST", f"/api/v1/loyalty/holds/{second}/release", node_id, key)
        assert freed.status_code == 200 and freed.json["status"] == "released"
    assert balance(central_db, account) == (180, 0)
    with central_db.read() as session:
        assert loyalty_accounts.check_balance(session, account) == (180, 180)
    unknown = signed(client, "POST", f"/api/v1/loyalty/holds/{uuid.uuid4()}/release",
                     node_id, key)
    assert unknown.status_code == 404 and unknown.json["error"] == "hold_not_found"


def test_expired_holds_free_their_points(central_db, enrolled, account):
    with central_db.transaction() as session:
        loyalty_accounts.hold(session, account, "pos-1", 200, ttl=timedelta(seconds=-1))
    with central_db.transaction() as session:
        assert loyalty_accounts.expire_holds(session) == 1
    assert balance(central_db, account) == (300, 0)


def test_fifty_tills_racing_for_the_same_points_never_overdraw(live_central, central_db,
                                                               enrolled, account):
    """Fifty concurrent holds of 10 points over real HTTP against 300 points: exactly thirty
    are granted, the rest refused with insufficient_points, and nothing is held twice."""
    node_id, key = enrolled
    start = threading.Barrier(50)
    outcomes: list[int] = []

    def till():
        import json
        body = json.dumps({"account_id": str(account), "points": 10}).encode()
        headers = {"Content-Type": "application/json",
                   **signature_headers(node_id, key, "POST", "/api/v1/loyalty/holds", body)}
        start.wait()
        resp = requests.post(f"{live_central}/api/v1/loyalty/holds", data=body,
                             headers=headers, timeout=30)
        outcomes.append(resp.status_code)

    threads = [threading.Thread(target=till) for _ in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(outcomes) == [201] * 30 + [409] * 20
    assert balance(central_db, account) == (300, 300)


def test_rules_and_balances_reach_the_tills(central_db, account, node_db, node_key):
    from kassa.central.replication.feed import NodeScope, page
    from kassa.loyalty import settings
    from kassa.pos_node.models import LoyaltyAccount as NodeAccount
    from kassa.pos_node.models import LoyaltyRules, NodeIdentity
    from kassa.pos_node.replication import replica
    from tests.helpers import install_identity

    with central_db.transaction() as session:
        with pytest.raises(loyalty_rules.Invalid) as err:
            loyalty_rules.set_rules(session, {**settings.DEFAULT, "tiers": [["base", 5]]})
        assert err.value.code == "bad_rules"
        loyalty_rules.set_rules(session, {**settings.DEFAULT, "offline_points_per_day": 300})
    install_identity(node_db, "pos-1", 1, node_key)
    with central_db.read() as central, node_db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).one()
        feed = page(central, 0, 1000, NodeScope(1, 1))
        replica.apply_page(session, node, feed["changes"], feed["next_since"])
    with node_db.read() as session:
        assert session.get(NodeAccount, account).balance == 300
        rules = settings.parse(session.get(LoyaltyRules, 1).document)
    assert rules.offline.points_per_day == 300 and rules.redemption.minor_per_point == 100


def test_an_overdrawn_account_is_in_the_fraud_report_until_earnings_repay_it(
        central_app, central_db, account, seeded):
    from tests.helpers import basic_auth

    def get(user):
        return central_app.test_client().get(
            "/api/v1/reports/loyalty-overdrafts",
            headers=basic_auth(user, seeded["users"][user]["password"]))

    with central_db.transaction() as session:  # two tills offline spent the same points
        loyalty_accounts.post(session, account,
                              LedgerEntry("sale:a:burn", EntryKind.BURN, -250, NOW))
        loyalty_accounts.post(session, account,
                              LedgerEntry("sale:b:burn", EntryKind.BURN, -200, NOW))
    (row,) = get("office").json["accounts"]
    assert row["balance"] == -150 and {b["cause"] for b in row["burns"]} == {"sale:a:burn",
                                                                             "sale:b:burn"}
    assert len(get("rm-msk").json["accounts"]) == 1  # Anna's home store is in Moscow
    assert get("rm-spb").json["accounts"] == []
    assert get("sm-s001").status_code == 403
    with central_db.transaction() as session:
        loyalty_accounts.post(session, account,
                              LedgerEntry("sale:c:1:earn", EntryKind.EARN, 150, NOW))
    assert get("office").json["accounts"] == []
