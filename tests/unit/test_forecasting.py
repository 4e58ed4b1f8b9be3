"""Forecasting: volume rows and series, the seasonal naive baseline, MASE and coverage by hand, the
rolling-origin backtest, model choice and fallback, events, packages and kg, and the library models
on series of known structure."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from dispatch_svc.adapters.statsforecast_forecaster import StatsforecastForecaster
from dispatch_svc.adapters.statsmodels_forecaster import StatsmodelsForecaster
from dispatch_svc.domain.forecasting import (
    HUB_TOTAL,
    SEASONAL_NAIVE,
    Backtest,
    DailyVolume,
    FittedModel,
    ForecastSettings,
    InvalidForecastRequest,
    InvalidVolume,
    KnownEvent,
    ModelFailed,
    ModelSpec,
    NoVolumeHistory,
    Prediction,
    VolumeSeries,
    _normal_quantile,
    coverage,
    forecast_series,
    mase,
    mase_scale,
    rank_models,
    rolling_origin,
    seasonal_naive,
)
from mesh.errors import FailedPrecondition, InvalidArgument
from tests.support.fakes_forecaster import SeasonalNaiveForecaster

MONDAY = date(2026, 1, 5)
WEEK = np.array([30, 28, 27, 26, 29, 18, 8])


def series_of(pickups, route_id: str = "r1", start: date = MONDAY, per_pickup: tuple[int, float] = (2, 3.0)):
    rows = [
        DailyVolume(start + timedelta(days=i), route_id, int(p), int(p) * per_pickup[0], float(p) * per_pickup[1])
        for i, p in enumerate(pickups)
    ]
    return VolumeSeries.from_volumes(route_id, rows)


def weekly(weeks: int, noise: float = 0.0, trend: float = 0.0, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(weeks * 7)
    mean = WEEK[t % 7] * (1 + trend * t)
    return np.maximum(0, np.rint(mean + rng.normal(0, noise, len(t)))).astype(int)


# -- rows and series -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pickups", "packages", "weight", "words"),
    [
        (-1, 0, 0.0, "pickups must be between 0"),
        (3, -2, 1.0, "packages must be between 0"),
        (3, 4, -0.5, "weight_kg must be a finite number"),
        (3, 4, math.nan, "weight_kg must be a finite number"),
        (3, 4, math.inf, "weight_kg must be a finite number"),
        (2.5, 4, 1.0, "pickups must be a whole number"),
        (True, 4, 1.0, "pickups must be a whole number"),
        (0, 4, 1.0, "a day without pickups cannot have packages"),
    ],
)
def test_a_bad_volume_row_is_refused_with_its_reason(pickups, packages, weight, words):
    with pytest.raises(InvalidVolume, match=words) as caught:
        DailyVolume(MONDAY, "r1", pickups, packages, weight)
    assert isinstance(caught.value, InvalidArgument)


def test_a_row_needs_a_valid_route_id_but_the_hub_total_has_none():
    with pytest.raises(InvalidArgument, match="route_id"):
        DailyVolume(MONDAY, "bad route!", 1, 1, 1.0)
    assert DailyVolume(MONDAY, HUB_TOTAL, 1, 1, 1.0).route_id == ""


def test_a_series_is_contiguous_missing_days_are_zero_and_rows_of_a_day_add_up():
    rows = [
        DailyVolume(MONDAY, "r1", 5, 10, 12.0),
        DailyVolume(MONDAY + timedelta(days=3), "r1", 2, 3, 4.0),
        DailyVolume(MONDAY + timedelta(days=3), "r1", 1, 1, 1.0),
        DailyVolume(MONDAY + timedelta(days=1), "r2", 7, 7, 7.0),
    ]
    one = VolumeSeries.from_volumes("r1", rows)
    assert (one.start, one.end, one.pickups) == (MONDAY, MONDAY + timedelta(days=3), (5, 0, 0, 3))
    assert one.packages == (10, 0, 0, 4) and one.weight_kg == (12.0, 0.0, 0.0, 5.0)
    hub = VolumeSeries.from_volumes(HUB_TOTAL, rows)
    assert hub.pickups == (5, 7, 0, 3)
    assert VolumeSeries.from_volumes("r3", rows).empty


def test_ratios_come_from_the_recent_window_else_all_history():
    s = VolumeSeries("r1", MONDAY, (10, 0, 0), (50, 0, 0), (20.0, 0.0, 0.0))
    assert s.ratios(2) == (5.0, 2.0)  # the last two days had no pickup: all history
    assert VolumeSeries("r1", MONDAY, (0,), (0,), (0.0,)).ratios(7) == (0.0, 0.0)


# -- baseline and measures by hand -----------------------------------------------------------------


def test_normal_quantile():
    assert _normal_quantile(0.8) == pytest.approx(1.2815516, abs=1e-6)
    assert _normal_quantile(0.95) == pytest.approx(1.9599640, abs=1e-6)
    assert _normal_quantile(0.99) == pytest.approx(2.5758293, abs=1e-6)


def test_seasonal_naive_repeats_last_week_and_widens_by_the_square_root_of_weeks_ahead():
    y = np.array([10, 20, 30, 40, 50, 60, 70, 12, 18, 30, 40, 50, 60, 70], dtype=float)
    p = seasonal_naive(y, 9, 0.8)
    assert p.point.tolist() == [12, 18, 30, 40, 50, 60, 70, 12, 18]
    sigma = math.sqrt((2**2 + 2**2) / 7)  # week-on-week differences: 2, -2 and five zeros
    z = _normal_quantile(0.8)
    assert p.high[0] - p.point[0] == pytest.approx(z * sigma)
    assert p.high[7] - p.point[7] == pytest.approx(z * sigma * math.sqrt(2))
    assert p.low[0] == pytest.approx(12 - z * sigma)


def test_seasonal_naive_of_less_than_two_weeks_repeats_the_mean_and_never_goes_below_zero():
    p = seasonal_naive(np.array([0.0, 0.0, 9.0]), 2, 0.8)
    assert p.point.tolist() == [3.0, 3.0]
    assert p.low.tolist() == [0.0, 0.0] and p.high[0] > 3.0


def test_mase_by_hand():
    insample = np.array([1, 2, 3, 4, 5, 6, 7, 3, 2, 5, 4, 5, 6, 9], dtype=float)
    # week-on-week |differences|: 2, 0, 2, 0, 0, 0, 2 -> scale 6/7
    assert mase_scale(insample) == pytest.approx(6 / 7)
    assert mase(np.array([4.0, 6.0]), np.array([3.0, 3.0]), insample) == pytest.approx(2.0 / (6 / 7))


def test_mase_of_a_history_repeating_every_week_exactly_is_not_a_number():
    insample = np.tile(np.arange(7.0), 3)
    assert mase_scale(insample) == 0.0
    assert math.isnan(mase(np.array([1.0]), np.array([1.0]), insample))
    assert mase_scale(np.arange(7.0)) == 0.0  # one week: no week-on-week difference at all


def test_coverage_by_hand_bounds_included():
    actual = np.array([1.0, 2.0, 3.0, 4.0])
    assert coverage(actual, np.array([0, 2, 4, 0]), np.array([1, 2, 5, 3])) == 0.5
    assert math.isnan(coverage(np.array([]), np.array([]), np.array([])))


# -- backtest and choice ---------------------------------------------------------------------------


class Spy(ModelSpec):
    """Fits once; forecasts `value`; records what it saw."""

    def __init__(self, name: str, value: float = 0.0, fail: bool = False) -> None:
        self.name, self.value, self.fail = name, value, fail
        self.min_train_days = 14
        self.fitted_on: list[int] = []
        self.predicted_after: list[int] = []

    def fit(self, history: np.ndarray, level: float) -> FittedModel:
        if self.fail:
            raise ModelFailed("no")
        self.fitted_on.append(len(history))
        spy = self

        class Fitted(FittedModel):
            def predict(self, history: np.ndarray, days: int) -> Prediction:
                spy.predicted_after.append(len(history))
                point = np.full(days, spy.value)
                return Prediction(point, point - 1, point + 1)

        return Fitted()


def test_rolling_origin_fits_once_before_the_earliest_origin_and_never_sees_the_days_it_forecasts():
    y = np.tile(np.arange(7.0), 5) + np.repeat(np.arange(5.0), 7)  # 35 days
    spy = Spy("spy", 3.0)
    score, covered, used, _ = rolling_origin(y, spy, origins=3, horizon=7, level=0.8)
    assert used == 3
    assert spy.fitted_on == [14]
    assert spy.predicted_after == [14, 21, 28]
    tests = [y[14:21], y[21:28], y[28:35]]
    expected = np.mean([mase(t, np.full(7, 3.0), y[: 14 + 7 * k]) for k, t in enumerate(tests)])
    assert score == pytest.approx(expected)
    inside = sum(int(np.sum((t >= 2.0) & (t <= 4.0))) for t in tests)
    assert covered == pytest.approx(inside / 21)


def test_rolling_origin_drops_origins_without_enough_history():
    spy = Spy("spy")
    _, _, used, _ = rolling_origin(np.ones(24), spy, origins=3, horizon=7, level=0.8)
    assert used == 1 and spy.fitted_on == [17]
    assert rolling_origin(np.ones(20), Spy("spy"), origins=3, horizon=7, level=0.8)[2] == 0


def test_short_history_uses_seasonal_naive_alone():
    settings = ForecastSettings(min_weeks_for_models=4)
    spy = Spy("spy")
    ranked = rank_models(weekly(3, noise=2).astype(float), [spy], settings)
    assert [m.name for m, _, _ in ranked] == [SEASONAL_NAIVE] and spy.fitted_on == []


def test_the_model_with_the_lowest_backtest_mase_is_chosen_and_a_failing_one_left_out():
    y = weekly(8, noise=3).astype(float)
    level = float(np.mean(y))
    ranked = rank_models(y, [Spy("broken", fail=True), Spy("flat", level), Spy("wild", 1000.0)], ForecastSettings())
    names = [m.name for m, _, _ in ranked]
    assert "broken" not in names
    assert names.index(SEASONAL_NAIVE) < names.index("flat") < names.index("wild")  # a weekly pattern: naive wins
    assert ranked[0][2].origins == 3 and ranked[0][2].horizon == 7


def test_by_default_the_chosen_model_is_refitted_on_the_whole_history_for_its_forecast():
    # No weekly pattern: a flat forecast at the level beats repeating last week, so the spy is chosen.
    y = np.rint(50 + np.random.default_rng(5).normal(0, 4, 56)).astype(int)
    s = series_of(y)
    spy = Spy("flat", 50.0)
    fresh = forecast_series(s, s.end + timedelta(days=1), 7, [spy], ForecastSettings())
    assert fresh.model == "flat"
    # Fitted once for the backtest (the 35 days before its earliest origin), then on all 56 days:
    # the backtest's three weeks count in the parameters of the forecast.
    assert spy.fitted_on == [35, 56] and spy.predicted_after[-1] == 56
    again = Spy("flat", 50.0)
    forecast_series(s, s.end + timedelta(days=1), 7, [again], ForecastSettings(), backtest=fresh.backtest)
    assert again.fitted_on == [56]  # a stored backtest: no backtest again, the same refit
    kept = Spy("flat", 50.0)
    forecast_series(s, s.end + timedelta(days=1), 7, [kept], ForecastSettings(refit=False))
    assert kept.fitted_on == [35]  # the backtest's parameters, on request


# -- forecast_series -------------------------------------------------------------------------------


def test_bad_requests():
    s = series_of(weekly(4))
    settings = ForecastSettings(max_forecast_days=28)
    with pytest.raises(InvalidForecastRequest, match="days must be between 1 and 28"):
        forecast_series(s, s.end + timedelta(days=1), 0, (), settings)
    with pytest.raises(InvalidForecastRequest, match="days must be between 1 and 28"):
        forecast_series(s, s.end + timedelta(days=1), 29, (), settings)
    with pytest.raises(InvalidForecastRequest, match="must be after the last day of history"):
        forecast_series(s, s.end, 3, (), settings)
    with pytest.raises(NoVolumeHistory, match="no volume history for route r1") as caught:
        forecast_series(VolumeSeries.from_volumes("r1", []), MONDAY, 3, (), settings)
    assert isinstance(caught.value, FailedPrecondition)
    with pytest.raises(InvalidForecastRequest, match="multiplier"):
        KnownEvent(MONDAY, 0.0)
    with pytest.raises(InvalidForecastRequest, match="multiplier"):
        KnownEvent(MONDAY, math.nan)


def test_a_forecast_after_a_gap_keeps_the_weekdays_and_derives_packages_and_kg():
    s = series_of(np.tile(WEEK, 3), per_pickup=(3, 2.5))  # Monday .. Sunday, three times
    start = s.end + timedelta(days=3)  # Wednesday
    forecast = SeasonalNaiveForecaster().forecast(s, start, 2)
    assert [d.day for d in forecast.days] == [start, start + timedelta(days=1)]
    assert [d.pickups for d in forecast.days] == [27.0, 26.0]  # Wednesday, Thursday
    assert forecast.days[0].packages == pytest.approx(81.0) and forecast.days[0].weight_kg == pytest.approx(67.5)
    assert forecast.model == SEASONAL_NAIVE and forecast.route_id == "r1"


def test_known_events_are_taken_out_of_history_and_put_into_the_forecast():
    pickups = np.tile(WEEK, 3).copy()
    pickups[-3] *= 3  # last Friday: a promotion
    s = series_of(pickups)
    promo = KnownEvent(s.end - timedelta(days=2), 3.0, "promotion")
    holiday = KnownEvent(s.end + timedelta(days=1), 0.5, "holiday", route_id="r1")
    elsewhere = KnownEvent(s.end + timedelta(days=2), 4.0, "other route", route_id="r9")
    forecast = SeasonalNaiveForecaster().forecast(s, s.end + timedelta(days=1), 7, [promo, holiday, elsewhere])
    assert [d.pickups for d in forecast.days] == [15.0, 28, 27, 26, 29, 18, 8]
    unaware = SeasonalNaiveForecaster().forecast(s, s.end + timedelta(days=1), 7)
    assert unaware.days[4].pickups == 87.0  # without the event the spike comes back next Friday


def test_a_stored_backtest_gives_the_same_forecast_without_backtesting_again():
    s = series_of(weekly(10, noise=3, trend=0.01))
    forecaster = StatsforecastForecaster()
    fresh = forecaster.forecast(s, s.end + timedelta(days=1), 7)
    again = forecaster.forecast(s, s.end + timedelta(days=1), 7, backtest=fresh.backtest)
    assert again == fresh
    unknown = Backtest("ARIMA", 0.1, 0.8, 3, 7)
    assert forecaster.forecast(s, s.end + timedelta(days=1), 7, backtest=unknown) == fresh
    batch = forecaster.forecast_many([s, s], s.end + timedelta(days=1), 7, backtests=[None, fresh.backtest])
    assert batch == [fresh, fresh]


# -- library models on series of known structure ---------------------------------------------------


@pytest.mark.parametrize("forecaster", [StatsforecastForecaster(), StatsmodelsForecaster()], ids=["sf", "sm"])
def test_a_trending_weekly_series_is_forecast_better_than_seasonal_naive(forecaster):
    y = weekly(13, noise=1.5, trend=0.02, seed=4)
    history, future = y[:-7], y[-7:]
    s = series_of(history)
    forecast = forecaster.forecast(s, s.end + timedelta(days=1), 7)
    assert forecast.model.startswith("ETS")
    point = np.array([d.pickups for d in forecast.days])
    assert mase(future, point, history) < mase(future, seasonal_naive(history.astype(float), 7).point, history)
    assert forecast.backtest.mase < 1.0 and forecast.backtest.origins == 3
    assert all(d.pickups_low <= d.pickups <= d.pickups_high for d in forecast.days)


def test_a_constant_or_empty_looking_series_does_not_break_the_library_models():
    forecaster = StatsforecastForecaster()
    for pickups in (np.zeros(70, dtype=int), np.full(70, 5)):
        s = series_of(pickups)
        forecast = forecaster.forecast(s, s.end + timedelta(days=1), 3)
        assert [d.pickups for d in forecast.days] == pytest.approx([float(pickups[0])] * 3, abs=1e-6)
        assert math.isnan(forecast.backtest.mase)  # zero scale: nothing to compare against


def test_the_hub_total_is_forecast_from_every_route():
    rows = [DailyVolume(MONDAY + timedelta(days=i), r, 10, 10, 10.0) for i in range(21) for r in ("a", "b")]
    forecast = SeasonalNaiveForecaster().forecast(
        VolumeSeries.from_volumes(HUB_TOTAL, rows), MONDAY + timedelta(days=21), 1
    )
    assert forecast.route_id == HUB_TOTAL and forecast.days[0].pickups == 20.0
