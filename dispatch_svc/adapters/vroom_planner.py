"""The TripPlanner port implemented with VROOM (pyvroom).

VROOM has no multi-trip vehicles (a route ends at the depot once), so a day is planned in rounds
(docs/dispatch.md, "Planning a day"): each round gives every picked rider at most one trip, on one
route, with one vehicle; the rider and the vehicle are then free again when that trip is back at the
depot, and the next round plans what is left. Each round solves one small VROOM problem per route
(one route per trip), whose vehicles are the (rider, vehicle) pairs picked for that route with the
time window [both free, end of the rider's shift].

The per-route solve is a `RouteSolver` (`RouteProblem` in, `RouteTrip`s out): `solve_with_vroom`
here; bench/bench_solvers.py plugs PyVRP and OR-Tools into the same rounds to compare them.

Units given to VROOM: seconds from the local midnight of the day, meters, and amounts
[packages, weight in 10-gram units] (pickup weights rounded up, capacities rounded down, so a plan
never exceeds a capacity in kilograms).
"""

from __future__ import annotations

import math
import time as clock
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

import numpy as np
import vroom

from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import (
    PlannedStopEta,
    PlanningProblem,
    PlanningProgress,
    PlanningRider,
    PlanningStop,
    PlanningVehicle,
    PlanResult,
    Point,
    ProgressCallback,
    ProposedTrip,
    TravelModel,
    Unplanned,
    UnplannedReason,
)
from dispatch_svc.service_layer.planner import TripPlanner

WEIGHT_UNITS_PER_KG = 100
# Fixed cost of using one more trip, in the solver's cost unit (seconds): fewer, fuller trips.
TRIP_FIXED_COST = 1800
MAX_ROUNDS = 100
# Timeout of a solve once the hub's time budget is spent: construction heuristics only.
LATE_SOLVE_TIMEOUT = timedelta(milliseconds=20)
# The last part of the budget kept for the rounds still to come.
RESERVE_SHARE = 0.3
SOLVER_SHARE = 0.8
# A vehicle counts as ready for a rider if free at most this long (seconds) after the rider.
READY_SLACK = 30 * 60


def weight_units(weight_kg: float) -> int:
    return math.ceil(weight_kg * WEIGHT_UNITS_PER_KG - 1e-6)


def capacity_units(capacity_kg: float) -> int:
    return math.floor(capacity_kg * WEIGHT_UNITS_PER_KG + 1e-6)


def fits(stop: PlanningStop, vehicle: PlanningVehicle) -> bool:
    return stop.packages <= vehicle.capacity_packages and weight_units(stop.weight_kg) <= capacity_units(
        vehicle.capacity_kg
    )


@dataclass
class _RiderState:
    rider: PlanningRider
    free_at: int
    shift_end: int
    trips: int = 0


@dataclass
class _VehicleState:
    vehicle: PlanningVehicle
    free_at: int


@dataclass
class _RouteState:
    route_id: str
    depot: Point
    stops: list[PlanningStop]
    # Seconds from the depot to each stop and back, per vehicle type (the stops' order). A route's
    # full matrices are built only for its solve, over the stops still queued, and dropped after:
    # one route's matrices alive at a time, not every route's for the whole plan.
    round_trips: dict[VehicleType, dict[str, int]] = field(default_factory=dict)

    def remaining_packages(self) -> int:
        return sum(s.packages for s in self.stops)

    def remaining_units(self) -> int:
        return sum(weight_units(s.weight_kg) for s in self.stops)


@dataclass(frozen=True)
class _Pick:
    rider: _RiderState
    vehicle: _VehicleState
    own: bool


@dataclass(frozen=True)
class RouteVehicle:
    """One (rider, vehicle) pair of a round: the vehicle's type (its matrices), its capacity
    [packages, weight units] and the window [both free, end of the rider's shift] in seconds."""

    profile: VehicleType
    capacity: tuple[int, int]
    window: tuple[int, int]


@dataclass(frozen=True)
class RouteJob:
    location: int  # row of the matrices (0 is the depot)
    service: int  # seconds at the stop
    amount: tuple[int, int]  # [packages, weight units]


