"""The demo's look ahead: eight weeks of the hub's volume history, tomorrow's roster, tomorrow's
forecast per route and the fleet tomorrow needs against who is rostered, and a picture.

History is synthetic but shaped like a hub's (`synthetic_history`): each route's daily pickups
follow its share of the demo's day (the same market-weighted locations `plan_day` streams, so the
busy routes of history are the busy routes of today), a weekly pattern (quiet Sundays, busy
Mondays and Fridays), a mild trend of its own, one hub-wide promotion day and noise; packages
and kilograms follow the route's packages per pickup and kilograms per package. It is generated
from the seed alone and written through ImportVolumeHistory in batches, which replaces a day
already imported, so a re-run changes nothing.

Tomorrow's roster (`tomorrow_roster`) is ROSTERED records with shift windows: the routes' default
riders and most spares, except a few default riders of busy routes on leave, so some routes are
short on purpose and the fleet need names them.
"""

from __future__ import annotations

import math
import random
import time as time_module
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import matplotlib
import numpy as np
from shapely import STRtree
from shapely.geometry import Point, shape

matplotlib.use("Agg")

import matplotlib.pyplot as plt

from demo.workload import plan_day
from firstmile.attendance.v1 import attendance_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile_client.channels import explain
from firstmile_client.requests import (
    forecast_fleet_need_request,
    forecast_pickup_volume_request,
    import_volume_history_request,
    record_attendance_request,
    volume_event,
    volume_history_row,
)
from firstmile_client.stubs import MeshClients

HISTORY_WEEKS = 8
# Monday .. Sunday, mean 1: the week of a first-mile hub (sellers ship after the weekend, before it).
WEEKLY_PATTERN = (1.16, 1.06, 1.0, 1.02, 1.12, 0.94, 0.70)
# Daily trend per route, drawn in this range: from a slow decline to steady growth.
TREND_PER_DAY = (-0.002, 0.005)
PROMOTION_LIFT = 2.2
PROMOTION_DAYS_BACK = (15, 35)
NOISE_SIGMA = 0.12
# Locations drawn to measure each route's share of the day (more than a day's: small routes too).
SHARE_SAMPLE = 12_000
IMPORT_BATCH_ROWS = 500
RPC_TIMEOUT_S = 60.0
FORECAST_DAYS = 14
BUSIEST_SHOWN = 8
# Default riders of busy routes on leave tomorrow: the routes short on purpose.
ON_LEAVE_AMONG_BUSIEST = 3
SPARES_ROSTERED = 6
DAY_SHIFT = (time(8, 0), time(17, 0))
LATE_SHIFT = (time(11, 0), time(20, 0))
ROSTER_WAIT_S = 30.0


@dataclass(frozen=True)
class RouteProfile:
    """What a route's days look like: mean pickups a day now, packages per pickup, kg per package
    and its trend (a share of today's level per day)."""

    route_id: str
    pickups_per_day: float
    packages_per_pickup: float
    kg_per_package: float
    trend_per_day: float


@dataclass(frozen=True)
class HistoryRow:
    day: date
    route_id: str
    pickups: int
    packages: int
    weight_kg: float


@dataclass(frozen=True)
class RosterEntry:
    """A rider's record for tomorrow: ROSTERED with a window, or ON_LEAVE."""

    rider_id: str
    day: date
    status: int
    shift: str
    window: tuple[datetime, datetime] | None


# ------------------------------------------------------------------------------- history


