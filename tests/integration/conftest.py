"""Integration fixtures: central apps on both engines, node apps on SQLite, demo master data."""

from __future__ import annotations

import shutil

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from kassa.central import create_app as create_central
from kassa.central.demo_data import seed
from kassa.central.models import MIGRATIONS
from kassa.central.replication import feed
from kassa.central.replication.nodes import enroll_node
from kassa.common.config import CentralConfig, NodeConfig
from kassa.common.db import Database
from kassa.common.signing import generate_private_key_pem, public_key_pem
from kassa.common.storage.migrate import upgrade
from kassa.pos_node import create_app as create_node
from kassa.pos_node.models import NodeIdentity
from kassa.pos_node.replication import replica
from kassa.pos_node.replication.client import sync_now
from tests.helpers import free_port, install_identity


@pytest.fixture
def central_db(central_db_url):
    db = Database(central_db_url)
    yield db
    db.dispose()


@pytest.fixture
def seeded(demo_secrets):
    """The demo chain's secrets: central_db already holds two regions and stores, products,
    users and nodes pos-1 and pos-2 (see tests/conftest.py)."""
    return demo_secrets


@pytest.fixture
def central_app(central_db_url, central_db):
    app = create_central(CentralConfig(db_url=central_db_url, clock_skew_seconds=300))
    yield app
    app.extensions["kassa_db"].dispose()


@pytest.fixture
def node_key():
    return generate_private_key_pem()


@pytest.fixture
def enrolled(central_db, seeded, node_key):
    """pos-1 enrolled at central with ``node_key``; returns (node_id, key_pem)."""
    with central_db.transaction() as session:
        enroll_node(session, "pos-1", seeded["nodes"]["pos-1"]["enroll_code"],
                    public_key_pem(node_key))
    return "pos-1", node_key


@pytest.fixture(scope="session")
def demo_feed(tmp_path_factory):
    """Central's change feed after the demo seed, computed once per session (SQLite central)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('feed') / 'central.sqlite'}"
    upgrade(MIGRATIONS, url)
    db = Database(url)
    with db.transaction() as session:
        secrets = seed(session)
        page = feed.page(session, 0, 1000)
    db.dispose()
    assert not page["more"]
    return {**page, "secrets": secrets}


@pytest.fixture
def node_db(node_db_url):
    db = Database(node_db_url)
    yield db
    db.dispose()


@pytest.fixture
def stocked_node(node_db, demo_feed, node_key):
    """A node for store 1 (S001) whose replica holds the demo master data."""
    install_identity(node_db, "pos-1", 1, node_key)
    with node_db.transaction() as session:
        node = session.scalars(select(NodeIdentity)).one()
        replica.apply_page(session, node, demo_feed["changes"], demo_feed["next_since"])
    return node_db


@pytest.fixture
def node_app(node_db_url, stocked_node):
    app = create_node(NodeConfig(db_url=node_db_url, push_batch_size=200, http_timeout=5))
    yield app
    app.extensions["kassa_db"].dispose()


@pytest.fixture
def pins(demo_feed):
    """PINs of the demo chain's till users (cashier-s001, sm-s001, ...)."""
    return {u: v["pin"] for u, v in demo_feed["secrets"]["users"].items() if v["pin"]}


@pytest.fixture
def till(node_app, pins):
    """A test client signed in as cashier-s001 with a shift open (float 1,000.00)."""
    client = node_app.test_client()
    resp = client.post("/api/v1/session", json={"username": "cashier-s001",
                                                 "pin": pins["cashier-s001"]})
    assert resp.status_code == 200, resp.json
    client.environ_base["HTTP_X_CSRF_TOKEN"] = resp.json["csrf"]  # as the till's pages do
    resp = client.post("/api/v1/shifts/current", json={"opening_float": 100000})
    assert resp.status_code == 201, resp.json
    return client


@pytest.fixture
def live_central(central_app):
    """Central served over real loopback HTTP from a thread (for the node's sync client)."""
    import threading

    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, central_app, threaded=True)
    # Polled often, so shutting it down takes 50 ms rather than the default half second, each
    # test that serves central.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def open_till(central_db, live_central, node_template, tmp_path, node_id: str, store_id: int,
              enroll_code: str, cashier: str, pin: str, fiscal: str = "off"):
    """A till enrolled at central, synced, its cashier signed in with a shift open: (client,
    db, app); ``fiscal``: its fiscal register (``KASSA_FISCAL``)."""
    key = generate_private_key_pem()
    with central_db.transaction() as session:
        enroll_node(session, node_id, enroll_code, public_key_pem(key))
    path = tmp_path / f"{node_id}.sqlite"
    shutil.copyfile(node_template, path)
    url = f"sqlite:///{path}"
    db = Database(url)
    install_identity(db, node_id, store_id, key, central_url=live_central)
    sync_now(db)
    app = create_node(NodeConfig(db_url=url, push_batch_size=50, http_timeout=5,
                                 fiscal=fiscal))
    client = app.test_client()
    resp = client.post("/api/v1/session", json={"username": cashier, "pin": pin})
    assert resp.status_code == 200
    client.environ_base["HTTP_X_CSRF_TOKEN"] = resp.json["csrf"]  # as the till's pages do
    assert client.post("/api/v1/shifts/current", json={"opening_float": 100000}
                       ).status_code == 201
    return client, db, app


@pytest.fixture
def tills(central_db, seeded, live_central, node_template, tmp_path, demo_secrets):
    """pos-1 (store S001) and pos-2 (store S002), enrolled, synced, cashier signed in, shift
    open. Yields {node_id: (client, db)}."""
    made = {}
    for node_id, store_id, cashier in [("pos-1", 1, "cashier-s001"),
                                       ("pos-2", 2, "cashier-s002")]:
        made[node_id] = open_till(central_db, live_central, node_template, tmp_path, node_id,
                                  store_id, seeded["nodes"][node_id]["enroll_code"], cashier,
                                  demo_secrets["users"][cashier]["pin"])
    yield {k: (c, d) for k, (c, d, _a) in made.items()}
    for _client, db, app in made.values():
        app.extensions["kassa_db"].dispose()
        db.dispose()


class Inbox:
    def __init__(self, port: int):
        self.port = port
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


@pytest.fixture
def smtp(monkeypatch):
    """A real SMTP server on loopback (aiosmtpd); central's mail settings point at it."""
    port = free_port()
    inbox = Inbox(port)
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("KASSA_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("KASSA_SMTP_PORT", str(port))
    monkeypatch.setenv("KASSA_MAIL_FROM", "kassa@kassa.example")
    yield inbox
    controller.stop()
