"""Simulated tills speaking kassa's real sync protocol, for the chain-scale bench
(``bench_chain.py``) and its bounded version in the test suite (``tests/e2e/test_chain.py``).

Each till is an asyncio task with its own key and its own HTTP connection (aiohttp), signing
every request as kassa's client does (``kassa.common.signing``: ECDSA over method, path, time,
nonce and the gzip-compressed body) and reading central's refusals as it does (``SyncError``,
``Retry-After``). One event loop drives thousands of them at a fraction of a core; a thread
per till (kassa's own ``requests`` client) spent 0.75 cores of this 2-core machine on 1,500
tills, which central and PostgreSQL needed. Every ``interval`` seconds (with 20 % jitter, as
the till's scheduler) it pulls the change feed from its cursor (where a freshly bootstrapped
till starts: the feed's newest version) and pushes what its outbox holds;
it rings up sales (``sale.completed`` with lines, a cash payment and, for a share of them, a
loyalty customer) at a rate per minute, reports its status once a minute and asks central's
authorization now and then. A 503/429 from central is honoured: the till waits
``Retry-After`` (times 1-1.5, jitter) before its next call, as the real scheduler does.

Nodes are registered straight in central's database with their public keys (enrolling 2,000
tills one by one through the one-time codes would spend minutes in argon2, which is not what
is measured); everything after that goes over HTTP.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from urllib.parse import urlencode

import aiohttp
from sqlalchemy import func, select
from yarl import URL

from kassa.central.models import (
    ChangeFeedEntry,
    Customer,
    LoyaltyAccount,
    Node,
    Price,
    Product,
    Store,
)
from kassa.common.db import Database, utcnow
from kassa.common.signing import generate_private_key_pem, public_key_pem, signature_headers
from kassa.pos_node.replication.client import SyncError, retry_after_seconds


@dataclass
class Stats:
    """What the tills saw: latencies by call, refusals, sales made and acknowledged."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    refused: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    sales_made: int = 0
    sales_acked: int = 0
    retry_after_honoured: int = 0

    loop_lag: list[float] = field(default_factory=list)  # the simulator's own delay
    measure_from: float = 0.0  # monotonic: calls that start before are not timed (warm-up)
    measured: float = 0.0  # seconds from measure_from to the end of the run

    def took(self, kind: str, seconds: float) -> None:
        if time.monotonic() - seconds >= self.measure_from:
            self.latencies.setdefault(kind, []).append(seconds)

    def percentile(self, kind: str, p: float) -> float:
        values = sorted(self.loop_lag if kind == "loop_lag" else self.latencies.get(kind, []))
        if not values:
            return float("nan")
        return values[min(len(values) - 1, int(p / 100 * len(values)))]