def route_profiles(collection: dict, pickups_per_day: int, *, seed: int) -> list[RouteProfile]:
    """Each route of the map with its share of `pickups_per_day`, measured on a large sample of the
    demo's own pickup locations (the ones outside every route count for none), in route id order."""
    features = sorted(collection["features"], key=lambda f: f["properties"]["id"])
    route_ids = [f["properties"]["id"] for f in features]
    tree = STRtree([shape(f["geometry"]) for f in features])
    sample = plan_day(collection, SHARE_SAMPLE, seed=seed + 7919, run_id="share")
    counts = np.zeros(len(route_ids))
    packages = np.zeros(len(route_ids))
    kilograms = np.zeros(len(route_ids))
    for pickup in sample:
        hits = tree.query(Point(pickup.lng, pickup.lat), predicate="intersects")
        if len(hits):
            index = int(min(hits))
            counts[index] += 1
            packages[index] += pickup.expected_packages
            kilograms[index] += pickup.expected_weight_kg
    rng = random.Random(f"profiles-{seed}")
    profiles = []
    for index, route_id in enumerate(route_ids):
        n = counts[index]
        # A route the sample barely reached still sees a few pickups a day.
        level = max(2.0, pickups_per_day * n / len(sample))
        per_pickup = packages[index] / n if n >= 20 else 16.0
        per_package = kilograms[index] / packages[index] if n >= 20 and packages[index] else 1.4
        profiles.append(
            RouteProfile(
                route_id,
                round(float(level), 2),
                round(float(per_pickup), 2),
                round(float(per_package), 3),
                rng.uniform(*TREND_PER_DAY),
            )
        )
    return profiles


def promotion_day(end: date, *, seed: int) -> date:
    """The hub-wide sale day inside the history (a weekday, so it stands out)."""
    rng = random.Random(f"promotion-{end.isoformat()}-{seed}")
    day = end - timedelta(days=rng.randint(*PROMOTION_DAYS_BACK))
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return day


def synthetic_history(
    profiles: Sequence[RouteProfile], end: date, *, weeks: int = HISTORY_WEEKS, seed: int
) -> list[HistoryRow]:
    """`weeks` x 7 days per route ending on `end` (yesterday): level x weekday x trend x promotion,
    with multiplicative noise and Poisson counts. The same rows for the same inputs."""
    rng = np.random.default_rng(random.Random(f"history-{end.isoformat()}-{seed}").getrandbits(64))
    promotion = promotion_day(end, seed=seed)
    days = [end - timedelta(days=n) for n in range(weeks * 7 - 1, -1, -1)]
    rows = []
    for profile in profiles:
        for day in days:
            ahead = (day - end).days
            mean = profile.pickups_per_day * WEEKLY_PATTERN[day.weekday()] * max(0.2, 1 + profile.trend_per_day * ahead)
            if day == promotion:
                mean *= PROMOTION_LIFT
            pickups = int(rng.poisson(mean * math.exp(rng.normal(0, NOISE_SIGMA) - NOISE_SIGMA**2 / 2)))
            packages = int(round(pickups * profile.packages_per_pickup * math.exp(rng.normal(0, 0.08))))
            if pickups:
                packages = max(packages, pickups)
            kilograms = round(packages * profile.kg_per_package * math.exp(rng.normal(0, 0.05)), 1)
            rows.append(HistoryRow(day, profile.route_id, pickups, packages, kilograms))
    return rows


def hub_totals(rows: Sequence[HistoryRow]) -> dict[date, int]:
    """Pickups per day over every route, in date order."""
    totals: dict[date, int] = {}
    for row in sorted(rows, key=lambda r: r.day):
        totals[row.day] = totals.get(row.day, 0) + row.pickups
    return totals


def busiest_routes(rows: Sequence[HistoryRow], count: int, *, last_days: int = 14) -> list[str]:
    """The routes with the most pickups over the history's last `last_days` days, busiest first."""
    if not rows:
        return []
    end = max(r.day for r in rows)
    since = end - timedelta(days=last_days - 1)
    totals: dict[str, int] = {}
    for row in rows:
        if row.day >= since:
            totals[row.route_id] = totals.get(row.route_id, 0) + row.pickups
    return sorted(totals, key=lambda route_id: (-totals[route_id], route_id))[:count]


def batches(rows: Sequence[HistoryRow], size: int = IMPORT_BATCH_ROWS) -> list[list[HistoryRow]]:
    return [list(rows[start : start + size]) for start in range(0, len(rows), size)]


# ------------------------------------------------------------------------------- the roster


