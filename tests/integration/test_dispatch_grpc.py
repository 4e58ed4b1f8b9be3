"""DispatchService over a real gRPC server: the right status code for each kind of bad request
(nothing written), the happy path end to end, and the gRPC attendance client against a real
(in-process) AttendanceService and against nothing at all."""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from attendance_adapter.entrypoints.grpc_api import ACCESS as ATTENDANCE_ACCESS
from dispatch_svc.adapters.attendance import GrpcAttendanceClient
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import RouteMatch
from dispatch_svc.domain.ranking import AttendanceSource
from dispatch_svc.entrypoints.grpc_api import DispatchServicer, registration
from dispatch_svc.service_layer import handlers
from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2
from mesh.grpc_server import ServiceRegistration
from tests.support import auth
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.in_process_server import address, admin_channel, serving
from tests.support.rpc_status import code_of, status_of

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
Code = grpc.StatusCode


@pytest.fixture(scope="module")
def attendance() -> FakeAttendance:
    return FakeAttendance(age=timedelta(seconds=3))


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture(scope="module")
def stub(uow_factory, attendance):
    servicer = DispatchServicer(uow_factory, attendance)
    with admin_channel(registration(servicer)) as channel:
        yield dispatch_pb2_grpc.DispatchServiceStub(channel)


@pytest.fixture
def hub(stub, attendance) -> str:
    hub_id = f"hub-{uuid.uuid4().hex[:10]}"
    for name in ("asha", "bala"):
        stub.UpsertRider(
            dispatch_pb2.UpsertRiderRequest(
                rider=dispatch_pb2.Rider(id=f"{hub_id}-{name}", hub_id=hub_id, name=name.title())
            )
        )
        attendance.present[hub_id].add(f"{hub_id}-{name}")
    add_vehicle(stub, f"{hub_id}-bike", hub_id, dispatch_pb2.VEHICLE_TYPE_BIKE, packages=10, kg=20.0)
    return hub_id


def add_vehicle(stub, vehicle_id: str, hub: str, kind: int, *, packages: int, kg: float) -> None:
    vehicle = dispatch_pb2.Vehicle(id=vehicle_id, hub_id=hub, type=kind, capacity_packages=packages, capacity_kg=kg)
    stub.UpsertVehicle(dispatch_pb2.UpsertVehicleRequest(vehicle=vehicle))


def route(uow_factory, hub: str, *pur_ids: str, packages: int = 3) -> None:
    handlers.apply_pur_changes(
        uow_factory(),
        [
            pur_snapshot(p, hub=hub, day=TODAY, packages=packages, weight=1.0, route_match=RouteMatch.NEAREST)
            for p in pur_ids
        ],
    )


def test_the_happy_path_over_grpc(stub, uow_factory, hub):
    route(uow_factory, hub, f"{hub}-p1", f"{hub}-p2")
    listed = stub.ListOpenPickupsByRoute(
        dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=TODAY.isoformat())
    )
    [group] = listed.groups
    assert (group.route_id, group.pur_count, group.queued_count, group.expected_packages) == ("R1", 2, 2, 6)
    assert group.pickups[0].status == pur_pb2.PICKUP_STATUS_ROUTED and group.pickups[0].location.lat == 12.9
    assert not group.HasField("open_dispatch")

    rec = stub.RecommendDispatch(
        dispatch_pb2.RecommendDispatchRequest(hub_id=hub, route_id="R1", pickup_date=TODAY.isoformat())
    )
    assert [r.rider_id for r in rec.riders] == [f"{hub}-asha", f"{hub}-bala"] and rec.riders[0].present
    assert rec.vehicles[0].fits_load and rec.queued_pur_count == 2 and rec.queued_packages == 6
    assert (
        rec.attendance_freshness.source == attendance_pb2.ATTENDANCE_SOURCE_LIVE and not rec.attendance_freshness.stale
    )
    assert rec.attendance_freshness.age.seconds >= 3

    request = dispatch_pb2.CreateDispatchRequest(
        request_id="r-1", hub_id=hub, route_id="R1", pickup_date=TODAY.isoformat()
    )
    created = stub.CreateDispatch(request)
    assert (
        created.created
        and created.dispatch.rider_id == f"{hub}-asha"
        and list(created.dispatch.pur_ids) == [f"{hub}-p1", f"{hub}-p2"]
    )
    assert created.dispatch.status == dispatch_pb2.DISPATCH_STATUS_OPEN and created.dispatch.request_id == "r-1"
    again = stub.CreateDispatch(request)
    assert not again.created and again.dispatch.id == created.dispatch.id

    dispatch_id = created.dispatch.id
    started = stub.StartDispatch(dispatch_pb2.StartDispatchRequest(id=dispatch_id)).dispatch
    assert started.status == dispatch_pb2.DISPATCH_STATUS_IN_PROGRESS and started.HasField("started_at")
    done = stub.CompleteDispatch(dispatch_pb2.CompleteDispatchRequest(id=dispatch_id)).dispatch
    assert done.status == dispatch_pb2.DISPATCH_STATUS_COMPLETED and done.version == 4
    got = stub.GetDispatch(dispatch_pb2.GetDispatchRequest(id=dispatch_id)).dispatch
    assert got == done


