"""Fitting the lifetime-value models on a large customer base.

Figure: seconds for ``kassa.central.reporting.warehouse.clv.fit_bgnbd`` and ``fit_gamma_gamma`` on N
synthetic customers (default 500,000) simulated with a fixed seed from the published CDNOW
parameters (BG/NBD r=0.243, alpha=4.414, a=0.793, b=2.426; Gamma-Gamma p=6.25, q=3.74,
v=15.44), time unit weeks, first purchases spread over 12 weeks and the window ending at week
39 as in CDNOW. Run twice: times as exact floats (every customer distinct, the worst case) and
rounded to whole days (as from a shop's dates, where identical histories are fitted once).
Target: fit <= 10 s. Baseline, same run: one evaluation of the BG/NBD log-likelihood written
plainly in numpy (special functions per customer, no gradient; best of 3), times the number
of evaluations the fit used, i.e. what the same search costs with a naive objective.

Run: ``.venv/bin/python bench/bench_clv.py [N_CUSTOMERS]``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from scipy import special

from kassa.central.reporting.warehouse import clv

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500_000
TRUE_BG = clv.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)
TRUE_GG = clv.GammaGamma(p=6.25, q=3.74, v=15.44)


def simulate(n: int, seed: int = 20050401) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    age = 39.0 - rng.uniform(0.0, 12.0, n)
    rate = rng.gamma(TRUE_BG.r, 1.0 / TRUE_BG.alpha, n)
    drop = rng.beta(TRUE_BG.a, TRUE_BG.b, n)
    bought = rng.poisson(rate * age)
    x = np.minimum(bought, rng.geometric(drop))  # leaves right after the geometric-th buy
    # the k-th of n uniform arrival times on [0, T] is T times a Beta(k, n - k + 1)
    k = np.maximum(x, 1)
    recency = np.where(x > 0, age * rng.beta(k, np.maximum(bought - k + 1, 1)), 0.0)
    nu = rng.gamma(TRUE_GG.q, 1.0 / TRUE_GG.v, n)
    monetary = np.where(x > 0, rng.gamma(TRUE_GG.p * k, 1.0 / (k * nu)), 0.0)
    return x.astype(float), recency, age, monetary


def naive_log_likelihood(p: clv.BgNbd, x, t_x, age) -> float:
    g = special.gammaln
    first = g(p.r + x) - g(p.r) + p.r * np.log(p.alpha)
    second = g(p.a + p.b) + g(p.b + x) - g(p.b) - g(p.a + p.b + x)
    alive = -(p.r + x) * np.log(p.alpha + age)
    with np.errstate(divide="ignore", invalid="ignore"):
        gone = np.where(x > 0, np.log(p.a) - np.log(np.maximum(p.b + x - 1, 1e-300))
                        - (p.r + x) * np.log(p.alpha + t_x), -np.inf)
    return float(np.sum(first + second + np.logaddexp(alive, gone)))


def timed_fit(x, recency, age, monetary) -> tuple[float, float, int, clv.BgNbd, clv.GammaGamma]:
    calls = 0
    terms = clv._bgnbd_mean_ll

    def counted(*args):
        nonlocal calls
        calls += 1
        return terms(*args)

    clv._bgnbd_mean_ll = counted  # only to count the optimizer's evaluations for the baseline
    try:
        start = time.perf_counter()
        bg = clv.fit_bgnbd(x, recency, age)
        bg_s = time.perf_counter() - start
    finally:
        clv._bgnbd_mean_ll = terms
    start = time.perf_counter()
    gg = clv.fit_gamma_gamma(x, monetary)
    gg_s = time.perf_counter() - start
    return bg_s, gg_s, calls, bg, gg


def main() -> None:
    x, recency, age, monetary = simulate(N)
    print(f"lifetime-value fit, {N} synthetic customers from the CDNOW parameters (weeks); "
          f"{int((x > 0).sum())} with repeat purchases")
    print(f"  true        BG/NBD r={TRUE_BG.r:.3f} alpha={TRUE_BG.alpha:.3f} a={TRUE_BG.a:.3f} "
          f"b={TRUE_BG.b:.3f}   Gamma-Gamma p={TRUE_GG.p:.2f} q={TRUE_GG.q:.2f} "
          f"v={TRUE_GG.v:.2f}")
    evals = {}
    for label, days in (("exact times", False), ("whole days ", True)):
        rx, ra = (np.round(recency * 7) / 7, np.round(age * 7) / 7) if days else (recency, age)
        bg_s, gg_s, evals[days], bg, gg = timed_fit(x, rx, ra, monetary)
        print(f"  {label} BG/NBD r={bg.r:.3f} alpha={bg.alpha:.3f} a={bg.a:.3f} b={bg.b:.3f}"
              f"   Gamma-Gamma p={gg.p:.2f} q={gg.q:.2f} v={gg.v:.2f}")
        print(f"  {label} fit BG/NBD {bg_s:6.2f} s ({evals[days]} evaluations)   "
              f"Gamma-Gamma {gg_s:6.2f} s   total {bg_s + gg_s:6.2f} s")
    runs = []
    for _ in range(3):
        start = time.perf_counter()
        naive_log_likelihood(TRUE_BG, x, recency, age)
        runs.append(time.perf_counter() - start)
    one = min(runs)
    print(f"  baseline: plain numpy log-likelihood, one evaluation (best of 3) {one * 1000:.1f} "
          f"ms x {evals[False]} evaluations (exact times) = {one * evals[False]:6.2f} s")
    print("  target: fit <= 10 s for 500,000 customers")


if __name__ == "__main__":
    main()
