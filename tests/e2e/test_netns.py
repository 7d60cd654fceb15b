"""Sync over a real network: central and two tills, each in a Linux network namespace of its
own, joined by veth pairs, and the links cut, slowed and made to lose packets while the tills
sell.

The wiring: central's namespace holds a bridge with central's one address, 10.200.0.1, and one
veth per till (``up1``, ``up2``) enslaved to it; the other end of each is the till's ``eth0``
(10.200.0.11, .12) in the till's namespace. Central listens on 10.200.0.1 only, each till on
its own namespace's 127.0.0.1, so the only way between a till and central is its veth, and
nothing of ours is reachable from, or listens in, the root namespace. The test drives the
processes without a link of its own: its HTTP calls run in threads that entered the process's
namespace (``tests.netns``), so a till is spoken to on that till's loopback and central on its
bridge address, and taking a till's link down takes that till, and only it, off the network.
Needs root (``ip netns add`` is tried; skipped with the reason where it fails). Delay and loss
come from the kernel's netem qdisc, or where the kernel has none, from a token-bucket rate
limit and nftables' random drop (``impairment``); skipped, with the reason, where neither works.

The proof after each fault heals: every sale a cashier was told of is at central exactly once,
each till's seqs arrived without gap or double, the outboxes are empty, and both tills have the
prices and products the office changed at central while their link was down or lossy.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests

from kassa.common.runtime.processes import Supervisor
from tests import netns
from tests.e2e.conftest import KASSA
from tests.helpers import wait_until

pytestmark = pytest.mark.e2e

CENTRAL_IP = "10.200.0.1"
CENTRAL_URL = f"http://{CENTRAL_IP}:8700"
TILL_URL = "http://127.0.0.1:8701"  # in each till's own namespace
SALE = {"lines": [{"sku": "1001", "quantity": 1}, {"sku": "1002", "quantity": 2}],
        "payments": [{"method": "cash", "amount": 100000}]}
NODE_SYNC = {"KASSA_SYNC_INTERVAL": "0.5", "KASSA_SYNC_BACKOFF_MAX": "2",
             "KASSA_HTTP_TIMEOUT": "2", "KASSA_PUSH_BATCH": "20", "KASSA_CARD_READER": "off"}


@dataclass
class Till:
    name: str
    space: netns.Netns
    uplink: str  # its veth's end in central's namespace
    env: dict[str, str]
    cashier: dict[str, str]
    told: list[str] = field(default_factory=list)
    _session: requests.Session | None = None

    def get(self, path: str, **params) -> dict:
        return self.space.call(self._get, path, params)

    def _get(self, path: str, params: dict) -> dict:
        if self._session is None:
            self._session = self._signed_in()
        resp = self._session.get(TILL_URL + path, params=params, timeout=5)
        resp.raise_for_status()
        return resp.json()

    def status(self) -> dict:
        return self.get("/api/v1/status")

    def shelf_price(self, query: str) -> int | None:
        found = self.get("/api/v1/products", q=query)["products"]
        return found[0]["price_minor"] if found else None

    def caught_up(self) -> bool:
        status = self.status()
        return status["pending_events"] == 0 and status["state"] == "online"

    def _signed_in(self) -> requests.Session:
        session = requests.Session()
        resp = session.post(TILL_URL + "/api/v1/session", json=self.cashier, timeout=5)
        assert resp.status_code == 200, resp.text
        return session

    def sell_until(self, stop: threading.Event, pace_s: float = 0.15) -> None:
        """Sell at a shop's pace until ``stop`` (runs in the till's namespace)."""
        session = self._signed_in()
        session.post(TILL_URL + "/api/v1/shifts/current", json={"opening_float": 0}, timeout=5)
        while not stop.is_set():
            resp = session.post(TILL_URL + "/api/v1/sales", json=SALE, timeout=5)
            assert resp.status_code == 201, f"{self.name}: {resp.status_code} {resp.text}"
            self.told.append(resp.json()["receipt_no"])
            stop.wait(pace_s)


@dataclass
class Shop:
    net: netns.Network
    central: netns.Netns
    central_db: str
    office: tuple[str, str]
    tills: dict[str, Till]

    def office_post(self, path: str, body: dict) -> dict:
        resp = self.central.call(requests.post, CENTRAL_URL + path, json=body,
                                 auth=self.office, timeout=5)
        assert resp.status_code == 201, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def shop(tmp_path_factory, seeded_central):
    reason = netns.unavailable()
    if reason:
        pytest.skip(reason)
    root = tmp_path_factory.mktemp("netns")
    common = {"KASSA_VAR_DIR": str(root / "var")}
    central_env = {**common, "KASSA_CENTRAL_DB": str(root / "central.sqlite")}
    secrets = seeded_central(root / "central.sqlite", "pos-1", "pos-2")
    net = netns.Network()
    sup = Supervisor(root / "logs")
    try:
        central = net.namespace("central")
        central.ip("link", "add", "br0", "type", "bridge")
        central.ip("addr", "add", f"{CENTRAL_IP}/24", "dev", "br0")
        central.ip("link", "set", "br0", "up")
        sup.start("central", central.argv(
            KASSA + ["central", "serve", "--host", CENTRAL_IP, "--port", "8700"]), central_env)
        tills = {}
        for n, (name, cashier) in enumerate((("pos-1", "cashier-s001"),
                                             ("pos-2", "cashier-s002")), start=1):
            space = net.namespace(name)
            net.link(central, f"up{n}", space, "eth0")
            central.ip("link", "set", f"up{n}", "master", "br0", "up")
            space.ip("addr", "add", f"10.200.0.{10 + n}/24", "dev", "eth0")
            space.ip("link", "set", "eth0", "up")
            tills[name] = Till(name, space, f"up{n}", {
                **common, **NODE_SYNC, "KASSA_NODE_DB": str(root / f"{name}.sqlite")},
                {"username": cashier, "pin": secrets["users"][cashier]["pin"]})
        sup.wait_for("central", lambda: central.call(_answers, CENTRAL_URL + "/health"),
                     f"answer at {CENTRAL_URL}", deadline_s=60)
        enrolling = [(till, subprocess.Popen(till.space.argv(KASSA + [
            "pos", "init", "--node-id", till.name, "--central-url", CENTRAL_URL,
            "--enroll-code", secrets["nodes"][till.name]["enroll_code"]]),
            env={**os.environ, **till.env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            text=True)) for till in tills.values()]  # both at once: the run's bound is 60 s
        for till, enrol in enrolling:
            output = enrol.communicate(timeout=120)[0]
            assert enrol.returncode == 0, f"kassa pos init in {till.space.name}:\n{output}"
            sup.start(till.name, till.space.argv(KASSA + ["pos", "serve", "--port", "8701"]),
                      till.env)
        for till in tills.values():
            sup.wait_for(till.name, lambda t=till: t.space.call(_answers, TILL_URL + "/health"),
                         f"answer at {TILL_URL} in {till.space.name}", deadline_s=60)
        office = ("office", secrets["users"]["office"]["password"])
        yield Shop(net, central, central_env["KASSA_CENTRAL_DB"], office, tills)
    finally:
        sup.stop_all()
        net.destroy()


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.RequestException:
        return False


class Selling:
    """Both tills sell in the background while the block runs, and stop when it ends."""

    def __init__(self, shop: Shop):
        self.stop = threading.Event()
        self.futures = [t.space.submit(t.sell_until, self.stop) for t in shop.tills.values()]

    def __enter__(self) -> Selling:
        return self

    def __exit__(self, exc_type, *_exc) -> None:
        self.stop.set()
        for future in self.futures:
            if exc_type is None:
                future.result(timeout=30)  # a seller's failure is the test's
            else:
                future.exception(timeout=30)  # the first failure is the one to report


def test_tills_sell_through_cut_links_and_converge(shop):
    pos1, pos2 = shop.tills["pos-1"], shop.tills["pos-2"]
    listening = {line.split()[3] for line in shop.central.run(["ss", "-Hltn"]).stdout.splitlines()}
    assert {a for a in listening if a.endswith(":8700")} == {f"{CENTRAL_IP}:8700"}
    assert pos1.shelf_price("1001") == pos2.shelf_price("1001") == 8990
    sent_before = pos1.space.counters("eth0")

    with Selling(shop):
        assert wait_until(lambda: len(pos1.told) >= 3 and len(pos2.told) >= 3, timeout=15)
        # pos-1's own end goes down (its route goes: "network unreachable" at once); pos-2's
        # cable is pulled at central's end (pos-2 sees no carrier; its packets go nowhere).
        pos1.space.ip("link", "set", "eth0", "down")
        shop.central.ip("link", "set", pos2.uplink, "down")
        assert wait_until(lambda: pos1.status()["state"] == pos2.status()["state"] == "offline",
                          timeout=15), (pos1.status(), pos2.status())
        shop.office_post("/api/v1/prices", {"sku": "1001", "amount_minor": 9190})
        shop.office_post("/api/v1/products", {
            "sku": "7001", "name": "Kvass netns 1 l", "vat_rate_bp": 2000, "price_minor": 12900,
            "barcodes": ["4600000070014"]})
        offline_from = len(pos1.told), len(pos2.told)
        assert wait_until(lambda: len(pos1.told) >= offline_from[0] + 5
                          and len(pos2.told) >= offline_from[1] + 5, timeout=15)
        assert pos1.status()["pending_events"] >= 5 and pos2.status()["pending_events"] >= 5
        assert pos1.shelf_price("1001") == pos2.shelf_price("1001") == 8990  # cut off indeed
        assert pos1.shelf_price("Kvass") is None

        pos1.space.ip("link", "set", "eth0", "up")
        shop.central.ip("link", "set", pos2.uplink, "up")
        for till in (pos1, pos2):
            assert wait_until(lambda t=till: t.caught_up() and t.shelf_price("1001") == 9190,
                              timeout=20), till.status()
    assert_converged(shop)
    for till in (pos1, pos2):
        assert till.shelf_price("Kvass") == 12900
    received, sent = (after - before for after, before in
                      zip(pos1.space.counters("eth0"), sent_before, strict=True))
    assert received > 0 and sent > 0  # what pos-1 synced went over its veth


def assert_converged(shop: Shop) -> None:
    """Outboxes empty; at central, every till's seqs once each and every sale it confirmed."""
    for till in shop.tills.values():
        assert wait_until(till.caught_up, timeout=20), till.status()
    central = sqlite3.connect(shop.central_db)
    try:
        held = central.execute("SELECT count(*) FROM quarantined_events WHERE status = 'held'")
        assert held.fetchone()[0] == 0
        for name, till in shop.tills.items():
            seq, sales = node_facts(till.env["KASSA_NODE_DB"])
            seqs = [s for (s,) in central.execute(
                "SELECT seq FROM received_events WHERE node_id = ? ORDER BY seq", (name,))]
            assert seqs == list(range(1, seq + 1)), f"{name}: a gap or a double"
            at_central = dict(central.execute(
                "SELECT receipt_no, total_minor FROM sales WHERE node_id = ?", (name,)))
            assert at_central == sales, f"{name}: sales differ"
            assert set(till.told) <= set(at_central), f"{name}: a confirmed sale is missing"
    finally:
        central.close()


