"""The dispatch planner in process: the demo day and a synthetic hub, against two simple baselines.

    .cache/venv/bin/python -m bench.bench_planning [--demo-purs 3000] [--demo-light-purs 1200]
        [--synthetic-purs 5000] [--no-reference]

Methods, all on the same problem and the same travel model (great circle x circuity, speed per type):
- arrival-order first fit: per route, a trip takes the queue in arrival order, each pickup that
  still fits the vehicle and the rider's shift, and visits them in that order;
- nearest neighbour: per route, a trip goes each time to the nearest pickup that still fits;
- planner: VroomPlanner with the service's defaults (exploration level 3, 5 s budget per hub);
- reference: VroomPlanner at exploration level 5 with no time limit.
`planner peak memory` is the planner's peak under tracemalloc (a second, untimed run).
Both baselines pick riders and vehicles like the planner (the route's own riders first, then others;
the earliest free vehicle, the largest first) so the comparison is about the trips, not the fleet.
The demo day has more pickups than its riders can fetch, so each method plans a different share of
it and its total km are not comparable: `vs first fit` compares metres per planned pickup, and the
light demo day (fewer pickups, every method fetches nearly all) compares totals on the same work.
`stem` is the share of the km driven between the depot and a trip's first and last stop, which no
visiting order shortens.
Needs no service: nothing but this process.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import random
import resource
import time
import tracemalloc
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dispatch_svc.adapters.vroom_planner import VroomPlanner
from dispatch_svc.config import Settings
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import (
    GreatCircleTravelModel,
    PlannedStopEta,
    PlanningProblem,
    PlanningRider,
    PlanningStop,
    PlanningVehicle,
    PlanResult,
    Point,
    ProposedTrip,
    ShiftWindow,
    Unplanned,
    UnplannedReason,
    plan_violations,
)

DAY = date(2030, 1, 7)
DEMO_MAP = Path(__file__).resolve().parent.parent / "demo" / "data" / "demo_hub.geojson"


# -- problems --------------------------------------------------------------------------------------


def demo_day(purs: int) -> PlanningProblem:
    """The demo's hub, riders, vehicles and a day of `purs` pickups (routed by the map's polygons)."""
    import shapely
    from shapely.geometry import Point as ShapelyPoint
    from shapely.geometry import shape

    from demo import fleet, workload
    from firstmile.dispatch.v1 import dispatch_pb2

    collection = json.loads(DEMO_MAP.read_text())
    hub = collection["hub"]
    routes = [
        (f["properties"]["id"], shape(f["geometry"]), f["properties"].get("default_rider_id"))
        for f in collection["features"]
    ]
    tree = shapely.STRtree([geometry for _, geometry, _ in routes])
    stops = []
    start = datetime(DAY.year, DAY.month, DAY.day, 1, 0, tzinfo=UTC)
    for n, pickup in enumerate(workload.plan_day(collection, purs, seed=1, run_id="bench")):
        hits = tree.query(ShapelyPoint(pickup.lng, pickup.lat), predicate="within")
        if len(hits) == 0:
            continue  # unroutable: never queued
        route_id = routes[int(min(hits))][0]
        location = Point(pickup.lat, pickup.lng)
        arrived = start + timedelta(seconds=5 * n)
        stops.append(
            PlanningStop(
                pickup.request_id, route_id, location, pickup.expected_packages, pickup.expected_weight_kg, arrived
            )
        )
    defaults: dict[str, set[str]] = defaultdict(set)
    for route_id, _, rider_id in routes:
        if rider_id:
            defaults[rider_id].add(route_id)
    present = fleet.present_ids(fleet.attendance(hub["id"], [r.id for r in fleet.riders(hub["id"])], DAY))
    riders = [
        PlanningRider(r.id, default_routes=frozenset(defaults.get(r.id, ())))
        for r in fleet.riders(hub["id"])
        if r.id in present
    ]
    types: dict[int, VehicleType] = {
        dispatch_pb2.VEHICLE_TYPE_BIKE: VehicleType.BIKE,
        dispatch_pb2.VEHICLE_TYPE_THREE_WHEELER: VehicleType.THREE_WHEELER,
        dispatch_pb2.VEHICLE_TYPE_VAN: VehicleType.VAN,
        dispatch_pb2.VEHICLE_TYPE_TRUCK: VehicleType.TRUCK,
    }
    vehicles = [
        PlanningVehicle(v.id, types[v.type], v.capacity_packages, v.capacity_kg) for v in fleet.vehicles(hub["id"])
    ]
    lng, lat = hub["location"]
    return PlanningProblem(hub["id"], Point(lat, lng), hub["timezone"], DAY, stops, riders, vehicles)


def synthetic_hub(purs: int, routes: int = 100, riders: int = 150, seed: int = 7) -> PlanningProblem:
    """A 30 km x 30 km hub cut into a grid of routes around a central depot; 2 of 3 riders are some
    route's default rider, the others have a history on a few routes; a mixed fleet; staggered shifts."""
    rng = random.Random(seed)
    depot = Point(12.97, 77.59)
    side = math.isqrt(routes)
    cell_km = 30.0 / side
    stops = []
    start = datetime(DAY.year, DAY.month, DAY.day, 0, 30, tzinfo=UTC)
    for n in range(purs):
        r = rng.randrange(routes)
        row, col = divmod(r % (side * side), side)
        north = (row + rng.random()) * cell_km - 15.0
        east = (col + rng.random()) * cell_km - 15.0
        location = Point(depot.lat + north / 111.195, depot.lng + east / 108.5)
        packages = min(30, int(rng.expovariate(1 / 3)) + 1)
        weight = round(packages * rng.uniform(0.3, 2.5), 2)
        stops.append(
            PlanningStop(f"pur-{n:05d}", f"route-{r:03d}", location, packages, weight, start + timedelta(seconds=3 * n))
        )
    route_ids = [f"route-{r:03d}" for r in range(routes)]
    rider_list = []
    for n in range(riders):
        default = frozenset({route_ids[n]}) if n < routes else frozenset()
        history = {rng.choice(route_ids): rng.randint(1, 5) for _ in range(3)}
        hour = rng.choice((7, 8, 8, 9, 10))
        shift = ShiftWindow(
            datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=UTC) - timedelta(hours=5, minutes=30),
            datetime(DAY.year, DAY.month, DAY.day, hour + 9, tzinfo=UTC) - timedelta(hours=5, minutes=30),
        )
        rider_list.append(PlanningRider(f"rider-{n:03d}", history, default, shift))
    fleet = [
        ("BK", VehicleType.BIKE, 100, 40, 60.0),
        ("3W", VehicleType.THREE_WHEELER, 35, 200, 500.0),
        ("VAN", VehicleType.VAN, 15, 700, 1200.0),
    ]
    vehicles = [
        PlanningVehicle(f"{prefix}-{n:03d}", kind, packages, kg)
        for prefix, kind, count, packages, kg in fleet
        for n in range(count)
    ]
    return PlanningProblem("bench-hub", depot, "Asia/Kolkata", DAY, stops, rider_list, vehicles)