BAD_REQUESTS = {
    "rider missing": ("UpsertRider", dispatch_pb2.UpsertRiderRequest(), Code.INVALID_ARGUMENT, "rider is required"),
    "rider id bad": (
        "UpsertRider",
        dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id="a b", hub_id="h")),
        Code.INVALID_ARGUMENT,
        "rider.id",
    ),
    "vehicle type": (
        "UpsertVehicle",
        dispatch_pb2.UpsertVehicleRequest(
            vehicle=dispatch_pb2.Vehicle(id="v", hub_id="h", capacity_packages=1, capacity_kg=1)
        ),
        Code.INVALID_ARGUMENT,
        "vehicle.type",
    ),
    "vehicle capacity": (
        "UpsertVehicle",
        dispatch_pb2.UpsertVehicleRequest(
            vehicle=dispatch_pb2.Vehicle(id="v", hub_id="h", type=1, capacity_packages=0, capacity_kg=1)
        ),
        Code.INVALID_ARGUMENT,
        "capacity_packages",
    ),
    "vehicle nan kg": (
        "UpsertVehicle",
        dispatch_pb2.UpsertVehicleRequest(
            vehicle=dispatch_pb2.Vehicle(id="v", hub_id="h", type=1, capacity_packages=1, capacity_kg=float("nan"))
        ),
        Code.INVALID_ARGUMENT,
        "capacity_kg",
    ),
    "list no hub": (
        "ListOpenPickupsByRoute",
        dispatch_pb2.ListOpenPickupsByRouteRequest(pickup_date="2026-01-01"),
        Code.INVALID_ARGUMENT,
        "hub_id is required",
    ),
    "list bad date": (
        "ListOpenPickupsByRoute",
        dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id="h", pickup_date="tomorrow"),
        Code.INVALID_ARGUMENT,
        "YYYY-MM-DD",
    ),
    "list negative limit": (
        "ListOpenPickupsByRoute",
        dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id="h", pickup_date="2026-01-01", pickups_per_route_limit=-1),
        Code.INVALID_ARGUMENT,
        "pickups_per_route_limit",
    ),
    "recommend limit": (
        "RecommendDispatch",
        dispatch_pb2.RecommendDispatchRequest(hub_id="h", route_id="r", pickup_date="2026-01-01", limit=51),
        Code.INVALID_ARGUMENT,
        "limit",
    ),
    "recommend no route": (
        "RecommendDispatch",
        dispatch_pb2.RecommendDispatchRequest(hub_id="h", pickup_date="2026-01-01"),
        Code.INVALID_ARGUMENT,
        "route_id is required",
    ),
    "recommend unknown hub": (
        "RecommendDispatch",
        dispatch_pb2.RecommendDispatchRequest(hub_id="no-such-hub-x1", route_id="r", pickup_date="2026-01-01"),
        Code.NOT_FOUND,
        "no riders or vehicles",
    ),
    "create no request id": (
        "CreateDispatch",
        dispatch_pb2.CreateDispatchRequest(hub_id="h", route_id="r", pickup_date="2026-01-01"),
        Code.INVALID_ARGUMENT,
        "request_id is required",
    ),
    "create bad date": (
        "CreateDispatch",
        dispatch_pb2.CreateDispatchRequest(request_id="x", hub_id="h", route_id="r", pickup_date="2026-13-01"),
        Code.INVALID_ARGUMENT,
        "not a real date",
    ),
    "create too many purs": (
        "CreateDispatch",
        dispatch_pb2.CreateDispatchRequest(
            request_id="x", hub_id="h", route_id="r", pickup_date="2026-01-01", pur_ids=["p"] * 1001
        ),
        Code.INVALID_ARGUMENT,
        "limit is 1000",
    ),
    "get empty": ("GetDispatch", dispatch_pb2.GetDispatchRequest(), Code.INVALID_ARGUMENT, "id is required"),
    "get unknown": ("GetDispatch", dispatch_pb2.GetDispatchRequest(id="dsp_nope"), Code.NOT_FOUND, "dsp_nope"),
    "list page size": (
        "ListDispatches",
        dispatch_pb2.ListDispatchesRequest(hub_id="h", page_size=-1),
        Code.INVALID_ARGUMENT,
        "page_size",
    ),
    "list status": (
        "ListDispatches",
        dispatch_pb2.ListDispatchesRequest(hub_id="h", status=9),
        Code.INVALID_ARGUMENT,
        "status",
    ),
    "list token": (
        "ListDispatches",
        dispatch_pb2.ListDispatchesRequest(hub_id="h", page_token="garbage!"),
        Code.INVALID_ARGUMENT,
        "page_token",
    ),
    "add none": (
        "AddPickups",
        dispatch_pb2.AddPickupsRequest(dispatch_id="d"),
        Code.INVALID_ARGUMENT,
        "pur_ids must not be empty",
    ),
    "add unknown dispatch": (
        "AddPickups",
        dispatch_pb2.AddPickupsRequest(dispatch_id="dsp_nope", pur_ids=["p"]),
        Code.NOT_FOUND,
        "dsp_nope",
    ),
    "remove long reason": (
        "RemovePickups",
        dispatch_pb2.RemovePickupsRequest(dispatch_id="d", pur_ids=["p"], reason="x" * 501),
        Code.INVALID_ARGUMENT,
        "reason",
    ),
    "start unknown": ("StartDispatch", dispatch_pb2.StartDispatchRequest(id="dsp_nope"), Code.NOT_FOUND, "dsp_nope"),
    "cancel long reason": (
        "CancelDispatch",
        dispatch_pb2.CancelDispatchRequest(id="d", reason="x" * 501),
        Code.INVALID_ARGUMENT,
        "reason",
    ),
}


