"""VROOM (pyvroom) against PyVRP and OR-Tools as the dispatch planner's solver, in process.

    .cache/venv/bin/python -m bench.bench_solvers [--budget 5] [--solvers vroom,pyvrp,ortools]
        [--demo-purs 3000] [--demo-light-purs 1200] [--synthetic-purs 5000]

Each solver solves the same per-route problems inside the planner's rounds (VroomPlanner with a
`route_solver`: the same riders and vehicles picked, the same windows, capacities in packages and
10-gram units, service times, fixed cost per trip, optional pickups), on the problems of
bench_planning (demo day, light demo day, synthetic hub) and the same hub budget, so the figures
compare the solvers and nothing else. Every plan is checked with `planning.plan_violations`.

- VROOM: the service's `solve_with_vroom` (exploration level 3 within the budget's share).
- PyVRP: `pyvrp.solve` (iterated local search) until the same share of the budget runs out;
  pickups are optional clients with a prize far above any trip's cost, like VROOM's unassigned jobs.
- OR-Tools: the routing solver, path-cheapest-arc then guided local search until the same share;
  pickups in disjunctions with the same penalty; the cost is travel seconds plus the fixed cost.
Past the hub's budget VROOM only constructs (level 0); PyVRP then stops after one iteration and
OR-Tools at its first local optimum (no guided local search), the nearest equivalents.

Neither PyVRP nor OR-Tools is a dependency of the service. Install them with:

    .cache/venv/bin/python -m pip install -e '.[solvers]'
    .cache/venv/bin/python -m pip install --no-deps ortools==9.15.6755

(ortools 9.15 declares protobuf<6.34 while the mesh pins protobuf 7.36.2; its routing solver runs
on 7.36.2, hence --no-deps with its other requirements in the extra.)
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from bench.bench_planning import demo_day, per_pickup_m, synthetic_hub
from dispatch_svc.adapters.vroom_planner import RouteProblem, RouteSolver, RouteTrip, VroomPlanner, solve_with_vroom
from dispatch_svc.config import Settings
from dispatch_svc.domain.planning import (
    GreatCircleTravelModel,
    PlanningProblem,
    PlanResult,
    plan_violations,
)

# The price of leaving a pickup out, in the solvers' cost unit (seconds): far above any trip's cost,
# so as many pickups as fit are placed, as VROOM does.
UNASSIGNED_PENALTY = 100_000

INSTALL = (
    "install them with: .cache/venv/bin/python -m pip install -e '.[solvers]' && "
    ".cache/venv/bin/python -m pip install --no-deps ortools==9.15.6755"
)


# -- PyVRP -----------------------------------------------------------------------------------------


def solve_with_pyvrp(problem: RouteProblem) -> list[RouteTrip]:
    import pyvrp
    from pyvrp.stop import MaxIterations, MaxRuntime, MultipleCriteria

    profiles = list(problem.matrices)
    data = pyvrp.ProblemData(
        locations=[pyvrp.Location(x=p.lng, y=p.lat) for p in problem.points],
        clients=[
            pyvrp.Client(
                location=job.location,
                pickup=list(job.amount),
                service_duration=job.service,
                prize=UNASSIGNED_PENALTY,
                required=False,
            )
            for job in problem.jobs
        ],
        depots=[pyvrp.Depot(location=0)],
        vehicle_types=[
            pyvrp.VehicleType(
                num_available=1,
                capacity=list(v.capacity),
                fixed_cost=problem.fixed_cost,
                tw_early=v.window[0],
                tw_late=v.window[1],
                unit_distance_cost=0,
                unit_duration_cost=1,
                profile=profiles.index(v.profile),
            )
            for v in problem.vehicles
        ],
        distance_matrices=[problem.matrices[t][1].astype(np.int64) for t in profiles],
        duration_matrices=[problem.matrices[t][0].astype(np.int64) for t in profiles],
    )
    stop = MaxRuntime(problem.timeout.total_seconds())
    if problem.exploration_level == 0:
        # past the hub's budget, like VROOM's construction only: one iteration's local search
        stop = MultipleCriteria([stop, MaxIterations(1)])
    result = pyvrp.solve(data, stop=stop, seed=1, collect_stats=False, display=False)
    trips = []
    for route in result.best.routes():
        if not route.is_feasible():
            # late back (time warp) or overloaded: a trip the service could not commit
            raise InfeasibleRoute(f"PyVRP's best route breaks a window or a capacity ({route.time_warp()} s late)")
        visits = [(a.idx, a.start_time - a.wait_duration) for a in route.schedule() if a.is_client()]
        trips.append(RouteTrip(route.vehicle_type(), visits, route.start_time(), route.end_time()))
    return trips


class InfeasibleRoute(Exception):
    """The solver's best solution of a route's problem breaks a constraint: nothing of it is used."""


# -- OR-Tools --------------------------------------------------------------------------------------


def solve_with_ortools(problem: RouteProblem) -> list[RouteTrip]:
    from ortools.constraint_solver import pywrapcp, routing_enums_pb2

    nodes = [0, *(job.location for job in problem.jobs)]
    service = [0, *(job.service for job in problem.jobs)]
    manager = pywrapcp.RoutingIndexManager(len(nodes), len(problem.vehicles), 0)
    routing = pywrapcp.RoutingModel(manager)
    travel: dict[object, int] = {}
    timed: dict[object, int] = {}
    for vehicle_type, (seconds, _) in problem.matrices.items():
        sub = seconds[np.ix_(nodes, nodes)].astype(np.int64)
        travel[vehicle_type] = routing.RegisterTransitMatrix(sub.tolist())
        timed[vehicle_type] = routing.RegisterTransitMatrix((sub + np.array(service)[:, None]).tolist())
    for number, v in enumerate(problem.vehicles):
        routing.SetArcCostEvaluatorOfVehicle(travel[v.profile], number)
        routing.SetFixedCostOfVehicle(problem.fixed_cost, number)
    for dimension in range(2):
        demand = routing.RegisterUnaryTransitVector([0, *(job.amount[dimension] for job in problem.jobs)])
        routing.AddDimensionWithVehicleCapacity(
            demand, 0, [v.capacity[dimension] for v in problem.vehicles], True, f"load{dimension}"
        )
    latest = max(v.window[1] for v in problem.vehicles)
    routing.AddDimensionWithVehicleTransits([timed[v.profile] for v in problem.vehicles], 0, latest, False, "time")
    clock = routing.GetDimensionOrDie("time")
    for number, v in enumerate(problem.vehicles):
        for end in (routing.Start(number), routing.End(number)):
            clock.CumulVar(end).SetRange(*v.window)
        routing.AddVariableMinimizedByFinalizer(clock.CumulVar(routing.End(number)))
    for node in range(1, len(nodes)):
        routing.AddDisjunction([manager.NodeToIndex(node)], UNASSIGNED_PENALTY)
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC
    if problem.exploration_level > 0:
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH
    # else (past the hub's budget, like VROOM's construction only): descent to the first local optimum
    params.time_limit.FromMilliseconds(max(1, int(problem.timeout.total_seconds() * 1000)))
    solution = routing.SolveWithParameters(params)
    if solution is None:
        return []
    trips = []
    for number in range(len(problem.vehicles)):
        index = solution.Value(routing.NextVar(routing.Start(number)))
        visits = []
        while not routing.IsEnd(index):
            visits.append((manager.IndexToNode(index) - 1, solution.Value(clock.CumulVar(index))))
            index = solution.Value(routing.NextVar(index))
        start = solution.Value(clock.CumulVar(routing.Start(number)))
        trips.append(RouteTrip(number, visits, start, solution.Value(clock.CumulVar(routing.End(number)))))
    return trips


# -- the comparison --------------------------------------------------------------------------------


@dataclass
class Timed:
    """A route solver that counts its solves and the time spent in them."""

    solve: RouteSolver
    solves: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    errors: list[str] = field(default_factory=list)

    def __call__(self, problem: RouteProblem) -> list[RouteTrip]:
        started = time.monotonic()
        try:
            return self.solve(problem)
        except Exception as exc:  # noqa: BLE001 - a solver failing on a route is a figure, not a crash
            self.errors.append(repr(exc))
            return []
        finally:
            took = time.monotonic() - started
            self.solves += 1
            self.seconds += took
            self.slowest = max(self.slowest, took)


SOLVERS: dict[str, Callable[[RouteProblem], list[RouteTrip]]] = {
    "vroom": solve_with_vroom,
    "pyvrp": solve_with_pyvrp,
    "ortools": solve_with_ortools,
}


def with_budget(problem: PlanningProblem, seconds: float) -> PlanningProblem:
    return dataclasses.replace(problem, settings=dataclasses.replace(problem.settings, max_solve_seconds=seconds))


def row(name: str, problem: PlanningProblem, result: PlanResult, solver: Timed, vroom: PlanResult | None) -> str:
    per = per_pickup_m(problem, result)
    versus = f"{per / per_pickup_m(problem, vroom) - 1:>+9.1%}" if vroom is not None else f"{'-':>9}"
    return (
        f"{name:<10} {result.total_distance_m / 1000:>10,.1f} {per:>9,.0f} {versus} {len(result.trips):>6} "
        f"{len({t.rider_id for t in result.trips}):>6} {len(result.unplanned):>9} {result.solve_seconds:>8.2f} "
        f"{solver.solves:>7} {solver.slowest:>8.2f} {len(plan_violations(problem, result)):>10} {len(solver.errors):>7}"
    )


def run(title: str, problem: PlanningProblem, travel: GreatCircleTravelModel, solvers: Sequence[str]) -> None:
    print(
        f"\n{title}: {len(problem.stops):,} queued pickups, {len({s.route_id for s in problem.stops})} routes, "
        f"{len(problem.riders)} riders, {len(problem.vehicles)} vehicles, "
        f"budget {problem.settings.max_solve_seconds:g} s per hub"
    )
    print(
        f"{'solver':<10} {'km':>10} {'m/pickup':>9} {'vs VROOM':>9} {'trips':>6} {'riders':>6} {'unplanned':>9} "
        f"{'solve s':>8} {'solves':>7} {'slowest':>8} {'violations':>10} {'errors':>7}"
    )
    vroom: PlanResult | None = None
    for name in solvers:
        solver = Timed(SOLVERS[name])
        result = VroomPlanner(travel, route_solver=solver).plan(problem)
        print(row(name, problem, result, solver, vroom), flush=True)
        for error in solver.errors[:3]:
            print(f"           error: {error}")
        if name == "vroom":
            vroom = result


def installed(solver: str) -> bool:
    module = {"vroom": "vroom", "pyvrp": "pyvrp", "ortools": "ortools.constraint_solver.pywrapcp"}[solver]
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--budget", type=float, default=None, help="seconds per hub (default: the service's)")
    parser.add_argument("--solvers", default="vroom,pyvrp,ortools", help="comma-separated, in order")
    parser.add_argument("--demo-purs", type=int, default=3000)
    parser.add_argument("--demo-light-purs", type=int, default=1200, help="0 skips the light demo day")
    parser.add_argument("--synthetic-purs", type=int, default=5000, help="0 skips the synthetic hub")
    args = parser.parse_args(argv)
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = sorted(set(solvers) - set(SOLVERS))
    if unknown:
        parser.error(f"unknown solvers {unknown}; choose among {sorted(SOLVERS)}")
    missing = [name for name in solvers if not installed(name)]
    if missing:
        # `make bench` runs every bench: compare what is installed and say how to get the rest
        print(f"not installed: {', '.join(missing)}; {INSTALL}")
        solvers = [name for name in solvers if name not in missing]
    settings = Settings()
    travel = GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh)
    budget = args.budget if args.budget is not None else settings.planning_max_solve_seconds
    problems = [("Demo day", demo_day(args.demo_purs))]
    if args.demo_light_purs:
        problems.append(("Demo day, light", demo_day(args.demo_light_purs)))
    if args.synthetic_purs:
        problems.append(("Synthetic hub", synthetic_hub(args.synthetic_purs)))
    for title, problem in problems:
        run(title, with_budget(problem, budget), travel, solvers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
