"""A hub's day planned and committed through real processes: the hub's depot (UpsertHub), routed
PURs queued → PlanDispatches proposes trips → CommitDispatchPlan makes them dispatches (a second
commit creates nothing new) → the PURs are DISPATCHED with their trip's rider → the rider is
marked ABSENT → the dispatch is released and the PURs are back in the queue. With auto-dispatch on
for a hub, its due queue is planned and committed without a person, and planned again once an
absence released it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from firstmile_client import requests
from tests.e2e.test_assignment_loop import SETTLED, create_when_hub_known, pur_request
from tests.e2e.test_dispatch_flow import mesh, queued, statuses  # noqa: F401 - the mesh fixture
from tests.support.geometry import square_geojson
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date().isoformat()
# The riders work the planner's default day (08:00-20:00 local); in Honolulu that window is now or
# still ahead on the UTC day the test runs, whatever the hour, and the hub's date is never ahead.
HUB_TIMEZONE = "Pacific/Honolulu"


def cannot_plan(error: grpc.RpcError) -> bool:
    """A dispatch_svc without the RPC, or without a trip planner configured."""
    code, details = error.code(), error.details() or ""
    return code == grpc.StatusCode.UNIMPLEMENTED or (code == grpc.StatusCode.UNAVAILABLE and "planner" in details)


def attendance(hub: str, rider: str, status: int, *, shift_hours: float = 0) -> attendance_pb2.RecordAttendanceRequest:
    """Today's record; with `shift_hours`, a working window from now on that long."""
    request = requests.record_attendance_request(rider_id=rider, hub_id=hub, day=TODAY, status=status, shift="DAY")
    if shift_hours:
        now = datetime.now(UTC)
        request.shift_start.FromDatetime(now)
        request.shift_end.FromDatetime(now + timedelta(hours=shift_hours))
    return request


def plan_with_trips(dispatch_stub, hub: str, expected_stops: int) -> dispatch_pb2.DispatchPlan:
    """PlanDispatches again until dispatch_svc's read models (routes, queue, attendance) let it
    place every queued PUR; skips the test on a dispatch_svc that cannot plan yet."""

    def plan() -> dispatch_pb2.DispatchPlan:
        try:
            return dispatch_stub.PlanDispatches(
                requests.plan_dispatches_request(hub_id=hub, pickup_date=TODAY), timeout=60
            ).plan
        except grpc.RpcError as exc:
            if cannot_plan(exc):
                pytest.skip(f"this dispatch_svc cannot plan: {exc.details()}")
            raise

    return eventually(
        plan, lambda p: sum(len(t.stops) for t in p.trips) == expected_stops, what="a plan placing every queued PUR"
    )


