"""The fleet a day needs: trips, riders and vehicles per route under the planner's trip model, by
hand, and the comparison with who is rostered (shortfalls, idle riders and vehicles)."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time

import pytest

from dispatch_svc.domain.fleet_need import (
    RouteReach,
    estimate_trips,
    fleet_need,
    home_route,
    reach_from_points,
    shift_seconds,
)
from dispatch_svc.domain.forecasting import DayForecast
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import (
    GreatCircleTravelModel,
    PlanningRider,
    PlanningSettings,
    PlanningVehicle,
    Point,
    ShiftWindow,
)

DAY = date(2026, 12, 8)
SETTINGS = PlanningSettings(day_start=time(8, 0), day_end=time(20, 0))  # 43,200 s; 120 s/stop, 10 s/package
# 18 km/h = 5 m/s everywhere, roads 1.5 x the great circle.
TRAVEL = GreatCircleTravelModel(1.5, dict.fromkeys(VehicleType, 18.0))
HERE = RouteReach("r", 0.0, 0.0)  # at the depot, no spread: only service time counts


def forecast(route_id: str, pickups: float, packages: float, kg: float, high: float | None = None) -> DayForecast:
    return DayForecast(DAY, route_id, pickups, pickups * 0.8, high or pickups * 1.2, packages, kg)


def van(n: int = 1) -> PlanningVehicle:
    return PlanningVehicle(f"van-{n}", VehicleType.VAN, 300, 800.0)


def bike(n: int) -> PlanningVehicle:
    return PlanningVehicle(f"bike-{n}", VehicleType.BIKE, 40, 60.0)


# -- one route on one vehicle type, by hand ---------------------------------------------------------


def test_trips_follow_the_binding_capacity_and_trip_time_adds_travel_and_service():
    reach = RouteReach("r", 1000.0, 0.0)
    e = estimate_trips(20, 250, 100.0, reach, VehicleType.VAN, (100, 500.0), TRAVEL, SETTINGS, 43_200)
    assert e.trips == 3  # 250 packages / 100
    # out and back 2 x 1000 m x 1.5 at 5 m/s = 600 s; 20/3 stops x 120 s; 250/3 packages x 10 s
    assert e.trip_seconds == pytest.approx(600 + 800 + 2500 / 3)
    assert e.trips_per_rider == 19 and e.riders == 1
    by_weight = estimate_trips(10, 10, 500.0, HERE, VehicleType.VAN, (100, 150.0), TRAVEL, SETTINGS, 43_200)
    assert by_weight.trips == 4  # 500 kg / 150


def test_the_tour_within_a_route_grows_with_the_square_root_of_stops_times_area():
    reach = RouteReach("r", 0.0, 1.0)
    e = estimate_trips(4, 4, 4.0, reach, VehicleType.BIKE, (40, 60.0), TRAVEL, SETTINGS, 43_200)
    tour_m = 0.7124 * (4 * 1e6) ** 0.5 * 1.5
    assert e.trip_seconds == pytest.approx(tour_m / 5 + 4 * 120 + 4 * 10)


def test_nothing_expected_needs_nobody():
    e = estimate_trips(0, 0, 0.0, HERE, VehicleType.BIKE, (40, 60.0), TRAVEL, SETTINGS, 43_200)
    assert (e.trips, e.riders) == (0, 0)


def test_a_trip_longer_than_a_shift_is_shared_by_riders_in_relays():
    e = estimate_trips(40, 40, 40.0, HERE, VehicleType.VAN, (100, 800.0), TRAVEL, SETTINGS, 3600)
    assert e.trip_seconds == 40 * 120 + 40 * 10  # 5,200 s > one hour
    assert (e.trips_per_rider, e.riders) == (0, 2)


def test_shift_length_and_home_route():
    assert shift_seconds(None, SETTINGS) == 43_200
    short = PlanningRider(
        "s", shift=ShiftWindow(datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 11, tzinfo=UTC))
    )
    assert shift_seconds(short, SETTINGS) == 7200
    assert home_route(PlanningRider("a", {"r2": 9}, frozenset({"r1"}))) == "r1"
    assert home_route(PlanningRider("b", {"r2": 1, "r3": 4})) == "r3"
    assert home_route(PlanningRider("c")) is None


def test_reach_from_points():
    depot = Point(12.97, 77.59)
    points = [Point(12.97 + d, 77.60 + d) for d in (0.0, 0.005, 0.01, 0.015, 0.02)]
    reach = reach_from_points("r", depot, points)
    # the median point is 0.01 deg north (1,112 m) and 0.02 deg east (2,167 m at this latitude)
    assert reach.depot_distance_m == pytest.approx((1112**2 + 2167**2) ** 0.5, rel=0.01)
    assert 0.5 < reach.area_km2 < 5
    assert reach_from_points("r", depot, []) == RouteReach("r", 0.0, 0.0)


# -- the hub ---------------------------------------------------------------------------------------


def test_routes_move_off_a_type_the_hub_has_too_few_of_where_it_costs_least_and_shortfalls_are_named():
    forecasts = [
        # r1: 2 riders on a van (4 trips of 21,000 s, 2 a shift) or on bikes (30 trips of 2,800 s, 15 a shift)
        forecast("r1", 600, 1200, 1800.0, high=900),
        # r2: 1 rider either way: 1 van trip or 3 bike trips
        forecast("r2", 100, 100, 100.0),
        forecast("r3", 0, 0, 0.0),
        # r4: 1 rider either way: 1 van trip or 8 bike trips; nobody rostered on it
        forecast("r4", 300, 300, 300.0),
    ]
    riders = [
        PlanningRider("a", default_routes=frozenset({"r1"})),
        PlanningRider("b", {"r1": 5}),
        PlanningRider("c", {"r2": 2}),
        PlanningRider("d", {"r3": 1}),
        PlanningRider("f"),
    ]
    need = fleet_need(
        "hub", DAY, forecasts, {r: RouteReach(r, 0.0, 0.0) for r in ("r1", "r2", "r3", "r4")},
        riders, [van(), bike(1), bike(2), bike(3)], TRAVEL, SETTINGS,
    )  # fmt: skip
    routes = {r.route_id: r for r in need.routes}
    # All three first ask for the van (fewest trips), the hub has one. Moving to bikes costs no rider
    # anywhere; r1 frees two vans at once, so it moves first; then r2 (2 extra trips) rather than r4 (7).
    assert routes["r1"].vehicle_type is VehicleType.BIKE
    assert (routes["r1"].trips, routes["r1"].trips_per_rider, routes["r1"].riders_needed) == (30, 15, 2)
    assert routes["r1"].riders_needed_high == 3  # 900 pickups: 45 bike trips
    assert routes["r1"].rostered_riders == ("a", "b") and routes["r1"].rider_shortfall == 0
    assert routes["r2"].vehicle_type is VehicleType.BIKE and routes["r2"].trips == 3
    assert routes["r2"].idle_riders == () and routes["r2"].vehicles == ((VehicleType.BIKE, 1),)
    assert routes["r3"].vehicle_type is None and routes["r3"].idle_riders == ("d",)
    assert routes["r4"].vehicle_type is VehicleType.VAN and routes["r4"].trips == 1
    assert routes["r4"].rider_shortfall == 1 and "short of 1 rider for 1 trip(s)" in routes["r4"].notes
    # The hub: d (idle on r3) and f (floating) can take r4.
    assert need.floating_riders == ("f",) and need.rider_shortfall == 0
    # at the upper bounds: r1 3, r2 1 (120 packages: 3 bike trips of 5,200 s), r4 2 (360 packages: 2 van
    # trips of 180 x 120 + 180 x 10 = 23,400 s, one a shift)
    assert (need.riders_needed, need.riders_needed_high, need.riders_rostered) == (4, 6, 5)
    assert need.vehicles_needed == {VehicleType.BIKE: 3, VehicleType.VAN: 1}
    assert need.vehicle_shortfall == {} and need.idle_vehicles == {VehicleType.VAN: 0, VehicleType.BIKE: 0}
    assert "route r4: short of 1 rider(s)" in need.notes and "hub: enough riders rostered" in need.notes


def test_the_hub_is_short_of_riders_and_vehicles_when_nobody_can_cover():
    forecasts = [forecast("r1", 100, 100, 100.0), forecast("r2", 100, 100, 100.0)]
    need = fleet_need("hub", DAY, forecasts, {}, [PlanningRider("a", {"r1": 1})], [bike(1)], TRAVEL, SETTINGS)
    assert need.rider_shortfall == 1 and "hub short of 1 rider(s)" in need.notes
    assert (
        need.vehicle_shortfall == {VehicleType.BIKE: 1}
        and "short of 1 BIKE(s): every vehicle of the hub is given, riders counted on BIKE have none" in need.notes
    )
    assert all("no known location" in r.notes[0] for r in need.routes)


def test_a_rider_with_a_short_shift_covers_fewer_trips():
    # 30 bike trips of 2,800 s: a full shift covers 15, a two-hour one 2. The day's typical shift is
    # their median, 7 hours: 9 trips a rider, so 4 riders needed and the 13 trips left need 2 more.
    short = ShiftWindow(datetime(2026, 12, 8, 9, tzinfo=UTC), datetime(2026, 12, 8, 11, tzinfo=UTC))
    riders = [PlanningRider("a", {"r1": 1}), PlanningRider("b", {"r1": 1}, shift=short)]
    need = fleet_need(
        "hub", DAY, [forecast("r1", 600, 1200, 1800.0)], {}, riders, [bike(n) for n in range(3)], TRAVEL, SETTINGS
    )
    route = need.routes[0]
    assert route.riders_needed == 4 and route.rider_shortfall == 2  # 30 - 15 - 2 = 13 trips left


def test_idle_vehicles_and_a_hub_without_vehicles():
    need = fleet_need("hub", DAY, [forecast("r1", 10, 10, 10.0)], {}, [], [van(1), van(2)], TRAVEL, SETTINGS)
    assert need.idle_vehicles == {VehicleType.VAN: 1} and "1 VAN(s) idle" in need.notes
    bare = fleet_need("hub", DAY, [forecast("r1", 10, 10, 10.0)], {}, [], [], TRAVEL, SETTINGS)
    assert bare.routes[0].vehicle_type is None and "the hub has no vehicle" in bare.routes[0].notes


# -- vehicles from what the hub has ----------------------------------------------------------------

# 6 km from the depot: every trip drives 2 x 6,000 m x 1.5 = 18,000 m out and back, 3,600 s.
FAR = RouteReach("x", 6000.0, 0.0)


def three_wheeler(n: int) -> PlanningVehicle:
    return PlanningVehicle(f"3w-{n}", VehicleType.THREE_WHEELER, 100, 300.0)


def big_van(n: int) -> PlanningVehicle:
    return PlanningVehicle(f"van-{n}", VehicleType.VAN, 300, 800.0)


# x: 120 pickups, 2,400 packages, 1,200 kg. On vans 8 trips of 3,600 + 15 x 120 + 300 x 10 = 8,400 s,
# 5 a shift: 2 riders. On three-wheelers 24 trips of 3,600 + 5 x 120 + 100 x 10 = 5,200 s, 8 a shift:
# 3 riders. On bikes (40 packages, 60 kg) 60 trips of 3,600 + 2 x 120 + 40 x 10 = 4,240 s, 10 a shift: 6.
BIG = forecast("x", 120, 2400, 1200.0, high=120)


def test_a_route_no_single_type_can_take_shares_the_vehicles_left_instead_of_naming_vans_short():
    need = fleet_need(
        "hub", DAY, [BIG], {"x": FAR}, [], [big_van(1), three_wheeler(1), three_wheeler(2)] + [bike(n) for n in range(4)],
        TRAVEL, SETTINGS,
    )  # fmt: skip
    route = need.routes[0]
    # One van, two riders wanted on vans: 3 three-wheeler riders or 6 bikes do not fit either. The van
    # rider drives 5 trips (5/8 of the day: 1,500 packages, 5 trips of 8,400 s); the other 3/8 (45 pickups,
    # 900 packages, 450 kg) go on three-wheelers: 9 trips of 5,200 s, 8 a shift: 2 riders, 2 left.
    assert route.vehicles == ((VehicleType.VAN, 1), (VehicleType.THREE_WHEELER, 2))
    assert (route.vehicle_type, route.riders_needed, route.trips, route.trips_per_rider) == (VehicleType.VAN, 3, 14, 5)
    assert (
        route.notes[0]
        == "riders on more than one vehicle type (1 on VAN, 2 on THREE_WHEELER): no one type has enough vehicles left"
    )
    assert need.vehicles_needed == {VehicleType.VAN: 1, VehicleType.THREE_WHEELER: 2}
    assert need.vehicle_shortfall == {}
    assert need.idle_vehicles == {VehicleType.VAN: 0, VehicleType.THREE_WHEELER: 0, VehicleType.BIKE: 4}
    # With nobody rostered, the route is short of its three riders (5 van trips, then 9 three-wheeler trips).
    assert route.rider_shortfall == 3 and "short of 3 riders for 14 trip(s)" in route.notes


def test_vehicles_are_short_only_when_none_of_any_type_is_left():
    need = fleet_need("hub", DAY, [BIG], {"x": FAR}, [], [big_van(1), three_wheeler(1)], TRAVEL, SETTINGS)
    route = need.routes[0]
    # The van keeps 5/8 of the day; the three-wheeler's one rider drives 8 trips: 1/3 of the day (40
    # pickups, 800 packages). The rest goes back on vans: 2/3 of the day is 1,600 packages, 6 van trips
    # of 3,600 + 13.3 x 120 + 266.7 x 10 = 7,867 s, 5 a shift: 2 riders, one of them without a vehicle.
    assert route.vehicles == ((VehicleType.VAN, 2), (VehicleType.THREE_WHEELER, 1))
    assert route.riders_needed == 3 and "no vehicle left for 1 rider(s) (VAN)" in route.notes
    assert need.vehicles_needed == {VehicleType.VAN: 2, VehicleType.THREE_WHEELER: 1}
    assert (
        need.vehicle_shortfall == {VehicleType.VAN: 1}
        and "short of 1 VAN(s): every vehicle of the hub is given, riders counted on VAN have none" in need.notes
    )
    assert need.idle_vehicles == {VehicleType.VAN: 0, VehicleType.THREE_WHEELER: 0}


def test_the_big_vehicles_go_where_they_save_the_most_riders_per_vehicle():
    # y: 30 pickups, 600 packages: 1 rider on a van (2 trips) or on a three-wheeler (6 trips), 2 on bikes.
    # z: 60 pickups, 1,200 packages: 1 on a van (4 trips), 2 on three-wheelers (12 trips), 3 on bikes.
    small = forecast("y", 30, 600, 300.0, high=30)
    medium = forecast("z", 60, 1200, 600.0, high=60)
    reaches = {r: RouteReach(r, 6000.0, 0.0) for r in ("x", "y", "z")}
    fleet = [big_van(1), big_van(2), three_wheeler(1), three_wheeler(2)] + [bike(n) for n in range(10)]
    need = fleet_need("hub", DAY, [BIG, small, medium], reaches, [], fleet, TRAVEL, SETTINGS)
    routes = {r.route_id: r for r in need.routes}
    # All ask for vans (4 > 2). y moves to a three-wheeler at no cost; then z to bikes costs 2 riders for
    # the one van freed and x to bikes 4 for two: z moves. x keeps both vans (it saves the most riders).
    assert routes["x"].vehicles == ((VehicleType.VAN, 2),)
    assert routes["y"].vehicles == ((VehicleType.THREE_WHEELER, 1),)
    assert routes["z"].vehicles == ((VehicleType.BIKE, 3),)
    assert need.riders_needed == 6 and need.vehicle_shortfall == {}


def test_vehicles_given_never_exceed_the_hubs_and_are_short_only_with_none_idle():
    rng = random.Random(7)
    for _ in range(40):
        forecasts = [
            forecast(f"r{n}", p, p * rng.randint(1, 30), p * rng.uniform(0.5, 20))
            for n, p in enumerate(rng.randint(0, 200) for _ in range(rng.randint(1, 8)))
        ]
        reaches = {f.route_id: RouteReach(f.route_id, rng.uniform(0, 9000), rng.uniform(0, 4)) for f in forecasts}
        fleet = [big_van(n) for n in range(rng.randint(0, 3))] + [three_wheeler(n) for n in range(rng.randint(0, 4))]
        fleet += [bike(n) for n in range(rng.randint(0, 12))]
        need = fleet_need("hub", DAY, forecasts, reaches, [], fleet, TRAVEL, SETTINGS)
        for t, available in need.vehicles_available.items():
            assert need.vehicles_needed.get(t, 0) - need.vehicle_shortfall.get(t, 0) <= available
        if any(need.vehicle_shortfall.values()):
            assert not any(need.idle_vehicles.values())
        assert need.riders_needed == sum(n for r in need.routes for _, n in r.vehicles)


def test_riders_needed_are_counted_in_the_hours_the_rostered_riders_work():
    # 18 bike trips of 4,000 s (30 stops x 120 s + 40 packages x 10 s): the rostered 9-hour shift
    # fits 8 a rider (3 riders), the 12-hour planning day 10 (2 riders).
    nine_hours = ShiftWindow(datetime(2026, 12, 8, 8, tzinfo=UTC), datetime(2026, 12, 8, 17, tzinfo=UTC))
    riders = [PlanningRider("a", {"r1": 1}, shift=nine_hours)]
    need = fleet_need(
        "hub", DAY, [forecast("r1", 540, 720, 1080.0)], {}, riders, [bike(n) for n in range(5)], TRAVEL, SETTINGS
    )
    route = need.routes[0]
    assert route.trips == 18 and route.trips_per_rider == 8
    assert route.riders_needed == 3  # the 12-hour planning day would have said 2
    assert route.rider_shortfall == 2 and need.rider_shortfall == 2  # needed 3, rostered 1
