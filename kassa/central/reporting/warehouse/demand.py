"""Demand view: forecast one store × product weekly sales series and say how good it is.

This module owns the step from a weekly series (units per ISO week, oldest first, weeks without
sales already filled with 0 by the caller) to a forecast for the next ``h`` weeks, the trend,
and the forecast's error on held-out weeks next to the seasonal-naive baseline. It is pure:
numpy/scipy in, numbers out, no pandas and no database.

Methods (all forecasts are clipped at 0: negative demand does not exist):

- ``seasonal_naive``: the week one season ago; the baseline every model has to beat.
- ``damped_trend``: Holt's additive linear trend with damping, ETS(A,Ad,N). It follows a level
  and a slope but flattens the slope out over the horizon, which suits short noisy retail series
  where extrapolating a straight line for months overshoots.
- ``holt_winters``: the same with additive weekly-of-year seasonality, ETS(A,Ad,A); it needs two
  full seasons to initialise the seasonal indices, so it is only tried from 2 × season weeks on.

Smoothing parameters minimise the one-step-ahead squared error on the history. ``forecast``
backtests the model that fits the series length against seasonal naive on the same held-out
weeks and keeps the model only when its MAE is strictly lower; otherwise the result is the
baseline's forecast and says so (``method == "seasonal_naive"``, ``beats_baseline is False``).
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

MIN_TRAIN_WEEKS = 4  # fewer weeks give nothing to fit a level and slope to, nor to scale MASE
TREND_WEEKS = 13  # a quarter: long enough to average out weekly noise, short enough to be recent
# Usual damping range: below 0.8 the slope is gone within a few weeks; above 0.98 the trend is
# practically undamped Holt, which overshoots on short series.
PHI_BOUNDS = (0.8, 0.98)


@dataclass(frozen=True)
class ForecastError:
    """Error of one method on the held-out weeks."""

    mae: float  # mean absolute error, units per week
    wape: float | None  # sum|e| / sum(actual); None when the held-out actuals are all zero
    mase: float | None  # MAE / in-sample seasonal-naive MAE; None when that scale is zero


@dataclass(frozen=True)
class DemandForecast:
    """The demand view's answer for one store x product series."""

    values: tuple[float, ...]  # the next h weeks, never negative
    method: str  # what produced ``values``: the candidate when it beats the baseline
    candidate: str  # the model tried: "damped_trend" or "holt_winters"
    candidate_error: ForecastError
    baseline_error: ForecastError  # seasonal naive on the same held-out weeks
    beats_baseline: bool  # False: the candidate did not beat seasonal naive, so it was not used
    # Least-squares slope (units per week) of the candidate's fitted level over the last
    # TREND_WEEKS weeks of the full history: smoothed, and deseasonalised for holt_winters.
    # Not the model's slope state, which damping decays toward 0 when beta is small. Reported
    # even when the baseline is used, as the direction of demand.
    trend_per_week: float

    @property
    def error(self) -> ForecastError:
        """Backtest error of the method actually used."""
        return self.candidate_error if self.beats_baseline else self.baseline_error


