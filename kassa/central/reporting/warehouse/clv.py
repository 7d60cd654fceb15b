"""Customer lifetime value: BG/NBD for how often a customer buys, Gamma-Gamma for how much.

Written from the published likelihoods: Fader, Hardie & Lee (2005) "Counting your customers
the easy way" (BG/NBD) and "RFM and CLV: using iso-value curves", with Fader & Hardie's note
"The Gamma-Gamma model of monetary value" (2013). Per customer, over one observation window:

- ``frequency`` x: number of *repeat* purchases (the first purchase is not counted);
- ``recency`` t_x: time from the first purchase to the last one (0 when x is 0);
- ``age`` T: time from the first purchase to the end of the window;
- ``monetary``: mean value of the repeat purchases (ignored when x is 0).

Times are in any one unit (the published CDNOW fits use weeks) and the fitted parameters are
tied to it. Money is a float here, inside the model only: callers pass amounts converted from
minor units and convert results back to minor units (rounding) before storing or showing them.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, cast

import numpy as np
from scipy import optimize, special

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

WEEKS_PER_MONTH = 365.25 / 12 / 7


class _Positive:
    def __post_init__(self) -> None:
        # Only dataclasses (BgNbd, GammaGamma) inherit this check.
        for f in fields(cast("DataclassInstance", self)):
            value = getattr(self, f.name)
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"{type(self).__name__}.{f.name} must be a positive number, "
                                 f"got {value!r}")


@dataclass(frozen=True)
class BgNbd(_Positive):
    """Purchase-count model: while alive a customer buys at a rate drawn from Gamma(r, alpha);
    after each repeat purchase they leave for good with a probability drawn from Beta(a, b)."""

    r: float
    alpha: float
    a: float
    b: float


@dataclass(frozen=True)
class GammaGamma(_Positive):
    """Spend model: a customer's purchases are Gamma(p, nu) around their own mean, nu varies
    across customers as Gamma(q, v); the average purchase is p * v / (q - 1)."""

    p: float
    q: float
    v: float


def _arrays(**named: object) -> list[np.ndarray]:
    out = [np.atleast_1d(np.asarray(v, dtype=float)) for v in named.values()]
    for name, arr in zip(named, out, strict=True):
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"{name} must be a non-empty 1-D array")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} has a missing or infinite value")
        if np.any(arr < 0):
            raise ValueError(f"{name} has a negative value")
    if len({a.size for a in out}) > 1:
        raise ValueError(f"{', '.join(named)} must have the same length")
    if np.any(out[0] != np.floor(out[0])):  # callers pass frequency first
        raise ValueError("frequency must be whole numbers of repeat purchases")
    return out


def _history(frequency, recency, age) -> list[np.ndarray]:
    x, t_x, big_t = _arrays(frequency=frequency, recency=recency, age=age)
    if np.any(t_x > big_t):
        raise ValueError("recency is after the end of the window (recency > age)")
    if np.any((x == 0) & (t_x != 0)):
        raise ValueError("a customer without repeat purchases must have recency 0")
    return [x, t_x, big_t]


def _dot(u, v) -> float:
    # not u @ v: BLAS threads its dot product, and on a busy 2-core machine waiting for those
    # threads made a 20,000-customer fit tens of times slower; einsum needs no other thread
    return float(np.einsum("i,i->", u, v))


RUNAWAY_LOG = 12.0


def _maximize(mean_ll, start, data, model: str, scale: int) -> list[float]:
    """Maximum-likelihood parameters, searched in log space so that every step is admissible.

    The objective is a mean per customer, not a sum, so that the tolerances do not depend on
    the number of customers; the box only keeps a runaway search finite.
    """
    def objective(log_params):
        ll, grad = mean_ll(log_params, data)
        return -ll, -grad

    res = optimize.minimize(objective, start, jac=True, method="L-BFGS-B",
                            bounds=[(-30.0, 30.0)] * len(start),
                            options={"maxiter": 1000, "ftol": 1e-12, "gtol": 1e-8})
    # A shape parameter beyond e^±12 (below 6e-6 or above 160,000) is one the likelihood kept
    # pushing to 0 or infinity: how soon the search stops on that slope depends on the
    # optimizer's version (scipy 1.17 stops near e^-14.5 where older ones reached the box).
    # The scale (``scale``: BG/NBD's alpha in days, Gamma-Gamma's v in kopecks) may be large.
    runaway = np.any(np.abs(np.delete(res.x, scale)) > RUNAWAY_LOG)
    if not res.success or runaway or not np.all(np.isfinite(res.x)):
        why = "a parameter ran off to 0 or infinity" if runaway else res.message.strip()
        raise ValueError(f"{model} fit did not converge ({why}): the data do not pin the "
                         "model down (too few customers, or no sign of anyone leaving?)")
    return [float(v) for v in np.exp(res.x)]


# --- BG/NBD ---------------------------------------------------------------------------------

def _prepare(x, t_x, big_t):
    """Identical histories merged with a weight (their share of all customers), split into
    x = 0 and repeat buyers, and the weight per distinct x, so that the terms that depend
    on x alone run once per x value instead of once per customer."""
    # np.unique(axis=0) does the same merge, but several times slower on 500,000 rows
    rows = np.column_stack([x, t_x, big_t])[np.lexsort((big_t, t_x, x))]
    new = np.ones(len(rows), dtype=bool)
    new[1:] = np.any(rows[1:] != rows[:-1], axis=1)
    starts = np.flatnonzero(new)
    w = np.diff(np.append(starts, len(rows))) / len(rows)
    x, t_x, big_t = np.ascontiguousarray(rows[starts].T)
    xs, x_idx = np.unique(x, return_inverse=True)
    k = np.searchsorted(x, 0.5)  # sorted by x: the x = 0 rows come first
    return (big_t[:k], w[:k]), (x[k:], t_x[k:], big_t[k:], w[k:]), (xs, np.bincount(x_idx, w))


def _bgnbd_mean_ll(log_params, data) -> tuple[float, np.ndarray]:
    """Mean log-likelihood per customer and its gradient in log-parameters: per customer
    ln A1 + ln A2 + ln(A3 + A4) in the paper's notation, A4 (left right after the last
    purchase) only when x > 0; for x = 0 the whole reduces to r ln(alpha / (alpha + T))."""
    r, alpha, a, b = np.exp(log_params)
    (age0, w0), (x, t_x, age, w), (xs, wx) = data
    g, dg = special.gammaln, special.digamma
    ll = _dot(wx, g(r + xs) - g(r) + g(a + b) + g(b + xs) - g(b) - g(a + b + xs))
    dr = _dot(wx, dg(r + xs) - dg(r))
    dab = _dot(wx, dg(a + b) - dg(a + b + xs))
    db = _dot(wx, dg(b + xs) - dg(b))
    la, l_age0 = np.log(alpha), np.log(alpha + age0)
    ll += r * _dot(w0, la - l_age0)
    dr += _dot(w0, la - l_age0)
    dalpha = _dot(w0, r / alpha - r / (alpha + age0))
    # ln(A3 + A4) = ln A3 + softplus(ln A4 - ln A3): the log-sum trick, nothing can overflow
    rx = r + x
    l_age, l_tx = np.log(alpha + age), np.log(alpha + t_x)
    inv_bx = 1.0 / (b + x - 1)
    gap = np.log(a * inv_bx) + rx * (l_age - l_tx)
    gone = special.expit(gap)  # posterior probability that the customer has already left
    ll += _dot(w, r * la - rx * l_age + np.logaddexp(0.0, gap))
    dr += _dot(w, la - l_age + gone * (l_age - l_tx))
    dalpha += _dot(w, r / alpha - rx * ((1 - gone) / (alpha + age) + gone / (alpha + t_x)))
    da = dab + _dot(w, gone) / a
    db += dab - _dot(w, gone * inv_bx)
    return float(ll), np.array([dr * r, dalpha * alpha, da * a, db * b])


def bgnbd_log_likelihood(params: BgNbd, frequency, recency, age) -> float:
    """Total log-likelihood of the customers' histories under ``params`` (to compare fits)."""
    x = _history(frequency, recency, age)
    logp = np.log([params.r, params.alpha, params.a, params.b])
    return _bgnbd_mean_ll(logp, _prepare(*x))[0] * len(x[0])