@dataclass(frozen=True)
class RouteProblem:
    """One route's solve in a round: a capacitated VRP with time windows and optional jobs (a job
    may stay unassigned), every vehicle leaving and returning to the depot (row 0)."""

    points: Sequence[Point]  # the matrices' points (depot first)
    matrices: Mapping[VehicleType, tuple[np.ndarray, np.ndarray]]  # seconds, meters
    vehicles: Sequence[RouteVehicle]
    jobs: Sequence[RouteJob]
    fixed_cost: int  # cost of using a vehicle, in seconds of travel
    exploration_level: int
    timeout: timedelta


@dataclass(frozen=True)
class RouteTrip:
    """A vehicle's trip in a solution: its jobs (number, arrival) in visiting order, leaving the
    depot at `start` and back at `end`."""

    vehicle: int
    jobs: Sequence[tuple[int, int]]
    start: int
    end: int


# Solves one route's problem: VROOM in the service; bench/bench_solvers.py plugs in others.
RouteSolver = Callable[[RouteProblem], list[RouteTrip]]


def solve_with_vroom(problem: RouteProblem, nb_threads: int = 1) -> list[RouteTrip]:
    vrp = vroom.Input()
    for vehicle_type, (seconds, meters) in problem.matrices.items():
        vrp.set_durations_matrix(vehicle_type.value, seconds)
        vrp.set_distances_matrix(vehicle_type.value, meters)
    for number, v in enumerate(problem.vehicles):
        vrp.add_vehicle(
            vroom.Vehicle(
                number,
                start=0,
                end=0,
                profile=v.profile.value,
                capacity=list(v.capacity),
                time_window=v.window,
                costs=vroom.VehicleCosts(fixed=problem.fixed_cost),
            )
        )
    vrp.add_job(
        [
            vroom.Job(number, location=job.location, default_service=job.service, pickup=vroom.Amount(list(job.amount)))
            for number, job in enumerate(problem.jobs)
        ]
    )
    solution = vrp.solve(exploration_level=problem.exploration_level, nb_threads=nb_threads, timeout=problem.timeout)
    # The steps' structured array behind pyvroom's `routes` (pinned 1.15.2): building that pandas
    # frame took longer than solving a route.
    rows = np.asarray(solution._routes_numpy())
    steps: dict[int, list[tuple[int, int | None]]] = defaultdict(list)
    for vehicle_number, kind, arrival, job in zip(
        rows["vehicle_id"].tolist(),
        rows["type"].tolist(),
        rows["arrival"].tolist(),
        rows["id"].tolist(),
        strict=True,
    ):
        steps[vehicle_number].append((arrival, job if kind == b"job" else None))
    return [
        RouteTrip(
            vehicle=number,
            jobs=[(job, arrival) for arrival, job in route_steps if job is not None],
            start=route_steps[0][0],
            end=route_steps[-1][0],
        )
        for number, route_steps in steps.items()
    ]


class VroomPlanner(TripPlanner):
    def __init__(self, travel: TravelModel, *, nb_threads: int = 1, route_solver: RouteSolver | None = None) -> None:
        self.travel = travel
        self.route_solver = route_solver or partial(solve_with_vroom, nb_threads=nb_threads)

    def plan(self, problem: PlanningProblem, progress: ProgressCallback | None = None) -> PlanResult:
        started = clock.monotonic()
        return _Planning(problem, self.travel, self.route_solver, started, progress).run()