@pytest.mark.parametrize("method, request_, code, text", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
def test_bad_requests_get_the_right_code(stub, method, request_, code, text):
    got, details = status_of(getattr(stub, method), request_)
    assert got == code and text in details


def test_state_errors_are_failed_precondition_and_conflicts_already_exists(stub, uow_factory, attendance, hub):
    route(uow_factory, hub, f"{hub}-p1", f"{hub}-p2", f"{hub}-p3", packages=4)
    base = {"hub_id": hub, "route_id": "R1", "pickup_date": TODAY.isoformat()}
    attendance.present[hub].discard(f"{hub}-bala")
    absent = dispatch_pb2.CreateDispatchRequest(request_id="a", rider_id=f"{hub}-bala", **base)
    assert code_of(stub.CreateDispatch, absent) == Code.FAILED_PRECONDITION
    unknown = dispatch_pb2.CreateDispatchRequest(request_id="a", rider_id=f"{hub}-zed", **base)
    assert code_of(stub.CreateDispatch, unknown) == Code.NOT_FOUND
    too_much = dispatch_pb2.CreateDispatchRequest(
        request_id="b", pur_ids=[f"{hub}-p1", f"{hub}-p2", f"{hub}-p3"], **base
    )
    got, details = status_of(stub.CreateDispatch, too_much)
    assert got == Code.FAILED_PRECONDITION and "would carry 12 packages" in details
    d = stub.CreateDispatch(dispatch_pb2.CreateDispatchRequest(request_id="c", **base)).dispatch
    assert len(d.pur_ids) == 2
    same_key = dispatch_pb2.CreateDispatchRequest(request_id="c", rider_id=f"{hub}-asha", **base)
    assert code_of(stub.CreateDispatch, same_key) == Code.ALREADY_EXISTS
    add = dispatch_pb2.AddPickupsRequest(dispatch_id=d.id, pur_ids=[f"{hub}-p3"])
    assert code_of(stub.AddPickups, add) == Code.FAILED_PRECONDITION
    assert code_of(stub.CompleteDispatch, dispatch_pb2.CompleteDispatchRequest(id=d.id)) == Code.FAILED_PRECONDITION
    cancelled = stub.CancelDispatch(dispatch_pb2.CancelDispatchRequest(id=d.id, reason="rain")).dispatch
    assert cancelled.status == dispatch_pb2.DISPATCH_STATUS_CANCELLED and cancelled.cancel_reason == "rain"
    assert code_of(stub.StartDispatch, dispatch_pb2.StartDispatchRequest(id=d.id)) == Code.FAILED_PRECONDITION
    attendance.known = False
    try:
        unknown_attendance = dispatch_pb2.CreateDispatchRequest(request_id="e", **base)
        assert code_of(stub.CreateDispatch, unknown_attendance) == Code.UNAVAILABLE
        rec = stub.RecommendDispatch(dispatch_pb2.RecommendDispatchRequest(**base))
        assert rec.attendance_freshness.stale and "UNAVAILABLE" in rec.attendance_freshness.stale_reason
        assert rec.riders and not any(r.present for r in rec.riders)
    finally:
        attendance.known = True


def test_list_dispatches_pages_with_tokens_bound_to_filters(stub, attendance, hub):
    for i in range(3):
        rider = f"{hub}-r{i}"
        stub.UpsertRider(dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=rider, hub_id=hub)))
        add_vehicle(stub, f"{hub}-v{i}", hub, dispatch_pb2.VEHICLE_TYPE_VAN, packages=50, kg=50)
        attendance.present[hub].add(rider)
        stub.CreateDispatch(
            dispatch_pb2.CreateDispatchRequest(
                request_id=f"q{i}",
                hub_id=hub,
                route_id=f"R{i}",
                pickup_date=TODAY.isoformat(),
                rider_id=rider,
                vehicle_id=f"{hub}-v{i}",
            )
        )
    first = stub.ListDispatches(dispatch_pb2.ListDispatchesRequest(hub_id=hub, page_size=2))
    assert len(first.dispatches) == 2 and first.next_page_token
    second = stub.ListDispatches(
        dispatch_pb2.ListDispatchesRequest(hub_id=hub, page_size=2, page_token=first.next_page_token)
    )
    assert [d.route_id for d in [*first.dispatches, *second.dispatches]] == [
        "R2",
        "R1",
        "R0",
    ] and not second.next_page_token
    other = dispatch_pb2.ListDispatchesRequest(hub_id=hub, page_size=2, route_id="R1", page_token=first.next_page_token)
    got, details = status_of(stub.ListDispatches, other)
    assert got == Code.INVALID_ARGUMENT and "different filters" in details
    only = stub.ListDispatches(
        dispatch_pb2.ListDispatchesRequest(hub_id=hub, status=dispatch_pb2.DISPATCH_STATUS_OPEN, rider_id=f"{hub}-r1")
    )
    assert [d.route_id for d in only.dispatches] == ["R1"]


