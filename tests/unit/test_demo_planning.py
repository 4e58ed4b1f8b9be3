"""The demo's dispatch plan part (the depot it reads, what it prints, the trips picture) and the
request builders of UpsertHub, PlanDispatches and CommitDispatchPlan, without a mesh."""

from __future__ import annotations

from datetime import UTC, datetime

from demo import city, planning
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile_client import requests

MAP = city.load_route_map()
DEPOT = planning.depot_of(MAP, "BLR-KORAMANGALA")


def stamp(hour: int, minute: int = 0):
    trip = dispatch_pb2.PlannedTrip()
    trip.start_time.FromDatetime(datetime(2026, 12, 6, hour, minute, tzinfo=UTC))
    return trip.start_time


def trip(
    trip_id: str, route_id: str, rider_id: str, stops: list[str], *, start: int, km: float
) -> dispatch_pb2.PlannedTrip:
    planned = dispatch_pb2.PlannedTrip(
        id=trip_id, route_id=route_id, rider_id=rider_id, vehicle_id="veh-1",
        stops=[dispatch_pb2.PlannedStop(pur_id=s) for s in stops], distance_m=km * 1000,
        total_packages=10 * len(stops), total_weight_kg=5.0 * len(stops), reasons=["rider-001 is the route's default rider"],
    )  # fmt: skip
    planned.start_time.CopyFrom(stamp(start))
    planned.end_time.CopyFrom(stamp(start + 1, 30))
    return planned


PLAN = dispatch_pb2.DispatchPlan(
    id="plan-1", hub_id="BLR-KORAMANGALA", pickup_date="2026-12-06",
    trips=[
        trip("trip-2", "BLR-KOR-R01", "rider-001", ["p3"], start=7, km=4.0),
        trip("trip-1", "BLR-KOR-R01", "rider-001", ["p1", "p2"], start=4, km=6.5),
    ],
    unplanned=[
        dispatch_pb2.UnplannedPickup(pur_id="p4", reason="larger than any vehicle (900 packages)"),
        dispatch_pb2.UnplannedPickup(pur_id="p5", reason="larger than any vehicle (700 packages)"),
        dispatch_pb2.UnplannedPickup(pur_id="p6", reason="no rider left"),
    ],
    total_distance_m=10_500, arrival_order_distance_m=21_000,
)  # fmt: skip
CAPACITIES = {"veh-1": (40, 100.0)}


def test_the_depot_comes_from_the_map_files_hub():
    assert (DEPOT.lng, DEPOT.lat) == tuple(MAP["hub"]["location"])
    assert DEPOT.timezone == MAP["hub"].get("timezone", "Asia/Kolkata")


def test_the_plan_is_printed_per_route_in_start_order_with_fill_and_local_times():
    text = planning.render(
        PLAN, timezone="Asia/Kolkata", route_names={"BLR-KOR-R01": "Koramangala"},
        rider_names={"rider-001": "Asha"}, capacities=CAPACITIES,
    )  # fmt: skip
    lines = text.splitlines()
    assert "2 trips on 1 routes by 1 riders, 3 stops, 10.5 km" in lines[0]
    first, second = (i for i, line in enumerate(lines) if "rider-001 Asha" in line)
    assert first < second and "09:30-11:00" in lines[first] and "12:30-14:00" in lines[second]
    assert "50%" in lines[first]  # 20 of 40 packages, 10 of 100 kg: packages are the tighter
    assert '2 x  like "larger than any vehicle (900 packages)"' in text
    assert '1 x  like "no rider left"' in text
    assert "50% shorter" in text


def test_the_trips_are_drawn_beside_the_hubs_picture(tmp_path):
    hub_png = tmp_path / "demo_hub.png"
    locations = {"p1": (77.62, 12.93), "p2": (77.63, 12.94), "p3": (77.61, 12.92), "p4": (77.64, 12.95)}
    png = planning.draw_trips(
        planning.trips_picture_path(hub_png), collection=MAP, depot=DEPOT, plan=PLAN, locations=locations
    )
    assert png == tmp_path / "demo_hub_trips.png"
    assert png.stat().st_size > 10_000


def test_the_planning_requests():
    hub = requests.upsert_hub_request(hub_id="H", name="Hub", lat=12.9, lng=77.6, timezone="Asia/Kolkata")
    assert (hub.hub.id, hub.hub.location.lat, hub.hub.location.lng, hub.hub.timezone) == (
        "H",
        12.9,
        77.6,
        "Asia/Kolkata",
    )
    plan = requests.plan_dispatches_request(hub_id="H", pickup_date="2026-12-06", route_ids=["R1"])
    assert list(plan.route_ids) == ["R1"]
    commit = requests.commit_dispatch_plan_request(
        plan_id="plan-1", only_valid_trips=True,
        changes=[requests.trip_change(trip_id="trip-1", drop=True), requests.trip_change(trip_id="trip-2", rider_id="r9")],
    )  # fmt: skip
    assert commit.only_valid_trips and [c.trip_id for c in commit.changes] == ["trip-1", "trip-2"]
    assert commit.changes[0].drop and commit.changes[1].rider_id == "r9"


def test_a_routes_trips_beyond_the_first_few_are_summed_up():
    busy = dispatch_pb2.DispatchPlan(
        id="plan-2", hub_id="H", pickup_date="2026-12-06",
        trips=[trip(f"t{i}", "BLR-KOR-R01", "rider-001", [f"q{i}"], start=i, km=2.0) for i in range(8)],
    )  # fmt: skip
    text = planning.render(busy, timezone="UTC", route_names={}, rider_names={}, capacities=CAPACITIES)
    assert sum(line.startswith("    t") for line in text.splitlines()) == planning.TRIPS_SHOWN_PER_ROUTE
    assert "… 2 more trips: 2 stops, 4.0 km, until 08:30" in text
