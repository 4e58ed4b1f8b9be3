"""The demo fleet's data is deterministic and sane (no mesh needed)."""

from __future__ import annotations

from datetime import date, timedelta

from demo import city, fleet
from firstmile.attendance.v1 import attendance_pb2
from firstmile.dispatch.v1 import dispatch_pb2

HUB = city.HUB_ID
DAY = date(2025, 3, 14)


def test_riders_cover_the_default_riders_plus_spares_deterministically():
    riders = fleet.riders(HUB)
    assert riders == fleet.riders(HUB)
    ids = [r.id for r in riders]
    assert len(ids) == len(set(ids)) == 60
    defaults = {f["properties"]["default_rider_id"] for f in city.load_route_map()["features"]}
    assert defaults <= set(ids)
    assert sum(r.spare for r in riders) == fleet.SPARE_RIDERS
    for rider in riders:
        first, last = rider.name.split(" ")
        assert first in fleet.FIRST_NAMES and last in fleet.LAST_NAMES
        assert rider.phone.startswith("+91") and len(rider.phone) == 13 and rider.phone[1:].isdigit()
    assert len({r.name.split(" ")[0] for r in riders}) == 60


def test_vehicles_have_sane_capacities_and_unique_ids():
    vehicles = fleet.vehicles(HUB)
    assert vehicles == fleet.vehicles(HUB)
    assert len({v.id for v in vehicles}) == len(vehicles) == 60
    kinds = {t: [v for v in vehicles if v.type == t] for t in fleet.VEHICLE_KINDS}
    assert len(kinds[dispatch_pb2.VEHICLE_TYPE_VAN]) == 4
    bike = kinds[dispatch_pb2.VEHICLE_TYPE_BIKE][0]
    three = kinds[dispatch_pb2.VEHICLE_TYPE_THREE_WHEELER][0]
    van = kinds[dispatch_pb2.VEHICLE_TYPE_VAN][0]
    assert bike.capacity_packages < three.capacity_packages < van.capacity_packages
    assert bike.capacity_kg < three.capacity_kg < van.capacity_kg
    for vehicle in vehicles:
        assert 1 <= vehicle.capacity_packages <= 100_000 and vehicle.capacity_kg > 0
        assert vehicle.registration.startswith("KA-") and len(vehicle.registration) <= 32
        assert len(vehicle.id) <= 64


def test_attendance_is_mostly_present_and_depends_on_the_day():
    ids = [r.id for r in fleet.riders(HUB)]
    today = fleet.attendance(HUB, ids, DAY)
    assert today == fleet.attendance(HUB, ids, DAY)
    assert [r.rider_id for r in today] == ids
    present = fleet.present_ids(today)
    assert 0.75 * len(ids) <= len(present) < len(ids)
    for record in today:
        if record.status == attendance_pb2.ATTENDANCE_STATUS_PRESENT:
            assert record.check_in is not None and record.shift
        else:
            assert record.check_in is None
            assert record.status in (attendance_pb2.ATTENDANCE_STATUS_ABSENT, attendance_pb2.ATTENDANCE_STATUS_ON_LEAVE)
    assert fleet.attendance(HUB, ids, DAY + timedelta(days=1)) != today


def _history():
    collection = city.load_route_map()
    routes = sorted((f["properties"]["id"], f["properties"]["default_rider_id"]) for f in collection["features"])
    ids = [r.id for r in fleet.riders(HUB)]
    present = fleet.present_ids(fleet.attendance(HUB, ids, DAY))
    vehicles = fleet.vehicles(HUB)
    return collection, routes, present, vehicles, fleet.plan_history(HUB, routes, present, vehicles, DAY)


def test_history_plan_uses_present_riders_known_vehicles_and_stable_ids():
    collection, routes, present, vehicles, plan = _history()
    assert plan == fleet.plan_history(HUB, routes, present, vehicles, DAY)
    assert len(plan) >= len(routes)  # about 1.5 dispatches per route
    assert len({d.request_id for d in plan}) == len(plan)
    assert all(len(d.request_id) <= 64 and d.request_id.startswith(f"hist-{DAY.isoformat()}-") for d in plan)
    vehicle_ids = {v.id for v in vehicles}
    defaults = dict(routes)
    for dispatch in plan:
        assert dispatch.rider_id in present
        assert dispatch.vehicle_id in vehicle_ids
        assert len(dispatch.pickup_request_ids) == fleet.HISTORY_PURS_PER_DISPATCH
    by_default = sum(d.rider_id == defaults[d.route_id] for d in plan)
    assert by_default > len(plan) / 2
    assert len({d.route_id for d in plan}) < len(routes)  # some routes have no history


def test_history_pickups_lie_inside_their_route_and_fit_a_bike():
    from shapely.geometry import Point, shape

    collection, _, _, vehicles, plan = _history()
    geometries = {f["properties"]["id"]: shape(f["geometry"]) for f in collection["features"]}
    pickups = fleet.history_pickups(collection, plan[:10])
    assert pickups == fleet.history_pickups(collection, plan[:10])
    bike = min(vehicles, key=lambda v: v.capacity_packages)
    for dispatch in plan[:10]:
        mine = [p for p in pickups if p.request_id in dispatch.pickup_request_ids]
        assert sum(p.packages for p in mine) <= bike.capacity_packages
        assert sum(p.weight_kg for p in mine) <= bike.capacity_kg
        for pickup in mine:
            assert geometries[dispatch.route_id].contains(Point(pickup.lng, pickup.lat))