# -- baselines -------------------------------------------------------------------------------------


@dataclass
class _Clock:
    free_at: datetime
    until: datetime
    trips: int = 0


Chooser = Callable[[Point, list[PlanningStop]], PlanningStop]


def greedy(problem: PlanningProblem, travel: GreatCircleTravelModel, choose: Chooser) -> PlanResult:
    """Trips built one at a time per route, each pickup chosen by `choose` among those that still fit."""
    started = time.monotonic()
    s = problem.settings
    floor = problem.not_before or problem.default_shift().start.replace(hour=0, minute=0)
    riders = {r.id: _Clock(max(problem.shift_of(r).start, floor), problem.shift_of(r).end) for r in problem.riders}
    vehicles = {v.id: _Clock(floor, datetime.max.replace(tzinfo=UTC)) for v in problem.vehicles}
    fleet = {v.id: v for v in problem.vehicles}
    by_route: dict[str, list[PlanningStop]] = defaultdict(list)
    unplanned: list[Unplanned] = []
    for stop in sorted(problem.stops, key=lambda x: (x.arrived_at, x.pur_id)):
        by_route[stop.route_id].append(stop)
    trips: list[ProposedTrip] = []

    def service(stop: PlanningStop) -> timedelta:
        return timedelta(seconds=s.service_seconds_per_stop + s.service_seconds_per_package * stop.packages)

    def leg(a: Point, b: Point, kind: VehicleType) -> tuple[float, timedelta]:
        meters = round(travel.meters(a, b))
        return meters, timedelta(seconds=round(travel.seconds(meters, kind)))

    for route_id in sorted(by_route):
        queue = by_route[route_id]
        own = [r for r in problem.riders if r.knows(route_id)]
        others = [r for r in problem.riders if not r.knows(route_id)]
        while queue:
            candidates = [r for r in own + others if riders[r.id].free_at < riders[r.id].until]
            candidates.sort(key=lambda r: (not r.knows(route_id), riders[r.id].trips, riders[r.id].free_at))
            trip = None
            for rider in candidates:
                vehicle = min(fleet.values(), key=lambda v: (vehicles[v.id].free_at, -v.capacity_packages, v.id))
                clock_ = riders[rider.id]
                now = max(clock_.free_at, vehicles[vehicle.id].free_at)
                here, load, kg, meters = problem.depot, 0, 0.0, 0.0
                visits: list[tuple[PlanningStop, datetime]] = []
                begin = now
                left = list(queue)
                while True:
                    fitting = []
                    for stop in left:
                        if (
                            load + stop.packages > vehicle.capacity_packages
                            or kg + stop.weight_kg > vehicle.capacity_kg
                        ):
                            continue
                        _, there = leg(here, stop.location, vehicle.type)
                        _, back = leg(stop.location, problem.depot, vehicle.type)
                        if now + there + service(stop) + back <= clock_.until:
                            fitting.append(stop)
                    if not fitting:
                        break
                    stop = choose(here, fitting)
                    m, there = leg(here, stop.location, vehicle.type)
                    now += there
                    visits.append((stop, now))
                    now += service(stop)
                    meters += m
                    load, kg, here = load + stop.packages, kg + stop.weight_kg, stop.location
                    left.remove(stop)
                if visits:
                    m, back = leg(here, problem.depot, vehicle.type)
                    now += back
                    meters += m
                    trip = ProposedTrip(
                        route_id,
                        rider.id,
                        vehicle.id,
                        tuple(PlannedStopEta(x.pur_id, t) for x, t in visits),
                        meters,
                        begin,
                        now,
                        load,
                        kg,
                    )
                    clock_.free_at = vehicles[vehicle.id].free_at = now
                    clock_.trips += 1
                    queue[:] = left
                    break
            if trip is None:
                unplanned += [Unplanned(x.pur_id, UnplannedReason.NO_RIDER_OR_VEHICLE_LEFT) for x in queue]
                break
            trips.append(trip)
    return PlanResult(tuple(trips), tuple(unplanned), time.monotonic() - started)


