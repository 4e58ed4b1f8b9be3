"""The riders and vehicles a future day needs, per route and for the hub, against who is rostered.

Pure domain. The trip model is the planner's (domain/planning.py): vehicle capacity in packages and
in kg, a service time per stop (fixed + per package), travel at the vehicle type's speed over
great-circle distance x the circuity factor, and the shift a rider works. Per route and day:

- a trip drives out to the route and back (2 x the route's typical distance from the depot) and
  visits its stops on a tour whose length is estimated by Beardwood-Halton-Hammersley,
  0.7124 x sqrt(stops x area of the route), both x the circuity factor;
- trips = the most of ceil(packages / capacity) and ceil(kg / capacity_kg) (at least one if any
  pickup is expected); stops and packages share the trips equally;
- a rider drives floor(shift / trip time) trips a day, back at the depot between them; riders =
  ceil(trips / trips per rider); a rider needs one vehicle at a time, so vehicles = riders;
- the vehicle type is, per route, the one the hub owns that needs the fewest riders (then trips);
  routes needing the most riders choose first while the hub has vehicles of that type left.

Planned on the point forecast; `riders_needed_high` is the same at the 80% interval's upper bound
(pickups_high, with packages and kg in proportion): the riders to keep on call. Who is rostered:
riders with a shift that day, each counted on their home route (the route they are the default
rider of, else the route they drove most); riders with no route are the hub's floating pool.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from statistics import median

import numpy as np

from dispatch_svc.domain.forecasting import DayForecast
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import (
    EARTH_RADIUS_M,
    GreatCircleTravelModel,
    PlanningRider,
    PlanningSettings,
    PlanningVehicle,
    Point,
    great_circle_m,
)

# Beardwood-Halton-Hammersley constant: a shortest tour through n random points of an area A is
# about this x sqrt(n A) long.
BHH_CONSTANT = 0.7124


@dataclass(frozen=True)
class RouteReach:
    """Where a route is from the depot: its typical pickup's great-circle distance, and the area its
    pickups spread over (km^2)."""

    route_id: str
    depot_distance_m: float
    area_km2: float


def reach_from_points(route_id: str, depot: Point, pickups: Sequence[Point]) -> RouteReach:
    """A route's reach from its pickups' locations (e.g. the last weeks'): the median distance from the
    depot, and the area of the box holding the middle 80% of them in each direction."""
    if not pickups:
        return RouteReach(route_id, 0.0, 0.0)
    distance = median(great_circle_m(depot, p) for p in pickups)
    lat = np.array([p.lat for p in pickups])
    lng = np.array([p.lng for p in pickups])
    north_m = np.radians(np.percentile(lat, 90) - np.percentile(lat, 10)) * EARTH_RADIUS_M
    east_m = (
        np.radians(np.percentile(lng, 90) - np.percentile(lng, 10)) * EARTH_RADIUS_M * math.cos(math.radians(depot.lat))
    )
    return RouteReach(route_id, float(distance), float(north_m * east_m) / 1e6)


@dataclass(frozen=True)
class TripEstimate:
    """One route's day on one vehicle type."""

    vehicle_type: VehicleType
    trips: int
    trip_seconds: float
    trips_per_rider: int
    riders: int


@dataclass(frozen=True)
class RouteFleetNeed:
    route_id: str
    day: date
    pickups: float
    pickups_high: float
    packages: float
    weight_kg: float
    # None when nothing is expected or the hub has no vehicle.
    vehicle_type: VehicleType | None
    trips: int
    trip_minutes: float
    trips_per_rider: int
    riders_needed: int
    riders_needed_high: int
    rostered_riders: tuple[str, ...]
    rider_shortfall: int
    idle_riders: tuple[str, ...]
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class FleetNeed:
    hub_id: str
    day: date
    routes: tuple[RouteFleetNeed, ...]
    riders_needed: int
    riders_needed_high: int
    riders_rostered: int
    # Rostered riders with no home route (neither default rider nor any history): they can go anywhere.
    floating_riders: tuple[str, ...]
    # Riders missing after idle and floating riders have filled the routes' shortfalls.
    rider_shortfall: int
    vehicles_needed: dict[VehicleType, int] = field(default_factory=dict)
    vehicles_available: dict[VehicleType, int] = field(default_factory=dict)
    vehicle_shortfall: dict[VehicleType, int] = field(default_factory=dict)
    idle_vehicles: dict[VehicleType, int] = field(default_factory=dict)
    notes: tuple[str, ...] = ()


def shift_seconds(rider: PlanningRider | None, settings: PlanningSettings) -> float:
    """The length of a rider's shift (the default day when attendance gives none)."""
    if rider is not None and rider.shift is not None:
        return (rider.shift.end - rider.shift.start).total_seconds()
    day = date(2000, 1, 3)
    start, end = datetime.combine(day, settings.day_start), datetime.combine(day, settings.day_end)
    if end <= start:
        end += timedelta(days=1)
    return (end - start).total_seconds()


def home_route(rider: PlanningRider) -> str | None:
    """The route a rider is counted on: the one they are default rider of (the most driven of those),
    else the one they drove most; None for a rider with neither."""
    if rider.default_routes:
        return max(sorted(rider.default_routes), key=lambda r: rider.route_history.get(r, 0))
    driven = [(n, r) for r, n in sorted(rider.route_history.items()) if n > 0]
    return max(driven, key=lambda item: item[0])[1] if driven else None


def estimate_trips(
    pickups: float,
    packages: float,
    weight_kg: float,
    reach: RouteReach | None,
    vehicle_type: VehicleType,
    capacity: tuple[int, float],
    travel: GreatCircleTravelModel,
    settings: PlanningSettings,
    shift_s: float,
) -> TripEstimate:
    """Trips, trip time and riders for one route's day on one vehicle type (module docstring)."""
    if pickups <= 0:
        return TripEstimate(vehicle_type, 0, 0.0, 0, 0)
    capacity_packages, capacity_kg = capacity
    trips = max(1, math.ceil(packages / capacity_packages - 1e-9), math.ceil(weight_kg / capacity_kg - 1e-9))
    stops, parcels = pickups / trips, packages / trips
    meters = 0.0
    if reach is not None:
        tour = BHH_CONSTANT * math.sqrt(stops * reach.area_km2 * 1e6)
        meters = (2 * reach.depot_distance_m + tour) * travel.circuity_factor
    trip_s = (
        travel.seconds(meters, vehicle_type)
        + stops * settings.service_seconds_per_stop
        + parcels * settings.service_seconds_per_package
    )
    per_rider = int(shift_s // trip_s) if trip_s > 0 else trips
    if per_rider >= 1:
        riders = math.ceil(trips / per_rider)
    else:
        # A trip longer than a shift: the work is shared by riders in relays.
        riders = math.ceil(trips * trip_s / shift_s)
    return TripEstimate(vehicle_type, trips, trip_s, per_rider, riders)


def _fleet_types(vehicles: Sequence[PlanningVehicle]) -> dict[VehicleType, tuple[int, float]]:
    """The hub's vehicle types, each with its median capacity (packages, kg)."""
    by_type: dict[VehicleType, list[PlanningVehicle]] = {}
    for vehicle in vehicles:
        by_type.setdefault(vehicle.type, []).append(vehicle)
    return {
        t: (int(median(v.capacity_packages for v in vs)), float(median(v.capacity_kg for v in vs)))
        for t, vs in by_type.items()
    }


@dataclass
class _RouteWork:
    forecast: DayForecast
    options: list[TripEstimate]
    chosen: TripEstimate | None = None


def _choose_vehicle_types(
    work: list[_RouteWork], available: dict[VehicleType, int]
) -> tuple[dict[VehicleType, int], dict[VehicleType, int]]:
    """Routes needing the most riders pick first: their best type with enough vehicles left, else their
    best type (short of vehicles). Returns (needed, short) per type."""
    left = dict(available)
    needed: dict[VehicleType, int] = {}
    short: dict[VehicleType, int] = {}
    for item in sorted(work, key=lambda w: -(w.options[0].riders if w.options else 0)):
        if not item.options or item.options[0].riders == 0:
            continue
        fitting = [o for o in item.options if left.get(o.vehicle_type, 0) >= o.riders]
        item.chosen = fitting[0] if fitting else item.options[0]
        t, riders = item.chosen.vehicle_type, item.chosen.riders
        needed[t] = needed.get(t, 0) + riders
        taken = min(riders, left.get(t, 0))
        left[t] = left.get(t, 0) - taken
        if riders > taken:
            short[t] = short.get(t, 0) + riders - taken
    return needed, short


def _cover(
    trips: int, rostered: list[PlanningRider], trip_s: float, settings: PlanningSettings
) -> tuple[int, list[PlanningRider]]:
    """(trips left uncovered, riders not needed) when the rostered riders, longest shift first, take
    the trips."""
    idle: list[PlanningRider] = []
    for rider in sorted(rostered, key=lambda r: (-shift_seconds(r, settings), r.id)):
        if trips <= 0:
            idle.append(rider)
            continue
        trips -= max(1, int(shift_seconds(rider, settings) // trip_s)) if trip_s > 0 else trips
    return max(0, trips), idle


def fleet_need(
    hub_id: str,
    day: date,
    forecasts: Sequence[DayForecast],
    reaches: Mapping[str, RouteReach],
    riders: Sequence[PlanningRider],
    vehicles: Sequence[PlanningVehicle],
    travel: GreatCircleTravelModel,
    settings: PlanningSettings,
) -> FleetNeed:
    """What `day` needs per route (one DayForecast per route of that day) against the rostered `riders`
    (those with a shift that day) and the hub's active `vehicles`."""
    default_shift = shift_seconds(None, settings)
    types = _fleet_types(vehicles)
    available = {t: sum(1 for v in vehicles if v.type is t) for t in types}
    work: list[_RouteWork] = []
    for fc in sorted(forecasts, key=lambda f: f.route_id):
        reach = reaches.get(fc.route_id)
        options = [
            estimate_trips(fc.pickups, fc.packages, fc.weight_kg, reach, t, cap, travel, settings, default_shift)
            for t, cap in types.items()
        ]
        options.sort(key=lambda o: (o.riders, o.trips, types[o.vehicle_type]))
        work.append(_RouteWork(fc, options))
    needed_vehicles, vehicle_short = _choose_vehicle_types(work, available)

    by_route: dict[str, list[PlanningRider]] = {}
    floating: list[str] = []
    for rider in riders:
        home = home_route(rider)
        if home is None:
            floating.append(rider.id)
        else:
            by_route.setdefault(home, []).append(rider)

    routes = tuple(
        _route_need(item, reaches, by_route.get(item.forecast.route_id, []), types, travel, settings) for item in work
    )
    # Riders rostered on routes with no forecast that day are idle too.
    forecast_routes = {r.route_id for r in routes}
    spare_elsewhere = [r.id for route, rs in sorted(by_route.items()) if route not in forecast_routes for r in rs]
    spare = sum(len(r.idle_riders) for r in routes) + len(floating) + len(spare_elsewhere)
    shortfall = max(0, sum(r.rider_shortfall for r in routes) - spare)
    idle_vehicles = {t: max(0, n - needed_vehicles.get(t, 0)) for t, n in available.items()}
    notes = _hub_notes(routes, floating, spare_elsewhere, shortfall, vehicle_short, idle_vehicles, types)
    return FleetNeed(
        hub_id=hub_id,
        day=day,
        routes=routes,
        riders_needed=sum(r.riders_needed for r in routes),
        riders_needed_high=sum(r.riders_needed_high for r in routes),
        riders_rostered=len(riders),
        floating_riders=tuple(sorted(floating)),
        rider_shortfall=shortfall,
        vehicles_needed=needed_vehicles,
        vehicles_available=available,
        vehicle_shortfall=vehicle_short,
        idle_vehicles=idle_vehicles,
        notes=notes,
    )


def _route_need(
    item: _RouteWork,
    reaches: Mapping[str, RouteReach],
    rostered: list[PlanningRider],
    types: Mapping[VehicleType, tuple[int, float]],
    travel: GreatCircleTravelModel,
    settings: PlanningSettings,
) -> RouteFleetNeed:
    fc, chosen = item.forecast, item.chosen
    reach = reaches.get(fc.route_id)
    notes: list[str] = []
    if reach is None:
        notes.append("no known location: travel to and within the route not counted")
    if chosen is None:
        if fc.pickups > 0 and not types:
            notes.append("the hub has no vehicle")
        return RouteFleetNeed(
            fc.route_id, fc.day, fc.pickups, fc.pickups_high, fc.packages, fc.weight_kg, None, 0, 0.0, 0, 0, 0,
            tuple(sorted(r.id for r in rostered)), 0, tuple(sorted(r.id for r in rostered)), tuple(notes),
        )  # fmt: skip
    scale = fc.pickups_high / fc.pickups if fc.pickups > 0 else 0.0
    high = estimate_trips(
        fc.pickups_high, fc.packages * scale, fc.weight_kg * scale, reach, chosen.vehicle_type,
        types[chosen.vehicle_type], travel, settings, shift_seconds(None, settings),
    )  # fmt: skip
    if chosen.trips_per_rider == 0:
        notes.append(f"one trip ({chosen.trip_seconds / 60:.0f} min) is longer than a shift")
    uncovered, idle = _cover(chosen.trips, rostered, chosen.trip_seconds, settings)
    short = math.ceil(uncovered / chosen.trips_per_rider) if chosen.trips_per_rider else (1 if uncovered else 0)
    if short:
        notes.append(f"short of {short} rider{'s' if short > 1 else ''} for {uncovered} trip(s)")
    if idle:
        notes.append(f"idle: {', '.join(sorted(r.id for r in idle))}")
    if high.riders > chosen.riders:
        notes.append(f"{high.riders} riders at the 80% upper bound ({fc.pickups_high:.0f} pickups)")
    return RouteFleetNeed(
        route_id=fc.route_id,
        day=fc.day,
        pickups=fc.pickups,
        pickups_high=fc.pickups_high,
        packages=fc.packages,
        weight_kg=fc.weight_kg,
        vehicle_type=chosen.vehicle_type,
        trips=chosen.trips,
        trip_minutes=chosen.trip_seconds / 60,
        trips_per_rider=chosen.trips_per_rider,
        riders_needed=chosen.riders,
        riders_needed_high=max(high.riders, chosen.riders),
        rostered_riders=tuple(sorted(r.id for r in rostered)),
        rider_shortfall=short,
        idle_riders=tuple(sorted(r.id for r in idle)),
        notes=tuple(notes),
    )


def _hub_notes(
    routes: Sequence[RouteFleetNeed],
    floating: Sequence[str],
    spare_elsewhere: Sequence[str],
    shortfall: int,
    vehicle_short: Mapping[VehicleType, int],
    idle_vehicles: Mapping[VehicleType, int],
    types: Mapping[VehicleType, tuple[int, float]],
) -> tuple[str, ...]:
    notes = [f"route {r.route_id}: short of {r.rider_shortfall} rider(s)" for r in routes if r.rider_shortfall]
    notes += [f"route {r.route_id}: idle {', '.join(r.idle_riders)}" for r in routes if r.idle_riders]
    if floating:
        notes.append(f"rostered without a home route: {', '.join(sorted(floating))}")
    if spare_elsewhere:
        notes.append(f"rostered on routes with nothing forecast: {', '.join(spare_elsewhere)}")
    notes.append(f"hub short of {shortfall} rider(s)" if shortfall else "hub: enough riders rostered")
    notes += [f"short of {n} {t.value}(s)" for t, n in sorted(vehicle_short.items(), key=lambda i: i[0].value)]
    notes += [
        f"{n} {t.value}(s) idle" for t, n in sorted(idle_vehicles.items(), key=lambda i: i[0].value) if n and t in types
    ]
    return tuple(notes)
