"""The VROOM planner's choices across rounds: which vehicle a rider takes, and the progress it reports.

Builds on the problems of tests/unit/test_planning.py (its helpers, not copies)."""

from __future__ import annotations

from dispatch_svc.adapters.vroom_planner import VroomPlanner
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import PlanningProgress, PlanningRider, PlanningVehicle, ShiftWindow
from tests.unit.test_planning import TRAVEL, at, bike, check_plan, problem, solve, stop


def test_a_rider_takes_a_small_vehicle_free_now_over_a_big_one_free_too_late_for_the_far_route() -> None:
    # 12 pickups ~20 km out: a bike (10 packages) free at 08:00 makes two trips in the shift; the van
    # that carries all 12 is back only at 15:30, too late to go out and return before 17:00.
    far = [stop(f"p-{i}", "r1", 15_000, east_m=50 * i) for i in range(12)]
    rider = PlanningRider("rider-1", default_routes=frozenset({"r1"}), shift=ShiftWindow(at(8), at(17)))
    van = PlanningVehicle("van-1", VehicleType.VAN, 100, 800.0, busy_until=at(15, 30))
    p = problem(far, [rider], [van, bike("bike-1")])
    result = solve(p)
    check_plan(p, result)
    assert result.unplanned == ()
    assert [t.vehicle_id for t in result.trips] == ["bike-1", "bike-1"]
    assert result.trips[0].start == at(8)


def test_a_bigger_vehicle_free_soon_after_the_rider_is_still_taken_for_the_whole_load() -> None:
    stops = [stop(f"p-{i}", "r1", 2_000, east_m=50 * i) for i in range(12)]
    rider = PlanningRider("rider-1", default_routes=frozenset({"r1"}))
    van = PlanningVehicle("van-1", VehicleType.VAN, 100, 800.0, busy_until=at(8, 20))
    p = problem(stops, [rider], [van, bike("bike-1")])
    result = solve(p)
    check_plan(p, result)
    assert [(t.vehicle_id, len(t.stops)) for t in result.trips] == [("van-1", 12)]


def test_the_planner_reports_its_progress_after_each_route_and_once_done() -> None:
    # two routes, 30 packages each on one 10-package bike per route: three rounds of trips
    stops = [stop(f"a-{i}", "r1", 1000 + 10 * i, packages=5) for i in range(6)]
    stops += [stop(f"b-{i}", "r2", -1000 - 10 * i, packages=5) for i in range(6)]
    riders = [PlanningRider(f"rider-{r}", default_routes=frozenset({r})) for r in ("r1", "r2")]
    p = problem(stops, riders, [bike("bike-1"), bike("bike-2")])
    reports: list[PlanningProgress] = []
    result = VroomPlanner(TRAVEL).plan(p, reports.append)
    check_plan(p, result)
    assert [(r.round, r.routes_solved, r.routes_in_round) for r in reports[:-1]] == [
        (n, k, 2) for n in (1, 2, 3) for k in (1, 2)
    ]
    placed = [r.placed for r in reports]
    assert placed == sorted(placed) and placed[-1] == 12
    assert [r.done for r in reports] == [False] * 6 + [True]
    assert reports[-1].stops == 12 and reports[-1].trips == len(result.trips) == 6
