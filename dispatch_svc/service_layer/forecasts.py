"""Use cases of volume history and forecasting (docs/dispatch.md, "Volume history and forecasts"):
importing history, keeping the observed volume from the PURs the pur-events consumer applies,
forecasting a route's (or the hub's) pickups, and the fleet a future day needs.

A forecast reads in one unit of work, fits outside any transaction (a statsmodels fit takes a
while; no connection or lock is held meanwhile), and stores a new backtest in a second one. A
series' backtest is stored with a fingerprint of the history and settings it judged and reused
while they stay the same, so asking again does not run the backtest again.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from dispatch_svc.domain.fleet_need import FleetNeed, RouteReach, fleet_need, reach_from_points
from dispatch_svc.domain.forecasting import (
    HUB_TOTAL,
    DailyVolume,
    ForecastSettings,
    InvalidForecastRequest,
    KnownEvent,
    NoVolumeHistory,
    VolumeForecast,
    VolumeSeries,
)
from dispatch_svc.domain.hubs import Hub
from dispatch_svc.domain.model import Pickup
from dispatch_svc.domain.planning import (
    GreatCircleTravelModel,
    PlanningRider,
    PlanningSettings,
    PlanningVehicle,
    Point,
    ShiftWindow,
)
from dispatch_svc.domain.ranking import history_start
from dispatch_svc.domain.volumes import (
    StoredBacktest,
    VolumeRowInput,
    history_fingerprint,
    import_rows,
    observed_volume,
    refuse_future,
)
from dispatch_svc.service_layer.attendance import rostered_riders
from dispatch_svc.service_layer.forecaster import VolumeForecaster
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.errors import NotFound
from mesh.kernel import utc_now

Clock = Callable[[], datetime]
# A route whose history ends this long before yesterday is not forecast for a fleet (it is gone
# or paused; its old level says nothing about the day asked for).
STALE_ROUTE_DAYS = 28
# The world's most advanced time zone (UTC+14): no hub's today is later than today there.
LATEST_ZONE_OFFSET = timedelta(hours=14)
# The pickups of this many recent days tell where a route is (its reach from the depot).
REACH_DAYS = 28


def record_observed_volume(uow: AbstractDispatchUnitOfWork, pickups: Iterable[Pickup], now: datetime) -> None:
    """Make the observed volume follow these pickups' current state (domain.volumes' rule), in the
    caller's transaction: the pur-events consumer calls it with the pickups a batch changed."""
    uow.volumes.observe({pickup.pur_id: observed_volume(pickup) for pickup in pickups}, now)


# -- import ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ImportResult:
    imported: int
    replaced: int


def import_volume_history(
    uow: AbstractDispatchUnitOfWork,
    hub_id: str,
    rows: Sequence[VolumeRowInput],
    *,
    validate_only: bool = False,
    now: Clock = utc_now,
) -> ImportResult:
    """Store the rows as the hub's imported volume, all or none (`validate_only`: check them and
    write nothing). NotFound for an unknown hub; InvalidVolumeRow naming the first bad row
    (domain.volumes.import_rows)."""
    moment = now()
    volumes = import_rows(rows)
    # A day after today in every time zone is refused before the hub is looked up, the rest after.
    refuse_future(volumes, (moment + LATEST_ZONE_OFFSET).date())
    with uow:
        hub = _hub(uow, hub_id)
        refuse_future(volumes, _today(hub, moment))
        if validate_only:
            return ImportResult(len(volumes), 0)
        replaced = uow.volumes.import_days(hub_id, volumes, moment)
        uow.commit()
    return ImportResult(len(volumes), replaced)


# -- forecasts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VolumeForecastQuery:
    hub_id: str
    route_id: str  # HUB_TOTAL ("") = the hub's total
    start: date
    days: int
    events: tuple[KnownEvent, ...] = ()


@dataclass(frozen=True)
class PickupVolumeForecast:
    """A forecast with what a reader needs to trust it: the history it came from and when its
    backtest was computed."""

    forecast: VolumeForecast
    history_start: date
    history_end: date
    history_days: int
    backtest_computed_at: datetime