def tomorrow_roster(
    riders: Sequence[tuple[str, bool]],
    default_riders: Mapping[str, str],
    busiest: Sequence[str],
    day: date,
    zone: ZoneInfo,
    *,
    seed: int,
) -> list[RosterEntry]:
    """Tomorrow's records of the hub's riders ((id, spare) pairs): every default rider ROSTERED
    08:00-17:00 local time except the default riders of `ON_LEAVE_AMONG_BUSIEST` of the `busiest`
    routes (ON_LEAVE: those routes are short); `SPARES_ROSTERED` spares ROSTERED 11:00-20:00, the
    other spares without a record (not rostered)."""
    rng = random.Random(f"roster-{day.isoformat()}-{seed}")
    short_routes = rng.sample(list(busiest), min(ON_LEAVE_AMONG_BUSIEST, len(busiest)))
    on_leave = {default_riders[r] for r in short_routes if r in default_riders}
    spares = [rider_id for rider_id, spare in riders if spare]
    rostered_spares = set(rng.sample(spares, min(SPARES_ROSTERED, len(spares))))
    entries = []
    for rider_id, spare in riders:
        if rider_id in on_leave:
            entries.append(RosterEntry(rider_id, day, attendance_pb2.ATTENDANCE_STATUS_ON_LEAVE, "", None))
        elif not spare or rider_id in rostered_spares:
            start, end = LATE_SHIFT if spare else DAY_SHIFT
            window = (datetime.combine(day, start, tzinfo=zone), datetime.combine(day, end, tzinfo=zone))
            label = f"{start:%H:%M}-{end:%H:%M}"
            entries.append(RosterEntry(rider_id, day, attendance_pb2.ATTENDANCE_STATUS_ROSTERED, label, window))
    return entries


