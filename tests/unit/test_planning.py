"""The planner (domain types, great-circle travel, the VROOM adapter): exact small cases and properties."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch_svc.adapters.vroom_planner import VroomPlanner
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import (
    GreatCircleTravelModel,
    PlannedStopEta,
    PlanningProblem,
    PlanningRider,
    PlanningSettings,
    PlanningStop,
    PlanningVehicle,
    PlanResult,
    Point,
    ProposedTrip,
    ShiftWindow,
    UnplannedReason,
    great_circle_m,
    plan_violations,
)

DAY = date(2030, 1, 7)
DEPOT = Point(12.97, 77.59)
SPEEDS = {VehicleType.BIKE: 20.0, VehicleType.THREE_WHEELER: 18.0, VehicleType.VAN: 25.0, VehicleType.TRUCK: 22.0}
TRAVEL = GreatCircleTravelModel(1.3, SPEEDS)
SETTINGS = PlanningSettings(max_solve_seconds=2.0, exploration_level=2)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, minute, tzinfo=UTC)


def stop(
    pur_id: str, route: str, north_m: float, east_m: float = 0.0, packages: int = 1, kg: float = 1.0, minute: int = 0
) -> PlanningStop:
    # ~111 km per degree of latitude; near the equator a degree of longitude is about as long.
    location = Point(DEPOT.lat + north_m / 111_195, DEPOT.lng + east_m / 108_500)
    return PlanningStop(pur_id, route, location, packages, kg, at(6, minute))


def bike(vehicle_id: str, packages: int = 10, kg: float = 20.0, busy_until: datetime | None = None) -> PlanningVehicle:
    return PlanningVehicle(vehicle_id, VehicleType.BIKE, packages, kg, busy_until)


def problem(
    stops: list[PlanningStop],
    riders: list[PlanningRider],
    vehicles: list[PlanningVehicle],
    not_before: datetime | None = None,
) -> PlanningProblem:
    return PlanningProblem("hub-1", DEPOT, "UTC", DAY, stops, riders, vehicles, SETTINGS, not_before)


def solve(p: PlanningProblem) -> PlanResult:
    return VroomPlanner(TRAVEL).plan(p)


def check_plan(p: PlanningProblem, result: PlanResult) -> None:
    """What every plan must satisfy, whatever the problem."""
    assert plan_violations(p, result) == []
    assert all(len(trip.reasons) == 3 for trip in result.trips)


def test_great_circle_travel_model_applies_the_circuity_factor_and_the_speed_of_the_type() -> None:
    north = Point(DEPOT.lat + 0.01, DEPOT.lng)
    crow = great_circle_m(DEPOT, north)
    assert crow == pytest.approx(1111.95, abs=0.1)
    matrix = TRAVEL.matrix([DEPOT, north], VehicleType.BIKE)
    assert matrix.meters.dtype == np.uint32 and matrix.seconds.dtype == np.uint32
    assert matrix.meters.tolist() == [[0, round(crow * 1.3)], [round(crow * 1.3), 0]]
    assert matrix.seconds[0][1] == round(round(crow * 1.3) / (20 / 3.6))


def test_one_rider_collects_a_line_of_stops_in_distance_order_not_arrival_order() -> None:
    # Arrived far, near, middle: the trip visits near, middle, far (or the reverse) and back.
    stops = [
        stop("p-far", "r1", 3000, minute=0),
        stop("p-near", "r1", 1000, minute=1),
        stop("p-mid", "r1", 2000, minute=2),
    ]
    p = problem(stops, [PlanningRider("rider-1", default_routes=frozenset({"r1"}))], [bike("bike-1")])
    result = solve(p)
    check_plan(p, result)
    assert result.unplanned == ()
    (trip,) = result.trips
    assert [s.pur_id for s in trip.stops] in (["p-near", "p-mid", "p-far"], ["p-far", "p-mid", "p-near"])
    one_way = TRAVEL.matrix([DEPOT, stops[0].location], VehicleType.BIKE).meters[0][1]
    assert trip.distance_m == pytest.approx(2 * one_way, abs=3)
    assert trip.arrival_order_distance_m > trip.distance_m
    assert "default rider of route r1" in trip.reasons[0]
    assert "shorter than in arrival order" in trip.reasons[2]
    assert trip.start == at(8)  # the default shift starts at 08:00 local (UTC here)


def test_a_load_larger_than_the_vehicle_needs_a_second_trip_after_the_first_is_back() -> None:
    stops = [stop(f"p-{i}", "r1", 1000 + 100 * i, packages=6) for i in range(3)]
    p = problem(stops, [PlanningRider("rider-1", default_routes=frozenset({"r1"}))], [bike("bike-1", packages=10)])
    result = solve(p)
    check_plan(p, result)
    assert len(result.trips) == 3
    assert [t.rider_id for t in result.trips] == ["rider-1"] * 3
    assert result.trips[1].start >= result.trips[0].end
    assert "trip 3 of the day" in result.trips[2].reasons[0]


def test_unplanned_reasons_larger_than_any_vehicle_outside_every_shift_and_no_rider_left() -> None:
    stops = [stop("p-huge", "r1", 1000, packages=50), stop("p-far", "r1", 200_000), stop("p-ok", "r1", 1000)]
    shift = ShiftWindow(at(9), at(10))
    p = problem(stops, [PlanningRider("rider-1", shift=shift)], [bike("bike-1")])
    result = solve(p)
    check_plan(p, result)
    reasons = {u.pur_id: u.kind for u in result.unplanned}
    assert reasons == {"p-huge": UnplannedReason.LARGER_THAN_ANY_VEHICLE, "p-far": UnplannedReason.OUTSIDE_EVERY_SHIFT}
    no_riders = solve(problem([stop("p-ok", "r1", 1000)], [], [bike("bike-1")]))
    assert [(u.pur_id, u.kind) for u in no_riders.unplanned] == [("p-ok", UnplannedReason.NO_RIDER_OR_VEHICLE_LEFT)]
    assert no_riders.unplanned[0].reason == "no rider or vehicle left: no rider present"


def test_the_routes_own_rider_is_chosen_over_a_more_experienced_stranger() -> None:
    riders = [
        PlanningRider("rider-a", route_history={"r2": 40}),
        PlanningRider("rider-b", route_history={"r1": 3}),
    ]
    p = problem([stop("p-1", "r1", 1000)], riders, [bike("bike-1"), bike("bike-2")])
    (trip,) = solve(p).trips
    assert trip.rider_id == "rider-b"
    assert "drove 3 earlier trips on route r1" in trip.reasons[0]


def test_other_riders_help_only_when_the_own_riders_cannot_carry_the_load_in_their_shift() -> None:
    small = [stop(f"p-{i}", "r1", 1000) for i in range(4)]
    riders = [PlanningRider("own", default_routes=frozenset({"r1"})), PlanningRider("other")]
    result = solve(problem(small, riders, [bike("bike-1"), bike("bike-2")]))
    assert {t.rider_id for t in result.trips} == {"own"}
    # 30 packages need 3 bike loads; a half-hour shift leaves the own rider room for 2 such trips
    short = ShiftWindow(at(8), at(8, 30))
    many = [stop(f"p-{i}", "r1", 1000, packages=5) for i in range(6)]
    riders = [PlanningRider("own", default_routes=frozenset({"r1"}), shift=short), PlanningRider("other", shift=short)]
    p = problem(many, riders, [bike("bike-1"), bike("bike-2")])
    result = solve(p)
    check_plan(p, result)
    assert {t.rider_id for t in result.trips} == {"own", "other"}
    assert any("own riders cannot carry" in t.reasons[0] for t in result.trips if t.rider_id == "other")


def test_a_trip_carries_only_one_routes_stops_and_the_smallest_vehicle_that_fits_is_taken() -> None:
    stops = [stop("p-1", "r1", 1000), stop("p-2", "r2", 1000, east_m=10)]
    riders = [PlanningRider("rider-1", default_routes=frozenset({"r1", "r2"}))]
    vehicles = [PlanningVehicle("van-1", VehicleType.VAN, 200, 800.0), bike("bike-1")]
    p = problem(stops, riders, vehicles)
    result = solve(p)
    check_plan(p, result)
    assert sorted(t.route_id for t in result.trips) == ["r1", "r2"]
    assert {t.vehicle_id for t in result.trips} == {"bike-1"}


def test_busy_riders_and_vehicles_start_after_they_are_free_and_not_before_now() -> None:
    p = problem(
        [stop("p-1", "r1", 1000)],
        [PlanningRider("rider-1", busy_until=at(11))],
        [bike("bike-1", busy_until=at(12))],
        not_before=at(10),
    )
    (trip,) = solve(p).trips
    assert trip.start == at(12)


def test_balance_no_third_trip_while_a_rider_of_the_route_has_none() -> None:
    stops = [stop(f"p-{i}", "r1", 1000 + 10 * i, packages=10) for i in range(4)]
    riders = [PlanningRider(f"rider-{i}", default_routes=frozenset({"r1"})) for i in range(3)]
    p = problem(stops, riders, [bike(f"bike-{i}") for i in range(3)])
    result = solve(p)
    check_plan(p, result)
    trips = Counter(t.rider_id for t in result.trips)
    assert sorted(trips.values()) == [1, 1, 2]


def test_a_solve_respects_its_time_budget() -> None:
    stops = [stop(f"p-{i}", f"r{i % 5}", 500 + 37 * i, east_m=(i * 53) % 900) for i in range(300)]
    riders = [PlanningRider(f"rider-{i}", default_routes=frozenset({f"r{i % 5}"})) for i in range(10)]
    tight = PlanningSettings(max_solve_seconds=1.0, exploration_level=5)
    p = PlanningProblem("hub-1", DEPOT, "UTC", DAY, stops, riders, [bike(f"bike-{i}") for i in range(10)], tight)
    result = VroomPlanner(TRAVEL).plan(p)
    check_plan(p, result)
    assert result.solve_seconds < 4.0


@st.composite
def problems(draw: st.DrawFn) -> PlanningProblem:
    routes = [f"r{i}" for i in range(draw(st.integers(1, 3)))]
    stops = [
        stop(
            f"p-{i}",
            draw(st.sampled_from(routes)),
            draw(st.integers(-20_000, 20_000)),
            draw(st.integers(-20_000, 20_000)),
            packages=draw(st.integers(1, 12)),
            kg=draw(st.floats(0.01, 30.0)),
            minute=draw(st.integers(0, 59)),
        )
        for i in range(draw(st.integers(0, 25)))
    ]
    riders = []
    for i in range(draw(st.integers(0, 4))):
        start = draw(st.integers(6, 14))
        shift = draw(st.none() | st.just(ShiftWindow(at(start), at(start) + timedelta(hours=draw(st.integers(1, 8))))))
        riders.append(
            PlanningRider(
                f"rider-{i}",
                route_history={r: draw(st.integers(0, 3)) for r in routes},
                default_routes=frozenset(draw(st.lists(st.sampled_from(routes), max_size=2))),
                shift=shift,
                busy_until=draw(st.none() | st.just(at(draw(st.integers(7, 12))))),
            )
        )
    vehicles = [
        PlanningVehicle(
            f"v-{i}",
            draw(st.sampled_from(list(VehicleType))),
            draw(st.integers(1, 40)),
            draw(st.floats(1.0, 100.0)),
            busy_until=draw(st.none() | st.just(at(draw(st.integers(7, 12))))),
        )
        for i in range(draw(st.integers(0, 4)))
    ]
    not_before = draw(st.none() | st.just(at(draw(st.integers(5, 11)))))
    quick = PlanningSettings(max_solve_seconds=0.5, exploration_level=1)
    return PlanningProblem("hub-1", DEPOT, "UTC", DAY, stops, riders, vehicles, quick, not_before=not_before)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_plan_keeps_capacity_shifts_one_trip_at_a_time_and_lists_every_pickup_once(p: PlanningProblem) -> None:
    check_plan(p, solve(p))


def test_plan_violations_names_what_a_bad_plan_breaks() -> None:
    p = problem(
        [stop("p-1", "r1", 1000, packages=8), stop("p-2", "r2", 1000, packages=8)],
        [PlanningRider("rider-1")],
        [bike("bike-1")],
    )
    both = (PlannedStopEta("p-1", at(9)), PlannedStopEta("p-2", at(9, 30)))
    trip = ProposedTrip("r1", "rider-1", "bike-1", both, 1000.0, at(7), at(10), 16, 2.0)
    overlapping = ProposedTrip("r2", "rider-1", "bike-1", both[1:], 1000.0, at(9), at(11), 8, 1.0)
    found = plan_violations(p, PlanResult((trip, overlapping), ()))
    assert found == [
        "p-2 placed 2 times",
        "trip 0 (r1, rider-1, bike-1): stops of another route",
        "trip 0 (r1, rider-1, bike-1): 16 packages / 2.00 kg over the vehicle's capacity",
        f"trip 0 (r1, rider-1, bike-1): {at(7)}-{at(10)} outside the rider's time {at(8)}-{at(20)}",
        "rider rider-1: overlapping trips",
        "vehicle bike-1: overlapping trips",
    ]
