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
  ceil(trips / trips per rider); a rider needs one vehicle at a time, so vehicles = riders. The
  shift is the day's typical rostered one (the median length of the rostered riders' shifts, the
  planning day standing for a missing one), so what is needed and what the rostered riders cover
  are counted in the same hours.

Vehicles come from those the hub has (one per rider):
1. every route asks for the type needing the fewest riders (then trips);
2. while a type is asked for more vehicles than the hub has, the route on it whose move costs the
   fewest extra riders per vehicle freed moves whole to another type with enough vehicles left, so
   the big vehicles stay on the routes where they save the most riders;
3. when no route can move whole, routes on that type (most riders first) keep what its vehicles
   can drive and hand the rest of their day to the vehicles left of other types (fewest riders
   first): a route may then drive more than one type;
4. only a share no vehicle of any type is left for stays on the type, its riders short of vehicles.

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
    # Riders per vehicle type, the type carrying the largest share first: one entry unless no single
    # type had enough vehicles left for the route. Riders without a vehicle are counted too.
    vehicles: tuple[tuple[VehicleType, int], ...] = ()
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


def typical_shift_seconds(riders: Sequence[PlanningRider], settings: PlanningSettings) -> float:
    """The median length of the rostered riders' shifts (the planning day for a rider without one,
    and when nobody is rostered)."""
    return float(median(shift_seconds(r, settings) for r in riders)) if riders else shift_seconds(None, settings)


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


@dataclass(frozen=True)
class RoutePart:
    """A share (0..1) of a route's day, its pickups, packages and kg alike, on one vehicle type."""

    share: float
    estimate: TripEstimate


@dataclass
class _RouteWork:
    forecast: DayForecast
    reach: RouteReach | None
    # The route's whole day on each type the hub has: fewest riders first, then fewest trips.
    options: list[TripEstimate]
    parts: list[RoutePart] = field(default_factory=list)
    # Riders of the route for whom no vehicle is left, per type they are counted on.
    unequipped: dict[VehicleType, int] = field(default_factory=dict)

    def riders_on(self, vehicle_type: VehicleType) -> int:
        return sum(p.estimate.riders for p in self.parts if p.estimate.vehicle_type is vehicle_type)

    def equipped_on(self, vehicle_type: VehicleType) -> int:
        return self.riders_on(vehicle_type) - self.unequipped.get(vehicle_type, 0)


@dataclass(frozen=True)
class _Fleet:
    """The hub's vehicles (how many of each type, median capacity) and the trip model of a share of a route."""

    available: Mapping[VehicleType, int]
    capacity: Mapping[VehicleType, tuple[int, float]]
    travel: GreatCircleTravelModel
    settings: PlanningSettings
    shift_s: float

    def estimate(self, item: _RouteWork, share: float, vehicle_type: VehicleType) -> TripEstimate:
        fc = item.forecast
        return estimate_trips(
            fc.pickups * share, fc.packages * share, fc.weight_kg * share, item.reach, vehicle_type,
            self.capacity[vehicle_type], self.travel, self.settings, self.shift_s,
        )  # fmt: skip

    def largest_first(self) -> list[VehicleType]:
        return sorted(self.capacity, key=lambda t: (self.capacity[t], t.value), reverse=True)


def _allocate_vehicles(work: Sequence[_RouteWork], fleet: _Fleet) -> None:
    """Give each route with work the vehicles it drives, from those the hub has (module docstring).
    Sets each route's `parts` and `unequipped`."""
    busy = [item for item in work if item.options and item.options[0].riders > 0]
    for item in busy:
        item.parts = [RoutePart(1.0, item.options[0])]
    spare = _spare(busy, fleet)
    for crowded in fleet.largest_first():
        _move_cheapest_routes(busy, crowded, spare)
    for crowded in fleet.largest_first():
        on_type = [item for item in busy if item.riders_on(crowded)]
        for item in sorted(on_type, key=lambda i: (-i.riders_on(crowded), i.forecast.route_id)):
            if spare[crowded] >= 0:
                break
            before = {t: item.equipped_on(t) for t in spare}
            _hand_over(item, crowded, -spare[crowded], spare, fleet)
            for t in spare:
                spare[t] -= item.equipped_on(t) - before[t]


def _spare(busy: Sequence[_RouteWork], fleet: _Fleet) -> dict[VehicleType, int]:
    """Vehicles of each type not yet given to a rider (negative: asked for beyond what the hub has)."""
    return {t: n - sum(item.equipped_on(t) for item in busy) for t, n in fleet.available.items()}