def node_facts(path: str) -> tuple[int, dict[str, int]]:
    node = sqlite3.connect(Path(path))
    try:
        seq = node.execute("SELECT value FROM counters WHERE name = 'outbox_seq'").fetchone()[0]
        unacked = node.execute("SELECT count(*) FROM outbox_events WHERE acked_at IS NULL")
        assert unacked.fetchone()[0] == 0
        return seq, dict(node.execute(
            "SELECT receipt_no, total_minor FROM sales WHERE status = 'completed'"))
    finally:
        node.close()


@pytest.fixture
def impairment(shop) -> str:
    """How links are made slow and lossy here: ``netem`` (delay, jitter, random loss), or where
    the kernel has no netem (this machine's has none, and no modules), ``tbf+nft``: a token
    bucket rate limit (queueing delay, and tail drops when its queue is full) and nftables'
    random drop, both in the kernel on the same veths."""
    why_netem = netns.qdisc_available(shop.central, "netem", "delay", "1ms")
    if why_netem is None:
        return "netem"
    why_tbf = netns.qdisc_available(shop.central, "tbf", *TBF)
    nft = shop.central.run(["nft", "list", "tables"]) if shutil.which("nft") else None
    if why_tbf is None and nft is not None and nft.returncode == 0:
        return "tbf+nft"
    pytest.skip(f"no delay or loss here: {why_netem}; {why_tbf or 'no usable nft'}")