def _series(history) -> np.ndarray:
    y = np.asarray(history, dtype=float)
    if y.ndim != 1:
        raise ValueError(f"history must be a 1-D weekly series, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("history is empty")
    if not np.all(np.isfinite(y)):
        raise ValueError("history contains NaN or infinite values; fill weeks without sales with 0")
    if np.any(y < 0):
        week = int(np.argmax(y < 0))
        raise ValueError(f"history contains a negative quantity ({y[week]:g} at week {week})")
    return y


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def seasonal_naive(history, h: int, season: int = 52) -> np.ndarray:
    """Repeat the last ``season`` weeks over the next ``h``.

    With fewer than ``season`` weeks of history there is no last season to repeat, so this
    falls back to the naive forecast: the last week's value for every week ahead.
    """
    y = _series(history)
    h, season = _positive_int("h", h), _positive_int("season", season)
    if len(y) < season:
        return np.full(h, y[-1])
    return y[-season:][np.arange(h) % season].copy()


def _smooth(y: np.ndarray, alpha: float, beta: float, phi: float, gamma: float, season: int):
    """One pass of damped-trend smoothing; additive seasons when ``season`` > 0.

    Returns (one-step-ahead SSE, fitted level per week, final slope, seasonal index per
    week phase).
    """
    if season:
        # Classic initialisation: the means of the first two seasons give level and slope,
        # the detrended deviations from them the seasonal indices (without detrending, a
        # year's growth would be baked into the indices as a ramp). The level is moved back
        # to t = -1, as a season's mean sits at its centre, so smoothing starts at week 0.
        first, second = y[:season].mean(), y[season:2 * season].mean()
        trend = (second - first) / season
        level = first - trend * (season + 1) / 2
        ramp = trend * (np.arange(season) - (season - 1) / 2)
        seasonal = list((y[:season] - first + y[season:2 * season] - second) / 2 - ramp)
        start = 0
    else:
        # Slope from the first few weeks rather than the first difference alone, which on a
        # noisy series is mostly noise.
        k = min(len(y) - 1, 3)
        level, trend, seasonal, start = y[0], (y[k] - y[0]) / k, [0.0], 1
    sse, levels = 0.0, [level] * start
    for t in range(start, len(y)):
        i = t % season if season else 0
        base = level + phi * trend
        err = y[t] - base - seasonal[i]
        sse += err * err
        new_level = alpha * (y[t] - seasonal[i]) + (1 - alpha) * base
        trend = beta * (new_level - level) + (1 - beta) * phi * trend
        if season:
            seasonal[i] = gamma * (y[t] - base) + (1 - gamma) * seasonal[i]
        level = new_level
        levels.append(level)
    return sse, np.array(levels), trend, seasonal


def _fit_forecast(y: np.ndarray, h: int, season: int) -> tuple[np.ndarray, float]:
    """Fit damped trend (season == 0) or Holt-Winters; return (forecast, level trend)."""

    def params(p):
        # gamma is searched as a share of (1 - alpha): the usual admissible region
        # 0 <= gamma <= 1 - alpha, expressed as plain box bounds.
        alpha, beta, phi = p[:3]
        return alpha, beta, phi, (p[3] * (1 - alpha) if season else 0.0)

    def sse(p):
        return _smooth(y, *params(p), season)[0]

    # A coarse grid picks the basin and L-BFGS-B polishes it: one local search from a fixed
    # start lands in poor local minima on short, noisy series.
    axes = [(0.1, 0.4, 0.8), (0.05, 0.3), (0.85, 0.98)] + ([(0.1, 0.5)] if season else [])
    start = np.array(min(itertools.product(*axes), key=sse))
    bounds = [(0.01, 0.99), (0.0, 1.0), PHI_BOUNDS] + ([(0.0, 1.0)] if season else [])
    from scipy.optimize import minimize  # scipy only where a forecast is made, not at start
    result = minimize(sse, start, method="L-BFGS-B", bounds=bounds)
    best = result.x if result.fun <= sse(start) else start
    alpha, beta, phi, gamma = params(best)
    _, levels, trend, seasonal = _smooth(y, alpha, beta, phi, gamma, season)
    steps = np.arange(1, h + 1)
    damped = np.cumsum(phi ** steps) * trend  # phi + phi^2 + ... + phi^k slopes ahead
    seas = np.array(seasonal)[(len(y) + steps - 1) % season] if season else 0.0
    recent = levels[-TREND_WEEKS:]
    slope = np.polyfit(np.arange(len(recent)), recent, 1)[0] if len(recent) > 1 else 0.0
    return np.clip(levels[-1] + damped + seas, 0.0, None), float(slope)


def damped_trend(history, h: int) -> np.ndarray:
    """Holt's additive damped-trend forecast for the next ``h`` weeks (needs 2+ weeks)."""
    y = _series(history)
    h = _positive_int("h", h)
    if len(y) < 2:
        raise ValueError("damped_trend needs at least 2 weeks of history")
    return _fit_forecast(y, h, 0)[0]


def holt_winters(history, h: int, season: int = 52) -> np.ndarray:
    """Additive Holt-Winters (damped trend) forecast; needs two full seasons of history."""
    y = _series(history)
    h, season = _positive_int("h", h), _positive_int("season", season)
    if season < 2 or len(y) < 2 * season:
        raise ValueError(f"holt_winters needs season >= 2 and at least 2 x {season} weeks of "
                         f"history, got {len(y)}")
    return _fit_forecast(y, h, season)[0]


_METHODS = {
    "seasonal_naive": seasonal_naive,
    "damped_trend": lambda y, h, season: damped_trend(y, h),
    "holt_winters": holt_winters,
}


def _too_short(n: int, holdout: int) -> None:
    if n - holdout < MIN_TRAIN_WEEKS:
        raise ValueError(f"history too short: {n} weeks, need {MIN_TRAIN_WEEKS} to fit plus "
                         f"holdout={holdout} to test; pass a smaller holdout")


def backtest(history, holdout: int, method: str = "seasonal_naive",
             season: int = 52) -> ForecastError:
    """Fit ``method`` on all but the last ``holdout`` weeks, forecast them, measure the error.

    MASE divides by the in-sample MAE of seasonal naive on the training weeks (lag ``season``
    when they span more than one season, else lag 1, matching ``seasonal_naive``'s fallback).
    A flat training series makes that scale zero; MASE is then None (undefined), not inf.
    """
    y = _series(history)
    holdout, season = _positive_int("holdout", holdout), _positive_int("season", season)
    if method not in _METHODS:
        raise ValueError(f"unknown method {method!r}; expected one of {sorted(_METHODS)}")
    _too_short(len(y), holdout)
    train, actual = y[:-holdout], y[-holdout:]
    abs_err = np.abs(actual - _METHODS[method](train, holdout, season))
    mae = float(abs_err.mean())
    total = float(actual.sum())
    lag = season if len(train) > season else 1
    scale = float(np.mean(np.abs(train[lag:] - train[:-lag])))
    return ForecastError(mae=mae, wape=float(abs_err.sum()) / total if total > 0 else None,
                         mase=mae / scale if scale > 0 else None)


def forecast(history, h: int, season: int = 52, holdout: int = 8) -> DemandForecast:
    """Forecast the next ``h`` weeks with the model if it beats seasonal naive, else the baseline.

    Needs at least ``holdout + MIN_TRAIN_WEEKS`` weeks. The candidate is holt_winters when the
    training part (history minus holdout) holds two full seasons, else damped_trend, so the
    model that was backtested is the model that is used.
    """
    y = _series(history)
    h, season = _positive_int("h", h), _positive_int("season", season)
    holdout = _positive_int("holdout", holdout)
    _too_short(len(y), holdout)
    use_seasons = season >= 2 and len(y) - holdout >= 2 * season
    candidate = "holt_winters" if use_seasons else "damped_trend"
    candidate_error = backtest(y, holdout, candidate, season)
    baseline_error = backtest(y, holdout, "seasonal_naive", season)
    # Ties go to the baseline: a model that is not measurably better is not worth its opacity
    # (an all-zero or constant series ties at 0 and gets seasonal naive).
    beats = candidate_error.mae < baseline_error.mae
    values, trend = _fit_forecast(y, h, season if use_seasons else 0)
    if not beats:
        values = seasonal_naive(y, h, season)
    return DemandForecast(
        values=tuple(float(v) for v in values),
        method=candidate if beats else "seasonal_naive",
        candidate=candidate,
        candidate_error=candidate_error,
        baseline_error=baseline_error,
        beats_baseline=beats,
        trend_per_week=trend,
    )
