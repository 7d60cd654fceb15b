"""Bootstrap of a new node from central's snapshot, then the feed, on both central engines."""

import gzip
import json
import shutil
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text, update

from kassa.central import create_app as create_central
from kassa.central.access import people
from kassa.central.catalog.prices import delete_price, set_price
from kassa.central.catalog.products import create_product
from kassa.central.catalog.promotions import create_promotion
from kassa.central.catalog.stores import store_by_code
from kassa.central.crm import profiles
from kassa.central.models import ChangeFeedEntry, Node, Product
from kassa.central.models import Customer as CentralCustomer
from kassa.central.models import User as CentralUser
from kassa.central.replication import feed, snapshot
from kassa.common.config import CentralConfig
from kassa.common.db import Database
from kassa.pos_node.models import NodeIdentity, OutboxEvent, SaleLine, User
from kassa.pos_node.replication.bootstrap import (
    SnapshotError,
    apply_snapshot,
    bootstrap,
    bootstrap_if_new,
)
from kassa.pos_node.replication.client import CentralClient, SyncError, pull
from kassa.pos_node.sale import catalog, shifts
from kassa.pos_node.sale.cart import Tender
from kassa.pos_node.sale.sales import LineRequest, quick_sale
from tests.helpers import count, install_identity, signed

SNAPSHOT = "/api/v1/sync/snapshot"
REPLICA = ("stores", "role_limits", "products", "product_barcodes", "prices", "promotions",
           "users", "customers", "blocked_cards", "issuer_keys", "peer_nodes",
           "loyalty_accounts", "loyalty_rules")


@pytest.fixture
def chain(central_db, seeded):
    """The demo chain plus what a feed replay must get right: prices of each store (one set
    and deleted again), a price changed twice, a deactivated cashier, an edited customer, a
    customer of each region and one of none, and a promotion with a time window."""
    with central_db.transaction() as session:
        s001, s002 = store_by_code(session, "S001"), store_by_code(session, "S002")
        milk, bread = (session.scalars(select(Product).where(Product.sku == sku)).one()
                       for sku in ("1001", "1002"))
        set_price(session, milk, 7990, store=s001)
        set_price(session, milk, 6990, store=s002)
        delete_price(session, set_price(session, bread, 4990, store=s001))
        set_price(session, bread, 5590)
        set_price(session, bread, 5690)
        cashier = session.scalars(select(CentralUser).where(
            CentralUser.username == "cashier-s001")).one()
        people.set_user_active(session, cashier, False)
        people.create_user(session, "cashier-2-s002", "cashier", store=s002)
        petr = profiles.create_customer(session, "Petr Moskvin", home_store=s001)
        profiles.update_customer(session, petr, phone="+79990000001")
        profiles.create_customer(session, "Sofia Nevskaya", card_number="7770000000000099",
                                 home_store=s002)
        profiles.create_customer(session, "Walk-in Guest")
        start = datetime(2030, 1, 1, 9, 30, tzinfo=timezone.utc)
        create_promotion(session, "New year", "percent", [milk], percent_bp=500,
                         starts_at=start, ends_at=start + timedelta(days=7))
    return {"s001": s001.id, "s002": s002.id}


@pytest.fixture
def new_node(tmp_path, node_template, enrolled, live_central):
    """``new_node(name)``: a node database enrolled as pos-1 that has never synced."""
    node_id, key = enrolled
    made = []

    def make(name: str) -> tuple[Database, CentralClient]:
        path = tmp_path / f"{name}.sqlite"
        shutil.copyfile(node_template, path)
        db = Database(f"sqlite:///{path}")
        install_identity(db, node_id, 1, key, central_url=live_central)
        made.append((db, CentralClient(live_central, node_id, key, timeout=5)))
        return made[-1]

    yield make
    for db, client in made:
        client.http.close()
        db.dispose()


def contents(db: Database) -> dict[str, list[tuple]]:
    with db.read() as session:
        return {t: [tuple(r) for r in session.execute(text(f"SELECT * FROM {t} ORDER BY 1, 2"))]
                for t in REPLICA}


def cursor(db: Database) -> int:
    with db.read() as session:
        return session.scalars(select(NodeIdentity)).one().feed_cursor


