"""Basket rules: ``kassa.central.reporting.warehouse.basket.mine_rules`` next to mlxtend's fpgrowth.

Figures: rules ``{A} -> B`` and ``{A, B} -> C`` mined from N baskets (default 1,000,000) over
5,000 products, by the module (DuckDB SQL) and by mlxtend (``fpgrowth`` then
``association_rules``, single-item consequents kept) on the same baskets with the same
min_support, min_confidence, min_lift and max_len; whether the two rule sets are identical
(same itemsets, support and confidence within 1e-9); wall time (best of ``--repeat`` runs,
as the machine may be shared) and peak RSS of each. Each miner runs in its own spawned
process, so each peak RSS is that miner's alone (it includes the interpreter, the libraries
and the baskets: arrays, and for kassa the DuckDB table; 0.2-0.4 GB). Targets: the same
rules, >= 10x faster than mlxtend, <= 2 GB peak for the module.

Baskets: 1 + Poisson(2.8) draws each from a Zipf-like popularity (1 / (rank + 5)), products
shuffled so popularity is not in id order; half the baskets also follow one of 60 shopping
missions (2 + Poisson(1) draws among its 8 products); then planted associations: pairs (A
pulls B into a share of A's baskets), triples (A and B together pull C) and bundles (three
products added together to ~0.08% of baskets); deduplicated, about 5 products a basket.

mlxtend reads a one-hot DataFrame. It is sparse (``pd.DataFrame.sparse.from_spmatrix`` on a
scipy CSR matrix of bools) but restricted to the products that are frequent on their own:
fpgrowth densifies the frame once (``df.values``), which would be N x 5,000 bytes. Dropping the
other columns changes no result (an itemset with an infrequent product is infrequent) and the
row count, hence every support, stays N. Building that frame and loading the DuckDB table are
not in the miners' times; both are printed.

Run: ``.venv/bin/python bench/bench_basket.py [--baskets N] [--min-support S] [--max-len 3]
[--repeat 2]`` (defaults: 1,000,000 baskets, min_support 0.0005, about two minutes).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

PRODUCTS = 5_000
MISSIONS = 60


def generate(n: int, products: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(basket_id, product_id) arrays, sorted, one row per distinct product in a basket."""
    rng = np.random.default_rng(seed)
    popularity = 1 / (np.arange(1, products + 1) + 5.0)
    cdf = np.cumsum(popularity / popularity.sum())
    ids = rng.permutation(products).astype(np.int64)  # ids[rank] is the product of that rank
    # Half the baskets serve a shopping mission (breakfast, a barbecue...): besides their
    # background draws they take 2 + Poisson(1) products from the mission's 8.
    sizes = 1 + rng.poisson(2.8, n)
    themed = np.flatnonzero(rng.random(n) < 0.5)
    missions = ids[30 + rng.permutation(1500)[:MISSIONS * 8]].reshape(MISSIONS, 8)
    extra = 2 + rng.poisson(1.0, themed.size)
    baskets = [np.repeat(np.arange(n, dtype=np.int64), sizes), np.repeat(themed, extra)]
    background = np.minimum(np.searchsorted(cdf, rng.random(baskets[0].size)), products - 1)
    mission_of = np.repeat(rng.integers(0, MISSIONS, themed.size), extra)
    products_ = [ids[background], missions[mission_of, rng.integers(0, 8, mission_of.size)]]

    def holders(product: int) -> np.ndarray:
        return np.concatenate([b[p == product] for b, p in zip(baskets, products_,
                                                               strict=True)])

    def plant(into: np.ndarray, product: int, share: float) -> None:
        chosen = into[rng.random(into.size) < share]
        baskets.append(chosen)
        products_.append(np.full(chosen.size, product, dtype=np.int64))

    ranked = ids[30 + rng.permutation(1500)]  # mid-popularity products
    pairs = [(int(ranked[i]), int(ranked[i + 1]), 0.2 + 0.02 * i) for i in range(0, 40, 2)]
    for a, b, share in pairs:
        plant(holders(a), b, share)
    for a, b, _ in pairs[:10]:  # {a, b} pulls in c
        plant(np.intersect1d(holders(a), holders(b)), int(ranked[100 + a % 50]), 0.5)
    for k in range(8):  # bundles of three bought together by ~0.08% of baskets each
        chosen = np.flatnonzero(rng.random(n) < 0.0008)
        for product in ranked[200 + 3 * k: 203 + 3 * k]:
            baskets.append(chosen)
            products_.append(np.full(chosen.size, int(product), dtype=np.int64))
    # Sort and drop repeats by key (np.unique is several times slower here than a plain sort).
    keys = np.sort(np.concatenate(baskets) * products + np.concatenate(products_))
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return keys // products, (keys % products).astype(np.int32)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_kassa(path: str, params: dict, repeat: int) -> dict:
    import duckdb
    import pandas as pd

    from kassa.central.reporting.warehouse import basket

    data = np.load(path)
    con = duckdb.connect()
    start = time.perf_counter()
    frame = pd.DataFrame({"basket_id": data["basket"], "product_id": data["product"]})
    con.execute("CREATE TABLE baskets AS SELECT basket_id::BIGINT AS basket_id, "
                "product_id::INTEGER AS product_id FROM frame")
    del frame
    loaded = time.perf_counter() - start
    seconds = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        count = basket.mine_rules(con, "baskets", "rules", **params)
        seconds.append((time.perf_counter() - start, time.process_time() - cpu))
    rules = {(tuple(a), c): (s, conf) for a, c, s, conf in
             con.execute("SELECT antecedent, consequent, support, confidence FROM rules")
             .fetchall()}
    assert count == len(rules)
    return {"rules": rules, "seconds": seconds, "setup": loaded, "rss": peak_rss_gb(),
            "threads": con.execute("SELECT current_setting('threads')").fetchall()[0][0]}


