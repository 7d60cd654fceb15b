"""A chain's tills against one central, bounded (issue 25): a few hundred simulated tills
(``bench/chain_sim.py``: real signed requests, a key and a connection each) sell and sync against
two central app servers (``kassa central serve``, the scheduled jobs on one of them) on one
PostgreSQL database for a few seconds, then come back all at once with a backlog, against
servers that may each work on one till's sync at a time per process and let none wait for
a place (``KASSA_SYNC_WAIT=0``), so they turn most of them away with 503 and
``Retry-After``. What is checked is correctness, never
time: every sale made reaches central exactly once, the tills honoured every Retry-After, and
central's answers were refusals or successes, never errors. The full run, with figures, is
``bench/bench_chain.py`` (``make bench``)."""

from __future__ import annotations

import random
import sys
import time
from http.client import HTTPConnection
from pathlib import Path

import pytest
from sqlalchemy import func, select

from kassa.central.models import Node, ReceivedEvent, Sale
from kassa.common.db import Database
from kassa.common.runtime.processes import Supervisor
from tests.e2e.conftest import KASSA, run_kassa
from tests.helpers import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import chain_sim  # noqa: E402 - the bench's simulator, found on the path set just above

pytestmark = pytest.mark.e2e

TILLS = 150


def test_a_few_hundred_tills_sell_and_reconnect_at_once_losing_nothing(tmp_path, pg_server):
    dbname = pg_server.create()
    url = f"postgresql://127.0.0.1:5432/{dbname}"
    env = {"KASSA_CENTRAL_DB": url, "KASSA_SYNC_CONCURRENCY": "1", "KASSA_SYNC_WAIT": "0",
           "KASSA_SYNC_RETRY_AFTER": "1-2",
           "KASSA_ISSUER_KEY_DIR": str(tmp_path / "issuer")}
    run_kassa("central", "init-db", env=env)
    run_kassa("central", "seed-demo", env=env)
    db = Database(url)
    sup = Supervisor(tmp_path / "logs")
    ports = free_port(), free_port()
    servers = [f"http://127.0.0.1:{port}" for port in ports]
    try:
        shop = chain_sim.shop_of(db)
        registered = chain_sim.register_tills(db, TILLS, shop.stores)
        stats = chain_sim.Stats()
        rng = random.Random(25)
        tills = [chain_sim.SimTill(node_id, store, key, servers[n % 2], shop, stats,
                                   random.Random(rng.random()))
                 for n, (node_id, store, key) in enumerate(registered)]
        for n, port in enumerate(ports):  # the second app server runs no scheduled jobs
            sup.start(f"central-{n}", KASSA + ["central", "serve", "--port", str(port),
                                               "--workers", "2", "--keep-alive", "100"],
                      {**env, "KASSA_CENTRAL_JOBS": "on" if n == 0 else "off"})
            sup.wait_http(f"central-{n}", servers[n] + "/health")
        # Each till keeps its connection between rounds: idle past gunicorn's own 2 s.
        http = HTTPConnection("127.0.0.1", ports[0], timeout=10)
        http.request("GET", "/health")
        first = http.getresponse()
        first.read()
        assert first.status == 200 and first.getheader("Connection") != "close"
        kept = http.sock
        time.sleep(3)  # the idle time itself is what is tested
        http.request("GET", "/health")
        assert http.getresponse().status == 200 and http.sock is kept
        http.close()
        # Trading: every till syncs every second and sells often, for a few seconds.
        chain_sim.run_chain(tills, seconds=4, interval=1.0, sales_per_minute=30)
        # The storm: central was away while every till rang up a backlog; all come at once.
        for till in tills:
            for _ in range(5):
                till.sell()
        waited = chain_sim.drain(tills, timeout=240)
        assert all(not t.outbox for t in tills), f"backlog left after {waited:.0f} s"
    finally:
        sup.stop_all()
    # Refusals came with Retry-After and were waited out. Nothing else went wrong but, under
    # this load, a kept-alive connection the server had just closed (the till's next round
    # retries it, as here): no refusal of another kind, no server error.
    assert stats.refused["busy"] > 0, "the storm never met a busy central"
    assert stats.retry_after_honoured == sum(stats.refused.values())
    assert set(stats.errors) <= {"unreachable"}, stats.errors
    with db.read() as s:
        sales = s.scalar(select(func.count()).select_from(Sale)
                         .where(Sale.node_id.like("sim-%")))
        distinct = s.scalar(select(func.count(func.distinct(Sale.receipt_no)))
                            .where(Sale.node_id.like("sim-%")))
        events = s.scalar(select(func.count()).select_from(ReceivedEvent)
                          .where(ReceivedEvent.node_id.like("sim-%")))
        high_waters = dict(s.execute(select(Node.id, Node.high_water)
                                     .where(Node.id.like("sim-%"))).all())
    db.dispose()
    assert stats.sales_made == stats.sales_acked == sales == distinct == events
    assert high_waters == {t.node_id: t.seq for t in tills}
