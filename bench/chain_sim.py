"""Simulated tills speaking kassa's real sync protocol, for the chain-scale bench
(``bench_chain.py``) and its bounded version in the test suite (``tests/e2e/test_chain.py``).

Each till is a thread with kassa's own client (``CentralClient``: ECDSA-signed requests, gzip,
a keep-alive session) and its own key. Every ``interval`` seconds (with 20 % jitter, as the
till's scheduler) it pulls the change feed from its cursor and pushes what its outbox holds;
it rings up sales (``sale.completed`` with lines, a cash payment and, for a share of them, a
loyalty customer) at a rate per minute, reports its status once a minute and asks central's
authorization now and then. A 503/429 from central is honoured: the till waits
``Retry-After`` (times 1-1.5, jitter) before its next call, as the real scheduler does.

Nodes are registered straight in central's database with their public keys (enrolling 2,000
tills one by one through the one-time codes would spend minutes in argon2, which is not what
is measured); everything after that goes over HTTP.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone

from sqlalchemy import select

from kassa.central.models import Customer, LoyaltyAccount, Node, Price, Product, Store
from kassa.common.db import Database, utcnow
from kassa.common.signing import generate_private_key_pem, public_key_pem
from kassa.pos_node.replication.client import CentralClient, SyncError


@dataclass
class Stats:
    """What the tills saw: latencies by call, refusals, sales made and acknowledged."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    latencies: dict[str, list[float]] = field(default_factory=dict)
    refused: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    sales_made: int = 0
    sales_acked: int = 0
    retry_after_honoured: int = 0

    def took(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latencies.setdefault(kind, []).append(seconds)

    def percentile(self, kind: str, p: float) -> float:
        values = sorted(self.latencies.get(kind, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))]


@dataclass(frozen=True)
class Shop:
    """What the tills sell: products with their chain prices, stores, loyalty accounts."""

    products: list[tuple[int, str, str, int, int]]  # id, sku, name, price, vat_rate_bp
    stores: list[int]
    accounts: list[tuple[uuid.UUID, uuid.UUID]]  # account id, customer id


def shop_of(db: Database) -> Shop:
    with db.read() as s:
        products = s.execute(
            select(Product.id, Product.sku, Product.name, Price.amount_minor, Product.vat_rate_bp)
            .join(Price, Price.product_id == Product.id)
            .where(Price.store_id.is_(None), Price.region_id.is_(None),
                   Price.effective_from.is_(None))).all()
        stores = list(s.scalars(select(Store.id).order_by(Store.id)))
        accounts = s.execute(select(LoyaltyAccount.id, LoyaltyAccount.customer_id)
                             .join(Customer, Customer.id == LoyaltyAccount.customer_id)).all()
    return Shop([tuple(p) for p in products], stores, [tuple(a) for a in accounts])


def register_tills(db: Database, n: int, stores: list[int], prefix: str = "sim") -> list[tuple]:
    """``n`` nodes with keys of their own, registered as enrolled: ``[(node_id, store, key)]``."""
    tills = []
    with db.transaction() as s:
        for i in range(n):
            key = generate_private_key_pem()
            node_id = f"{prefix}-{i:05d}"
            store = stores[i % len(stores)]
            s.add(Node(id=node_id, store_id=store, public_key_pem=public_key_pem(key),
                       enrolled_at=utcnow(), active=True, high_water=0))
            tills.append((node_id, store, key))
    return tills