def run_mlxtend(path: str, params: dict, repeat: int) -> dict:
    import pandas as pd
    import scipy.sparse as sp

    data = np.load(path)
    basket_ids, product_ids = data["basket"], data["product"]
    n = int(data["baskets"])  # every basket holds a product, so all are rows of the frame
    start = time.perf_counter()
    counts = np.bincount(product_ids, minlength=PRODUCTS)
    frequent = np.flatnonzero(counts / n >= params["min_support"])  # the same float test
    column = np.full(PRODUCTS, -1)
    column[frequent] = np.arange(frequent.size)
    keep = column[product_ids] >= 0
    matrix = sp.csr_matrix((np.ones(int(keep.sum()), dtype=bool),
                            (basket_ids[keep], column[product_ids[keep]])),
                           shape=(n, frequent.size))
    onehot = pd.DataFrame.sparse.from_spmatrix(matrix)  # columns 0..F-1, as mlxtend asks
    built = time.perf_counter() - start

    seconds = []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        rules, itemsets = mlxtend_rules(onehot, frequent, n, params)
        seconds.append((time.perf_counter() - start, time.process_time() - cpu))
    return {"rules": rules, "seconds": seconds, "setup": built, "rss": peak_rss_gb(),
            "columns": int(frequent.size), "itemsets": len(itemsets)}


def mlxtend_rules(onehot, frequent: np.ndarray, n: int, params: dict) -> tuple[dict, object]:
    from mlxtend.frequent_patterns import association_rules, fpgrowth

    itemsets = fpgrowth(onehot, min_support=params["min_support"], max_len=params["max_len"])
    found = association_rules(itemsets, num_itemsets=n, metric="confidence",
                              min_threshold=max(0.0, params["min_confidence"] - 1e-9))
    rules = {}
    for ante, cons, s_ac, s_a, s_c, conf in zip(
            found.antecedents, found.consequents, found.support, found["antecedent support"],
            found["consequent support"], found.confidence, strict=True):
        if len(cons) != 1:
            continue
        # Thresholds on exact counts, as the module applies them: mlxtend's s_AC / s_A can
        # fall one ulp under a ratio that is exactly the threshold.
        n_ac, n_a, n_c = (round(x * n) for x in (s_ac, s_a, s_c))
        if n_ac / n_a >= params["min_confidence"] and n_ac * n / (n_a * n_c) >= params[
                "min_lift"]:
            key = (tuple(sorted(int(frequent[i]) for i in ante)), int(frequent[next(iter(cons))]))
            rules[key] = (s_ac, conf)
    return rules, itemsets


