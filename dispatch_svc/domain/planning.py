"""Planning a hub's day: which rider drives which vehicle on which trip, visiting which pickups in which order.

Pure domain: the problem handed to a planner (`PlanningProblem`), what it proposes (`PlanResult`:
`ProposedTrip`s and `Unplanned` pickups with reasons) and how travel is estimated (`TravelModel`).
Times are timezone-aware datetimes (UTC); the day's default shift is in the hub's local time.
"""

from __future__ import annotations

import abc
import enum
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np

from dispatch_svc.domain.model import VehicleType

EARTH_RADIUS_M = 6_371_008.8
# Rows of a travel table computed at once (float64 temporaries of 256 x destinations).
TABLE_BLOCK_ROWS = 256


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float


@dataclass(frozen=True)
class PlanningSettings:
    """How a day is planned (from dispatch_svc.config.Settings; documented in docs/dispatch.md)."""

    # The shift of a rider whose attendance gives none, in the hub's local time.
    day_start: time = time(8, 0)
    day_end: time = time(20, 0)
    # Time spent at one stop: fixed plus per package.
    service_seconds_per_stop: int = 120
    service_seconds_per_package: int = 10
    # Upper bound of one hub's solve, in seconds.
    max_solve_seconds: float = 5.0
    # The solver's exploration level (0-5; higher explores more and takes longer).
    exploration_level: int = 3
    # The most queued pickups one plan takes, per route and in all: the oldest of each route's queue
    # (queue position); the rest wait for the next plan. They bound a plan's memory and time.
    max_stops_per_route: int = 1000
    max_stops: int = 10_000


@dataclass(frozen=True)
class PlanningStop:
    """One queued pickup to place."""

    pur_id: str
    route_id: str
    location: Point
    packages: int
    weight_kg: float
    arrived_at: datetime


@dataclass(frozen=True)
class ShiftWindow:
    start: datetime
    end: datetime


@dataclass(frozen=True)
class PlanningRider:
    """A present rider. `busy_until`: holds an active dispatch until then (estimate); None = free."""

    id: str
    # Trips driven per route so far (history), and the routes whose default rider this rider is.
    route_history: Mapping[str, int] = field(default_factory=dict)
    default_routes: frozenset[str] = frozenset()
    # None = the day's default window from the settings.
    shift: ShiftWindow | None = None
    busy_until: datetime | None = None

    def preference(self, route_id: str) -> tuple[bool, int]:
        """Higher is better: default rider of the route first, then by trips driven on it."""
        return (route_id in self.default_routes, self.route_history.get(route_id, 0))

    def knows(self, route_id: str) -> bool:
        return route_id in self.default_routes or self.route_history.get(route_id, 0) > 0


@dataclass(frozen=True)
class PlanningVehicle:
    """An active vehicle. `busy_until`: on an active dispatch until then (estimate); None = free."""

    id: str
    type: VehicleType
    capacity_packages: int
    capacity_kg: float
    busy_until: datetime | None = None


@dataclass(frozen=True)
class PlanningProblem:
    hub_id: str
    depot: Point
    timezone: str  # IANA name of the hub's time zone
    day: date
    stops: Sequence[PlanningStop]
    riders: Sequence[PlanningRider]
    vehicles: Sequence[PlanningVehicle]
    settings: PlanningSettings = PlanningSettings()
    # No trip starts before this (now, when planning today); None = the start of the day.
    not_before: datetime | None = None

    @property
    def day_start(self) -> datetime:
        """Local midnight of the day: the zero of the solver's clock."""
        return datetime.combine(self.day, time(0, 0), tzinfo=ZoneInfo(self.timezone))

    def default_shift(self) -> ShiftWindow:
        zone = ZoneInfo(self.timezone)
        start = datetime.combine(self.day, self.settings.day_start, tzinfo=zone)
        end = datetime.combine(self.day, self.settings.day_end, tzinfo=zone)
        if end <= start:
            end += timedelta(days=1)
        return ShiftWindow(start, end)

    def shift_of(self, rider: PlanningRider) -> ShiftWindow:
        return rider.shift if rider.shift is not None else self.default_shift()


@dataclass(frozen=True)
class PlannedStopEta:
    pur_id: str
    eta: datetime


@dataclass(frozen=True)
class ProposedTrip:
    """One trip: one route, one rider, one vehicle, from the depot through the stops and back."""

    route_id: str
    rider_id: str
    vehicle_id: str
    stops: tuple[PlannedStopEta, ...]
    distance_m: float
    start: datetime
    end: datetime
    total_packages: int
    total_weight_kg: float
    # Why this rider, why this vehicle, how much shorter than arrival order; in words.
    reasons: tuple[str, ...] = ()
    # The same stops visited in arrival order (from the depot and back), in meters.
    arrival_order_distance_m: float = 0.0