def forecast_pickup_volume(
    uow: AbstractDispatchUnitOfWork,
    forecaster: VolumeForecaster,
    query: VolumeForecastQuery,
    *,
    now: Clock = utc_now,
) -> PickupVolumeForecast:
    """`query.days` days of the series from `query.start`. NotFound for an unknown hub;
    InvalidForecastRequest for a start in the past or too far ahead, or days out of range;
    NoVolumeHistory when the series has none up to yesterday."""
    moment = now()
    settings = forecaster.settings
    _check_days(query.days, settings)
    with uow:
        hub = _hub(uow, query.hub_id)
        today = _today(hub, moment)
        _check_window(query.start, query.days, today, settings)
        one_route = query.route_id if query.route_id != HUB_TOTAL else None
        volumes = _history(uow, query.hub_id, today, settings, one_route)
        series = VolumeSeries.from_volumes(query.route_id, volumes)
        if series.empty:
            what = f"route {query.route_id}" if query.route_id != HUB_TOTAL else "the hub"
            raise NoVolumeHistory(
                f"no volume history for {what} at hub {query.hub_id} before {today.isoformat()}: "
                "import some with ImportVolumeHistory"
            )
        fingerprint = _fingerprint(forecaster, series, query.events)
        stored = uow.volumes.backtests(query.hub_id, [query.route_id]).get(query.route_id)
    reuse = stored if stored is not None and stored.fingerprint == fingerprint else None
    forecast = forecaster.forecast(
        series, query.start, query.days, query.events, backtest=reuse.backtest if reuse else None
    )
    if reuse is None:
        reuse = StoredBacktest(forecast.backtest, fingerprint, moment)
        _save_backtests(uow, query.hub_id, [(query.route_id, reuse)])
    recent = series.tail(settings.max_history_days)
    return PickupVolumeForecast(forecast, recent.start, recent.end, len(recent), reuse.computed_at)


def _check_days(days: int, settings: ForecastSettings) -> None:
    if not 1 <= days <= settings.max_forecast_days:
        raise InvalidForecastRequest(f"days must be between 1 and {settings.max_forecast_days}, got {days}")


def _check_window(start: date, days: int, today: date, settings: ForecastSettings) -> None:
    if start < today:
        raise InvalidForecastRequest(
            f"start_date {start.isoformat()} is in the past (today is {today.isoformat()} in the hub's time zone)"
        )
    _check_days(days, settings)
    latest = today + timedelta(days=settings.max_forecast_days)
    if start > latest:
        raise InvalidForecastRequest(
            f"start_date {start.isoformat()} is more than {settings.max_forecast_days} days ahead "
            f"(the latest is {latest.isoformat()})"
        )


def _history(
    uow: AbstractDispatchUnitOfWork,
    hub_id: str,
    today: date,
    settings: ForecastSettings,
    route_id: str | None = None,
) -> list[DailyVolume]:
    """The hub's volume (of `route_id` only, when given) up to yesterday (today's is not complete
    yet), as far back as forecasts look."""
    until = today - timedelta(days=1)
    return uow.volumes.history(hub_id, until - timedelta(days=settings.max_history_days - 1), until, route_id)


def _fingerprint(forecaster: VolumeForecaster, series: VolumeSeries, events: Sequence[KnownEvent]) -> str:
    recent = series.tail(forecaster.settings.max_history_days)
    marks = [type(forecaster).__name__]
    marks += sorted(f"{e.day.isoformat()}:{e.route_id}:{e.multiplier!r}" for e in events if e.day <= recent.end)
    return history_fingerprint(recent, forecaster.settings, marks)


def _save_backtests(
    uow: AbstractDispatchUnitOfWork, hub_id: str, backtests: Sequence[tuple[str, StoredBacktest]]
) -> None:
    if not backtests:
        return
    with uow:
        for route_id, stored in backtests:
            uow.volumes.save_backtest(hub_id, route_id, stored)
        uow.commit()


# -- the fleet a day needs ------------------------------------------------------------------------


@dataclass(frozen=True)
class FleetNeedQuery:
    hub_id: str
    day: date
    events: tuple[KnownEvent, ...] = ()


@dataclass(frozen=True)
class FleetNeedReport:
    """The fleet need with, per route, the forecast it rests on and that forecast's backtest."""

    need: FleetNeed
    forecasts: dict[str, VolumeForecast]
    route_names: dict[str, str]
    notes: tuple[str, ...]


@dataclass(frozen=True)
class _FleetInputs:
    hub: Hub
    series: list[VolumeSeries]
    stale: list[str]
    stored: dict[str, StoredBacktest]
    names: dict[str, str]
    reaches: dict[str, RouteReach]
    riders: list[PlanningRider]
    vehicles: list[PlanningVehicle]