def test_a_planned_day_is_committed_dispatched_and_released_by_an_absence(mesh):  # noqa: F811 - the fixture
    hub = f"HUB-{uuid.uuid4().hex[:8]}"
    route, rider, vehicle = f"{hub}-R1", f"{hub}-rider-1", f"{hub}-van-1"
    dispatch = mesh["dispatch"]
    try:
        dispatch.UpsertHub(
            requests.upsert_hub_request(hub_id=hub, name="Planned", lat=12.895, lng=77.595, timezone=HUB_TIMEZONE),
            timeout=10,
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("this dispatch_svc has no UpsertHub yet")
        raise
    mesh["routing"].UpsertRoute(
        routing_pb2.UpsertRouteRequest(
            route=routing_pb2.Route(
                id=route, hub_id=hub, name="One", geometry_geojson=square_geojson(77.60, 12.90), default_rider_id=rider
            )
        ),
        timeout=30,
    )
    dispatch.UpsertRider(requests.upsert_rider_request(rider_id=rider, hub_id=hub, name="Asha"), timeout=10)
    dispatch.UpsertVehicle(
        requests.upsert_vehicle_request(
            vehicle_id=vehicle, hub_id=hub, vehicle_type=dispatch_pb2.VEHICLE_TYPE_VAN,
            capacity_packages=100, capacity_kg=500, registration="KA01AB1234",
        ),
        timeout=10,
    )  # fmt: skip
    mesh["attendance"].RecordAttendance(attendance(hub, rider, attendance_pb2.ATTENDANCE_STATUS_PRESENT), timeout=10)

    pur_stub = mesh["pur"]
    ids = [
        create_when_hub_known(
            pur_stub.CreatePickupRequest, pur_request(hub, f"p{i}", 12.902 + 0.001 * i, 77.605 - 0.001 * i)
        ).pickup_request.id
        for i in range(3)
    ]
    eventually(lambda: statuses(pur_stub, ids), lambda s: all(st in SETTLED for st, _ in s), what="PURs routed")
    eventually(lambda: queued(dispatch, hub, route), lambda n: n == 3, what="PURs queued on the route")

    plan = plan_with_trips(dispatch, hub, expected_stops=3)
    assert not plan.unplanned
    assert {t.route_id for t in plan.trips} == {route} and {t.rider_id for t in plan.trips} == {rider}
    assert sorted(s.pur_id for t in plan.trips for s in t.stops) == sorted(ids)
    assert all(t.distance_m > 0 and t.end_time.ToDatetime() > t.start_time.ToDatetime() for t in plan.trips)

    committed = dispatch.CommitDispatchPlan(requests.commit_dispatch_plan_request(plan_id=plan.id), timeout=30)
    made = list(committed.dispatches)
    assert len(made) == len(plan.trips) and not committed.skipped
    assert all(d.plan_id == plan.id and d.rider_id == rider for d in made)
    trip_of = {s.pur_id: t for t in plan.trips for s in t.stops}
    for made_dispatch in made:
        trip = trip_of[made_dispatch.pur_ids[0]]
        assert [s.pur_id for s in made_dispatch.stops] == [s.pur_id for s in trip.stops]
    again = dispatch.CommitDispatchPlan(requests.commit_dispatch_plan_request(plan_id=plan.id), timeout=30)
    assert sorted(d.id for d in again.dispatches) == sorted(d.id for d in made)

    dispatch_of = {pur_id: d.id for d in made for pur_id in d.pur_ids}

    def pickups() -> list[pur_pb2.PickupRequest]:
        return [
            pur_stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=i), timeout=10).pickup_request for i in ids
        ]

    eventually(
        pickups,
        lambda ps: all(
            (p.status, p.dispatch_id, p.rider_id) == (pur_pb2.PICKUP_STATUS_DISPATCHED, dispatch_of[p.id], rider)
            for p in ps
        ),
        what="PURs DISPATCHED with the trip's rider",
    )

    mesh["attendance"].RecordAttendance(attendance(hub, rider, attendance_pb2.ATTENDANCE_STATUS_ABSENT), timeout=10)
    released = eventually(
        lambda: [dispatch.GetDispatch(dispatch_pb2.GetDispatchRequest(id=d.id), timeout=10).dispatch for d in made],
        lambda ds: all(d.status == dispatch_pb2.DISPATCH_STATUS_CANCELLED for d in ds),
        what="the absent rider's dispatches released",
    )
    assert all(d.cancel_reason for d in released)
    eventually(
        lambda: statuses(pur_stub, ids),
        lambda s: s == [(pur_pb2.PICKUP_STATUS_ROUTED, "")] * 3,
        what="PURs back to ROUTED",
    )
    eventually(lambda: queued(dispatch, hub, route), lambda n: n == 3, what="PURs back in the queue")


