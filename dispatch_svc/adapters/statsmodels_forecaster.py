"""Volume forecasts with statsmodels' ETSModel (additive errors, weekly additive seasonality; no trend
or a damped additive trend), chosen per series by backtest against the weekly seasonal naive.

Prediction intervals are ETSModel's analytic ones (`get_prediction(...).summary_frame(alpha)`). The
backtest fits the parameters once per model and brings the states forward with `smooth(params)` at
each origin (domain/forecasting.rolling_origin). Slower than the statsforecast adapter by about five
times per fit (bench/README.md, "Forecasting"), so the service uses that one; this one is the
reference the benchmark measures it against.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from statsmodels.tsa.exponential_smoothing.ets import ETSModel

from dispatch_svc.domain.forecasting import (
    SEASON,
    FittedModel,
    ModelFailed,
    ModelSpec,
    Prediction,
)
from dispatch_svc.service_layer.forecaster import CandidateForecaster

# The failures a fit or a forecast of statsmodels can end in on a degenerate series.
_LIBRARY_ERRORS = (ValueError, ArithmeticError, np.linalg.LinAlgError, IndexError)


@dataclass(frozen=True)
class StatsmodelsEts(ModelSpec):
    name: str = "ETS(A,N,A)"
    damped_trend: bool = False
    min_train_days: int = 3 * SEASON

    def _model(self, history: np.ndarray) -> ETSModel:
        return ETSModel(
            pd.Series(history),
            error="add",
            trend="add" if self.damped_trend else None,
            damped_trend=self.damped_trend,
            seasonal="add",
            seasonal_periods=SEASON,
            initialization_method="heuristic",
        )

    def fit(self, history: np.ndarray, level: float) -> FittedModel:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                params = self._model(history).fit(disp=False).params
        except _LIBRARY_ERRORS as exc:
            raise ModelFailed(f"{self.name}: {exc}") from exc
        return _FittedEts(self, np.asarray(params), level)


@dataclass(frozen=True)
class _FittedEts(FittedModel):
    spec: StatsmodelsEts
    params: Any
    level: float

    def predict(self, history: np.ndarray, days: int) -> Prediction:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result = self.spec._model(history).smooth(self.params)
                frame = result.get_prediction(start=len(history), end=len(history) + days - 1).summary_frame(
                    alpha=1 - self.level
                )
        except _LIBRARY_ERRORS as exc:
            raise ModelFailed(f"{self.spec.name}: {exc}") from exc
        return Prediction(
            frame["mean"].to_numpy(float), frame["pi_lower"].to_numpy(float), frame["pi_upper"].to_numpy(float)
        )


STATSMODELS_CANDIDATES: tuple[ModelSpec, ...] = (
    StatsmodelsEts("ETS(A,N,A)", damped_trend=False),
    StatsmodelsEts("ETS(A,Ad,A)", damped_trend=True),
)


class StatsmodelsForecaster(CandidateForecaster):
    """ETS fitted by statsmodels' ETSModel: the benchmark's reference."""

    default_candidates = STATSMODELS_CANDIDATES
