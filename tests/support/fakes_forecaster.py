"""An in-memory forecaster for handler tests: the real domain arithmetic (backtest, events, ratios,
intervals) with the weekly seasonal naive model only, so no statsmodels fit runs in unit tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from dispatch_svc.domain.forecasting import (
    Backtest,
    ForecastSettings,
    KnownEvent,
    VolumeForecast,
    VolumeSeries,
)
from dispatch_svc.service_layer.forecaster import CandidateForecaster


class SeasonalNaiveForecaster(CandidateForecaster):
    """No candidate models: the weekly seasonal naive. Remembers every (series, start, days) it was asked for."""

    def __init__(self, settings: ForecastSettings | None = None) -> None:
        super().__init__(settings)
        self.calls: list[tuple[VolumeSeries, date, int]] = []

    def forecast(
        self,
        series: VolumeSeries,
        start: date,
        days: int,
        events: Sequence[KnownEvent] = (),
        backtest: Backtest | None = None,
    ) -> VolumeForecast:
        self.calls.append((series, start, days))
        return super().forecast(series, start, days, events, backtest)