def newest_version(central_db: Database) -> int:
    with central_db.read() as session:
        return session.scalar(select(func.max(ChangeFeedEntry.version)))


def snapshot_file(app, enrolled) -> bytes:
    resp = signed(app.test_client(), "GET", SNAPSHOT, *enrolled)
    assert resp.status_code == 200, resp.data[:300]
    assert resp.mimetype == "application/gzip" and "Content-Encoding" not in resp.headers
    return resp.data


def snapshot_lines(app, enrolled) -> list[dict]:
    raw = gzip.decompress(snapshot_file(app, enrolled))
    return [json.loads(line) for line in raw.splitlines()]


def test_a_bootstrapped_node_holds_what_a_full_pull_holds(chain, new_node, central_db):
    booted, client = new_node("booted")
    pulled, _ = new_node("pulled")
    result = bootstrap(booted, client)
    pull(pulled, client)
    assert contents(booted) == contents(pulled)
    assert len(contents(booted)["customers"]) == count(central_db, CentralCustomer)
    assert cursor(booted) == cursor(pulled) == result["feed_version"] == newest_version(central_db)
    with booted.read() as session:  # the name search index was rebuilt
        assert [hit["sku"] for hit in catalog.search(session, 1, "rye brea")] == ["1002"]


def test_after_bootstrap_the_feed_continues_from_the_snapshot(chain, new_node, central_db):
    node, client = new_node("node")
    first = bootstrap(node, client)
    with central_db.transaction() as session:
        butter = session.scalars(select(Product).where(Product.sku == "1003")).one()
        set_price(session, butter, 23990)
        create_product(session, "6001", "Kefir 1% 900 ml", 1000, 7990)
    assert pull(node, client) == 3  # only what changed after the snapshot
    assert cursor(node) == first["feed_version"] + 3
    with node.read() as session:
        assert catalog.find(session, 1, sku="1003").unit_price_minor == 23990
        # The name index's triggers are back: a product pulled later is found by name.
        assert [hit["sku"] for hit in catalog.search(session, 1, "kefir")] == ["6001"]


def test_a_node_with_sales_can_bootstrap_again(seeded, new_node):
    """Sale lines refer to replica products: emptying and refilling the products in the same
    transaction is fine, and the node's own facts are left alone."""
    node, client = new_node("node")
    bootstrap(node, client)
    with node.transaction() as session:
        manager = session.scalars(select(User).where(User.username == "sm-s001")).one()
        shifts.open_shift(session, manager, 0)
        quick_sale(session, manager, [LineRequest(2000, sku="1001")], [Tender("cash", 20000)])
    before = contents(node)
    again = bootstrap(node, client)
    assert contents(node) == before and again["feed_version"] == cursor(node)
    assert count(node, SaleLine) == 1 and count(node, OutboxEvent) == 2


def test_the_snapshot_is_the_feed_replayed_for_this_node(central_app, chain, enrolled,
                                                          central_db):
    lines = snapshot_lines(central_app, enrolled)
    header, rows, trailer = lines[0], lines[1:-1], lines[-1]
    assert header == {"format": "kassa-snapshot", "version": 1, "node_id": "pos-1",
                      "feed_version": newest_version(central_db)}
    assert trailer["end"] is True and trailer["rows"] == len(rows)
    with central_db.read() as session:
        replayed = {}
        scope = feed.NodeScope(1, 1, feed.REGION_ENTITIES)
        for change in feed.page(session, 0, 1000, scope)["changes"]:
            replayed[(change["entity"], change["key"])] = change["data"]
    replayed = {k: v for k, v in replayed.items() if v is not None}  # tombstones
    assert {(r["entity"], r["key"]): r["data"] for r in rows} == replayed
    prices = [r["data"] for r in rows if r["entity"] == "price"]
    users = [r["data"] for r in rows if r["entity"] == "user"]
    assert {p["store_id"] for p in prices} == {None, chain["s001"]}
    assert {u["store_id"] for u in users} == {chain["s001"]} and len(users) == 2