def fit_bgnbd(frequency, recency, age) -> BgNbd:
    """Fit BG/NBD by maximum likelihood, one history per customer. Raises ValueError on bad
    input or when the optimizer does not converge."""
    x, t_x, big_t = _history(frequency, recency, age)
    if not np.any(x > 0):
        raise ValueError("no customer has a repeat purchase: nothing to fit BG/NBD on")
    # start at r = 1 with the shop's mean purchase rate and an even Beta(1, 1) dropout
    per_purchase = max(big_t.mean(), 1e-9) / x.mean()
    start = np.log([1.0, per_purchase, 1.0, 1.0])
    return BgNbd(*_maximize(_bgnbd_mean_ll, start, _prepare(x, t_x, big_t), "BG/NBD",
                                 scale=1))


def _p_alive(params: BgNbd, x, t_x, big_t) -> np.ndarray:
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    # log-odds that the customer has already left; kept as a log so long silences give 0,
    # not an overflow, and -inf (certainly alive) without repeat purchases
    gone, rep = np.full_like(x, -np.inf), x > 0
    xr, lag = x[rep], np.log(alpha + big_t[rep]) - np.log(alpha + t_x[rep])
    gone[rep] = np.log(a / (b + xr - 1)) + (r + xr) * lag
    return special.expit(-gone)