def forecast_fleet_need(
    uow: AbstractDispatchUnitOfWork,
    forecaster: VolumeForecaster,
    query: FleetNeedQuery,
    travel: GreatCircleTravelModel,
    settings: PlanningSettings,
    *,
    now: Clock = utc_now,
) -> FleetNeedReport:
    """Per route with recent history, the day's forecast and the riders and vehicles it needs
    (domain.fleet_need) against the riders rostered that day and the hub's active vehicles.
    NotFound for an unknown hub; InvalidForecastRequest for a day in the past or too far ahead;
    NoVolumeHistory when no route has recent history."""
    moment = now()
    with uow:
        inputs = _fleet_inputs(uow, forecaster, query, moment)
    fingerprints = [_fingerprint(forecaster, s, query.events) for s in inputs.series]
    reuse = [
        stored.backtest if (stored := inputs.stored.get(s.route_id)) and stored.fingerprint == f else None
        for s, f in zip(inputs.series, fingerprints, strict=True)
    ]
    forecasts = forecaster.forecast_many(inputs.series, query.day, 1, query.events, backtests=reuse)
    fresh = [
        (f.route_id, StoredBacktest(f.backtest, fingerprint, moment))
        for f, fingerprint, old in zip(forecasts, fingerprints, reuse, strict=True)
        if old is None
    ]
    _save_backtests(uow, query.hub_id, fresh)
    need = fleet_need(
        query.hub_id,
        query.day,
        [f.days[0] for f in forecasts],
        inputs.reaches,
        inputs.riders,
        inputs.vehicles,
        travel,
        settings,
    )
    notes = tuple(f"route {r}: no history in the last {STALE_ROUTE_DAYS} days, not forecast" for r in inputs.stale)
    return FleetNeedReport(need, {f.route_id: f for f in forecasts}, inputs.names, notes)


def _fleet_inputs(
    uow: AbstractDispatchUnitOfWork, forecaster: VolumeForecaster, query: FleetNeedQuery, moment: datetime
) -> _FleetInputs:
    settings = forecaster.settings
    hub = _hub(uow, query.hub_id)
    today = _today(hub, moment)
    _check_window(query.day, 1, today, settings)
    volumes = _history(uow, query.hub_id, today, settings)
    if not volumes:
        raise NoVolumeHistory(
            f"no volume history at hub {query.hub_id} before {today.isoformat()}: import some with ImportVolumeHistory"
        )
    profiles = uow.volumes.route_profiles(query.hub_id, today - timedelta(days=REACH_DAYS), today)
    cutoff = today - timedelta(days=STALE_ROUTE_DAYS + 1)
    series: list[VolumeSeries] = []
    stale: list[VolumeSeries] = []
    by_route: dict[str, list[DailyVolume]] = {}
    for volume in volumes:
        by_route.setdefault(volume.route_id, []).append(volume)
    for route_id, rows in sorted(by_route.items()):
        if route_id in profiles.deleted_routes:
            continue
        s = VolumeSeries.from_volumes(route_id, rows)
        (series if s.end >= cutoff else stale).append(s)
    routes = [s.route_id for s in series]
    return _FleetInputs(
        hub=hub,
        series=series,
        stale=[s.route_id for s in stale],
        stored=uow.volumes.backtests(query.hub_id, routes),
        names=uow.routes.names(query.hub_id, routes),
        reaches={r: reach_from_points(r, Point(hub.lat, hub.lng), points) for r, points in profiles.points.items()},
        riders=_rostered(uow, query.hub_id, query.day, routes, profiles.default_riders),
        vehicles=[
            PlanningVehicle(v.id, v.type, v.capacity_packages, v.capacity_kg)
            for v in uow.vehicles.of_hub(query.hub_id)
            if v.active
        ],
    )


def _rostered(
    uow: AbstractDispatchUnitOfWork,
    hub_id: str,
    day: date,
    routes: Sequence[str],
    default_riders: dict[str, str],
) -> list[PlanningRider]:
    """The day's rostered riders as the fleet need counts them: shift window, the routes they are
    default rider of, and how often they drove each route recently (their home route)."""
    rostered = rostered_riders(uow, hub_id, day)
    history: dict[str, Counter[str]] = {}
    for route_id in routes if rostered else ():
        for past in uow.dispatches.history(hub_id, route_id, history_start(day), day):
            history.setdefault(past.rider_id, Counter())[route_id] += 1
    defaults: dict[str, set[str]] = {}
    for route_id, rider_id in default_riders.items():
        defaults.setdefault(rider_id, set()).add(route_id)
    riders = []
    for rider_id, record in rostered.items():
        shift = ShiftWindow(record.shift_start, record.shift_end) if record.shift_start and record.shift_end else None
        riders.append(
            PlanningRider(
                id=rider_id,
                route_history=dict(history.get(rider_id, {})),
                default_routes=frozenset(defaults.get(rider_id, ())),
                shift=shift,
            )
        )
    return riders


# -- shared ---------------------------------------------------------------------------------------


def _hub(uow: AbstractDispatchUnitOfWork, hub_id: str) -> Hub:
    hub = uow.hubs.get(hub_id)
    if hub is None:
        raise NotFound(f"hub {hub_id!r} does not exist (UpsertHub creates it)")
    return hub


def _today(hub: Hub, moment: datetime) -> date:
    return moment.astimezone(hub.zone).date()