def first_in_arrival_order(_: Point, fitting: list[PlanningStop]) -> PlanningStop:
    return fitting[0]


def nearest(travel: GreatCircleTravelModel) -> Chooser:
    return lambda here, fitting: min(fitting, key=lambda stop: travel.meters(here, stop.location))


# -- figures ---------------------------------------------------------------------------------------


def stem_m(problem: PlanningProblem, travel: GreatCircleTravelModel, result: PlanResult) -> float:
    """Metres driven from the depot to each trip's first stop and from its last stop back."""
    where = {s.pur_id: s.location for s in problem.stops}
    return sum(
        travel.meters(problem.depot, where[t.stops[0].pur_id]) + travel.meters(where[t.stops[-1].pur_id], problem.depot)
        for t in result.trips
        if t.stops
    )


def per_pickup_m(problem: PlanningProblem, result: PlanResult) -> float:
    planned = len(problem.stops) - len(result.unplanned)
    return result.total_distance_m / planned if planned else 0.0


def figures(
    name: str,
    problem: PlanningProblem,
    result: PlanResult,
    travel: GreatCircleTravelModel,
    first_fit: PlanResult | None = None,
) -> str:
    capacity = {v.id: v for v in problem.vehicles}
    fills = [
        max(
            t.total_packages / capacity[t.vehicle_id].capacity_packages,
            t.total_weight_kg / capacity[t.vehicle_id].capacity_kg,
        )
        for t in result.trips
    ]
    fill = sum(fills) / len(fills) if fills else 0.0
    violations = plan_violations(problem, result)
    per_pur = per_pickup_m(problem, result)
    baseline = per_pickup_m(problem, first_fit) if first_fit is not None else 0.0
    versus = f"{1 - per_pur / baseline:>12.1%}" if baseline else f"{'-':>12}"
    stem = stem_m(problem, travel, result) / result.total_distance_m if result.total_distance_m else 0.0
    return (
        f"{name:<30} {result.total_distance_m / 1000:>10,.1f} {per_pur:>9,.0f} {versus} {stem:>5.0%} "
        f"{len(result.trips):>6} {len({t.rider_id for t in result.trips}):>6} {fill:>6.0%} "
        f"{len(result.unplanned):>9} {result.solve_seconds:>8.2f} {len(violations):>10}"
    )