class _Planning:
    """One plan() call: the state of riders, vehicles and routes across rounds."""

    def __init__(
        self,
        problem: PlanningProblem,
        travel: TravelModel,
        route_solver: RouteSolver,
        started: float,
        progress: ProgressCallback | None = None,
    ) -> None:
        self.problem = problem
        self.route_solver = route_solver
        self.progress = progress
        self.rounds = 0
        self.placed = 0
        self.travel = travel
        self.started = started
        # the solver's share of the budget; building problems and reading solutions take the rest
        self.deadline = started + SOLVER_SHARE * problem.settings.max_solve_seconds
        self.zero = problem.day_start
        floor = self._seconds(problem.not_before) if problem.not_before else 0
        self.riders: list[_RiderState] = []
        for rider in problem.riders:
            shift = problem.shift_of(rider)
            free_at = max(floor, self._seconds(shift.start), self._seconds(rider.busy_until) if rider.busy_until else 0)
            self.riders.append(_RiderState(rider, free_at, self._seconds(shift.end)))
        self.vehicles = [
            _VehicleState(v, max(floor, self._seconds(v.busy_until) if v.busy_until else 0)) for v in problem.vehicles
        ]
        self.trips: list[ProposedTrip] = []
        self.unplanned: list[Unplanned] = []
        # one vehicle per distinct (type, capacity): what fits where is asked often
        distinct = {(v.type, v.capacity_packages, capacity_units(v.capacity_kg)): v for v in problem.vehicles}
        self.capacities = list(distinct.values())
        self._carries: dict[tuple[str, int, int], bool] = {}

    def _seconds(self, moment: datetime) -> int:
        return max(0, int((moment - self.zero).total_seconds()))

    def _at(self, seconds: int) -> datetime:
        return self.zero + timedelta(seconds=seconds)

    def service_seconds(self, stop: PlanningStop) -> int:
        s = self.problem.settings
        return s.service_seconds_per_stop + s.service_seconds_per_package * stop.packages

    # -- the rounds -------------------------------------------------------------------------------

    def run(self) -> PlanResult:
        routes = self._routes()
        for _ in range(MAX_ROUNDS):
            active = [r for r in routes if r.stops]
            if not active or not self._round(active):
                break
        for route in routes:
            for stop in route.stops:
                self.unplanned.append(self._leftover(stop))
        self._report(len(routes), len(routes), done=True)
        trips = sorted(self.trips, key=lambda t: (t.route_id, t.start, t.rider_id))
        unplanned = sorted(self.unplanned, key=lambda u: u.pur_id)
        return PlanResult(tuple(trips), tuple(unplanned), solve_seconds=clock.monotonic() - self.started)

    def _routes(self) -> list[_RouteState]:
        by_route: dict[str, list[PlanningStop]] = defaultdict(list)
        for stop in self.problem.stops:
            if not any(fits(stop, v) for v in self.capacities):
                self.unplanned.append(
                    Unplanned(
                        stop.pur_id, UnplannedReason.LARGER_THAN_ANY_VEHICLE, _load_text(stop.packages, stop.weight_kg)
                    )
                )
            else:
                by_route[stop.route_id].append(stop)
        routes = []
        types = {v.type for v in self.problem.vehicles}
        for route_id in sorted(by_route):
            stops = sorted(by_route[route_id], key=lambda s: (s.arrived_at, s.pur_id))
            route = _RouteState(route_id, self.problem.depot, stops)
            route.round_trips = {t: self._depot_legs(stops, t) for t in types}
            route.stops = [s for s in stops if self._within_some_shift(route, s)]
            routes.append(route)
        return routes

    def _depot_legs(self, stops: Sequence[PlanningStop], vehicle_type: VehicleType) -> dict[str, int]:
        """Seconds from the depot to each stop plus back: two 1 x n tables, not an n x n matrix."""
        depot, points = [self.problem.depot], [s.location for s in stops]
        out = self.travel.table(depot, points, vehicle_type).seconds[0].astype(np.int64)
        back = self.travel.table(points, depot, vehicle_type).seconds[:, 0].astype(np.int64)
        return {stop.pur_id: int(total) for stop, total in zip(stops, (out + back).tolist(), strict=True)}

    def _round_trip(self, route: _RouteState, stop: PlanningStop, vehicle_type: VehicleType) -> int:
        return route.round_trips[vehicle_type][stop.pur_id] + self.service_seconds(stop)

    def _within_some_shift(self, route: _RouteState, stop: PlanningStop) -> bool:
        """False (and unplanned) if no rider's shift is long enough to fetch it with any vehicle that carries it."""
        if not self.riders:
            return True  # unplanned later: no rider left
        types = {v.type for v in self.capacities if fits(stop, v)}
        shortest = min(self._round_trip(route, stop, t) for t in types)
        if any(r.shift_end - r.free_at >= shortest for r in self.riders):
            return True
        self.unplanned.append(
            Unplanned(
                stop.pur_id,
                UnplannedReason.OUTSIDE_EVERY_SHIFT,
                f"the round trip takes {shortest // 60} min, longer than what is left of any shift",
            )
        )
        return False

    def _leftover(self, stop: PlanningStop) -> Unplanned:
        if not self.riders or not self.vehicles:
            detail = "no rider present" if not self.riders else "no vehicle available"
        else:
            detail = "every rider or vehicle that could take it is busy until the end of the shifts"
        return Unplanned(stop.pur_id, UnplannedReason.NO_RIDER_OR_VEHICLE_LEFT, detail)

    def _round(self, routes: list[_RouteState]) -> bool:
        picks = self._pick(routes)
        progress = False
        picked = [route for route in routes if picks.get(route.route_id)]
        self.rounds += 1
        for n, route in enumerate(picked):
            progress |= self._solve(route, picks[route.route_id], pending=len(picked) - n)
            self._report(n + 1, len(picked))
        return progress

    def _report(self, solved: int, routes: int, *, done: bool = False) -> None:
        if self.progress is not None:
            self.progress(
                PlanningProgress(
                    round=max(1, self.rounds),
                    routes_solved=solved,
                    routes_in_round=routes,
                    placed=self.placed,
                    stops=len(self.problem.stops),
                    trips=len(self.trips),
                    done=done,
                )
            )

    # -- who drives what --------------------------------------------------------------------------

    def _pick(self, routes: list[_RouteState]) -> dict[str, list[_Pick]]:
        """Pairs of (rider, vehicle) for each route this round: the route's own riders first."""
        picks: dict[str, list[_Pick]] = defaultdict(list)
        taken_riders: set[str] = set()
        taken_vehicles: set[str] = set()
        need = {r.route_id: [r.remaining_packages(), r.remaining_units()] for r in routes}
        by_id = {r.route_id: r for r in routes}

        def take(route: _RouteState, rider: _RiderState, own: bool) -> None:
            vehicle = self._vehicle_for(route, rider, need[route.route_id], taken_vehicles)
            if vehicle is None:
                return
            taken_riders.add(rider.rider.id)
            taken_vehicles.add(vehicle.vehicle.id)
            picks[route.route_id].append(_Pick(rider, vehicle, own))
            left = need[route.route_id]
            left[0] -= vehicle.vehicle.capacity_packages
            left[1] -= capacity_units(vehicle.vehicle.capacity_kg)

        def uncovered(route_id: str) -> bool:
            return need[route_id][0] > 0 or need[route_id][1] > 0

        own_pairs = [
            (
                rider.trips,
                not rider.rider.preference(route.route_id)[0],
                -rider.rider.preference(route.route_id)[1],
                -route.remaining_packages(),
                route.route_id,
                rider.rider.id,
                rider,
                route,
            )
            for route in routes
            for rider in self.riders
            if rider.rider.knows(route.route_id) and rider.shift_end > rider.free_at
        ]
        for *_, rider, route in sorted(own_pairs, key=lambda p: p[:6]):
            if rider.rider.id not in taken_riders and uncovered(route.route_id):
                take(route, rider, own=True)
        for route in sorted(routes, key=lambda r: (-r.remaining_packages(), r.route_id)):
            if not uncovered(route.route_id) or self._own_riders_suffice(by_id[route.route_id]):
                continue
            others = sorted(
                (
                    r
                    for r in self.riders
                    if r.rider.id not in taken_riders and r.shift_end > r.free_at and not r.rider.knows(route.route_id)
                ),
                key=lambda r: (r.trips, r.free_at, r.rider.id),
            )
            for rider in others:
                if not uncovered(route.route_id):
                    break
                take(route, rider, own=False)
        return picks

    def _vehicle_for(
        self, route: _RouteState, rider: _RiderState, need: list[int], taken: set[str]
    ) -> _VehicleState | None:
        """Among the vehicles ready when the rider is (or, if none, the first to be free), the smallest
        that carries the rest of the route's load, else the largest one."""
        usable = [
            v
            for v in self.vehicles
            if v.vehicle.id not in taken
            and max(v.free_at, rider.free_at) < rider.shift_end
            and self._carries_some(route, v.vehicle)
        ]
        if not usable:
            return None
        # A small vehicle free now beats a bigger one free hours later: waiting for it left far
        # routes' second trips no time in the shift (docs/dispatch.md, "Which vehicle").
        ready_by = max(rider.free_at, min(v.free_at for v in usable)) + READY_SLACK
        usable = [v for v in usable if v.free_at <= ready_by]
        covering = [
            v
            for v in usable
            if v.vehicle.capacity_packages >= need[0] and capacity_units(v.vehicle.capacity_kg) >= need[1]
        ]
        if covering:
            return min(
                covering, key=lambda v: (v.vehicle.capacity_packages, v.vehicle.capacity_kg, v.free_at, v.vehicle.id)
            )
        return max(usable, key=lambda v: (v.vehicle.capacity_packages, v.vehicle.capacity_kg, -v.free_at, v.vehicle.id))

    def _carries_some(self, route: _RouteState, vehicle: PlanningVehicle) -> bool:
        key = (route.route_id, vehicle.capacity_packages, capacity_units(vehicle.capacity_kg))
        if key not in self._carries or not self._carries[key]:
            self._carries[key] = any(fits(s, vehicle) for s in route.stops)
        return self._carries[key]

    def _own_riders_suffice(self, route: _RouteState) -> bool:
        """Whether the route's own riders could carry its load in the trips their shifts leave room for,
        each with a vehicle of the fleet's median size (an estimate: the farthest stop and back, plus
        the service of one load, per trip)."""
        own = [r for r in self.riders if r.rider.knows(route.route_id) and r.shift_end > r.free_at]
        if not own or not self.vehicles:
            return False
        by_size = sorted(self.vehicles, key=lambda v: (v.vehicle.capacity_packages, v.vehicle.capacity_kg))
        typical = by_size[len(by_size) // 2].vehicle
        packages, units = route.remaining_packages(), route.remaining_units()
        loads = max(packages / typical.capacity_packages, units / max(1, capacity_units(typical.capacity_kg)), 1.0)
        service = sum(self.service_seconds(s) for s in route.stops) / loads
        trip = max(self._round_trip(route, s, typical.type) for s in route.stops) + service
        trips = sum((r.shift_end - r.free_at) // max(1, int(trip)) for r in own)
        return trips >= math.ceil(loads)

    # -- one route's solve ------------------------------------------------------------------------

    def _level_and_timeout(self, pending: int) -> tuple[int, timedelta]:
        """A share of the budget left for each of the `pending` solves of this round (the rest is kept
        for the rounds to come); past the budget, construction only."""
        left = self.deadline - clock.monotonic()
        if left <= 0:
            return 0, LATE_SOLVE_TIMEOUT
        share = left * (1 - RESERVE_SHARE) / max(1, pending)
        return self.problem.settings.exploration_level, max(LATE_SOLVE_TIMEOUT, timedelta(seconds=share))

    def _solve(self, route: _RouteState, picks: list[_Pick], pending: int) -> bool:
        jobs = list(route.stops)
        # rows of the matrices: the depot (0), then the stops still queued (i + 1); only the picked
        # vehicles' types, alive for this solve only
        points = [route.depot, *(stop.location for stop in jobs)]
        matrices = {
            t: self.travel.matrix(points, t)
            for t in sorted({p.vehicle.vehicle.type for p in picks}, key=lambda t: t.value)
        }
        level, timeout = self._level_and_timeout(pending)
        problem = RouteProblem(
            points=points,
            matrices={t: (m.seconds, m.meters) for t, m in matrices.items()},
            vehicles=[
                RouteVehicle(
                    profile=pick.vehicle.vehicle.type,
                    capacity=(pick.vehicle.vehicle.capacity_packages, capacity_units(pick.vehicle.vehicle.capacity_kg)),
                    window=(max(pick.rider.free_at, pick.vehicle.free_at), pick.rider.shift_end),
                )
                for pick in picks
            ],
            jobs=[
                RouteJob(
                    location=number + 1,
                    service=self.service_seconds(stop),
                    amount=(stop.packages, weight_units(stop.weight_kg)),
                )
                for number, stop in enumerate(jobs)
            ],
            fixed_cost=TRIP_FIXED_COST,
            exploration_level=level,
            timeout=timeout,
        )
        planned: set[str] = set()
        for found in self.route_solver(problem):
            if not found.jobs:
                continue
            pick = picks[found.vehicle]
            visits = [(number, arrival) for number, arrival in found.jobs]
            meters = matrices[pick.vehicle.vehicle.type].meters
            self.trips.append(self._trip(route, pick, jobs, meters, visits, found.start, found.end))
            planned.update(jobs[number].pur_id for number, _ in visits)
            pick.rider.free_at = found.end
            pick.rider.trips += 1
            pick.vehicle.free_at = found.end
        route.stops = [s for s in route.stops if s.pur_id not in planned]
        self.placed += len(planned)
        return bool(planned)

    def _trip(
        self,
        route: _RouteState,
        pick: _Pick,
        queued: Sequence[PlanningStop],
        meters: np.ndarray,
        visits: Sequence[tuple[int, int]],
        start: int,
        end: int,
    ) -> ProposedTrip:
        """The trip visiting `queued[number]` for each (number, arrival) of `visits`, in that order;
        `meters`' rows are the depot then `queued`."""
        vehicle = pick.vehicle.vehicle
        jobs = [(queued[number], arrival) for number, arrival in visits]
        stops = [stop for stop, _ in jobs]
        distance = _distance(meters, [number + 1 for number, _ in visits])
        in_arrival_order = sorted(visits, key=lambda v: (queued[v[0]].arrived_at, queued[v[0]].pur_id))
        arrival_order = _distance(meters, [number + 1 for number, _ in in_arrival_order])
        packages = sum(s.packages for s in stops)
        weight = sum(s.weight_kg for s in stops)
        return ProposedTrip(
            route_id=route.route_id,
            rider_id=pick.rider.rider.id,
            vehicle_id=vehicle.id,
            stops=tuple(PlannedStopEta(stop.pur_id, self._at(arrival)) for stop, arrival in jobs),
            distance_m=distance,
            start=self._at(start),
            end=self._at(end),
            total_packages=packages,
            total_weight_kg=weight,
            reasons=(
                _rider_reason(route.route_id, pick),
                _vehicle_reason(vehicle, packages, weight),
                _distance_reason(distance, arrival_order),
            ),
            arrival_order_distance_m=arrival_order,
        )


def _distance(meters: np.ndarray, rows: Sequence[int]) -> float:
    """Meters from the depot (row 0) through `rows` and back."""
    path = np.array([0, *rows, 0])
    return float(meters[path[:-1], path[1:]].astype(np.int64).sum())


def _load_text(packages: int, weight_kg: float) -> str:
    return f"{packages} packages / {weight_kg:.1f} kg"


def _rider_reason(route_id: str, pick: _Pick) -> str:
    rider = pick.rider.rider
    trip_number = pick.rider.trips + 1
    if route_id in rider.default_routes:
        why = f"default rider of route {route_id}"
    elif rider.route_history.get(route_id, 0) > 0:
        why = f"drove {rider.route_history[route_id]} earlier trips on route {route_id}"
    else:
        why = f"route {route_id}'s own riders cannot carry its load in their shifts"
    return f"rider {rider.id}: {why}; trip {trip_number} of the day"


def _vehicle_reason(vehicle: PlanningVehicle, packages: int, weight_kg: float) -> str:
    fill = max(packages / vehicle.capacity_packages, weight_kg / vehicle.capacity_kg)
    return (
        f"vehicle {vehicle.id} ({vehicle.type.value}, {_load_text(vehicle.capacity_packages, vehicle.capacity_kg)}) "
        f"carries the {_load_text(packages, weight_kg)}, {fill:.0%} full"
    )


def _distance_reason(distance_m: float, arrival_order_m: float) -> str:
    if arrival_order_m <= 0 or distance_m >= arrival_order_m:
        return f"{distance_m / 1000:.1f} km, as long as visiting the stops in arrival order"
    saved = 1 - distance_m / arrival_order_m
    return f"{distance_m / 1000:.1f} km, {saved:.0%} shorter than in arrival order ({arrival_order_m / 1000:.1f} km)"
