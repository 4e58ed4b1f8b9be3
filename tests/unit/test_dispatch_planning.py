"""The VROOM planner's choices across rounds: which vehicle a rider takes, and the progress it reports.

Builds on the problems of tests/unit/test_planning.py (its helpers, not copies)."""

from __future__ import annotations

from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import PlanningRider, PlanningVehicle, ShiftWindow
from tests.unit.test_planning import at, bike, check_plan, problem, solve, stop


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