def peak_memory(problem: PlanningProblem, travel: GreatCircleTravelModel) -> str:
    """The planner's peak memory, from a second run under tracemalloc (it slows Python down, so the
    timed run above is not traced): what Python and numpy allocate, the travel matrices included;
    VROOM's own C++ memory is not traced. The process's max RSS so far is printed beside it."""
    tracemalloc.start()
    try:
        VroomPlanner(travel).plan(problem)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux
    return f"{'planner peak memory':<30} {peak / 2**20:>10,.1f} MB traced (Python + numpy), process max RSS {rss_mb:,.0f} MB"


def run(title: str, problem: PlanningProblem, travel: GreatCircleTravelModel, reference: bool) -> None:
    print(
        f"\n{title}: {len(problem.stops):,} queued pickups, {len({s.route_id for s in problem.stops})} routes, "
        f"{len(problem.riders)} present riders, {len(problem.vehicles)} vehicles"
    )
    print(
        f"{'method':<30} {'km':>10} {'m/pickup':>9} {'vs first fit':>12} {'stem':>5} {'trips':>6} {'riders':>6} "
        f"{'fill':>6} {'unplanned':>9} {'solve s':>8} {'violations':>10}"
    )
    first_fit = greedy(problem, travel, first_in_arrival_order)
    print(figures("arrival-order first fit", problem, first_fit, travel))
    print(figures("nearest neighbour", problem, greedy(problem, travel, nearest(travel)), travel, first_fit))
    print(
        figures("planner (VROOM, level 3)", problem, VroomPlanner(travel).plan(problem), travel, first_fit), flush=True
    )
    print(peak_memory(problem, travel), flush=True)
    if reference:
        unlimited = dataclasses.replace(problem.settings, max_solve_seconds=1e9, exploration_level=5)
        slow = dataclasses.replace(problem, settings=unlimited)
        print(
            figures("reference (level 5, no limit)", slow, VroomPlanner(travel).plan(slow), travel, first_fit),
            flush=True,
        )


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo-purs", type=int, default=3000, help="pickups of the demo day (default 3000)")
    parser.add_argument(
        "--demo-light-purs",
        type=int,
        default=1200,
        help="pickups of the light demo day, which every method nearly fetches (default 1200; 0 skips it)",
    )
    parser.add_argument("--synthetic-purs", type=int, default=5000, help="pickups of the synthetic hub (default 5000)")
    parser.add_argument("--no-reference", action="store_true", help="skip VROOM at level 5 without a time limit")
    args = parser.parse_args(argv)
    settings = Settings()
    travel = GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh)
    run("Demo day", demo_day(args.demo_purs), travel, not args.no_reference)
    if args.demo_light_purs:
        run("Demo day, light", demo_day(args.demo_light_purs), travel, not args.no_reference)
    run("Synthetic hub", synthetic_hub(args.synthetic_purs), travel, not args.no_reference)


if __name__ == "__main__":
    main()
