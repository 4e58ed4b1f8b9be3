"""Forecasting a route's (or a hub's) daily pickup volume, and judging the forecast on its own history.

Pure domain (numpy only). The statistical models live behind the `VolumeForecaster` port
(service_layer/forecaster.py); this module holds what they work on and what they return, and the
arithmetic every model shares: the contiguous daily series, the weekly seasonal naive baseline,
MASE and interval coverage, rolling-origin backtests, the choice of a model by backtest, the
packages and kg derived from pickups, and known events (holidays, promotions) as multipliers.

Choices (docs/dispatch.md, "Forecasting"):
- A series is contiguous from its first to its last observed day; a day with no row is a day with
  no pickups (0). The mesh records every day it sees a PUR, so a missing day is a day without any.
- Only pickups are modelled; packages and kg are pickups x the series' recent packages-per-pickup
  and kg-per-pickup ratios. Those ratios are stable (they describe the senders, not the demand)
  while their daily totals are noisy multiples of pickups; modelling them separately would triple
  the fitting time and could give days whose kg contradict their pickups.
- Known events multiply a day's expected volume. History on an event day is divided by its
  multiplier before fitting (so a promotion does not teach the model a false weekly pattern) and
  the forecast of an event day is multiplied by it (point and interval).
"""

from __future__ import annotations

import abc
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np

from mesh.errors import FailedPrecondition, InvalidArgument
from mesh.kernel import check_id, check_text

# The route_id of a hub's total (ForecastPickupVolume with an empty route_id).
HUB_TOTAL = ""
SEASON = 7
MAX_DAILY_PICKUPS = 10_000_000
MAX_DAILY_WEIGHT_KG = 1e9
MAX_EVENT_MULTIPLIER = 100.0
SEASONAL_NAIVE = "seasonal_naive"


class InvalidVolume(InvalidArgument):
    """A volume row breaks a rule (negative, not finite, too large, bad id); the message says which."""


class InvalidForecastRequest(InvalidArgument):
    """A forecast was asked for days that cannot be forecast from this history."""


class NoVolumeHistory(FailedPrecondition):
    """There is no history to forecast from."""


@dataclass(frozen=True)
class ForecastSettings:
    """How forecasts are made and judged (from dispatch_svc.config.Settings; docs/dispatch.md)."""

    # A history shorter than this many whole weeks is "short": seasonal naive, no model fitting.
    min_weeks_for_models: int = 4
    # Rolling-origin backtest: this many forecast origins, each forecasting `backtest_horizon` days.
    backtest_origins: int = 3
    backtest_horizon: int = 7
    # Only the most recent days are fitted (older demand says little about next week, and fits cost time).
    max_history_days: int = 182
    # Packages and kg per pickup are measured over this many recent days.
    ratio_window_days: int = 28
    # Longest forecast one request may ask for.
    max_forecast_days: int = 28
    # Central probability of the interval (pickups_low, pickups_high).
    interval_level: float = 0.8
    # Refit the chosen model on the whole history before forecasting. False forecasts with the
    # parameters its backtest fitted before the earliest origin (one fit less), which leaves the
    # backtest's weeks out of the parameters: 3 of 8 weeks on a short history, measurably worse
    # forecasts on every benchmark suite (docs/dispatch.md, "Backtest").
    refit: bool = True

    def __post_init__(self) -> None:
        if self.min_weeks_for_models < 2:
            raise ValueError("min_weeks_for_models must be at least 2 (a model needs two seasons)")
        if self.backtest_origins < 1 or self.backtest_horizon < 1:
            raise ValueError("backtest_origins and backtest_horizon must be at least 1")
        if not 0.0 < self.interval_level < 1.0:
            raise ValueError("interval_level must be between 0 and 1")
        if self.max_forecast_days < 1 or self.ratio_window_days < 1:
            raise ValueError("max_forecast_days and ratio_window_days must be at least 1")
        if self.max_history_days < SEASON * self.min_weeks_for_models:
            raise ValueError("max_history_days must hold at least min_weeks_for_models weeks")


