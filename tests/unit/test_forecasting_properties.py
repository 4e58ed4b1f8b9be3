"""Property: any non-negative history gives `days` consecutive forecast days, non-negative, with
low <= point <= high, for the seasonal naive fake and the service's library models alike."""

from __future__ import annotations

import math
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_svc.adapters.statsforecast_forecaster import StatsforecastForecaster
from dispatch_svc.domain.forecasting import DailyVolume, ForecastSettings, KnownEvent, VolumeSeries
from tests.support.fakes_forecaster import SeasonalNaiveForecaster

START = date(2026, 3, 2)
SETTINGS = ForecastSettings()
FORECASTERS = {"naive": SeasonalNaiveForecaster(SETTINGS), "statsforecast": StatsforecastForecaster(SETTINGS)}

histories = st.lists(
    st.one_of(st.integers(0, 5), st.integers(0, 200), st.integers(0, 100_000)), min_size=1, max_size=130
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pickups=histories,
    gap=st.integers(0, 10),
    days=st.integers(1, SETTINGS.max_forecast_days),
    which=st.sampled_from(sorted(FORECASTERS)),
    multiplier=st.one_of(st.none(), st.floats(0.05, 20.0)),
)
def test_any_history_gives_sane_forecasts(pickups, gap, days, which, multiplier):
    rows = [DailyVolume(START + timedelta(days=i), "r1", p, p * 2, p * 1.5) for i, p in enumerate(pickups)]
    series = VolumeSeries.from_volumes("r1", rows)
    start = series.end + timedelta(days=1 + gap)
    events = [KnownEvent(start, multiplier), KnownEvent(series.end, multiplier)] if multiplier else []
    forecast = FORECASTERS[which].forecast(series, start, days, events)
    assert len(forecast.days) == days
    assert [d.day for d in forecast.days] == [start + timedelta(days=i) for i in range(days)]
    for d in forecast.days:
        values = (d.pickups, d.pickups_low, d.pickups_high, d.packages, d.weight_kg)
        assert all(math.isfinite(v) and v >= 0 for v in values)
        assert d.pickups_low <= d.pickups <= d.pickups_high
    assert forecast.backtest.model == forecast.model
    assert math.isnan(forecast.backtest.mase) or forecast.backtest.mase >= 0