def p_alive(params: BgNbd, frequency, recency, age) -> np.ndarray:
    """Probability that each customer still shops with us at the end of the window.

    Falls the longer a customer has not bought relative to their usual pace. BG/NBD lets a
    customer leave only right after a repeat purchase, so one who never came back is 1 here;
    their low expected purchases come from their estimated rate, not from this.
    """
    return _p_alive(params, *_history(frequency, recency, age))


def _if_alive(params: BgNbd, t, x, big_t) -> np.ndarray:
    """Expected purchases in (T, T + t] of a customer alive at T after x repeat purchases."""
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t) & (t >= 0)):
        raise ValueError("the forecast horizon t must be a non-negative number")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    # a = 1 (division by a - 1) and a + b = 1 with x = 0 (2F1 with c = 0) are removable
    # singularities of the closed form: step just aside of them
    a = a if abs(a - 1) > 1e-6 else 1 + 1e-6
    b = b if abs(a + b - 1) > 1e-6 else b + 2e-6
    z = t / (alpha + big_t + t)
    c = a + b + x - 1
    # (1-z)^(r+x) 2F1(r+x, b+x; c; z) written by Euler's transformation as (1-z)^(a-1)
    # 2F1(c-r-x, a-1; c; z): the original multiplies a huge 2F1 by a tiny power for frequent
    # buyers (Fader & Hardie's "#NUM!" problem), this one stays near 1
    stay = np.exp((a - 1) * np.log1p(-z)) * special.hyp2f1(c - r - x, a - 1, c, z)
    return c / (a - 1) * (1 - stay)


def expected_purchases(params: BgNbd, t, frequency, recency, age) -> np.ndarray:
    """Expected number of purchases each customer makes in the next ``t`` time units, given
    their history: what to plan for an existing customer. ``t`` may be an array that
    broadcasts against the customers, e.g. shape (k, 1) for k horizons."""
    x, t_x, big_t = _history(frequency, recency, age)
    return _if_alive(params, t, x, big_t) * _p_alive(params, x, t_x, big_t)


def expected_purchases_new(params: BgNbd, t) -> np.ndarray:
    """Expected number of repeat purchases within ``t`` time units of a new customer's first
    purchase, before we know anything about them: E[X(t)]."""
    return _if_alive(params, t, 0.0, 0.0)


# --- Gamma-Gamma ----------------------------------------------------------------------------

def _spend(frequency, monetary) -> list[np.ndarray]:
    x, m = _arrays(frequency=frequency, monetary=monetary)
    if np.any((x > 0) & (m == 0)):
        raise ValueError("monetary must be positive for customers with repeat purchases")
    return [x, m]


def _prepare_spends(frequency, monetary):
    """Repeat buyers only; the sums that do not move with (p, q, v) are taken once, and the
    gamma functions of p x then run once per distinct x."""
    x, m = _spend(frequency, monetary)
    x, m = x[x > 0], m[x > 0]
    if x.size == 0:
        raise ValueError("no customer has a repeat purchase: nothing to fit spend on")
    xs, n_by_x = np.unique(x, return_counts=True)
    lm = np.log(m)
    return x, x * m, xs, n_by_x * 1.0, _dot(x, np.log(x) + lm), float(lm.sum())


