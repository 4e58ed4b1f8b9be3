"""The port through which handlers forecast pickup volume. `CandidateForecaster` is the one
implementation: the domain's backtest chooses among candidate models per series; the adapters
(adapters/statsforecast_forecaster.py, the service's, and adapters/statsmodels_forecaster.py, the
benchmark's reference) supply the candidates a library fits, tests/support/fakes_forecaster.py none
(seasonal naive alone)."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from datetime import date

from dispatch_svc.domain.forecasting import (
    Backtest,
    ForecastSettings,
    KnownEvent,
    ModelSpec,
    VolumeForecast,
    VolumeSeries,
    forecast_series,
)


class VolumeForecaster(abc.ABC):
    settings: ForecastSettings

    @abc.abstractmethod
    def forecast(
        self,
        series: VolumeSeries,
        start: date,
        days: int,
        events: Sequence[KnownEvent] = (),
        backtest: Backtest | None = None,
    ) -> VolumeForecast:
        """`days` days from `start` (after the series' last day), with the model chosen by backtest on
        the series and that backtest. `backtest`: one already run on this same history and settings
        (its model is used without backtesting again; the forecast is the same). Raises
        InvalidForecastRequest (days out of range, start not after the history) or NoVolumeHistory
        (empty series)."""
        raise NotImplementedError

    def forecast_many(
        self,
        series: Sequence[VolumeSeries],
        start: date,
        days: int,
        events: Sequence[KnownEvent] = (),
        backtests: Sequence[Backtest | None] | None = None,
    ) -> list[VolumeForecast]:
        """One forecast per series, in order (events apply to the routes they name; `backtests`, when
        given, one per series or None)."""
        stored = list(backtests) if backtests is not None else [None] * len(series)
        return [self.forecast(s, start, days, events, b) for s, b in zip(series, stored, strict=True)]


class CandidateForecaster(VolumeForecaster):
    """Backtests `candidates` (and the weekly seasonal naive) on each series and forecasts with the best."""

    default_candidates: tuple[ModelSpec, ...] = ()

    def __init__(self, settings: ForecastSettings | None = None, candidates: Sequence[ModelSpec] | None = None) -> None:
        self.settings = settings or ForecastSettings()
        self.candidates = tuple(self.default_candidates if candidates is None else candidates)

    def forecast(
        self,
        series: VolumeSeries,
        start: date,
        days: int,
        events: Sequence[KnownEvent] = (),
        backtest: Backtest | None = None,
    ) -> VolumeForecast:
        return forecast_series(series, start, days, self.candidates, self.settings, events, backtest)
