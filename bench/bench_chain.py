"""Chain scale: how many tills one central sustains, and a reconnect storm (issue 25).

Central runs as deployed: ``kassa central serve`` (gunicorn, ``--workers``) on PostgreSQL,
seeded with the demo chain. ``--tills`` simulated tills (``chain_sim.py``: kassa's own signed
sync client, a key each) sync every ``--interval`` seconds with 20 % jitter, ring up
``--sales-per-minute`` sales each (10 % with a loyalty customer) and report their status once
a minute, for ``--seconds``; the first two intervals (every till opening its connection) are
not timed. Sustained means: push and pull p99 under 1 s, fewer than 1 % of
the tills' calls turned away busy (a till turned away waits ``Retry-After``, so a central
shedding load would otherwise look fast by serving fewer rounds: the rounds a till got a
minute are printed), no backlog left growing (the tills' outboxes hold no more than a round's
sales at the end), central's memory flat (its RSS at the end within 20 % of the middle's).

Floor, same run, same simulator and rate: the same number of clients calling central's bare
``/health`` (no signature, no database) through the same gunicorn: what HTTP alone costs.

Storm: central is stopped; every till rings up ``--backlog`` sales meanwhile (a 10-minute
outage at one sale a minute is 10); central starts again and every till comes back at once.
Printed: the time until every backlog is drained, the 503s central answered with
``Retry-After``, and the count check (sales made == sales at central, none twice).

Run: ``.venv/bin/python bench/bench_chain.py [--tills 2000] [--seconds 60] [--workers 2]``.
The simulator shares the machine's cores with central: its own CPU is printed beside.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import aiohttp
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent))
import chain_sim  # noqa: E402 - beside this file
from pgscratch import pg_url, scratch_databases  # noqa: E402

from kassa.central.models import ReceivedEvent, Sale  # noqa: E402
from kassa.common.db import Database  # noqa: E402
from kassa.common.runtime.processes import Supervisor  # noqa: E402

KASSA = [sys.executable, "-m", "kassa.cli"]


def group_usage(pgid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and RSS (KiB) of a process group: gunicorn and workers."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, rss = 0.0, 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:
                continue
            cpu += (int(fields[11]) + int(fields[12])) / tick
            for line in (stat.parent / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    rss += int(line.split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return cpu, rss


def own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def floor(url: str, clients: int, interval: float, seconds: float) -> tuple[float, float]:
    """p50 and p99 of /health called by ``clients`` clients at the tills' rate, each with its
    own connection, from one event loop as the simulated tills."""
    latencies: list[float] = []

    async def client(rng: random.Random, stop: asyncio.Event) -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1),
                                         timeout=aiohttp.ClientTimeout(total=30)) as http:
            await asyncio.sleep(rng.uniform(0, interval))
            while not stop.is_set():
                started = time.perf_counter()
                try:
                    async with http.get(url + "/health") as resp:
                        await resp.read()
                except (aiohttp.ClientError, asyncio.TimeoutError):
                    continue
                latencies.append(time.perf_counter() - started)
                await asyncio.sleep(interval * rng.uniform(0.8, 1.2))

    async def all_clients() -> None:
        stop = asyncio.Event()
        runs = [asyncio.create_task(client(random.Random(i), stop)) for i in range(clients)]
        await asyncio.sleep(seconds)
        stop.set()
        await asyncio.gather(*runs)

    asyncio.run(all_clients())
    latencies.sort()
    pick = (lambda p: latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))]) \
        if latencies else (lambda p: float("nan"))
    return pick(50), pick(99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tills", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--interval", type=float, default=5)
    parser.add_argument("--sales-per-minute", type=float, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads a worker")
    parser.add_argument("--sync-concurrency", type=int, default=3,
                        help="KASSA_SYNC_CONCURRENCY: tills' syncs a worker takes at once")
    parser.add_argument("--backlog", type=int, default=10)
    parser.add_argument("--keep-alive", type=int, default=None,
                        help="central serve --keep-alive (default: the tills a worker serves)")
    args = parser.parse_args()
    with scratch_databases(1) as (name,), tempfile.TemporaryDirectory() as tmp:
        url = pg_url(name)
        env = {**os.environ, "KASSA_CENTRAL_DB": url, "KASSA_ISSUER_KEY_DIR": f"{tmp}/issuer",
               "KASSA_VAR_DIR": tmp, "KASSA_SYNC_CONCURRENCY": str(args.sync_concurrency)}
        for command in (["central", "init-db"], ["central", "seed-demo"]):
            subprocess.run(KASSA + command, env=env, check=True, capture_output=True)
        db = Database(url)
        shop = chain_sim.shop_of(db)
        registered = chain_sim.register_tills(db, args.tills, shop.stores)
        port = 18700
        with socket.socket() as probe:  # a central left by an earlier run would answer instead
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                raise SystemExit(f"port {port} is taken (a central left by an earlier run?)")
        central = f"http://127.0.0.1:{port}"
        sup = Supervisor(Path(tmp) / "logs")
        keep_alive = args.keep_alive if args.keep_alive is not None \
            else -(-args.tills * 11 // (10 * args.workers))
        serve = KASSA + ["central", "serve", "--port", str(port), "--workers", str(args.workers),
                         "--threads", str(args.threads), "--keep-alive", str(keep_alive)]
        try:
            sup.start("central", serve, env)
            sup.wait_http("central", central + "/health")
            pgid = dict(sup.children)["central"].pid
            print(f"{args.tills} tills, every {args.interval:g} s, {args.sales_per_minute:g} "
                  f"sale/min each, central: {args.workers} gunicorn workers x {args.threads} "
                  f"threads ({args.sync_concurrency} for tills' syncs, {keep_alive} kept-alive "
                  f"connections) on PostgreSQL, "
                  f"{os.cpu_count()} cores", flush=True)

            p50, p99 = floor(central, args.tills, args.interval, min(args.seconds, 30))
            cpu0, _ = group_usage(pgid)
            print(f"floor  /health x {args.tills} clients: p50 {p50 * 1000:.0f} ms, "
                  f"p99 {p99 * 1000:.0f} ms", flush=True)

            stats = chain_sim.Stats()
            rng = random.Random(25)
            tills = [chain_sim.SimTill(node_id, store, key, central, shop, stats,
                                       random.Random(rng.random()))
                     for node_id, store, key in registered]
            cpu_start, _ = group_usage(pgid)
            sim_start, wall = own_cpu(), time.monotonic()
            mid_rss: list[int] = []
            threading.Timer(args.seconds / 2,
                            lambda: mid_rss.append(group_usage(pgid)[1])).start()
            chain_sim.run_chain(tills, args.seconds, args.interval, args.sales_per_minute,
                                warm_up=2 * args.interval)
            elapsed = time.monotonic() - wall
            cpu_end, rss_end = group_usage(pgid)
            central_cores = (cpu_end - cpu_start) / elapsed
            backlog = sum(len(t.outbox) for t in tills)
            push99, pull99 = stats.percentile("push", 99), stats.percentile("pull", 99)
            calls = sum(len(v) for v in stats.latencies.values()) + sum(stats.refused.values()) \
                + sum(stats.errors.values())
            turned_away = sum(stats.refused.values()) / max(calls, 1)
            rounds = len(stats.latencies.get("pull", [])) / (args.tills * stats.measured / 60)
            sustained = (push99 < 1 and pull99 < 1 and turned_away < 0.01 and backlog <= args.tills
                         * args.sales_per_minute * args.interval / 60 * 2 + 1
                         and (not mid_rss or rss_end <= mid_rss[0] * 1.2))
            print(f"tills  pull p50 {stats.percentile('pull', 50) * 1000:.0f} ms, "
                  f"p99 {pull99 * 1000:.0f} ms ({len(stats.latencies.get('pull', []))} pulls); "
                  f"push p50 {stats.percentile('push', 50) * 1000:.0f} ms, "
                  f"p99 {push99 * 1000:.0f} ms ({len(stats.latencies.get('push', []))} pushes)")
            print(f"       central used {central_cores:.2f} cores, RSS {rss_end / 1024:.0f} MiB "
                  f"(mid-run {mid_rss[0] / 1024 if mid_rss else float('nan'):.0f} MiB); "
                  f"the simulator {(own_cpu() - sim_start) / elapsed:.2f} cores, its loop "
                  f"late p99 {stats.percentile('loop_lag', 99) * 1000:.0f} ms; "
                  f"turned away {stats.refused['busy']} ({turned_away:.1%} of calls), errors "
                  f"{dict(stats.errors)}; a till synced {rounds:.1f} times a minute (asked: "
                  f"{60 / args.interval:.0f}); backlog at the end {backlog}")
            verdict = "sustained" if sustained else "NOT sustained"
            per_core = args.tills / max(central_cores, 0.01)
            print(f"       {verdict}: {args.tills} tills; {per_core:.0f} tills per core of "
                  f"central's at this rate", flush=True)

            # The storm: central away, every till rings up its backlog, all come back at once.
            sup.stop_all()
            for till in tills:
                for _ in range(args.backlog):
                    till.sell()
            sup = Supervisor(Path(tmp) / "logs2")
            sup.start("central", serve, env)
            sup.wait_http("central", central + "/health")
            refused_before = stats.refused["busy"]
            drained = chain_sim.drain(tills, timeout=1800)
            left = sum(len(t.outbox) for t in tills)
            with db.read() as s:
                at_central = s.scalar(select(func.count()).select_from(Sale)
                                      .where(Sale.node_id.like("sim-%")))
                distinct = s.scalar(select(func.count(func.distinct(Sale.receipt_no)))
                                    .where(Sale.node_id.like("sim-%")))
                events = s.scalar(select(func.count()).select_from(ReceivedEvent)
                                  .where(ReceivedEvent.node_id.like("sim-%")))
            print(f"storm  {args.tills} tills x {args.backlog} offline sales back at once: "
                  f"drained in {drained:.1f} s, {stats.refused['busy'] - refused_before} "
                  f"turned away with Retry-After, {left} events left; sales made "
                  f"{stats.sales_made}, at central {at_central} ({distinct} distinct, "
                  f"{events} events)", flush=True)
            print(json.dumps({"tills": args.tills, "sustained": sustained,
                              "pull_p99_ms": round(pull99 * 1000), "push_p99_ms":
                              round(push99 * 1000), "central_cores": round(central_cores, 2),
                              "tills_per_core": round(per_core), "drain_s": round(drained, 1),
                              "floor_p99_ms": round(p99 * 1000)}))
        finally:
            sup.stop_all()
            db.dispose()


if __name__ == "__main__":
    main()