def test_customers_of_other_regions_stay_out_when_the_rule_says_so(central_db_url, chain,
                                                                    enrolled):
    app = create_central(CentralConfig(db_url=central_db_url, clock_skew_seconds=300,
                                       feed_customers="region"))
    try:
        names = {r["data"]["name"] for r in snapshot_lines(app, enrolled)[1:-1]
                 if r["entity"] == "customer"}
    finally:
        app.extensions["kassa_db"].dispose()
    assert {"Petr Moskvin", "Walk-in Guest"} <= names  # home region S001, and no home store
    assert "Sofia Nevskaya" not in names  # home store in the other region


def test_the_snapshot_is_one_consistent_read(chain, central_db):
    """A change committed while the snapshot is being read is not in it, and its version is
    above the snapshot's: the pull after the bootstrap brings it."""
    with snapshot.consistent_read(central_db) as conn:
        version = conn.scalar(select(func.max(ChangeFeedEntry.version)))
        rows = snapshot.rows(conn, feed.NodeScope(1, 1))
        first = next(rows)
        with central_db.transaction() as session:
            profiles.create_customer(session, "Late Arrival")
        rest = [first, *rows]
    assert "Late Arrival" not in {data.get("name") for _e, _k, data in rest}
    assert newest_version(central_db) == version + 1


def corrupt(raw: bytes, how: str) -> bytes:
    lines = gzip.decompress(raw).splitlines(keepends=True)
    if how == "no trailer":
        return gzip.compress(b"".join(lines[:-1]))
    if how == "cut download":
        return raw[:len(raw) * 2 // 3]
    if how == "bad line":
        return gzip.compress(b"".join(lines[:5] + [b'{"entity": "price", "key": \n'] + lines[5:]))
    if how == "wrong count":
        return gzip.compress(b"".join(lines[:3] + lines[4:]))
    if how == "other node":
        return gzip.compress(b"".join([lines[0].replace(b"pos-1", b"pos-2"), *lines[1:]]))
    raise AssertionError(how)


@pytest.mark.parametrize("how", ["no trailer", "cut download", "bad line", "wrong count",
                                 "other node"])
def test_a_broken_snapshot_changes_nothing(central_app, chain, enrolled, node_db, central_db,
                                           how):
    install_identity(node_db, enrolled[0], 1, enrolled[1])
    apply_snapshot(node_db, [snapshot_file(central_app, enrolled)])
    before, at = contents(node_db), cursor(node_db)
    with central_db.transaction() as session:  # so that applying it would change things
        profiles.create_customer(session, "Only In The Snapshot")
    raw = snapshot_file(central_app, enrolled)
    broken = corrupt(raw, how)
    with pytest.raises(SnapshotError) as err:
        apply_snapshot(node_db, [broken[i:i + 512] for i in range(0, len(broken), 512)])
    assert err.value.code == "bad_snapshot"
    assert contents(node_db) == before and cursor(node_db) == at
    apply_snapshot(node_db, [raw])  # the whole file applies
    assert len(contents(node_db)["customers"]) == len(before["customers"]) + 1
    assert cursor(node_db) == at + 1


def test_the_snapshot_wants_a_signed_request(central_app, enrolled):
    client = central_app.test_client()
    resp = client.get(SNAPSHOT)
    assert resp.status_code == 401 and resp.json["error"] == "unsigned_request"
    resp = signed(client, "GET", SNAPSHOT + "?since=5", *enrolled)
    assert resp.status_code == 422 and resp.json["error"] == "invalid_input"


def test_only_a_node_that_never_synced_bootstraps(chain, new_node, central_db):
    node, _client = new_node("node")
    first = bootstrap_if_new(node.url, timeout=5)
    assert first["feed_version"] == cursor(node) and first["bytes"] > 0
    assert bootstrap_if_new(node.url, timeout=5) is None


def test_a_refused_bootstrap_changes_nothing(chain, new_node, central_db):
    node, client = new_node("node")
    with central_db.transaction() as session:
        session.execute(update(Node).where(Node.id == "pos-1").values(active=False))
    with pytest.raises(SyncError) as err:
        bootstrap(node, client)
    assert err.value.code == "unknown_node"
    assert cursor(node) == 0 and not any(contents(node).values())