@dataclass(frozen=True)
class Shop:
    """What the tills sell: products with their chain prices, stores, loyalty accounts."""

    products: list[tuple[int, str, str, int, int]]  # id, sku, name, price, vat_rate_bp
    stores: list[int]
    accounts: list[tuple[uuid.UUID, uuid.UUID]]  # account id, customer id
    feed_version: int  # where a till bootstrapped now would start pulling


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
        feed_version = s.scalar(select(func.max(ChangeFeedEntry.version))) or 0
    return Shop([tuple(p) for p in products], stores, [tuple(a) for a in accounts],
                feed_version)


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
        self.node_id, self.store_id, self.key = node_id, store_id, key
        self.base = url.rstrip("/")
        self.shop, self.stats, self.rng = shop, stats, rng
        self.loyalty_share = loyalty_share
        self.http: aiohttp.ClientSession | None = None  # one connection, opened by the loop
        self.cursor = shop.feed_version
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
        self.stats.sales_made += 1

    async def sync(self) -> None:
        """One round as the till's scheduler runs it: pull, push, now and then its status."""
        if time.monotonic() < self.not_before:
            return
        try:
            await self._call("pull", self._pull)
            if self.outbox:
                await self._call("push", self._push)
            if time.monotonic() - self.last_status > 60:
                await self._call("status", self._status)
                self.last_status = time.monotonic()
        except SyncError as err:
            if err.code in ("busy", "rate_limited"):
                self.stats.refused[err.code] += 1
            else:
                self.stats.errors[err.code] += 1
            if err.retry_after is not None:
                self.not_before = time.monotonic() + err.retry_after * self.rng.uniform(1, 1.5)
                self.stats.retry_after_honoured += 1

    async def request(self, method: str, path: str, body: dict | None = None,
                      params: dict | None = None) -> dict:
        """One signed request, as ``CentralClient.request`` makes it."""
        assert self.http is not None, "run the till inside open_connections()"
        path_qs = path + (f"?{urlencode(params)}" if params else "")
        raw = b""
        headers = {"Accept": "application/json"}
        if body is not None:
            raw = gzip.compress(json.dumps(body, separators=(",", ":")).encode(), 6)
            headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
        headers.update(signature_headers(self.node_id, self.key, method, path_qs, raw))
        try:  # the URL exactly as signed: aiohttp must not quote it again
            async with self.http.request(method, URL(self.base + path_qs, encoded=True),
                                         data=raw or None, headers=headers) as resp:
                status, answer = resp.status, await resp.read()
                retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        except (aiohttp.ClientError, asyncio.TimeoutError) as err:
            raise SyncError(f"central unreachable: {err.__class__.__name__}") from err
        try:
            doc = json.loads(answer)
        except ValueError:
            doc = None
        if status >= 400:
            doc = doc if isinstance(doc, dict) else {}
            raise SyncError(doc.get("message", f"HTTP {status}"),
                            code=doc.get("error", "http_error"), retry_after=retry_after)
        if not isinstance(doc, dict):
            raise SyncError("central's answer is not a JSON object", code="bad_response")
        return doc

    async def _call(self, kind: str, call) -> None:
        started = time.perf_counter()
        await call()
        self.stats.took(kind, time.perf_counter() - started)

    async def _pull(self) -> None:
        while True:
            page = await self.request("GET", "/api/v1/sync/changes",
                                      params={"since": self.cursor, "limit": 500})
            self.cursor = page["next_since"]
            if not page["more"]:
                return

    async def _push(self) -> None:
        batch = self.outbox[:500]
        answer = await self.request("POST", "/api/v1/sync/push",
                                    {"node_id": self.node_id, "events": batch})
        acked = [e for e in batch if e["seq"] <= answer["high_water"]]
        self.outbox = self.outbox[len(acked):]
        self.high_water = answer["high_water"]
        self.stats.sales_acked += sum(e["kind"] == "sale.completed" for e in acked)

    async def _status(self) -> None:
        await self.request("POST", "/api/v1/sync/status", {
            "node_id": self.node_id, "node_seq": self.seq, "queue_depth": len(self.outbox),
            "feed_cursor": self.cursor})

    # -- the loop ---------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event, interval: float, sales_per_minute: float) -> None:
        next_sync = time.monotonic() + self.rng.uniform(0, interval)  # tills start spread
        self.last_status = time.monotonic() - self.rng.uniform(0, 60)  # and report spread
        next_sale = time.monotonic() + self.rng.expovariate(sales_per_minute / 60) \
            if sales_per_minute else float("inf")
        while not stop.is_set():
            now = time.monotonic()
            if now >= next_sale:
                self.sell()
                next_sale = now + self.rng.expovariate(sales_per_minute / 60)
            if now >= next_sync:
                await self.sync()
                next_sync = time.monotonic() + interval * self.rng.uniform(0.8, 1.2)
            await asyncio.sleep(max(0.0, min(next_sale, next_sync) - time.monotonic()))


class open_connections:  # noqa: N801 - used like a function, as contextlib's are
    """Each till its own HTTP session of one kept-alive connection, for one event loop."""

    def __init__(self, tills: list[SimTill], timeout: float = 30):
        self.tills, self.timeout = tills, timeout

    async def __aenter__(self) -> None:
        for till in self.tills:
            till.http = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1),
                timeout=aiohttp.ClientTimeout(total=self.timeout), auto_decompress=True)

    async def __aexit__(self, *_exc) -> None:
        for till in self.tills:
            if till.http is not None:
                await till.http.close()
                till.http = None


async def _watch_loop(stats: Stats, stop: asyncio.Event, every: float = 0.1) -> None:
    """How late the event loop wakes a sleeper: the simulator's own delay, which every
    latency it measures includes (far below the latencies: the simulator kept up)."""
    while not stop.is_set():
        started = time.monotonic()
        await asyncio.sleep(every)
        stats.loop_lag.append(time.monotonic() - started - every)


def run_chain(tills: list[SimTill], seconds: float, interval: float,
              sales_per_minute: float, warm_up: float = 0.0) -> None:
    """Run every till for ``seconds``, all in one event loop; calls in the first ``warm_up``
    seconds (every till opening its connection) are made but not timed."""

    async def chain() -> None:
        tills[0].stats.measure_from = time.monotonic() + warm_up
        stop = asyncio.Event()
        async with open_connections(tills):
            runs = [asyncio.create_task(t.run(stop, interval, sales_per_minute))
                    for t in tills]
            watch = asyncio.create_task(_watch_loop(tills[0].stats, stop))
            await asyncio.sleep(seconds)
            stop.set()
            tills[0].stats.measured = time.monotonic() - tills[0].stats.measure_from
            await asyncio.gather(*runs, watch)

    asyncio.run(chain())


def drain(tills: list[SimTill], timeout: float) -> float:
    """Every till syncs until its outbox is empty (honouring ``Retry-After``); seconds taken."""

    async def empty(t: SimTill) -> None:
        while t.outbox:
            await t.sync()
            if t.outbox:
                await asyncio.sleep(max(0.05, t.not_before - time.monotonic()))

    async def all_of_them() -> None:
        async with open_connections(tills):
            try:
                await asyncio.wait_for(asyncio.gather(*(empty(t) for t in tills)), timeout)
            except asyncio.TimeoutError:
                pass  # the caller counts what is left

    started = time.monotonic()
    asyncio.run(all_of_them())
    return time.monotonic() - started
