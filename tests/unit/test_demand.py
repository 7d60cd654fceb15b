import math

import numpy as np
import pytest

from kassa.central.reporting.warehouse.demand import (
    backtest,
    damped_trend,
    forecast,
    holt_winters,
    seasonal_naive,
)


def test_seasonal_naive_repeats_the_last_season_exactly():
    # last season of 0..9 with season 4 is [6, 7, 8, 9]; six weeks ahead wrap around once
    assert seasonal_naive(np.arange(10), h=6, season=4).tolist() == [6, 7, 8, 9, 6, 7]


def test_seasonal_naive_with_less_than_a_season_repeats_the_last_week():
    assert seasonal_naive([1, 2, 3], h=3, season=52).tolist() == [3, 3, 3]


def test_constant_series_forecasts_the_constant():
    assert damped_trend(np.full(20, 7.0), 5) == pytest.approx([7.0] * 5)
    assert holt_winters(np.full(30, 7.0), 5, season=12) == pytest.approx([7.0] * 5)
    result = forecast(np.full(30, 7.0), 4)
    assert result.values == pytest.approx((7.0,) * 4)
    assert result.trend_per_week == pytest.approx(0.0, abs=1e-9)


def test_linear_series_is_forecast_along_its_trend_by_damped_trend():
    history = 10 + 2 * np.arange(20.0)  # last week 48, slope 2
    line = 10 + 2 * np.arange(20, 24.0)  # 50, 52, 54, 56
    predicted = damped_trend(history, 4)
    # damping (phi <= 0.98) bends the line slightly down: within 1 % of it, still rising by
    # close to 2 a week, and far from the last value 48 that a trendless method would repeat
    assert predicted == pytest.approx(line, rel=0.01)
    assert np.all(np.diff(predicted) > 1.8)
    assert np.all(np.diff(predicted) <= 2.0)

    result = forecast(history, 4, holdout=4)
    assert result.method == "damped_trend" and result.beats_baseline
    assert result.values == pytest.approx(tuple(line), rel=0.01)
    assert result.trend_per_week == pytest.approx(2.0, abs=1e-6)


def test_noisy_linear_series_keeps_its_trend():
    rng = np.random.default_rng(0)
    t = np.arange(40.0)
    history = np.clip(10 + 1.5 * t + rng.normal(0, 3, t.size), 0, None)
    predicted = damped_trend(history, 4)
    # the slope is smoothed across weeks, not re-estimated from one noisy difference
    assert np.all(np.diff(predicted) > 1.0)
    assert predicted == pytest.approx(10 + 1.5 * np.arange(40, 44.0), rel=0.05)
    assert 1.0 < forecast(history, 4).trend_per_week < 2.0


def test_falling_series_forecast_is_clipped_at_zero():
    predicted = damped_trend([20, 16, 12, 8, 4], 6)
    assert predicted.min() == 0.0
    assert predicted[0] < 4 and predicted[-1] == 0.0


def test_backtest_by_hand_with_a_full_season():
    # train [2, 4, 6, 8], season 2 -> forecast [6, 8]; actual [3, 5]; errors 3, 3
    # in-sample seasonal naive: |6-2|, |8-4| -> scale 4
    error = backtest([2, 4, 6, 8, 3, 5], holdout=2, method="seasonal_naive", season=2)
    assert error.mae == pytest.approx(3.0)
    assert error.wape == pytest.approx(6 / 8)
    assert error.mase == pytest.approx(3 / 4)


def test_backtest_by_hand_short_history_and_zero_actuals():
    # train [1, 3, 2, 4] is shorter than a season -> naive 4, 4; actual 0, 0 -> MAE 4
    # scale falls back to lag 1: |2|, |1|, |2| -> 5/3; WAPE undefined on zero actuals
    error = backtest([1, 3, 2, 4, 0, 0], holdout=2, method="seasonal_naive", season=52)
    assert error.mae == pytest.approx(4.0)
    assert error.wape is None
    assert error.mase == pytest.approx(4 / (5 / 3))