def _gg_mean_ll(log_params, data) -> tuple[float, np.ndarray]:
    """Mean log-likelihood per repeat buyer and its gradient in log-parameters, from the
    density of the mean m of x Gamma(p, nu) purchases with nu ~ Gamma(q, v):
    Gamma(px+q) / (Gamma(px) Gamma(q)) v^q m^(px-1) x^(px) / (v + x m)^(px+q)."""
    p, q, v = np.exp(log_params)
    x, total, xs, n_by_x, sum_xlxm, sum_lm = data
    n, pxs, g, dg = x.size, p * xs, special.gammaln, special.digamma
    lv, inv = np.log(v + total), 1.0 / (v + total)
    ll = (_dot(n_by_x, g(pxs + q) - g(pxs)) + n * (q * np.log(v) - g(q))
          + p * sum_xlxm - sum_lm - p * _dot(x, lv) - q * lv.sum())
    dp = _dot(n_by_x * xs, dg(pxs + q) - dg(pxs)) + sum_xlxm - _dot(x, lv)
    dq = _dot(n_by_x, dg(pxs + q)) + n * (np.log(v) - dg(q)) - lv.sum()
    dv = n * q / v - p * _dot(x, inv) - q * inv.sum()
    return float(ll) / n, np.array([dp * p, dq * q, dv * v]) / n


def fit_gamma_gamma(frequency, monetary) -> GammaGamma:
    """Fit Gamma-Gamma by maximum likelihood on the customers with repeat purchases (the
    others tell nothing about spend and are skipped). The model assumes spend does not depend
    on how often a customer buys: check that correlation on the data before trusting it."""
    data = _prepare_spends(frequency, monetary)
    start = np.log([1.0, 2.0, float(np.mean(data[1] / data[0]))])
    return GammaGamma(*_maximize(_gg_mean_ll, start, data, "Gamma-Gamma", scale=2))


def gamma_gamma_log_likelihood(params: GammaGamma, frequency, monetary) -> float:
    """Total log-likelihood of the repeat buyers' mean spends under ``params``."""
    data = _prepare_spends(frequency, monetary)
    return _gg_mean_ll(np.log([params.p, params.q, params.v]), data)[0] * data[0].size


def expected_spend(params: GammaGamma, frequency, monetary) -> np.ndarray:
    """Expected value of each customer's future purchases: their own mean spend, shrunk toward
    the shop-wide mean the fewer purchases it rests on (the shop mean when x is 0)."""
    x, m = _spend(frequency, monetary)
    p, q, v = params.p, params.q, params.v
    if q <= 1:
        raise ValueError("Gamma-Gamma q <= 1: the fitted spend has no finite mean")
    return (p * v + p * x * m) / (p * x + q - 1)


# --- lifetime value -------------------------------------------------------------------------

def clv(frequency_model: BgNbd, spend_model: GammaGamma, frequency, recency, age, monetary, *,
        months: int = 12, monthly_discount: float = 0.01,
        periods_per_month: float = WEEKS_PER_MONTH) -> np.ndarray:
    """Present value of each customer's purchases over the next ``months`` months: each
    month's expected purchases times the expected spend, discounted at ``monthly_discount``
    per month (counted at the month's end). ``periods_per_month`` is how many of the fit's
    time units make a month (default: weeks, as in the CDNOW fits; 365.25 / 12 for days)."""
    if not (isinstance(months, (int, np.integer)) and months > 0):
        raise ValueError("months must be a positive whole number")
    if not (np.isfinite(monthly_discount) and monthly_discount > -1):
        raise ValueError("monthly_discount must be a rate above -1 (e.g. 0.01 for 1 %)")
    if not (np.isfinite(periods_per_month) and periods_per_month > 0):
        raise ValueError("periods_per_month must be a positive number")
    spend = expected_spend(spend_model, frequency, monetary)
    month = np.arange(1.0, months + 1)
    upto = expected_purchases(frequency_model, month[:, None] * periods_per_month,
                              frequency, recency, age)
    in_month = np.diff(upto, axis=0, prepend=0.0)
    return spend * ((1.0 + monthly_discount) ** -month @ in_month)