def _move_cheapest_routes(busy: Sequence[_RouteWork], crowded: VehicleType, spare: dict[VehicleType, int]) -> None:
    """While `crowded` is asked for more vehicles than the hub has, move the route wholly on it whose move
    costs the fewest extra riders per vehicle freed (then the fewest extra riders, the most vehicles
    freed, the fewest extra trips per vehicle freed) to another type with enough vehicles left. A move's
    cost never changes and vehicles left only shrink, so the moves are ranked once."""
    if spare[crowded] >= 0:
        return
    moves: list[tuple[tuple[float, int, int, float, str], _RouteWork, TripEstimate]] = []
    for item in busy:
        if len(item.parts) != 1 or item.parts[0].estimate.vehicle_type is not crowded:
            continue
        current = item.parts[0].estimate
        for option in item.options:
            if option.vehicle_type is not crowded:
                extra, freed = option.riders - current.riders, current.riders
                rank = (extra / freed, extra, -freed, (option.trips - current.trips) / freed, item.forecast.route_id)
                moves.append((rank, item, option))
    moves.sort(key=lambda m: m[0])
    for _, item, option in moves:
        if spare[crowded] >= 0:
            return
        current = item.parts[0].estimate
        if current.vehicle_type is crowded and option.riders <= spare[option.vehicle_type]:
            item.parts = [RoutePart(1.0, option)]
            spare[crowded] += current.riders
            spare[option.vehicle_type] -= option.riders


def _hand_over(
    item: _RouteWork, crowded: VehicleType, excess: int, spare: Mapping[VehicleType, int], fleet: _Fleet
) -> None:
    """Keep at most `riders - excess` of the route's riders on `crowded`, and put the share of its day
    the others would have driven on the vehicles left of its other types (fewest riders first) as far
    as they go; the rest stays on `crowded` with riders for whom no vehicle is left."""
    part = next(p for p in item.parts if p.estimate.vehicle_type is crowded)
    keep = max(0, part.estimate.riders - excess)
    kept = _share_for(item, crowded, part.share, keep, fleet)
    left = part.share - (kept.share if kept else 0.0)
    moved: list[RoutePart] = []
    for option in item.options:
        free = spare[option.vehicle_type]
        if left <= 1e-9 or option.vehicle_type is crowded or free <= 0:
            continue
        taken = _share_for(item, option.vehicle_type, left, free, fleet)
        if taken is not None:
            moved.append(taken)
            left -= taken.share
    others = [p for p in item.parts if p is not part]
    if left > 1e-9:
        # No vehicle of any type is left for this share: it stays on `crowded`, its riders short of vehicles.
        share = part.share - sum(p.share for p in moved)
        estimate = fleet.estimate(item, share, crowded)
        item.unequipped[crowded] = item.unequipped.get(crowded, 0) + max(0, estimate.riders - keep)
        moved.append(RoutePart(share, estimate))
    elif kept is not None:
        moved.append(kept)
    item.parts = sorted(others + moved, key=lambda p: -p.share)


def _share_for(
    item: _RouteWork, vehicle_type: VehicleType, share: float, riders: int, fleet: _Fleet
) -> RoutePart | None:
    """The largest part of `share` of the route's day that at most `riders` riders drive on `vehicle_type`
    (None when no rider is given or they drive nothing)."""
    whole = fleet.estimate(item, share, vehicle_type)
    if riders >= whole.riders:
        return RoutePart(share, whole)
    for k in range(riders, 0, -1):
        if whole.trips_per_rider >= 1:
            part = share * min(1.0, k * whole.trips_per_rider / whole.trips)
        else:
            part = share * k / whole.riders
        estimate = fleet.estimate(item, part, vehicle_type)
        if 0 < estimate.riders <= riders:
            return RoutePart(part, estimate)
    return None