def in_child(function, *args) -> dict:
    # A fresh spawned interpreter per miner: its ru_maxrss is that miner's peak alone.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(function, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baskets", type=int, default=1_000_000)
    parser.add_argument("--min-support", type=float, default=0.0005)
    parser.add_argument("--min-confidence", type=float, default=0.05)
    parser.add_argument("--min-lift", type=float, default=1.0)
    parser.add_argument("--max-len", type=int, default=3, choices=(2, 3))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2,
                        help="runs of each miner; the best time is compared")
    args = parser.parse_args()
    params = {"min_support": args.min_support, "min_confidence": args.min_confidence,
              "min_lift": args.min_lift, "max_len": args.max_len}

    start = time.perf_counter()
    basket_ids, product_ids = generate(args.baskets, PRODUCTS, args.seed)
    made = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "baskets.npz")
        np.savez(path, basket=basket_ids, product=product_ids, baskets=args.baskets)
        load_before = os.getloadavg()[0]
        ours = in_child(run_kassa, path, params, args.repeat)
        theirs = in_child(run_mlxtend, path, params, args.repeat)

    same = ours["rules"].keys() == theirs["rules"].keys()
    worst = max((max(abs(a - b) for a, b in zip(ours["rules"][k], theirs["rules"][k],
                                                  strict=True))
                 for k in ours["rules"]), default=0.0) if same else None
    identical = same and worst <= 1e-9
    triples = sum(len(a) == 2 for a, _ in ours["rules"])
    # (wall, CPU) of the run with the best wall time; CPU seconds (all threads) are printed
    # too because a shared machine stretches wall time far more than CPU time.
    (best_ours, cpu_ours), (best_theirs, cpu_theirs) = min(ours["seconds"]), min(
        theirs["seconds"])

    def runs(seconds: list[tuple[float, float]]) -> str:
        return ", ".join(f"{wall:.1f}" for wall, _ in seconds)

    print(f"basket rules, {args.baskets:,} baskets over {PRODUCTS:,} products "
          f"({basket_ids.size / args.baskets:.2f} products a basket, {basket_ids.size:,} rows; "
          f"generated in {made:.1f} s)")
    print(f"  min_support {args.min_support} ({args.min_support * args.baskets:.0f} baskets), "
          f"min_confidence {args.min_confidence}, min_lift {args.min_lift}, "
          f"max_len {args.max_len}; {os.cpu_count()} CPUs, DuckDB threads {ours['threads']}, "
          f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}")
    print(f"  kassa basket.mine_rules (DuckDB) {best_ours:6.1f} s (CPU {cpu_ours:5.1f} s)   "
          f"peak RSS {ours['rss']:5.2f} GB   {len(ours['rules']):6,} rules ({triples:,} from "
          "triples)")
    print(f"  mlxtend fpgrowth + rules         {best_theirs:6.1f} s (CPU {cpu_theirs:5.1f} s)   "
          f"peak RSS {theirs['rss']:5.2f} GB   {len(theirs['rules']):6,} rules")
    print(f"    best of {args.repeat} runs each (kassa {runs(ours['seconds'])} s; mlxtend "
          f"{runs(theirs['seconds'])} s); not timed: DuckDB table load {ours['setup']:.1f} s, "
          f"one-hot frame {theirs['setup']:.1f} s")
    print(f"    mlxtend's frame: sparse bool, {args.baskets:,} rows x {theirs['columns']:,} "
          f"columns, the products frequent alone ({theirs['itemsets']:,} frequent itemsets)")
    if identical:
        print(f"  rule sets identical: yes (largest support/confidence gap {worst:.1e})")
    else:
        only_ours = len(ours["rules"].keys() - theirs["rules"].keys())
        only_theirs = len(theirs["rules"].keys() - ours["rules"].keys())
        print(f"  rule sets identical: NO ({only_ours} only kassa's, {only_theirs} only "
              f"mlxtend's, largest gap {worst})")
    print(f"  speed-up {best_theirs / best_ours:.1f}x wall time, "
          f"{cpu_theirs / cpu_ours:.1f}x CPU time")
    print("  target: the same rules, >= 10x faster than mlxtend, <= 2 GB peak for kassa")


if __name__ == "__main__":
    main()