class SimTill:
    def __init__(self, node_id: str, store_id: int, key: str, url: str, shop: Shop,
                 stats: Stats, rng: random.Random, loyalty_share: float = 0.1):
        self.node_id, self.store_id = node_id, store_id
        self.client = CentralClient(url, node_id, key, timeout=30)
        self.shop, self.stats, self.rng = shop, stats, rng
        self.loyalty_share = loyalty_share
        self.cursor = 0
        self.seq = 0
        self.outbox: list[dict] = []
        self.high_water = 0
        self.not_before = 0.0
        self.last_status = 0.0

    # -- what a till does -----------------------------------------------------------------

    def sell(self) -> None:
        self.seq += 1
        picks = self.rng.sample(self.shop.products, k=min(3, len(self.shop.products)))
        lines = []
        for n, (pid, sku, name, price, vat) in enumerate(picks, start=1):
            lines.append({"line_no": n, "product_id": pid, "sku": sku, "name": name,
                          "quantity_milli": 1000, "unit_price_minor": price,
                          "amount_minor": price, "gross_minor": price, "vat_rate_bp": vat,
                          "vat_minor": price * vat // (10_000 + vat)})
        total = sum(ln["amount_minor"] for ln in lines)
        now = datetime.now(timezone.utc).isoformat()
        payload = {"sale_id": str(uuid.uuid4()), "receipt_no": f"{self.node_id}-{self.seq:08d}",
                   "store_id": self.store_id, "sold_at": now, "total_minor": total,
                   "vat_minor": sum(ln["vat_minor"] for ln in lines), "lines": lines,
                   "payments": [{"method": "cash", "amount_minor": total}]}
        if self.shop.accounts and self.rng.random() < self.loyalty_share:
            account, customer = self.rng.choice(self.shop.accounts)
            payload["customer_id"] = str(customer)
            payload["loyalty"] = {"account_id": str(account), "burned": 0}
        self.outbox.append({"seq": self.seq, "event_id": str(uuid.uuid4()),
                            "kind": "sale.completed", "occurred_at": now, "payload": payload})
        with self.stats.lock:
            self.stats.sales_made += 1

    def sync(self) -> None:
        """One round as the till's scheduler runs it: pull, push, now and then its status."""
        if time.monotonic() < self.not_before:
            return
        try:
            self._call("pull", self._pull)
            if self.outbox:
                self._call("push", self._push)
            if time.monotonic() - self.last_status > 60:
                self._call("status", self._status)
                self.last_status = time.monotonic()
        except SyncError as err:
            with self.stats.lock:
                if err.code in ("busy", "rate_limited"):
                    self.stats.refused[err.code] += 1
                else:
                    self.stats.errors[err.code] += 1
            if err.retry_after is not None:
                self.not_before = time.monotonic() + err.retry_after * self.rng.uniform(1, 1.5)
                with self.stats.lock:
                    self.stats.retry_after_honoured += 1

    def _call(self, kind: str, call) -> None:
        started = time.perf_counter()
        call()
        self.stats.took(kind, time.perf_counter() - started)

    def _pull(self) -> None:
        while True:
            page = self.client.request("GET", "/api/v1/sync/changes",
                                       params={"since": self.cursor, "limit": 500})
            self.cursor = page["next_since"]
            if not page["more"]:
                return

    def _push(self) -> None:
        batch = self.outbox[:500]
        answer = self.client.request("POST", "/api/v1/sync/push",
                                     {"node_id": self.node_id, "events": batch})
        acked = [e for e in batch if e["seq"] <= answer["high_water"]]
        self.outbox = self.outbox[len(acked):]
        self.high_water = answer["high_water"]
        with self.stats.lock:
            self.stats.sales_acked += sum(e["kind"] == "sale.completed" for e in acked)

    def _status(self) -> None:
        self.client.request("POST", "/api/v1/sync/status", {
            "node_id": self.node_id, "node_seq": self.seq, "queue_depth": len(self.outbox),
            "feed_cursor": self.cursor})

    # -- the loop ---------------------------------------------------------------------------

    def run(self, stop: threading.Event, interval: float, sales_per_minute: float) -> None:
        next_sync = time.monotonic() + self.rng.uniform(0, interval)  # tills start spread
        next_sale = time.monotonic() + self.rng.expovariate(sales_per_minute / 60) \
            if sales_per_minute else float("inf")
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_sale:
                self.sell()
                next_sale = now + self.rng.expovariate(sales_per_minute / 60)
            if now >= next_sync:
                self.sync()
                next_sync = time.monotonic() + interval * self.rng.uniform(0.8, 1.2)
            stop.wait(max(0.0, min(next_sale, next_sync) - time.monotonic()))


def run_chain(tills: list[SimTill], seconds: float, interval: float,
              sales_per_minute: float) -> None:
    """Run every till in its own thread for ``seconds``."""
    stop = threading.Event()
    threads = [threading.Thread(target=t.run, args=(stop, interval, sales_per_minute),
                                daemon=True) for t in tills]
    for t in threads:
        t.start()
    stop.wait(seconds)
    stop.set()
    for t in threads:
        t.join(timeout=60)


def drain(tills: list[SimTill], timeout: float) -> float:
    """Every till syncs until its outbox is empty (honouring ``Retry-After``); seconds taken."""
    started = time.monotonic()
    stop = threading.Event()

    def empty(t: SimTill) -> None:
        while t.outbox and not stop.is_set():
            t.sync()
            if t.outbox:
                stop.wait(max(0.05, t.not_before - time.monotonic()))

    threads = [threading.Thread(target=empty, args=(t,), daemon=True) for t in tills]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(0.0, timeout - (time.monotonic() - started)))
    stop.set()
    return time.monotonic() - started
