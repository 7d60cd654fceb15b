"""Sync through every fault a chain of shops produces, with real processes: central on
PostgreSQL under gunicorn and three tills, each behind a TCP proxy that drops, delays,
truncates, resets and duplicates connections and loses replies after central committed.

During the load: central is killed with SIGKILL and restarted, a till too; pos-2 sells a
simulated week with its link cut and its clock a week back; pos-3 runs with its clock a day
ahead, so central refuses it and both ends name the skew. Then the faults heal and the proof:
every sale a cashier was told of is at central exactly once, each node's seqs arrived without a
gap, nothing is held in quarantine, each store's totals at central equal its tills' own.

Bounded here; ``make soak`` (KASSA_SOAK=full) sells ten times as much and kills more often.
"""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import threading
from pathlib import Path

import psycopg
import pytest
import requests

from kassa.common.processes import Supervisor
from tests.e2e.conftest import KASSA, free_port, run_kassa
from tests.faultproxy import FaultProxy
from tests.helpers import wait_until

pytestmark = [pytest.mark.e2e, pytest.mark.soak]

FULL = os.environ.get("KASSA_SOAK") == "full"
PER_TILL = 300 if FULL else 30
FAULTS = {"drop": 0.04, "delay": 0.1, "delay_s": (0.02, 0.3), "truncate": 0.04, "reset": 0.04,
          "lose_reply": 0.08, "duplicate": 0.08}
SALE = {"lines": [{"sku": "1001", "quantity": 1}, {"sku": "1002", "quantity": 2}],
        "payments": [{"method": "cash", "amount": 100000}]}


DAY = 86400


def clock(offset_s: int) -> dict[str, str]:
    """A process whose wall clock is ``offset_s`` seconds off."""
    return {"KASSA_CLOCK_OFFSET": str(offset_s)}