def _check_count(field_name: str, value: object, maximum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise InvalidVolume(f"{field_name} must be a whole number, got {value!r}")
    if not 0 <= int(value) <= maximum:
        raise InvalidVolume(f"{field_name} must be between 0 and {maximum}, got {value}")
    return int(value)


def _check_amount(field_name: str, value: object, maximum: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidVolume(f"{field_name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number) or not 0.0 <= number <= maximum:
        raise InvalidVolume(f"{field_name} must be a finite number between 0 and {maximum:g}, got {value!r}")
    return number


@dataclass(frozen=True)
class DailyVolume:
    """What one route (or the hub, route_id "") saw on one day."""

    day: date
    route_id: str
    pickups: int
    packages: int
    weight_kg: float

    def __post_init__(self) -> None:
        if not isinstance(self.day, date):
            raise InvalidVolume(f"date must be a date, got {self.day!r}")
        if self.route_id != HUB_TOTAL:
            check_id("route_id", self.route_id)
        _check_count("pickups", self.pickups, MAX_DAILY_PICKUPS)
        _check_count("packages", self.packages, MAX_DAILY_PICKUPS * 100)
        _check_amount("weight_kg", self.weight_kg, MAX_DAILY_WEIGHT_KG)
        if self.pickups == 0 and (self.packages > 0 or self.weight_kg > 0):
            raise InvalidVolume("a day without pickups cannot have packages or weight")


@dataclass(frozen=True)
class VolumeSeries:
    """One route's (or the hub total's) daily history, contiguous from `start`; missing days are 0."""

    route_id: str
    start: date
    pickups: tuple[int, ...]
    packages: tuple[int, ...]
    weight_kg: tuple[float, ...]

    def __post_init__(self) -> None:
        if not len(self.pickups) == len(self.packages) == len(self.weight_kg):
            raise InvalidVolume("pickups, packages and weight_kg must cover the same days")
        if self.route_id != HUB_TOTAL:
            check_id("route_id", self.route_id)

    @classmethod
    def from_volumes(cls, route_id: str, volumes: Iterable[DailyVolume]) -> VolumeSeries:
        """The series of `route_id` from daily rows; with route_id "" (HUB_TOTAL) every row counts
        (the hub's total), otherwise only that route's rows. Two rows of one route and day add up."""
        rows = [v for v in volumes if route_id == HUB_TOTAL or v.route_id == route_id]
        if not rows:
            return cls(route_id, date.min, (), (), ())
        first = min(v.day for v in rows)
        length = (max(v.day for v in rows) - first).days + 1
        pickups, packages, weight = [0] * length, [0] * length, [0.0] * length
        for v in rows:
            i = (v.day - first).days
            pickups[i] += v.pickups
            packages[i] += v.packages
            weight[i] += v.weight_kg
        return cls(route_id, first, tuple(pickups), tuple(packages), tuple(weight))

    def __len__(self) -> int:
        return len(self.pickups)

    @property
    def empty(self) -> bool:
        return not self.pickups

    @property
    def end(self) -> date:
        """The last day of the history (the day before `start` when empty)."""
        return self.start + timedelta(days=len(self.pickups) - 1)

    def day(self, index: int) -> date:
        return self.start + timedelta(days=index)

    def tail(self, days: int) -> VolumeSeries:
        """The last `days` days (all of them when shorter)."""
        if days >= len(self):
            return self
        cut = len(self) - days
        return VolumeSeries(self.route_id, self.day(cut), self.pickups[cut:], self.packages[cut:], self.weight_kg[cut:])

    def ratios(self, window_days: int) -> tuple[float, float]:
        """(packages per pickup, kg per pickup) over the last `window_days` days with pickups, else all
        history; (0, 0) when there never was a pickup."""
        for span in (window_days, len(self)):
            picks = sum(self.pickups[-span:])
            if picks > 0:
                return sum(self.packages[-span:]) / picks, sum(self.weight_kg[-span:]) / picks
        return 0.0, 0.0


@dataclass(frozen=True)
class KnownEvent:
    """A day whose volume is expected to be `multiplier` x a normal day's (a holiday < 1, a promotion > 1),
    for one route or, with route_id "" (HUB_TOTAL), for every route of the hub."""

    day: date
    multiplier: float
    name: str = ""
    route_id: str = HUB_TOTAL

    def __post_init__(self) -> None:
        if not (math.isfinite(self.multiplier) and 0.0 < self.multiplier <= MAX_EVENT_MULTIPLIER):
            raise InvalidForecastRequest(
                f"event multiplier must be a finite number greater than 0 and at most {MAX_EVENT_MULTIPLIER:g}, "
                f"got {self.multiplier!r}"
            )
        check_text("event name", self.name, 200)
        if self.route_id != HUB_TOTAL:
            check_id("event route_id", self.route_id)

    def applies_to(self, route_id: str) -> bool:
        return self.route_id == HUB_TOTAL or self.route_id == route_id


def event_multipliers(events: Iterable[KnownEvent], route_id: str, start: date, length: int) -> np.ndarray:
    """The multiplier of each day from `start` for `length` days (1 where no event; several events of a
    day multiply)."""
    factors = np.ones(length)
    for event in events:
        i = (event.day - start).days
        if 0 <= i < length and event.applies_to(route_id):
            factors[i] *= event.multiplier
    return factors


@dataclass(frozen=True)
class DayForecast:
    """Expected volume of one day; pickups_low/high bound the interval (80% by default)."""

    day: date
    route_id: str
    pickups: float
    pickups_low: float
    pickups_high: float
    packages: float
    weight_kg: float


@dataclass(frozen=True)
class Backtest:
    """How the chosen model did on the series' own past: rolling origins, each forecasting `horizon` days.
    `mase` < 1 beats repeating last week; nan when it could not be measured (history too short, or a
    series whose every week repeats the last exactly)."""

    model: str
    mase: float
    coverage_80: float
    origins: int
    horizon: int


@dataclass(frozen=True)
class VolumeForecast:
    route_id: str
    model: str
    backtest: Backtest
    days: tuple[DayForecast, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Prediction:
    """A model's forecast of the next days of pickups: point and interval bounds, same length."""

    point: np.ndarray
    low: np.ndarray
    high: np.ndarray


class ModelFailed(Exception):
    """A model could not be fitted to, or forecast from, a history (the model is then left out)."""


class FittedModel(abc.ABC):
    @abc.abstractmethod
    def predict(self, history: np.ndarray, days: int) -> Prediction:
        """Forecast the `days` days after `history` with the parameters fitted; `history` may be longer
        than the one fitted on (its states are brought up to date, the parameters stay)."""
        raise NotImplementedError


class ModelSpec(abc.ABC):
    """A candidate model (e.g. ETS with additive seasonality); adapters implement it with a library."""

    name: str
    # Fewest days its fit needs (shorter training parts of a backtest are not used).
    min_train_days: int = 2 * SEASON

    @abc.abstractmethod
    def fit(self, history: np.ndarray, level: float) -> FittedModel:
        """Estimate the parameters on `history` (floats >= 0); intervals at `level`. May raise ModelFailed."""
        raise NotImplementedError


# -- the baseline and the measures ------------------------------------------------------------------


def _normal_quantile(level: float) -> float:
    """z of the central `level` interval of a normal distribution (level 0.8 -> 1.2816)."""
    p = 0.5 + level / 2
    # Acklam's rational approximation of the inverse normal CDF (central region; |error| < 1.2e-9).
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02, 1.383577518672690e02)
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02, 6.680131188771972e01)
    a5, b5 = -3.066479806614716e01, -1.328068155288572e01
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00, -2.549732539343734e00)
    c5, c6 = 4.374664141464968e00, 2.938163982698783e00
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00, 3.754408661907416e00)
    if p > 0.97575:
        q = math.sqrt(-2 * math.log(1 - p))
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c5) * q + c6) / (
            (((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1
        )
    q = p - 0.5
    r = q * q
    return (
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a5) * r + 2.506628274631e00)
        * q
        / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b5) * r + 1)
    )