class UnplannedReason(enum.Enum):
    LARGER_THAN_ANY_VEHICLE = "larger than any vehicle"
    OUTSIDE_EVERY_SHIFT = "outside every shift"
    NO_RIDER_OR_VEHICLE_LEFT = "no rider or vehicle left"


@dataclass(frozen=True)
class Unplanned:
    pur_id: str
    kind: UnplannedReason
    detail: str = ""

    @property
    def reason(self) -> str:
        return f"{self.kind.value}: {self.detail}" if self.detail else self.kind.value


@dataclass(frozen=True)
class PlanResult:
    trips: tuple[ProposedTrip, ...]
    unplanned: tuple[Unplanned, ...]
    solve_seconds: float = 0.0

    @property
    def total_distance_m(self) -> float:
        return sum(trip.distance_m for trip in self.trips)

    @property
    def arrival_order_distance_m(self) -> float:
        return sum(trip.arrival_order_distance_m for trip in self.trips)


@dataclass(frozen=True)
class PlanningProgress:
    """How far a plan() call is, reported after each route's solve (and once at the end)."""

    round: int  # the round being solved (1 = every rider's first trip)
    routes_solved: int  # routes of this round solved so far
    routes_in_round: int
    placed: int  # pickups in a trip so far
    stops: int  # pickups of the problem
    trips: int
    done: bool = False


ProgressCallback = Callable[[PlanningProgress], None]


def stop_quotas(queued: Mapping[str, int], per_route: int, total: int) -> dict[str, int]:
    """How many of each route's queued pickups one plan takes (its oldest): at most `per_route` of a
    route and `total` in all, the total shared evenly so that no route's queue waits for another's
    (a route wanting less than an even share leaves the rest to the others; what an even split
    cannot divide goes to the longest queues first)."""
    if per_route < 1 or total < 1:
        raise ValueError("the limits of a plan must be at least 1")
    wants = {route: min(count, per_route) for route, count in queued.items() if count > 0}
    quotas = dict.fromkeys(wants, 0)
    left = total
    pending = sorted(wants, key=lambda r: (wants[r], r))
    while pending and left > 0:
        share = left // len(pending)
        if share == 0:
            for route in sorted(pending, key=lambda r: (-queued[r], r))[:left]:
                quotas[route] += 1
            break
        smallest = wants[pending[0]] - quotas[pending[0]]
        step = min(share, smallest)
        for route in pending:
            quotas[route] += step
        left -= step * len(pending)
        pending = [r for r in pending if quotas[r] < wants[r]]
    return quotas


# -- travel -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TravelMatrix:
    """Seconds and meters from sources[i] to destinations[j], as uint32 arrays: 8 bytes a cell for
    both, so a 1,000-stop route's square tables take 8 MB per vehicle type (nested lists of Python
    ints took about 72 MB)."""

    seconds: np.ndarray
    meters: np.ndarray


class TravelModel(abc.ABC):
    """Travel between points for a vehicle type; an OSRM-style table service (sources x destinations)
    can implement it."""

    @abc.abstractmethod
    def table(self, sources: Sequence[Point], destinations: Sequence[Point], vehicle_type: VehicleType) -> TravelMatrix:
        raise NotImplementedError

    def matrix(self, points: Sequence[Point], vehicle_type: VehicleType) -> TravelMatrix:
        """Every point to every point."""
        return self.table(points, points, vehicle_type)


def great_circle_m(a: Point, b: Point) -> float:
    lat1, lat2 = math.radians(a.lat), math.radians(b.lat)
    dlat, dlng = lat2 - lat1, math.radians(b.lng - a.lng)
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlng / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _radians(points: Sequence[Point]) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.radians(np.fromiter((p.lat for p in points), dtype=np.float64, count=len(points))),
        np.radians(np.fromiter((p.lng for p in points), dtype=np.float64, count=len(points))),
    )