def record_roster(clients: MeshClients, hub_id: str, roster: Sequence[RosterEntry]) -> None:
    for entry in roster:
        request = record_attendance_request(
            rider_id=entry.rider_id, hub_id=hub_id, day=entry.day.isoformat(), status=entry.status,  # type: ignore[arg-type]
            shift=entry.shift, shift_window=entry.window,
        )  # fmt: skip
        try:
            clients.attendance.RecordAttendance(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise explain(exc, clients.attendance_endpoint, "RecordAttendance") from None


def roster_line(roster: Sequence[RosterEntry], default_riders: Mapping[str, str], day: date) -> str:
    rostered = [e for e in roster if e.status == attendance_pb2.ATTENDANCE_STATUS_ROSTERED]
    routes_of = {rider: route for route, rider in default_riders.items()}
    away = sorted(e.rider_id for e in roster if e.status == attendance_pb2.ATTENDANCE_STATUS_ON_LEAVE)
    return (
        f"Roster {day}: {len(rostered)} riders ROSTERED with shift windows "
        f"({sum(1 for e in rostered if e.shift == f'{DAY_SHIFT[0]:%H:%M}-{DAY_SHIFT[1]:%H:%M}')} on "
        f"{DAY_SHIFT[0]:%H:%M}-{DAY_SHIFT[1]:%H:%M}, the rest {LATE_SHIFT[0]:%H:%M}-{LATE_SHIFT[1]:%H:%M}); on leave: "
        + (", ".join(f"{r} (default rider of {routes_of.get(r, '-')})" for r in away) or "nobody")
    )


# ------------------------------------------------------------------------------- the RPCs


@dataclass(frozen=True)
class Imported:
    rows: int
    replaced: int
    calls: int


def import_history(clients: MeshClients, hub_id: str, rows: Sequence[HistoryRow]) -> Imported:
    """ImportVolumeHistory in batches of IMPORT_BATCH_ROWS rows (each call all or nothing)."""
    imported = replaced = calls = 0
    for batch in batches(rows):
        request = import_volume_history_request(
            hub_id=hub_id,
            rows=[
                volume_history_row(
                    date=r.day.isoformat(),
                    route_id=r.route_id,
                    pickups=r.pickups,
                    packages=r.packages,
                    weight_kg=r.weight_kg,
                )
                for r in batch
            ],
        )
        try:
            response = clients.dispatch.ImportVolumeHistory(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise explain(exc, clients.dispatch_endpoint, "ImportVolumeHistory") from None
        imported += response.imported
        replaced += response.replaced
        calls += 1
    return Imported(imported, replaced, calls)


def known_events(promotion: date, name: str = "hub-wide sale") -> list[dispatch_pb2.VolumeEvent]:
    """The promotion day told to the forecaster, so it neither learns the spike as normal nor
    misses it in the backtest."""
    return [volume_event(date=promotion.isoformat(), multiplier=PROMOTION_LIFT, name=name)]


def forecast(
    clients: MeshClients, hub_id: str, route_id: str, start: date, days: int, events: Sequence[dispatch_pb2.VolumeEvent]
) -> dispatch_pb2.ForecastPickupVolumeResponse:
    request = forecast_pickup_volume_request(
        hub_id=hub_id, route_id=route_id, start_date=start.isoformat(), days=days, events=events
    )
    try:
        return clients.dispatch.ForecastPickupVolume(request, timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise explain(exc, clients.dispatch_endpoint, "ForecastPickupVolume") from None


def fleet_need(
    clients: MeshClients, hub_id: str, day: date, events: Sequence[dispatch_pb2.VolumeEvent]
) -> dispatch_pb2.ForecastFleetNeedResponse:
    request = forecast_fleet_need_request(hub_id=hub_id, date=day.isoformat(), events=events)
    try:
        return clients.dispatch.ForecastFleetNeed(request, timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise explain(exc, clients.dispatch_endpoint, "ForecastFleetNeed") from None


# ------------------------------------------------------------------------------- the text


def _mase(response: dispatch_pb2.ForecastPickupVolumeResponse | dispatch_pb2.RouteFleetNeed) -> str:
    return f"{response.backtest_mase:.2f}" if response.HasField("backtest_mase") else "n/a"


def _coverage(response: dispatch_pb2.ForecastPickupVolumeResponse) -> str:
    return f"{response.interval_coverage:.0%}" if response.HasField("interval_coverage") else "n/a"


def _day_of(response: dispatch_pb2.ForecastPickupVolumeResponse, day: date) -> dispatch_pb2.DayVolumeForecast | None:
    return next((d for d in response.days if d.date == day.isoformat()), None)


def render_forecasts(
    day: date,
    hub_total: dispatch_pb2.ForecastPickupVolumeResponse,
    routes: Sequence[dispatch_pb2.ForecastPickupVolumeResponse],
    route_names: Mapping[str, str],
    recent: Mapping[str, float],
) -> str:
    """Tomorrow per route (busiest first) and for the hub: pickups with the 80% interval,
    packages and kg, the model and its backtest MASE and interval coverage; `recent` is each
    route's (and, under "", the hub's) mean pickups a day over the last two weeks, for comparison."""
    lines = [
        f"Forecast for {day} ({day:%A}): pickups with 80% interval; model chosen per route by rolling-origin backtest",
        f"  {'route':<13} {'name':<22} {'pickups':>7} {'80% interval':>14} {'packages':>9} {'kg':>8} "
        f"{'last 2 wk/day':>13}  {'model':<24} {'MASE':>5} {'cover':>6}",
    ]
    for response in routes:
        first = _day_of(response, day)
        if first is None:
            continue
        lines.append(
            f"  {response.route_id:<13} {route_names.get(response.route_id, '')[:22]:<22} {first.pickups:>7.0f} "
            f"{f'{first.pickups_low:.0f}-{first.pickups_high:.0f}':>14} {first.packages:>9,.0f} {first.weight_kg:>8,.0f} "
            f"{recent.get(response.route_id, 0.0):>13.0f}  {response.model[:24]:<24} {_mase(response):>5} "
            f"{_coverage(response):>6}"
        )
    total = _day_of(hub_total, day)
    if total is not None:
        lines.append(
            f"  {'hub total':<36} {total.pickups:>7.0f} {f'{total.pickups_low:.0f}-{total.pickups_high:.0f}':>14} "
            f"{total.packages:>9,.0f} {total.weight_kg:>8,.0f} {recent.get('', 0.0):>13.0f}  "
            f"{hub_total.model[:24]:<24} {_mase(hub_total):>5} {_coverage(hub_total):>6}"
        )
    held_out = hub_total.backtest_origins * hub_total.backtest_horizon
    lines.append(
        f"  (history {hub_total.history_start} .. {hub_total.history_end}, {hub_total.history_days} days; backtest: "
        f"{hub_total.backtest_origins} origins x {hub_total.backtest_horizon} days; MASE = error on those "
        f"{held_out} held-out days / the error repeating last week made in the history before them, so below 1 "
        "is closer than that; cover = share of held-out days inside the 80% interval)"
    )
    return "\n".join(lines)


def backtest_spread(need: dispatch_pb2.ForecastFleetNeedResponse) -> str:
    """Every route's backtest MASE (as ForecastFleetNeed reports them) in one line: a few held-out weeks
    make one route's MASE noisy, so the busiest routes are read against all of them."""
    scores = sorted(r.backtest_mase for r in need.routes if r.HasField("backtest_mase"))
    if not scores:
        return "  (no route has a backtest MASE)"
    p10, median, p90 = (float(np.percentile(scores, q)) for q in (10, 50, 90))
    below = sum(1 for m in scores if m < 1)
    return (
        f"  all {len(scores)} routes with a backtest: MASE median {median:.2f} (10% of routes below {p10:.2f}, "
        f"10% above {p90:.2f}), {below} of {len(scores)} below 1; over a few held-out weeks one route's MASE is "
        "noisy: read a route against this spread"
    )


VEHICLE_WORDS = {
    dispatch_pb2.VEHICLE_TYPE_BIKE: "bike",
    dispatch_pb2.VEHICLE_TYPE_THREE_WHEELER: "three-wheeler",
    dispatch_pb2.VEHICLE_TYPE_VAN: "van",
    dispatch_pb2.VEHICLE_TYPE_TRUCK: "truck",
}


MIXED_VEHICLES_NOTE = "riders on more than one vehicle type"


def _vehicle_word(route: dispatch_pb2.RouteFleetNeed) -> str:
    """The route's vehicle type, with "+" when it also drives others (no one type had enough left)."""
    word = VEHICLE_WORDS.get(route.vehicle_type, "-")
    return f"{word}+" if any(note.startswith(MIXED_VEHICLES_NOTE) for note in route.notes) else word


def render_fleet_need(
    need: dispatch_pb2.ForecastFleetNeedResponse, busiest: Sequence[str], rider_names: Mapping[str, str]
) -> str:
    """The fleet the day needs against who is rostered: the busiest routes and every route short
    or idle, then the hub's totals, vehicles and named shortfalls."""
    by_route = {r.route_id: r for r in need.routes}
    shown = [by_route[r] for r in busiest if r in by_route]
    shown += [
        r
        for r in need.routes
        if r.route_id not in busiest and (r.rider_shortfall or r.idle_rider_ids or not r.rostered_rider_ids)
    ]
    lines = [
        f"Fleet {need.date} needs against who is rostered (ROSTERED or PRESENT riders with their shift):",
        f"  {'route':<13} {'pickups':>7} {'vehicle':<13} {'trips':>5} {'min/trip':>8} {'riders':>6} {'@80% high':>9}  "
        f"{'rostered':<24} {'short':>5}  idle",
    ]
    for route in shown[: BUSIEST_SHOWN + 12]:
        rostered = ", ".join(route.rostered_rider_ids) or "-"
        lines.append(
            f"  {route.route_id:<13} {route.forecast.pickups:>7.0f} "
            f"{_vehicle_word(route):<13} {route.trips:>5} {route.trip_minutes:>8.0f} "
            f"{route.riders_needed:>6} {route.riders_needed_high:>9}  {rostered[:24]:<24} {route.rider_shortfall:>5}  "
            + (", ".join(route.idle_rider_ids) or "")
        )
    if len(shown) > BUSIEST_SHOWN + 12:
        lines.append(f"  ... and {len(shown) - BUSIEST_SHOWN - 12} more routes short or idle")
    mixed = [r for r in need.routes if _vehicle_word(r).endswith("+")]
    if mixed:
        lines.append(
            f"  (+: the route also drives other vehicle types, no one type having enough left: {len(mixed)} routes; "
            "vehicles are given from those the hub has, and are short only when none of any type is left)"
        )
    floating = ", ".join(f"{r} ({rider_names.get(r, '')})" for r in need.floating_rider_ids) or "none"
    lines.append(
        f"  hub: {need.riders_needed} riders needed ({need.riders_needed_high} at the 80% high), "
        f"{need.riders_rostered} rostered, shortfall {need.rider_shortfall} after idle and floating riders fill in; "
        f"floating: {floating}"
    )
    for vehicle in need.vehicles:
        lines.append(
            f"  {VEHICLE_WORDS.get(vehicle.type, 'vehicle')}s: {vehicle.needed} needed, {vehicle.available} at the hub"
            + (f", {vehicle.shortfall} short" if vehicle.shortfall else "")
            + (f", {vehicle.idle} idle" if vehicle.idle else "")
        )
    lines.extend(f"  - {note}" for note in need.notes)
    return "\n".join(lines)


# ------------------------------------------------------------------------------- the picture


@dataclass(frozen=True)
class ForecastLine:
    """A forecast as the picture draws it: days, expected pickups and the 80% interval."""

    route_id: str
    model: str
    days: tuple[date, ...]
    pickups: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]

    @classmethod
    def of(cls, response: dispatch_pb2.ForecastPickupVolumeResponse) -> ForecastLine:
        days = sorted(response.days, key=lambda d: d.date)
        return cls(
            response.route_id, response.model, tuple(date.fromisoformat(d.date) for d in days),
            tuple(d.pickups for d in days), tuple(d.pickups_low for d in days), tuple(d.pickups_high for d in days),
        )  # fmt: skip


def picture_path(hub_picture: Path) -> Path:
    """Beside the hub's picture: out/demo_hub.png -> out/demo_forecast.png."""
    return hub_picture.with_name(f"demo_forecast{hub_picture.suffix or '.png'}")


def route_history(rows: Sequence[HistoryRow], route_id: str) -> dict[date, int]:
    return {r.day: r.pickups for r in sorted(rows, key=lambda r: r.day) if r.route_id == route_id}


def draw(
    path: Path,
    *,
    hub_id: str,
    rows: Sequence[HistoryRow],
    hub_forecast: ForecastLine,
    route_forecasts: Sequence[ForecastLine],
    promotion: date,
    route_names: Mapping[str, str],
) -> Path:
    """The hub's daily pickups (history, then the forecast with its 80% band) on top, the first
    four routes of `route_forecasts` below, the promotion day marked."""
    routes = list(route_forecasts)[:4]
    fig = plt.figure(figsize=(14, 10))
    grid = fig.add_gridspec(3, 2, height_ratios=(1.3, 1, 1), hspace=0.45, wspace=0.18)
    try:
        _panel(fig.add_subplot(grid[0, :]), hub_totals(rows), hub_forecast, promotion, f"{hub_id}: all routes")
        for n, line in enumerate(routes):
            title = f"{line.route_id} {route_names.get(line.route_id, '')}".strip()
            _panel(fig.add_subplot(grid[1 + n // 2, n % 2]), route_history(rows, line.route_id), line, promotion, title)
        fig.suptitle(
            f"Pickups per day: {len(hub_totals(rows))} days of history and a {len(hub_forecast.days)}-day forecast "
            "with its 80% interval",
            fontsize=13,
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def _panel(ax, history: Mapping[date, int], line: ForecastLine, promotion: date, title: str) -> None:
    days = list(history)
    ax.plot(days, list(history.values()), color="#33658a", linewidth=1.2, marker=".", markersize=3, label="history")
    if line.days:
        ax.fill_between(line.days, line.low, line.high, color="#f6ae2d", alpha=0.35, label="80% interval")
        ax.plot(line.days, line.pickups, color="#f26419", linewidth=1.6, marker=".", markersize=4, label="forecast")
    if promotion in history:
        ax.annotate(
            "sale", (promotion, history[promotion]), textcoords="offset points", xytext=(4, -2), fontsize=8,
            color="#86bbd8",
        )  # fmt: skip
    ax.set_title(f"{title} ({line.model})" if line.model else title, fontsize=10)
    ax.set_ylabel("pickups")
    ax.grid(alpha=0.3)
    ax.tick_params(axis="x", labelsize=8, rotation=30)
    ax.legend(fontsize=8, loc="upper left")


# ------------------------------------------------------------------------------- the whole part


def look_ahead(
    clients: MeshClients,
    hub_id: str,
    collection: dict,
    *,
    timezone: str,
    today: date,
    pickups_per_day: int,
    riders: Sequence[tuple[str, str, bool]],
    hub_picture: Path,
    seed: int,
) -> str:
    """History imported, tomorrow's roster recorded, tomorrow's forecast and fleet need printed and
    drawn. `riders`: (id, name, spare) of the hub's riders."""
    started = time_module.monotonic()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    profiles = route_profiles(collection, pickups_per_day, seed=seed)
    rows = synthetic_history(profiles, yesterday, seed=seed)
    promotion = promotion_day(yesterday, seed=seed)
    imported = import_history(clients, hub_id, rows)
    lines = [
        f"Volume history: {HISTORY_WEEKS} weeks ({rows[0].day if rows else '-'} .. {yesterday}) of {len(profiles)} routes, "
        f"{imported.rows:,} daily rows imported in {imported.calls} ImportVolumeHistory calls of at most "
        f"{IMPORT_BATCH_ROWS} ({imported.replaced:,} replaced an earlier import); synthetic: weekly pattern, a mild "
        f"trend per route, noise, a hub-wide sale on {promotion} ({promotion:%A}, x{PROMOTION_LIFT}, told to the "
        "forecaster as a known event)"
    ]
    busiest = busiest_routes(rows, BUSIEST_SHOWN)
    default_riders = {
        f["properties"]["id"]: f["properties"]["default_rider_id"]
        for f in collection["features"]
        if f["properties"].get("default_rider_id")
    }
    roster = tomorrow_roster(
        [(rider_id, spare) for rider_id, _, spare in riders], default_riders, busiest, tomorrow, ZoneInfo(timezone),
        seed=seed,
    )  # fmt: skip
    record_roster(clients, hub_id, roster)
    lines.append(roster_line(roster, default_riders, tomorrow))

    events = known_events(promotion)
    hub_total = forecast(clients, hub_id, "", tomorrow, FORECAST_DAYS, events)
    per_route = [forecast(clients, hub_id, route_id, tomorrow, FORECAST_DAYS, events) for route_id in busiest]
    names = {f["properties"]["id"]: f["properties"].get("name", "") for f in collection["features"]}
    since = yesterday - timedelta(days=13)
    recent = {
        route_id: sum(r.pickups for r in rows if r.route_id == route_id and r.day >= since) / 14 for route_id in busiest
    }
    recent[""] = sum(r.pickups for r in rows if r.day >= since) / 14
    lines += ["", render_forecasts(tomorrow, hub_total, per_route, names, recent)]

    rostered = sum(1 for e in roster if e.status == attendance_pb2.ATTENDANCE_STATUS_ROSTERED)
    need = wait_for_roster(clients, hub_id, tomorrow, events, rostered)
    lines.append(backtest_spread(need))
    lines += ["", render_fleet_need(need, busiest, {rider_id: name for rider_id, name, _ in riders})]
    if need.riders_rostered < rostered:
        lines.append(
            f"  note: dispatch_svc had {need.riders_rostered} of the {rostered} rostered riders when the wait ended "
            "(it follows attendance.events.v1; see .cache/logs/dispatch_svc.log)"
        )
    png = draw(
        picture_path(hub_picture), hub_id=hub_id, rows=rows, hub_forecast=ForecastLine.of(hub_total),
        route_forecasts=[ForecastLine.of(r) for r in per_route], promotion=promotion, route_names=names,
    )  # fmt: skip
    lines.append(f"\nPicture of history and forecast: {png} (look ahead in {time_module.monotonic() - started:.1f} s)")
    return "\n".join(lines)


def wait_for_roster(
    clients: MeshClients,
    hub_id: str,
    day: date,
    events: Sequence[dispatch_pb2.VolumeEvent],
    expected: int,
    timeout_s: float = ROSTER_WAIT_S,
) -> dispatch_pb2.ForecastFleetNeedResponse:
    """ForecastFleetNeed once dispatch_svc's attendance read model holds the roster just recorded
    (it follows attendance.events.v1 asynchronously), or the last answer when the wait ends."""
    deadline = time_module.monotonic() + timeout_s
    while True:
        need = fleet_need(clients, hub_id, day, events)
        if need.riders_rostered >= expected or time_module.monotonic() > deadline:
            return need
        time_module.sleep(0.5)