def seasonal_naive(history: np.ndarray, days: int, level: float = 0.8) -> Prediction:
    """Each day = the same weekday of the last observed week. Interval: normal, with the spread of the
    history's week-on-week differences, widening with the square root of the weeks ahead (a random
    walk per weekday). A history shorter than two weeks repeats its mean, with its spread."""
    y = np.asarray(history, dtype=float)
    steps = np.arange(days)
    if len(y) >= 2 * SEASON:
        point = y[len(y) - SEASON + steps % SEASON]
        diffs = y[SEASON:] - y[:-SEASON]
        sigma = float(np.sqrt(np.mean(diffs**2)))
        spread = sigma * np.sqrt(steps // SEASON + 1)
    else:
        point = np.full(days, float(np.mean(y)) if len(y) else 0.0)
        spread = np.full(days, float(np.std(y)) if len(y) > 1 else 0.0)
    z = _normal_quantile(level)
    return Prediction(point, np.maximum(point - z * spread, 0.0), point + z * spread)


def mase_scale(insample: np.ndarray) -> float:
    """Mean absolute week-on-week difference of the history: the error of the weekly seasonal naive
    forecast in sample, the unit of MASE. 0 for a history that repeats every week exactly (or is
    shorter than eight days), where MASE is undefined."""
    y = np.asarray(insample, dtype=float)
    if len(y) <= SEASON:
        return 0.0
    return float(np.mean(np.abs(y[SEASON:] - y[:-SEASON])))


def mase(actual: np.ndarray, forecast: np.ndarray, insample: np.ndarray) -> float:
    """Mean absolute error of `forecast` over the in-sample weekly seasonal naive error; nan when the
    scale is 0 (no honest ratio exists: a perfect forecast would be 0/0, any error x/0)."""
    scale = mase_scale(insample)
    if scale == 0.0:
        return math.nan
    return float(np.mean(np.abs(np.asarray(actual, dtype=float) - np.asarray(forecast, dtype=float)))) / scale


def coverage(actual: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of `actual` inside [low, high] (bounds included)."""
    y = np.asarray(actual, dtype=float)
    if not len(y):
        return math.nan
    return float(np.mean((y >= np.asarray(low)) & (y <= np.asarray(high))))


@dataclass(frozen=True)
class SeasonalNaive(ModelSpec):
    """The weekly seasonal naive baseline as a model (nothing to fit)."""

    name: str = SEASONAL_NAIVE
    min_train_days: int = SEASON

    def fit(self, history: np.ndarray, level: float) -> FittedModel:
        return _FittedSeasonalNaive(level)


@dataclass(frozen=True)
class _FittedSeasonalNaive(FittedModel):
    level: float

    def predict(self, history: np.ndarray, days: int) -> Prediction:
        return seasonal_naive(history, days, self.level)


def _checked(prediction: Prediction, days: int) -> Prediction:
    arrays = (prediction.point, prediction.low, prediction.high)
    if any(len(a) != days or not np.all(np.isfinite(a)) for a in arrays):
        raise ModelFailed("forecast of the wrong length or not finite")
    return prediction


def rolling_origin(
    history: np.ndarray, model: ModelSpec, origins: int, horizon: int, level: float
) -> tuple[float, float, int, FittedModel | None]:
    """(MASE, coverage, origins used, the fitted model) of `model` at the last `origins` origins of `history`, each
    forecasting the `horizon` days after it; the test windows are consecutive and end with the history.
    The parameters are fitted once, on the history up to the earliest origin, and each later origin
    brings the states up to date over the days before it: nothing after an origin is seen, and one fit
    per model instead of one per origin keeps a thousand routes within seconds. Origins that would
    leave fewer than `model.min_train_days` days to fit on are dropped. MASE is the mean of the
    origins' MASEs (each scaled by the history before it; origins of zero scale left out).
    Raises ModelFailed when the model fails."""
    y = np.asarray(history, dtype=float)
    used = min(origins, max(0, (len(y) - max(model.min_train_days, SEASON + 1)) // horizon))
    if not used:
        return math.nan, math.nan, 0, None
    fitted = model.fit(y[: len(y) - used * horizon], level)
    scores: list[float] = []
    hits = 0
    for k in range(used, 0, -1):
        cut = len(y) - k * horizon
        train, test = y[:cut], y[cut : cut + horizon]
        prediction = _checked(fitted.predict(train, horizon), horizon)
        score = mase(test, prediction.point, train)
        if not math.isnan(score):
            scores.append(score)
        hits += int(np.sum((test >= prediction.low) & (test <= prediction.high)))
    return (float(np.mean(scores)) if scores else math.nan), hits / (used * horizon), used, fitted


def rank_models(
    history: np.ndarray, candidates: Sequence[ModelSpec], settings: ForecastSettings
) -> list[tuple[ModelSpec, FittedModel | None, Backtest]]:
    """The seasonal naive baseline and `candidates` (the baseline alone for a short history: fewer than
    `min_weeks_for_models` weeks) with their backtests, best first: by MASE, an unmeasurable MASE
    last, ties kept in the given order (simpler first). A model that fails its backtest is left out."""
    pool: list[ModelSpec] = [SeasonalNaive()]
    if len(history) >= settings.min_weeks_for_models * SEASON:
        pool += candidates
    ranked: list[tuple[ModelSpec, FittedModel | None, Backtest]] = []
    for model in pool:
        try:
            score, covered, used, fitted = rolling_origin(
                history, model, settings.backtest_origins, settings.backtest_horizon, settings.interval_level
            )
        except ModelFailed:
            continue
        ranked.append((model, fitted, Backtest(model.name, score, covered, used, settings.backtest_horizon)))
    ranked.sort(key=lambda item: (math.isnan(item[2].mase), 0.0 if math.isnan(item[2].mase) else item[2].mase))
    return ranked


def check_forecast_request(series: VolumeSeries, start: date, days: int, settings: ForecastSettings) -> None:
    if not 1 <= days <= settings.max_forecast_days:
        raise InvalidForecastRequest(f"days must be between 1 and {settings.max_forecast_days}, got {days}")
    if series.empty:
        what = f"route {series.route_id}" if series.route_id != HUB_TOTAL else "the hub"
        raise NoVolumeHistory(f"no volume history for {what}: import some with ImportVolumeHistory")
    if start <= series.end:
        raise InvalidForecastRequest(
            f"start_date {start.isoformat()} must be after the last day of history ({series.end.isoformat()})"
        )


def forecast_series(
    series: VolumeSeries,
    start: date,
    days: int,
    candidates: Sequence[ModelSpec],
    settings: ForecastSettings,
    events: Sequence[KnownEvent] = (),
    backtest: Backtest | None = None,
) -> VolumeForecast:
    """Forecast `days` days from `start` (after the history's last day): the model chosen by backtest
    among the seasonal naive baseline and `candidates`, fitted on the recent history with known events
    taken out, then events put back into the forecast days; packages and kg from the recent ratios.

    `backtest`: a backtest already run on this very history and settings (stored by the caller): its
    model is used without backtesting again, fitted on the days a fresh forecast fits it on (the whole
    history, or with `refit` False the days before the backtest's earliest origin), so the forecast
    equals a fresh one. Ignored if it names no candidate."""
    check_forecast_request(series, start, days, settings)
    recent = series.tail(settings.max_history_days)
    factors = event_multipliers(events, series.route_id, recent.start, len(recent))
    history = np.asarray(recent.pickups, dtype=float) / factors
    skip = (start - recent.end).days - 1
    ranked = _reuse(backtest, history, candidates, settings) if backtest is not None else []
    model, backtest, prediction = _best_prediction(
        ranked or rank_models(history, candidates, settings), history, skip + days, settings
    )
    ahead = event_multipliers(events, series.route_id, start, days)
    point = np.maximum(prediction.point[skip:], 0.0) * ahead
    low = np.clip(prediction.low[skip:] * ahead, 0.0, point)
    high = np.maximum(prediction.high[skip:] * ahead, point)
    per_pickup_packages, per_pickup_kg = recent.ratios(settings.ratio_window_days)
    forecast_days = tuple(
        DayForecast(
            day=start + timedelta(days=i),
            route_id=series.route_id,
            pickups=float(point[i]),
            pickups_low=float(low[i]),
            pickups_high=float(high[i]),
            packages=float(point[i] * per_pickup_packages),
            weight_kg=float(point[i] * per_pickup_kg),
        )
        for i in range(days)
    )
    return VolumeForecast(series.route_id, model.name, backtest, forecast_days)


def _reuse(
    backtest: Backtest, history: np.ndarray, candidates: Sequence[ModelSpec], settings: ForecastSettings
) -> list[tuple[ModelSpec, FittedModel | None, Backtest]]:
    """A stored backtest's model, fitted where its backtest fitted it, then the seasonal naive fallback."""
    baseline: ModelSpec = SeasonalNaive()
    by_name = {m.name: m for m in [baseline, *candidates]}
    model = by_name.get(backtest.model)
    if model is None or backtest.horizon != settings.backtest_horizon:
        return []
    fitted: FittedModel | None = None
    if not settings.refit and backtest.origins > 0:
        cut = len(history) - backtest.origins * backtest.horizon
        try:
            fitted = model.fit(history[:cut], settings.interval_level) if cut > 0 else None
        except ModelFailed:
            fitted = None
    fallback = Backtest(SEASONAL_NAIVE, math.nan, math.nan, 0, settings.backtest_horizon)
    return [(model, fitted, backtest), (baseline, None, fallback)]


def _best_prediction(
    ranked: list[tuple[ModelSpec, FittedModel | None, Backtest]],
    history: np.ndarray,
    days: int,
    settings: ForecastSettings,
) -> tuple[ModelSpec, Backtest, Prediction]:
    """The best ranked model's forecast after the whole history (the next model's if it fails)."""
    for model, fitted, backtest in ranked:
        try:
            if fitted is None or settings.refit:
                fitted = model.fit(history, settings.interval_level)
            return model, backtest, _checked(fitted.predict(history, days), days)
        except ModelFailed:
            continue
    raise AssertionError("seasonal naive never fails")