# A slow link: 256 kbit/s, at most 200 ms queued; above that packets drop.
TBF = ("rate", "256kbit", "burst", "8kb", "latency", "200ms")


def impair(shop: Shop, till: Till, how: str, delay_ms: int = 0, loss_pct: int = 0) -> None:
    """Delay and loss on both ends of the till's link, so both directions suffer; with
    neither, heal it."""
    ends = ((till.space, "eth0"), (shop.central, till.uplink))
    for space, dev in ends:
        space.ip("tc", "qdisc", "del", "dev", dev, "root", check=False)
    till.space.run(["nft", "delete", "table", "inet", "kassa_loss"])
    if not (delay_ms or loss_pct):
        return
    if how == "netem":
        args = ["delay", f"{delay_ms}ms", f"{delay_ms // 4}ms", "loss", f"{loss_pct}%"]
        for space, dev in ends:
            space.ip("tc", "qdisc", "replace", "dev", dev, "root", "netem", *args)
        return
    if delay_ms:
        for space, dev in ends:
            space.ip("tc", "qdisc", "replace", "dev", dev, "root", "tbf", *TBF)
    if loss_pct:  # half each way, in the till's namespace; its loopback (our calls) spared
        chains = "".join(
            f"chain {hook} {{\n type filter hook {hook} priority 0;\n"
            f' meta {side} != "lo" numgen random mod 100 < {loss_pct // 2} counter drop\n}}\n'
            for hook, side in (("input", "iifname"), ("output", "oifname")))
        script = f"table inet kassa_loss {{\n{chains}}}\n"
        done = subprocess.run(till.space.argv(["nft", "-f", "-"]), input=script, text=True,
                              capture_output=True, timeout=30)
        assert done.returncode == 0, done.stderr


