"""Routed PURs become a rider's trip through real processes: ROUTED → queued on the route →
dispatched with the recommended rider and vehicle → DISPATCHED → dispatch cancelled → back to
ROUTED and the queue → dispatched again → started → completed → PICKED_UP."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from tests.e2e.test_assignment_loop import SETTLED, create_when_hub_known, pur_request
from tests.support.geometry import square_geojson
from tests.support.polling import eventually

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date().isoformat()


@pytest.fixture
def mesh(start_service):
    attendance = start_service("attendance_adapter")
    attendance.wait_serving()
    services = {
        "routing": start_service("routing_svc"),
        "pur": start_service("pur_svc"),
        "dispatch": start_service("dispatch_svc", DISPATCH_SVC_ATTENDANCE_ADDRESS=attendance.target),
    }
    for process in services.values():
        process.wait_serving()
    channels = {name: p.channel() for name, p in {**services, "attendance": attendance}.items()}
    yield {
        "routing": routing_pb2_grpc.RoutingServiceStub(channels["routing"]),
        "pur": pur_pb2_grpc.PickupServiceStub(channels["pur"]),
        "dispatch": dispatch_pb2_grpc.DispatchServiceStub(channels["dispatch"]),
        "attendance": attendance_pb2_grpc.AttendanceServiceStub(channels["attendance"]),
    }
    for channel in channels.values():
        channel.close()


def statuses(pur_stub, ids: list[str]) -> list[tuple[int, str]]:
    return [
        (p.status, p.dispatch_id)
        for p in (
            pur_stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=i), timeout=10).pickup_request for i in ids
        )
    ]


def queued(dispatch_stub, hub: str, route: str) -> int:
    groups = dispatch_stub.ListOpenPickupsByRoute(
        dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=TODAY), timeout=10
    ).groups
    return sum(g.queued_count for g in groups if g.route_id == route)


def test_routed_purs_are_dispatched_cancelled_back_to_the_queue_then_picked_up(mesh):
    hub = f"HUB-{uuid.uuid4().hex[:8]}"
    route, rider, vehicle = f"{hub}-R1", f"{hub}-rider-1", f"{hub}-van-1"
    mesh["routing"].UpsertRoute(
        routing_pb2.UpsertRouteRequest(
            route=routing_pb2.Route(
                id=route, hub_id=hub, name="One", geometry_geojson=square_geojson(77.60, 12.90), default_rider_id=rider
            )
        ),
        timeout=30,
    )
    mesh["dispatch"].UpsertRider(
        dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=rider, hub_id=hub, name="Asha")), timeout=10
    )
    mesh["dispatch"].UpsertVehicle(
        dispatch_pb2.UpsertVehicleRequest(
            vehicle=dispatch_pb2.Vehicle(
                id=vehicle,
                hub_id=hub,
                type=dispatch_pb2.VEHICLE_TYPE_VAN,
                capacity_packages=100,
                capacity_kg=500,
                registration="KA01AB1234",
            )
        ),
        timeout=10,
    )
    mesh["attendance"].RecordAttendance(
        attendance_pb2.RecordAttendanceRequest(
            rider_id=rider, hub_id=hub, date=TODAY, status=attendance_pb2.ATTENDANCE_STATUS_PRESENT, shift="MORNING"
        ),
        timeout=10,
    )

    pur_stub = mesh["pur"]
    ids = []
    for i in range(3):
        created = create_when_hub_known(
            pur_stub.CreatePickupRequest, pur_request(hub, f"d{i}", 12.902 + 0.001 * i, 77.605)
        )
        ids.append(created.pickup_request.id)
    eventually(lambda: statuses(pur_stub, ids), lambda s: all(st in SETTLED for st, _ in s), what="PURs routed")
    eventually(lambda: queued(mesh["dispatch"], hub, route), lambda n: n == 3, what="PURs queued on the route")

    recommendation = mesh["dispatch"].RecommendDispatch(
        dispatch_pb2.RecommendDispatchRequest(route_id=route, hub_id=hub, pickup_date=TODAY), timeout=10
    )
    assert recommendation.riders[0].rider_id == rider and recommendation.riders[0].present
    assert recommendation.vehicles[0].vehicle_id == vehicle

    first = (
        mesh["dispatch"]
        .CreateDispatch(
            dispatch_pb2.CreateDispatchRequest(request_id="first", hub_id=hub, route_id=route, pickup_date=TODAY),
            timeout=10,
        )
        .dispatch
    )
    assert (first.rider_id, first.vehicle_id, sorted(first.pur_ids)) == (rider, vehicle, sorted(ids))
    eventually(
        lambda: statuses(pur_stub, ids),
        lambda s: s == [(pur_pb2.PICKUP_STATUS_DISPATCHED, first.id)] * 3,
        what="PURs DISPATCHED",
    )

    mesh["dispatch"].CancelDispatch(
        dispatch_pb2.CancelDispatchRequest(id=first.id, reason="van broke down"), timeout=10
    )
    eventually(
        lambda: statuses(pur_stub, ids),
        lambda s: s == [(pur_pb2.PICKUP_STATUS_ROUTED, "")] * 3,
        what="PURs back to ROUTED",
    )
    eventually(lambda: queued(mesh["dispatch"], hub, route), lambda n: n == 3, what="PURs back in the queue")

    second = (
        mesh["dispatch"]
        .CreateDispatch(
            dispatch_pb2.CreateDispatchRequest(request_id="second", hub_id=hub, route_id=route, pickup_date=TODAY),
            timeout=10,
        )
        .dispatch
    )
    eventually(
        lambda: statuses(pur_stub, ids),
        lambda s: s == [(pur_pb2.PICKUP_STATUS_DISPATCHED, second.id)] * 3,
        what="PURs DISPATCHED again",
    )
    mesh["dispatch"].StartDispatch(dispatch_pb2.StartDispatchRequest(id=second.id), timeout=10)
    done = mesh["dispatch"].CompleteDispatch(dispatch_pb2.CompleteDispatchRequest(id=second.id), timeout=10).dispatch
    assert done.status == dispatch_pb2.DISPATCH_STATUS_COMPLETED
    eventually(
        lambda: statuses(pur_stub, ids),
        lambda s: all(st == pur_pb2.PICKUP_STATUS_PICKED_UP for st, _ in s),
        what="PURs PICKED_UP",
    )