@pytest.fixture
def auto_mesh(start_service):
    """The mesh with auto-dispatch on for one new hub: due at 3 queued pickups, checked twice a second."""
    hub = f"HUB-{uuid.uuid4().hex[:8]}"
    attendance_process = start_service("attendance_adapter")
    attendance_process.wait_serving()
    services = {
        "routing": start_service("routing_svc"),
        "pur": start_service("pur_svc"),
        "dispatch": start_service(
            "dispatch_svc",
            DISPATCH_SVC_ATTENDANCE_ADDRESS=attendance_process.target,
            DISPATCH_SVC_AUTO_DISPATCH_HUBS=hub,
            DISPATCH_SVC_AUTO_DISPATCH_QUEUE_THRESHOLD="3",
            DISPATCH_SVC_AUTO_DISPATCH_INTERVAL_SECONDS="0.5",
        ),
    }
    for process in services.values():
        process.wait_serving()
    channels = {name: p.channel() for name, p in {**services, "attendance": attendance_process}.items()}
    yield (
        hub,
        {
            "routing": routing_pb2_grpc.RoutingServiceStub(channels["routing"]),
            "pur": pur_pb2_grpc.PickupServiceStub(channels["pur"]),
            "dispatch": dispatch_pb2_grpc.DispatchServiceStub(channels["dispatch"]),
            "attendance": attendance_pb2_grpc.AttendanceServiceStub(channels["attendance"]),
        },
    )
    for channel in channels.values():
        channel.close()


def test_auto_dispatch_plans_and_commits_a_due_queue_and_plans_it_again_after_an_absence(auto_mesh):
    hub, stubs = auto_mesh
    route, asha, bala, van = f"{hub}-R1", f"{hub}-asha", f"{hub}-bala", f"{hub}-van"
    dispatch, pur_stub = stubs["dispatch"], stubs["pur"]
    try:
        # Auto-dispatch plans the hub's local today: the UTC day the PURs are for.
        dispatch.UpsertHub(
            requests.upsert_hub_request(hub_id=hub, name="Auto", lat=12.895, lng=77.595, timezone="UTC"),
            timeout=10,
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("this dispatch_svc has no UpsertHub yet")
        raise
    stubs["routing"].UpsertRoute(
        routing_pb2.UpsertRouteRequest(
            route=routing_pb2.Route(
                id=route, hub_id=hub, name="One", geometry_geojson=square_geojson(77.60, 12.90), default_rider_id=asha
            )
        ),
        timeout=30,
    )
    for rider, name in ((asha, "Asha"), (bala, "Bala")):
        dispatch.UpsertRider(requests.upsert_rider_request(rider_id=rider, hub_id=hub, name=name), timeout=10)
        stubs["attendance"].RecordAttendance(
            attendance(hub, rider, attendance_pb2.ATTENDANCE_STATUS_PRESENT, shift_hours=3), timeout=10
        )
    dispatch.UpsertVehicle(
        requests.upsert_vehicle_request(
            vehicle_id=van, hub_id=hub, vehicle_type=dispatch_pb2.VEHICLE_TYPE_VAN,
            capacity_packages=100, capacity_kg=500, registration="KA01AB1234",
        ),
        timeout=10,
    )  # fmt: skip

    ids = [
        create_when_hub_known(
            pur_stub.CreatePickupRequest, pur_request(hub, f"a{i}", 12.902 + 0.001 * i, 77.605)
        ).pickup_request.id
        for i in range(3)
    ]

    def pickups() -> list[pur_pb2.PickupRequest]:
        return [
            pur_stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=i), timeout=10).pickup_request for i in ids
        ]

    def dispatched_with(rider: str):
        return lambda ps: all(p.status == pur_pb2.PICKUP_STATUS_DISPATCHED and p.rider_id == rider for p in ps)

    first = eventually(
        pickups, dispatched_with(asha), what="auto-dispatch to dispatch the queue with the route's rider"
    )
    made = {
        d.id: d
        for d in (
            dispatch.GetDispatch(dispatch_pb2.GetDispatchRequest(id=i), timeout=10).dispatch
            for i in {p.dispatch_id for p in first}
        )
    }
    assert all(d.plan_id and d.stops for d in made.values())

    stubs["attendance"].RecordAttendance(attendance(hub, asha, attendance_pb2.ATTENDANCE_STATUS_ABSENT), timeout=10)
    again = eventually(pickups, dispatched_with(bala), what="the released queue planned again, for the present rider")
    assert not {p.dispatch_id for p in again} & set(made)
    released = [dispatch.GetDispatch(dispatch_pb2.GetDispatchRequest(id=i), timeout=10).dispatch for i in made]
    assert all(d.status == dispatch_pb2.DISPATCH_STATUS_CANCELLED for d in released)
