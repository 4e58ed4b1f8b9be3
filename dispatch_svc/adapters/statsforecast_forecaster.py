"""Volume forecasts with statsforecast's ETS (additive errors, weekly additive seasonality; no trend or
a damped additive trend), chosen per series by backtest against the weekly seasonal naive: the
forecaster the service runs.

statsforecast 2.x fits ETS in compiled C++ (no numba, so nothing is compiled or cached at run time
and read-only containers are fine), about five times faster per fit than statsmodels' ETSModel on
these series (bench/README.md, "Forecasting"): that is what keeps a thousand routes, each with its
backtest, within the 30 s target on one core. Intervals are the model's analytic ones (`level`).
The backtest fits the parameters once per model and brings the states forward with `forward` at each
origin (domain/forecasting.rolling_origin).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from statsforecast.models import AutoETS

from dispatch_svc.domain.forecasting import (
    SEASON,
    FittedModel,
    ModelFailed,
    ModelSpec,
    Prediction,
)
from dispatch_svc.service_layer.forecaster import CandidateForecaster

# The failures a fit or a forecast can end in on a degenerate series (constant, all zeros).
_LIBRARY_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, IndexError, KeyError, RuntimeError)


@dataclass(frozen=True)
class StatsforecastEts(ModelSpec):
    name: str = "ETS(A,N,A)"
    # statsforecast's model code: error, trend, season ("ANA": additive error, no trend, additive season).
    code: str = "ANA"
    damped: bool = False
    min_train_days: int = 3 * SEASON

    def fit(self, history: np.ndarray, level: float) -> FittedModel:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model = AutoETS(season_length=SEASON, model=self.code, damped=self.damped).fit(history)
        except _LIBRARY_ERRORS as exc:
            raise ModelFailed(f"{self.name}: {exc}") from exc
        return _FittedEts(self.name, model, round(level * 100))


@dataclass(frozen=True)
class _FittedEts(FittedModel):
    """A fitted ETS model. The interval of an additive-error ETS forecast is the point +- a width that
    depends only on the parameters, the error variance and the step ahead, not on the states, so the
    widths are computed once per fitted model and step count (from the variance of the fit: nothing
    after the fitted days is used) and each forecast only brings the states forward (`forward` without
    `level`): that halves the time of a backtest, whose intervals cost more than its forecasts."""

    name: str
    model: Any
    level: int
    widths: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def predict(self, history: np.ndarray, days: int) -> Prediction:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                point = np.asarray(self.model.forward(y=history, h=days)["mean"], float)
                below, above = self._widths(days)
        except _LIBRARY_ERRORS as exc:
            raise ModelFailed(f"{self.name}: {exc}") from exc
        return Prediction(point, point - below, point + above)

    def _widths(self, days: int) -> tuple[np.ndarray, np.ndarray]:
        if days not in self.widths:
            out = self.model.predict(h=days, level=[self.level])
            mean = np.asarray(out["mean"], float)
            self.widths[days] = (
                mean - np.asarray(out[f"lo-{self.level}"], float),
                np.asarray(out[f"hi-{self.level}"], float) - mean,
            )
        return self.widths[days]


STATSFORECAST_CANDIDATES: tuple[ModelSpec, ...] = (
    StatsforecastEts("ETS(A,N,A)", "ANA", damped=False),
    StatsforecastEts("ETS(A,Ad,A)", "AAA", damped=True),
)


class StatsforecastForecaster(CandidateForecaster):
    """ETS fitted by statsforecast (compiled C++): the service's forecaster."""

    default_candidates = STATSFORECAST_CANDIDATES
