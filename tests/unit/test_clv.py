"""Lifetime-value models (kassa.central.reporting.warehouse.clv).

Golden: the published CDNOW fits (2,357 customers, 39-week calibration, weeks), from the
CDNOW summary that ships inside the Lifetimes 0.11.3 wheel on PyPI. The wheel is downloaded
once into var/test-data/ and read as a zip: lifetimes is neither installed nor imported. A
failed download fails the tests (CI has PyPI).

Synthetic: customers simulated here with numpy from known parameters, including what they do
after the window, so the fits and the forecasts are checked against what actually happened.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from kassa.central.reporting.warehouse import clv

CACHE = Path(__file__).resolve().parents[2] / "var" / "test-data"
WHEEL = "lifetimes==0.11.3"
CDNOW_CSV = "lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
CDNOW_SHA256 = "7ddd11b55be3227edfc1d58675154e96971b0de3ad37ddd9280d1dba154b8b2f"
PUBLISHED_BG = clv.BgNbd(r=0.243, alpha=4.414, a=0.793, b=2.426)  # Fader, Hardie & Lee 2005
PUBLISHED_GG = clv.GammaGamma(p=6.25, q=3.74, v=15.44)  # Fader & Hardie 2013


def lifetimes_wheel() -> Path:
    found = sorted(CACHE.glob("[Ll]ifetimes-0.11.3-*.whl"))
    if found:
        return found[0]
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", WHEEL, "--no-deps",
               "--only-binary=:all:", "-d", tmp]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        got = sorted(Path(tmp).glob("*.whl"))
        if done.returncode != 0 or not got:
            pytest.fail(f"could not download the CDNOW data ({WHEEL} from PyPI): "
                        f"{' '.join(cmd)} said:\n{done.stdout}\n{done.stderr}")
        os.replace(got[0], CACHE / got[0].name)  # whole or absent, never half a file
        return CACHE / got[0].name


@cache
def cdnow() -> dict[str, np.ndarray]:
    """x, t_x, T (weeks) and zbar (mean repeat purchase, dollars) of the 2,357 customers."""
    with zipfile.ZipFile(lifetimes_wheel()) as wheel:
        raw = wheel.read(CDNOW_CSV)
    assert hashlib.sha256(raw).hexdigest() == CDNOW_SHA256, "the CDNOW summary changed"
    rows = list(csv.DictReader(io.StringIO(raw.decode())))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}


def simulate(n, bg: clv.BgNbd, gg: clv.GammaGamma, seed: int, holdout: float = 39.0):
    """Customers drawn from the models' own story, with what they buy in the next
    ``holdout`` weeks, whether they are still alive and their true mean spend."""
    rng = np.random.default_rng(seed)
    age = rng.uniform(20.0, 52.0, n)
    rate = rng.gamma(bg.r, 1.0 / bg.alpha, n)
    last = rng.geometric(rng.beta(bg.a, bg.b, n))  # leaves right after this many repeat buys
    bought = rng.poisson(rate * age)
    x = np.minimum(bought, last)
    k = np.maximum(x, 1)
    # the k-th of m uniform purchase times on [0, T] is T times a Beta(k, m - k + 1)
    recency = np.where(x > 0, age * rng.beta(k, np.maximum(bought - k + 1, 1)), 0.0)
    alive = bought < last
    later = np.where(alive, np.minimum(rng.poisson(rate * holdout), last - bought), 0)
    nu = rng.gamma(gg.q, 1.0 / gg.v, n)
    monetary = np.where(x > 0, rng.gamma(gg.p * k, 1.0 / (k * nu)), 0.0)
    return dict(x=x.astype(float), t_x=recency, T=age, m=monetary, alive=alive, later=later,
                true_spend=gg.p / nu)


@pytest.fixture(scope="module")
def sim():
    return simulate(20_000, PUBLISHED_BG, PUBLISHED_GG, seed=7)


# --- golden: the published CDNOW fits ---------------------------------------------------------

def test_bgnbd_fit_reproduces_the_published_cdnow_parameters():
    d = cdnow()
    assert len(d["x"]) == 2357
    fit = clv.fit_bgnbd(d["x"], d["t_x"], d["T"])
    for name in ("r", "alpha", "a", "b"):
        assert getattr(fit, name) == pytest.approx(getattr(PUBLISHED_BG, name), rel=1e-2), name
    # the paper reports LL = -9582.4 at its estimates
    assert clv.bgnbd_log_likelihood(PUBLISHED_BG, d["x"], d["t_x"], d["T"]) == pytest.approx(
        -9582.4, abs=0.1)
    assert clv.bgnbd_log_likelihood(fit, d["x"], d["t_x"], d["T"]) >= -9582.43


def test_conditional_expectation_of_the_papers_example_customer():
    # the paper's worked example: x = 2, t_x = 30.43, T = 38.86 buys 1.226 times in 39 weeks
    got = clv.expected_purchases(PUBLISHED_BG, 39.0, [2], [30.43], [38.86])
    assert got[0] == pytest.approx(1.226, abs=5e-4)


def test_gamma_gamma_fit_reproduces_the_published_cdnow_parameters():
    d = cdnow()
    assert int((d["x"] > 0).sum()) == 946  # the note fits the 946 repeat buyers
    fit = clv.fit_gamma_gamma(d["x"], d["zbar"])
    for name in ("p", "q", "v"):
        assert getattr(fit, name) == pytest.approx(getattr(PUBLISHED_GG, name), rel=1e-2), name


# --- synthetic: fits recover what the data were made from -------------------------------------

def test_bgnbd_fit_recovers_the_simulating_parameters(sim):
    fit = clv.fit_bgnbd(sim["x"], sim["t_x"], sim["T"])
    # tolerances about 4 standard errors at 20,000 customers (a and b are the least pinned)
    for name, rel in (("r", 0.08), ("alpha", 0.12), ("a", 0.3), ("b", 0.35)):
        assert getattr(fit, name) == pytest.approx(getattr(PUBLISHED_BG, name), rel=rel), name
    truth = clv.bgnbd_log_likelihood(PUBLISHED_BG, sim["x"], sim["t_x"], sim["T"])
    assert clv.bgnbd_log_likelihood(fit, sim["x"], sim["t_x"], sim["T"]) >= truth


def test_gamma_gamma_fit_recovers_the_simulating_parameters(sim):
    fit = clv.fit_gamma_gamma(sim["x"], sim["m"])
    for name, rel in (("p", 0.3), ("q", 0.15), ("v", 0.4)):
        assert getattr(fit, name) == pytest.approx(getattr(PUBLISHED_GG, name), rel=rel), name
    # p and v trade off; the shop's mean purchase p v / (q - 1) is pinned much better
    mean = PUBLISHED_GG.p * PUBLISHED_GG.v / (PUBLISHED_GG.q - 1)
    assert fit.p * fit.v / (fit.q - 1) == pytest.approx(mean, rel=0.05)


# --- synthetic: forecasts against what the simulated customers then did -----------------------

def test_expected_purchases_match_the_next_39_weeks(sim):
    expected = clv.expected_purchases(PUBLISHED_BG, 39.0, sim["x"], sim["t_x"], sim["T"])
    assert expected.sum() == pytest.approx(sim["later"].sum(), rel=0.06)
    zero = sim["x"] == 0
    assert expected[zero].sum() == pytest.approx(sim["later"][zero].sum(), rel=0.12)
    busy = sim["x"] >= 5
    assert expected[busy].sum() == pytest.approx(sim["later"][busy].sum(), rel=0.08)


def test_p_alive_matches_the_share_still_alive(sim):
    alive = clv.p_alive(PUBLISHED_BG, sim["x"], sim["t_x"], sim["T"])
    assert alive.mean() == pytest.approx(sim["alive"].mean(), abs=0.012)
    repeat = sim["x"] > 0
    assert alive[repeat].mean() == pytest.approx(sim["alive"][repeat].mean(), abs=0.02)


def test_unconditional_expectation_matches_the_purchases_made(sim):
    expected = clv.expected_purchases_new(PUBLISHED_BG, sim["T"])
    assert expected.sum() == pytest.approx(sim["x"].sum(), rel=0.05)
    assert clv.expected_purchases_new(PUBLISHED_BG, 0.0) == 0.0


def test_expected_spend_matches_the_true_mean_spend(sim):
    repeat = sim["x"] > 0
    got = clv.expected_spend(PUBLISHED_GG, sim["x"][repeat], sim["m"][repeat])
    assert got.mean() == pytest.approx(sim["true_spend"][repeat].mean(), rel=0.02)


# --- behaviour -------------------------------------------------------------------------------

def test_p_alive_is_one_without_repeat_purchases_and_falls_with_silence():
    assert clv.p_alive(PUBLISHED_BG, [0, 0], [0, 0], [1e-9, 52.0]).tolist() == [1.0, 1.0]
    silence = np.array([0.0, 1.0, 5.0, 20.0, 40.0])
    alive = clv.p_alive(PUBLISHED_BG, [3] * 5, 40.0 - silence, [40.0] * 5)
    assert alive[0] == pytest.approx(1 / (1 + 0.793 / (2.426 + 2)))  # bought at the very end
    assert np.all(np.diff(alive) < 0) and alive[-1] < 0.3


def test_spend_is_shrunk_toward_the_shop_mean():
    shop = PUBLISHED_GG.p * PUBLISHED_GG.v / (PUBLISHED_GG.q - 1)
    got = clv.expected_spend(PUBLISHED_GG, [0, 1, 5, 10_000], [0, 100.0, 100.0, 100.0])
    assert got[0] == pytest.approx(shop)
    assert shop < got[1] < got[2] < got[3] < 100.0
    assert got[3] == pytest.approx(100.0, rel=1e-3)


def test_forecast_survives_very_frequent_buyers_and_a_equal_to_one():
    heavy = clv.expected_purchases(PUBLISHED_BG, 52.0, [3000], [389.0], [390.0])
    assert np.isfinite(heavy[0]) and heavy[0] > 0
    near = [clv.expected_purchases(clv.BgNbd(0.243, 4.414, a, 2.426), 39.0, [2], [30.43],
                                   [38.86])[0] for a in (0.999, 1.0, 1.001)]
    assert near[0] > near[1] > near[2]


def test_clv_discounts_monthly_purchases_times_spend():
    x, t_x, age, m = [0, 2, 7], [0, 30.43, 29.43], [38.86] * 3, [0, 22.35, 73.74]
    spend = clv.expected_spend(PUBLISHED_GG, x, m)
    flat = clv.clv(PUBLISHED_BG, PUBLISHED_GG, x, t_x, age, m, monthly_discount=0.0)
    year = clv.expected_purchases(PUBLISHED_BG, 12 * clv.WEEKS_PER_MONTH, x, t_x, age)
    assert flat == pytest.approx(year * spend)
    discounted = clv.clv(PUBLISHED_BG, PUBLISHED_GG, x, t_x, age, m, monthly_discount=0.02)
    assert np.all(discounted < flat) and np.all(discounted > flat / 1.02 ** 12)
    half = clv.clv(PUBLISHED_BG, PUBLISHED_GG, x, t_x, age, m, months=6)
    assert np.all(half < clv.clv(PUBLISHED_BG, PUBLISHED_GG, x, t_x, age, m))


def test_clv_in_days_equals_clv_in_weeks():
    x, t_x, age, m = np.array([1.0, 4.0]), np.array([10.0, 30.0]), np.array([35.0, 38.0]), \
        np.array([30.0, 45.0])
    in_days = clv.BgNbd(PUBLISHED_BG.r, PUBLISHED_BG.alpha * 7, PUBLISHED_BG.a, PUBLISHED_BG.b)
    weeks = clv.clv(PUBLISHED_BG, PUBLISHED_GG, x, t_x, age, m)
    days = clv.clv(in_days, PUBLISHED_GG, x, t_x * 7, age * 7, m,
                   periods_per_month=365.25 / 12)
    assert days == pytest.approx(weeks, rel=1e-9)


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("x, t_x, age, message", [
    ([], [], [], "non-empty"),
    ([-1], [0], [10], "negative"),
    ([1], [-1], [10], "negative"),
    ([2], [11], [10], "recency > age"),
    ([0], [3], [10], "recency 0"),
    ([1.5], [3], [10], "whole numbers"),
    ([1, 2], [3], [10], "same length"),
    ([1], [float("nan")], [10], "missing"),
])
def test_bad_histories_are_refused(x, t_x, age, message):
    for call in (lambda: clv.fit_bgnbd(x, t_x, age), lambda: clv.p_alive(PUBLISHED_BG, x, t_x, age),
                 lambda: clv.expected_purchases(PUBLISHED_BG, 10, x, t_x, age)):
        with pytest.raises(ValueError, match=message):
            call()


def test_other_bad_input_is_refused():
    with pytest.raises(ValueError, match="positive"):
        clv.BgNbd(r=0.2, alpha=-1.0, a=1.0, b=1.0)
    with pytest.raises(ValueError, match="horizon"):
        clv.expected_purchases(PUBLISHED_BG, -1.0, [1], [1.0], [2.0])
    with pytest.raises(ValueError, match="monetary must be positive"):
        clv.fit_gamma_gamma([1, 2], [10.0, 0.0])
    with pytest.raises(ValueError, match="no customer has a repeat purchase"):
        clv.fit_gamma_gamma([0, 0], [0.0, 0.0])
    with pytest.raises(ValueError, match="no finite mean"):
        clv.expected_spend(clv.GammaGamma(p=2.0, q=0.9, v=10.0), [1], [10.0])
    with pytest.raises(ValueError, match="monthly_discount"):
        clv.clv(PUBLISHED_BG, PUBLISHED_GG, [1], [1.0], [2.0], [5.0], monthly_discount=-1.0)


def test_a_fit_without_a_maximum_is_refused():
    with pytest.raises(ValueError, match="no customer has a repeat purchase"):
        clv.fit_bgnbd([0] * 50, [0.0] * 50, np.linspace(5.0, 40.0, 50))
    # everyone bought at the very end of the window: nothing says anyone ever leaves
    age = np.linspace(20.0, 40.0, 500)
    with pytest.raises(ValueError, match="did not converge"):
        clv.fit_bgnbd(np.arange(500) % 7 + 1, age, age)
    # identical spends: no spread within a customer, the shape p has no finite maximum
    with pytest.raises(ValueError, match="did not converge"):
        clv.fit_gamma_gamma([1, 2, 3] * 20, [10.0] * 60)