# -- the gRPC attendance client ---------------------------------------------------------------------


class _Attendance(attendance_pb2_grpc.AttendanceServiceServicer):
    def ListAvailableRiders(self, request, context):
        record = attendance_pb2.AttendanceRecord(
            rider_id="r1", hub_id=request.hub_id, date=request.date, status=attendance_pb2.ATTENDANCE_STATUS_PRESENT
        )
        return attendance_pb2.ListAvailableRidersResponse(
            records=[record], freshness=attendance_pb2.Freshness(source=attendance_pb2.ATTENDANCE_SOURCE_CACHED)
        )


def test_grpc_attendance_client_reads_present_riders():
    registration_ = ServiceRegistration(
        "firstmile.attendance.v1.AttendanceService",
        lambda server: attendance_pb2_grpc.add_AttendanceServiceServicer_to_server(_Attendance(), server),
        ATTENDANCE_ACCESS,
    )
    with serving(registration_) as server:
        client = GrpcAttendanceClient(auth.open_channel(address(server), auth.token("service")), 2.0)
        try:
            view = client.available_riders("hub-a", TODAY)
            assert view.known and set(view.present) == {"r1"}
            assert view.source is AttendanceSource.CACHED and not view.stale
        finally:
            client.close()


def test_grpc_attendance_client_says_unknown_when_nobody_answers():
    with socket.socket() as probe:  # a port with nothing behind it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = GrpcAttendanceClient(auth.open_channel(f"127.0.0.1:{port}", auth.token("service")), 0.5)
    try:
        view = client.available_riders("hub-a", TODAY)
    finally:
        client.close()
    assert not view.known and view.stale and not view.present
    assert "UNAVAILABLE" in view.reason or "DEADLINE_EXCEEDED" in view.reason