class Till:
    """One node: its database, its proxy to central, its process and its cashier."""

    def __init__(self, root: Path, sup: Supervisor, name: str, cashier: dict, central_port):
        self.name, self.sup, self.cashier = name, sup, cashier
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.db = str(root / f"{name}.sqlite")
        self.proxy = FaultProxy(("127.0.0.1", central_port), seed=hash(name) & 0xFFFF,
                                auto_replay=True).start()
        self.env = {"KASSA_NODE_DB": self.db, "KASSA_SYNC_INTERVAL": "0.5",
                    "KASSA_SYNC_BACKOFF_MAX": "2", "KASSA_HTTP_TIMEOUT": "3",
                    "KASSA_PUSH_BATCH": "25"}
        self.told: list[str] = []
        self.runs = 0
        self.pace_s = 0.1

    def serve(self, offset_s: int = 0) -> None:
        self.runs += 1
        name = f"{self.name}-{self.runs}"
        self.sup.start(name, KASSA + ["pos", "serve", "--port", str(self.port)],
                       {**self.env, **clock(offset_s)})
        self.sup.wait_http(name, self.url + "/health")

    def kill(self) -> None:
        proc = dict(self.sup.children)[f"{self.name}-{self.runs}"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    def status(self) -> dict:
        return requests.get(self.url + "/api/v1/status", timeout=5).json()

    def sell(self, count: int, stop: threading.Event) -> None:
        """Sell until ``count`` sales were confirmed, riding out restarts of the till."""
        session = None
        while len(self.told) < count and not stop.is_set():
            try:
                if session is None:
                    session = requests.Session()
                    session.post(self.url + "/api/v1/session", timeout=5, json={
                        "username": self.cashier["username"], "pin": self.cashier["pin"]})
                    session.post(self.url + "/api/v1/shifts/current", timeout=5,
                                 json={"opening_float": 0})
                resp = session.post(self.url + "/api/v1/sales", json=SALE, timeout=5)
            except requests.RequestException:
                session = None  # the till is being restarted
                stop.wait(0.2)
                continue
            if resp.status_code == 201:
                self.told.append(resp.json()["receipt_no"])
                stop.wait(self.pace_s)  # a shop's pace, so the faults land during the load
            elif resp.status_code in (401, 409):
                session = None  # signed out or no shift yet: start again
            else:
                raise AssertionError(f"{self.name}: {resp.status_code} {resp.text}")


@pytest.fixture
def chain(tmp_path, pg_server):
    dbname = pg_server.create()
    central_env = {"KASSA_CENTRAL_DB": f"postgresql://127.0.0.1:5432/{dbname}",
                   "KASSA_SIGNATURE_WINDOW": "600"}
    run_kassa("central", "init-db", env=central_env)
    secrets = json.loads(run_kassa("central", "seed-demo", "--node", "pos-1", "--node", "pos-2",
                                   "--node", "pos-3", env=central_env).stdout)
    sup = Supervisor(tmp_path / "logs")
    port = free_port()
    central = {"url": f"http://127.0.0.1:{port}", "env": central_env, "runs": 0,
               "logs": tmp_path / "logs",
               "dsn": f"postgresql://127.0.0.1:5432/{dbname}"}

    def serve_central():
        central["runs"] += 1
        name = f"central-{central['runs']}"
        sup.start(name, KASSA + ["central", "serve", "--port", str(port), "--workers", "2"],
                  central_env)
        sup.wait_http(name, central["url"] + "/health")

    def kill_central():
        proc = dict(sup.children)[f"central-{central['runs']}"]
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()

    central.update(serve=serve_central, kill=kill_central)
    tills = {}
    try:
        serve_central()
        for node_id, cashier in (("pos-1", "cashier-s001"), ("pos-2", "cashier-s002"),
                                 ("pos-3", "cashier-s001")):
            till = Till(tmp_path, sup, node_id, {"username": cashier,
                                                 "pin": secrets["users"][cashier]["pin"]}, port)
            run_kassa("pos", "init", "--node-id", node_id, "--central-url", till.proxy.url,
                      "--enroll-code", secrets["nodes"][node_id]["enroll_code"], env=till.env)
            run_kassa("pos", "sync-now", env=till.env)
            tills[node_id] = till
        yield central, tills, secrets
    finally:
        sup.stop_all()
        for till in tills.values():
            till.proxy.stop()


def office_status(central, secrets) -> dict:
    resp = requests.get(central["url"] + "/api/v1/nodes/status", timeout=5,
                        auth=("office", secrets["users"]["office"]["password"]))
    return {n["node_id"]: n for n in resp.json()["nodes"]}


def test_every_sale_arrives_once_through_any_fault(chain):
    central, tills, secrets = chain
    pos1, pos2, pos3 = tills["pos-1"], tills["pos-2"], tills["pos-3"]
    rng = random.Random(20261127)
    pos1.proxy.set_faults(**FAULTS)
    pos3.proxy.set_faults(**FAULTS)
    pos2.proxy.set_down(True)  # a week without a link...
    pos1.serve()
    pos2.serve(-7 * DAY)  # ...selling with a clock a week back
    pos3.serve(DAY)  # a clock a day ahead: central must refuse it, and say so

    stop = threading.Event()
    sellers = [threading.Thread(target=t.sell, args=(PER_TILL, stop), daemon=True)
               for t in tills.values()]
    for s in sellers:
        s.start()
    try:
        assert wait_until(lambda: pos3.status()["state"] == "clock_skew", timeout=30)
        assert pos3.status()["state_label"].startswith("clock skew: 24 h ahead")
        assert office_status(central, secrets)["pos-3"]["state"] == "clock_skew"
        for round_ in range(3 if FULL else 1):
            target = PER_TILL * (round_ + 1) // 4
            assert wait_until(lambda t=target: len(pos1.told) >= t, timeout=60)
            central["kill"]()  # mid-load, maybe mid-batch
            central["serve"]()
            assert wait_until(lambda t=target: len(pos1.told) >= t + PER_TILL // 8, timeout=60)
            victim = rng.choice([pos1, pos3])
            victim.kill()
            victim.serve(DAY if victim is pos3 else 0)
        for s in sellers:
            s.join(timeout=300)
        assert all(len(t.told) >= PER_TILL for t in tills.values())
    finally:
        stop.set()

    # Each fault at least once, whatever the dice said: a reply lost after central committed,
    # a batch delivered twice (the copy arriving after newer batches), a half-sent batch.
    for fault in ("lose_reply", "duplicate", "truncate", "reset"):
        seen = pos1.proxy.stats[fault]
        pos1.proxy.set_faults(**{fault: 1.0})
        pos1.sell(len(pos1.told) + 1, threading.Event())
        assert wait_until(lambda f=fault, n=seen: pos1.proxy.stats[f] > n, timeout=30), fault
    pos1.proxy.set_faults(**FAULTS)
    pos1.sell(len(pos1.told) + 3, threading.Event())

    # The week is over: pos-2's link comes back, clocks are put right, the faults heal.
    for till in (pos2, pos3):
        till.kill()
        till.serve()
    pos2.proxy.set_down(False)
    for till in tills.values():
        till.proxy.replay_duplicates()
        till.proxy.set_faults()
        till.proxy.replay_duplicates()
    assert wait_until(lambda: all(caught_up(t) for t in tills.values()), timeout=120), \
        {t.name: t.status() for t in tills.values()}

    states = office_status(central, secrets)
    assert {n: s["state"] for n, s in states.items()} == dict.fromkeys(tills, "online")
    assert all(s["events_behind"] == 0 and s["quarantined"] == 0 for s in states.values())
    check_exactly_once(central["dsn"], tills)
    faults = {n: t.proxy.stats for n, t in tills.items()}
    print("faults injected:", json.dumps(faults))
    assert all(faults["pos-1"][f] > 0 for f in ("lose_reply", "duplicate", "truncate", "reset"))
    crashes = {log.name: log.read_text().count("Traceback")
               for log in central["logs"].glob("*.log")}
    assert not any(crashes.values()), f"unhandled errors in {crashes}"


def caught_up(till: Till) -> bool:
    try:
        status = till.status()
    except requests.RequestException:
        return False
    return status["pending_events"] == 0 and status["state"] == "online"


def node_facts(path: str) -> dict:
    db = sqlite3.connect(path)
    try:
        return {
            "seq": db.execute("SELECT value FROM counters WHERE name = 'outbox_seq'").fetchone()[0],
            "events": {e.replace("-", "") for (e,) in db.execute(
                "SELECT lower(hex(event_id)) FROM outbox_events")} or set(),
            "event_ids": [r for (r,) in db.execute("SELECT event_id FROM outbox_events")],
            "sales": dict(db.execute("SELECT receipt_no, total_minor FROM sales "
                                     "WHERE status = 'completed'")),
            "store": db.execute("SELECT store_id FROM node_identity").fetchone()[0],
        }
    finally:
        db.close()


def check_exactly_once(dsn: str, tills: dict[str, Till]) -> None:
    with psycopg.connect(dsn) as pg:
        held = pg.execute("SELECT count(*) FROM quarantined_events WHERE status = 'held'")
        assert held.fetchone()[0] == 0
        store_totals = dict(pg.execute("SELECT store_id, sum(total_minor) FROM sales "
                                       "GROUP BY store_id").fetchall())
        node_totals: dict[int, int] = {}
        for name, till in tills.items():
            facts = node_facts(till.db)
            seqs = [s for (s,) in pg.execute(
                "SELECT seq FROM received_events WHERE node_id = %s ORDER BY seq", (name,))]
            assert seqs == list(range(1, facts["seq"] + 1)), f"{name}: a gap or a double"
            high = pg.execute("SELECT high_water FROM nodes WHERE id = %s", (name,)).fetchone()
            assert high[0] == facts["seq"]
            central_ids = {str(e).replace("-", "") for (e,) in pg.execute(
                "SELECT event_id FROM received_events WHERE node_id = %s", (name,))}
            assert len(central_ids) == len(facts["event_ids"]) == facts["seq"]
            at_central = dict(pg.execute(
                "SELECT receipt_no, total_minor FROM sales WHERE node_id = %s", (name,)))
            assert at_central == facts["sales"], f"{name}: sales differ"
            assert set(till.told) <= set(at_central), f"{name}: a confirmed sale is missing"
            node_totals[facts["store"]] = node_totals.get(facts["store"], 0) + sum(
                facts["sales"].values())
        assert {s: int(v) for s, v in store_totals.items()} == node_totals