class GreatCircleTravelModel(TravelModel):
    """Great-circle distance x a circuity factor (roads are longer than the crow flies), at a speed per type."""

    def __init__(self, circuity_factor: float, speeds_kmh: Mapping[VehicleType, float]) -> None:
        if circuity_factor < 1.0:
            raise ValueError("circuity_factor must be at least 1")
        missing = [t.value for t in VehicleType if speeds_kmh.get(t, 0.0) <= 0.0]
        if missing:
            raise ValueError(f"a positive speed is needed for {missing}")
        self.circuity_factor = circuity_factor
        self.speeds_kmh = dict(speeds_kmh)

    def meters(self, a: Point, b: Point) -> float:
        return great_circle_m(a, b) * self.circuity_factor

    def seconds(self, meters: float, vehicle_type: VehicleType) -> float:
        return meters / (self.speeds_kmh[vehicle_type] / 3.6)

    def table(self, sources: Sequence[Point], destinations: Sequence[Point], vehicle_type: VehicleType) -> TravelMatrix:
        lat1, lng1 = _radians(sources)
        lat2, lng2 = _radians(destinations)
        meters = np.empty((len(sources), len(destinations)), dtype=np.uint32)
        seconds = np.empty_like(meters)
        meters_per_second = self.speeds_kmh[vehicle_type] / 3.6
        # great_circle_m's haversine, vectorised; in blocks of rows so the float64 temporaries stay
        # a few MB whatever the table's size
        for first in range(0, len(sources), TABLE_BLOCK_ROWS):
            rows = slice(first, first + TABLE_BLOCK_ROWS)
            h = np.sin((lat2[None, :] - lat1[rows, None]) / 2) ** 2
            h += np.cos(lat1[rows, None]) * np.cos(lat2[None, :]) * np.sin((lng2[None, :] - lng1[rows, None]) / 2) ** 2
            np.sqrt(h, out=h)
            np.minimum(h, 1.0, out=h)
            np.arcsin(h, out=h)
            h *= 2 * EARTH_RADIUS_M
            h *= self.circuity_factor
            np.rint(h, out=h)
            meters[rows] = h
            h /= meters_per_second
            np.rint(h, out=h)
            seconds[rows] = h
        return TravelMatrix(seconds, meters)


def plan_violations(problem: PlanningProblem, result: PlanResult) -> list[str]:
    """What a plan breaks, in words (none for a valid plan): every queued pickup exactly once, in a trip
    or unplanned; one route per trip; capacities; shifts, busy times and `not_before`; one trip at a time
    per rider and per vehicle."""
    problems: list[str] = []
    placed: dict[str, int] = {}
    for pur_id in [s.pur_id for t in result.trips for s in t.stops] + [u.pur_id for u in result.unplanned]:
        placed[pur_id] = placed.get(pur_id, 0) + 1
    stops = {s.pur_id: s for s in problem.stops}
    problems += [f"{p} placed {n} times" for p, n in placed.items() if n != 1]
    problems += [f"{p} is not a queued pickup" for p in placed if p not in stops]
    problems += [f"{p} missing" for p in stops if p not in placed]
    vehicles = {v.id: v for v in problem.vehicles}
    riders = {r.id: r for r in problem.riders}
    spans: dict[str, list[tuple[datetime, datetime]]] = {}
    for n, trip in enumerate(result.trips):
        name = f"trip {n} ({trip.route_id}, {trip.rider_id}, {trip.vehicle_id})"
        vehicle, rider = vehicles.get(trip.vehicle_id), riders.get(trip.rider_id)
        if vehicle is None or rider is None:
            problems.append(f"{name}: unknown rider or vehicle")
            continue
        mine = [stops[s.pur_id] for s in trip.stops if s.pur_id in stops]
        if any(s.route_id != trip.route_id for s in mine):
            problems.append(f"{name}: stops of another route")
        packages, weight = sum(s.packages for s in mine), sum(s.weight_kg for s in mine)
        if packages > vehicle.capacity_packages or weight > vehicle.capacity_kg + 1e-6:
            problems.append(f"{name}: {packages} packages / {weight:.2f} kg over the vehicle's capacity")
        shift = problem.shift_of(rider)
        earliest = max(t for t in (shift.start, rider.busy_until, vehicle.busy_until, problem.not_before) if t)
        if not (earliest <= trip.start < trip.end <= shift.end):
            problems.append(f"{name}: {trip.start}-{trip.end} outside the rider's time {earliest}-{shift.end}")
        if any(not trip.start <= s.eta <= trip.end for s in trip.stops):
            problems.append(f"{name}: an ETA outside the trip")
        spans.setdefault(f"rider {rider.id}", []).append((trip.start, trip.end))
        spans.setdefault(f"vehicle {vehicle.id}", []).append((trip.start, trip.end))
    for owner, windows in spans.items():
        windows.sort()
        if any(a_end > b_start for (_, a_end), (b_start, _) in zip(windows, windows[1:], strict=False)):
            problems.append(f"{owner}: overlapping trips")
    return problems