def dropped(shop: Shop, till: Till) -> int:
    """Packets the kernel dropped on the till's link: netem's or nftables' count."""
    shown = till.space.run(["nft", "list", "table", "inet", "kassa_loss"]).stdout
    if shown:
        return sum(int(n) for n in re.findall(r"packets (\d+)", shown))
    stats = till.space.ip("tc", "-s", "qdisc", "show", "dev", "eth0").stdout
    return sum(int(n) for n in re.findall(r"dropped (\d+)", stats))


def test_tills_converge_through_delay_and_loss(shop, impairment):
    pos1, pos2 = shop.tills["pos-1"], shop.tills["pos-2"]
    with Selling(shop):
        try:
            impair(shop, pos1, impairment, delay_ms=40, loss_pct=30)
            impair(shop, pos2, impairment, delay_ms=150)
            told = len(pos1.told), len(pos2.told)
            shop.office_post("/api/v1/prices", {"sku": "1002", "amount_minor": 5990})
            # A slow or lossy link is not a cut: retries (and back-off) get both tills
            # through, sales up and the new price down, while the link is still bad.
            for till, before in ((pos1, told[0]), (pos2, told[1])):
                assert wait_until(lambda t=till, n=before: len(t.told) >= n + 10
                                  and t.shelf_price("1002") == 5990, timeout=30), till.status()
            assert dropped(shop, pos1) > 0  # the loss was real
        finally:
            impair(shop, pos1, impairment)
            impair(shop, pos2, impairment)
    assert_converged(shop)