def test_backtest_flat_training_has_no_mase():
    # flat train [5, 5, 5, 5] -> scale 0: MASE undefined; forecast 5, 5 vs actual 5, 7
    error = backtest([5, 5, 5, 5, 5, 7], holdout=2, method="seasonal_naive", season=52)
    assert error.mae == pytest.approx(1.0)
    assert error.wape == pytest.approx(2 / 12)
    assert error.mase is None


def test_holt_winters_beats_seasonal_naive_on_a_noisy_seasonal_series():
    rng = np.random.default_rng(7)
    t = np.arange(156)  # three years of weeks
    history = np.clip(20 + 0.05 * t + 8 * np.sin(2 * np.pi * t / 52) + rng.normal(0, 2, t.size),
                      0, None)
    result = forecast(history, 8, season=52, holdout=8)
    assert result.candidate == "holt_winters"
    assert result.method == "holt_winters" and result.beats_baseline
    assert result.candidate_error.mae < result.baseline_error.mae
    assert result.candidate_error.mase < result.baseline_error.mase
    assert result.error == result.candidate_error
    # the forecast follows the season: weeks 156..163 sit near the trough's rise, well below
    # the peak, within noise of the true curve
    truth = 20 + 0.05 * np.arange(156, 164) + 8 * np.sin(2 * np.pi * np.arange(156, 164) / 52)
    assert np.mean(np.abs(np.array(result.values) - truth)) < 2.5


def test_all_zero_series_forecasts_zero_and_keeps_the_baseline():
    result = forecast(np.zeros(30), 4)
    assert result.values == (0.0, 0.0, 0.0, 0.0)
    assert result.method == "seasonal_naive" and not result.beats_baseline
    assert result.candidate == "damped_trend"
    assert result.baseline_error.mae == 0.0
    assert result.baseline_error.wape is None and result.baseline_error.mase is None
    assert result.error == result.baseline_error
    assert result.trend_per_week == 0.0


def test_intermittent_series_forecast_is_finite_and_not_negative():
    history = np.zeros(40)
    history[[3, 9, 10, 17, 25, 31, 38]] = [1, 2, 1, 3, 1, 1, 2]
    result = forecast(history, 6)
    assert len(result.values) == 6
    assert all(math.isfinite(v) and v >= 0 for v in result.values)
    assert result.method in ("damped_trend", "seasonal_naive")
    assert result.beats_baseline == (result.method == "damped_trend")


def test_frozen_result():
    result = forecast(np.arange(12.0), 2, holdout=4)
    with pytest.raises(AttributeError):
        result.method = "x"


@pytest.mark.parametrize("history, match", [
    ([1, 2, -1, 4, 5, 6, 7, 8, 9, 10, 11, 12], "negative"),
    ([1, 2, float("nan"), 4, 5, 6, 7, 8, 9, 10, 11, 12], "NaN"),
    ([1, 2, float("inf"), 4, 5, 6, 7, 8, 9, 10, 11, 12], "NaN or infinite"),
    ([[1, 2], [3, 4]], "1-D"),
    ([], "empty"),
    ([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], "too short"),  # 11 < 8 holdout + 4
])
def test_bad_history_is_refused(history, match):
    with pytest.raises(ValueError, match=match):
        forecast(history, 4)


@pytest.mark.parametrize("kwargs, match", [
    ({"h": 0}, "h must be"),
    ({"h": 1.5}, "h must be"),
    ({"h": True}, "h must be"),
    ({"h": 2, "holdout": 0}, "holdout must be"),
    ({"h": 2, "season": 0}, "season must be"),
])
def test_bad_parameters_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        forecast(np.arange(20.0), **kwargs)


def test_method_preconditions():
    with pytest.raises(ValueError, match="2 x 12"):
        holt_winters(np.arange(23.0), 2, season=12)
    with pytest.raises(ValueError, match="at least 2 weeks"):
        damped_trend([5], 2)
    with pytest.raises(ValueError, match="unknown method"):
        backtest(np.arange(20.0), 4, method="prophet")
    with pytest.raises(ValueError, match="too short"):
        backtest(np.arange(6.0), 3, method="seasonal_naive")