def _cover(
    parts: Sequence[RoutePart], rostered: list[PlanningRider], settings: PlanningSettings
) -> tuple[int, int, list[PlanningRider]]:
    """(riders missing, trips left uncovered, riders not needed) when the rostered riders, longest
    shift first, take the trips of the route's parts in turn (a rider drives one vehicle)."""
    left = [p.estimate.trips for p in parts]
    idle: list[PlanningRider] = []
    for rider in sorted(rostered, key=lambda r: (-shift_seconds(r, settings), r.id)):
        n = next((i for i, trips in enumerate(left) if trips > 0), None)
        if n is None:
            idle.append(rider)
            continue
        trip_s = parts[n].estimate.trip_seconds
        left[n] -= max(1, int(shift_seconds(rider, settings) // trip_s)) if trip_s > 0 else left[n]
    short = uncovered = 0
    for trips, part in zip(left, parts, strict=True):
        if trips > 0:
            uncovered += trips
            per_rider = part.estimate.trips_per_rider
            short += math.ceil(trips / per_rider) if per_rider else 1
    return short, uncovered, idle


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
    types = _fleet_types(vehicles)
    available = {t: sum(1 for v in vehicles if v.type is t) for t in types}
    fleet = _Fleet(available, types, travel, settings, typical_shift_seconds(riders, settings))
    work: list[_RouteWork] = []
    for fc in sorted(forecasts, key=lambda f: f.route_id):
        item = _RouteWork(fc, reaches.get(fc.route_id), [])
        item.options = sorted((fleet.estimate(item, 1.0, t) for t in types), key=lambda o: (o.riders, o.trips))
        work.append(item)
    _allocate_vehicles(work, fleet)
    needed_vehicles: dict[VehicleType, int] = {}
    vehicle_short: dict[VehicleType, int] = {}
    for item in work:
        for t in types:
            if item.riders_on(t):
                needed_vehicles[t] = needed_vehicles.get(t, 0) + item.riders_on(t)
            if item.unequipped.get(t):
                vehicle_short[t] = vehicle_short.get(t, 0) + item.unequipped[t]

    by_route: dict[str, list[PlanningRider]] = {}
    floating: list[str] = []
    for rider in riders:
        home = home_route(rider)
        if home is None:
            floating.append(rider.id)
        else:
            by_route.setdefault(home, []).append(rider)

    routes = tuple(_route_need(item, by_route.get(item.forecast.route_id, []), fleet) for item in work)
    # Riders rostered on routes with no forecast that day are idle too.
    forecast_routes = {r.route_id for r in routes}
    spare_elsewhere = [r.id for route, rs in sorted(by_route.items()) if route not in forecast_routes for r in rs]
    spare = sum(len(r.idle_riders) for r in routes) + len(floating) + len(spare_elsewhere)
    shortfall = max(0, sum(r.rider_shortfall for r in routes) - spare)
    idle_vehicles = {t: max(0, n - needed_vehicles.get(t, 0) + vehicle_short.get(t, 0)) for t, n in available.items()}
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


def _route_need(item: _RouteWork, rostered: list[PlanningRider], fleet: _Fleet) -> RouteFleetNeed:
    fc = item.forecast
    notes: list[str] = []
    if item.reach is None:
        notes.append("no known location: travel to and within the route not counted")
    if not item.parts:
        if fc.pickups > 0 and not fleet.capacity:
            notes.append("the hub has no vehicle")
        return RouteFleetNeed(
            fc.route_id, fc.day, fc.pickups, fc.pickups_high, fc.packages, fc.weight_kg, None, 0, 0.0, 0, 0, 0,
            tuple(sorted(r.id for r in rostered)), 0, tuple(sorted(r.id for r in rostered)), (), tuple(notes),
        )  # fmt: skip
    main = item.parts[0].estimate
    riders = sum(p.estimate.riders for p in item.parts)
    # The volume above the point forecast is counted on the main type, at its riders per volume.
    scale = fc.pickups_high / fc.pickups if fc.pickups > 0 else 0.0
    extra = fleet.estimate(item, scale, main.vehicle_type).riders - fleet.estimate(item, 1.0, main.vehicle_type).riders
    if len(item.parts) > 1:
        mix = ", ".join(f"{p.estimate.riders} on {p.estimate.vehicle_type.value}" for p in item.parts)
        notes.append(f"riders on more than one vehicle type ({mix}): no one type has enough vehicles left")
    for vehicle_type, count in sorted(item.unequipped.items(), key=lambda i: i[0].value):
        if count:
            notes.append(f"no vehicle left for {count} rider(s) ({vehicle_type.value})")
    if main.trips_per_rider == 0:
        notes.append(f"one trip ({main.trip_seconds / 60:.0f} min) is longer than a shift")
    short, uncovered, idle = _cover(item.parts, rostered, fleet.settings)
    if short:
        notes.append(f"short of {short} rider{'s' if short > 1 else ''} for {uncovered} trip(s)")
    if idle:
        notes.append(f"idle: {', '.join(sorted(r.id for r in idle))}")
    if extra > 0:
        notes.append(f"{riders + extra} riders at the 80% upper bound ({fc.pickups_high:.0f} pickups)")
    return RouteFleetNeed(
        route_id=fc.route_id,
        day=fc.day,
        pickups=fc.pickups,
        pickups_high=fc.pickups_high,
        packages=fc.packages,
        weight_kg=fc.weight_kg,
        vehicle_type=main.vehicle_type,
        trips=sum(p.estimate.trips for p in item.parts),
        trip_minutes=main.trip_seconds / 60,
        trips_per_rider=main.trips_per_rider,
        riders_needed=riders,
        riders_needed_high=riders + max(0, extra),
        rostered_riders=tuple(sorted(r.id for r in rostered)),
        rider_shortfall=short,
        idle_riders=tuple(sorted(r.id for r in idle)),
        vehicles=tuple((p.estimate.vehicle_type, p.estimate.riders) for p in item.parts),
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
    notes += [
        f"short of {n} {t.value}(s): every vehicle of the hub is given, riders counted on {t.value} have none"
        for t, n in sorted(vehicle_short.items(), key=lambda i: i[0].value)
    ]
    notes += [
        f"{n} {t.value}(s) idle" for t, n in sorted(idle_vehicles.items(), key=lambda i: i[0].value) if n and t in types
    ]
    return tuple(notes)
