"""Checks of the protobuf contract (protos/ and the generated code in gen/).

No infrastructure needed. The public names pinned by DESIGN.md (services, RPCs,
statuses, core fields, event payloads) are asserted here so that an accidental
rename fails fast. Leading comments on every element are enforced by
`buf lint` (COMMENTS rules in buf.yaml); the test for that runs only where the
buf binary is installed.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2
from google.protobuf.timestamp_pb2 import Timestamp

# gen/ is on sys.path through [tool.pytest.ini_options] pythonpath in pyproject.toml.
from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile.routing.v1 import routing_pb2

ROOT = Path(__file__).resolve().parents[2]
GEN = ROOT / "gen"
PROTOS = ROOT / "protos"
AREAS = ("common", "pur", "routing", "dispatch", "attendance", "events")

SERVICES = {
    (pur_pb2, "PickupService"): [
        "CreatePickupRequest",
        "BatchCreatePickupRequests",
        "GetPickupRequest",
        "ListPickupRequests",
        "CancelPickupRequest",
        "WatchPickupRequests",
    ],
    (routing_pb2, "RoutingService"): [
        "UpsertRoute",
        "ImportRoutes",
        "GetRoute",
        "ListRoutes",
        "DeleteRoute",
        "LookupRoute",
        "BatchLookupRoutes",
        "GetRouteMap",
    ],
    (dispatch_pb2, "DispatchService"): [
        "UpsertRider",
        "UpsertVehicle",
        "ListOpenPickupsByRoute",
        "RecommendDispatch",
        "CreateDispatch",
        "GetDispatch",
        "ListDispatches",
        "AddPickups",
        "RemovePickups",
        "StartDispatch",
        "CompleteDispatch",
        "CancelDispatch",
    ],
    (attendance_pb2, "AttendanceService"): [
        "GetAttendance",
        "ListAvailableRiders",
        "RecordAttendance",
    ],
}

FULL_SERVICE_NAMES = {
    "firstmile.pur.v1.PickupService",
    "firstmile.routing.v1.RoutingService",
    "firstmile.dispatch.v1.DispatchService",
    "firstmile.attendance.v1.AttendanceService",
}


def _generated_module_names() -> list[str]:
    names = []
    for path in sorted(GEN.rglob("*.py")):
        rel = path.relative_to(GEN).with_suffix("")
        names.append(".".join(rel.parts))
    return names


def _all_files():
    return [pur_pb2, routing_pb2, dispatch_pb2, attendance_pb2, events_pb2, common_pb2]


def _iter_messages(file_module):
    def walk(msg):
        yield msg
        for nested in msg.nested_types:
            yield from walk(nested)

    for msg in file_module.DESCRIPTOR.message_types_by_name.values():
        yield from walk(msg)


def _iter_enums(file_module):
    yield from file_module.DESCRIPTOR.enum_types_by_name.values()
    for msg in _iter_messages(file_module):
        yield from msg.enum_types


# --- generated code ---------------------------------------------------------------


def test_every_generated_module_imports():
    names = _generated_module_names()
    expected = {f"firstmile.{a}.v1.{a}{s}" for a in AREAS for s in ("_pb2", "_pb2_grpc")}
    assert expected <= set(names), sorted(expected - set(names))
    for name in names:
        importlib.import_module(name)


def test_gen_is_a_namespace_source_root():
    # No __init__.py anywhere: gen/ is a source root of implicit namespace packages.
    assert not list(GEN.rglob("__init__.py"))
    assert not (PROTOS / "__init__.py").exists()


def test_packages_match_directories():
    for module in _all_files():
        fd = module.DESCRIPTOR
        area = fd.name.split("/")[1]
        assert fd.package == f"firstmile.{area}.v1"
        assert fd.name == f"firstmile/{area}/v1/{area}.proto"
        assert (PROTOS / fd.name).is_file()


# --- services and RPCs ----------------------------------------------------------


@pytest.mark.parametrize(("module", "service", "rpcs"), [(m, s, r) for (m, s), r in SERVICES.items()])
def test_service_has_every_rpc(module, service, rpcs):
    svc = module.DESCRIPTOR.services_by_name[service]
    assert svc.full_name in FULL_SERVICE_NAMES
    assert set(rpcs) <= set(svc.methods_by_name), sorted(set(rpcs) - set(svc.methods_by_name))
    grpc_module = importlib.import_module(module.__name__ + "_grpc")
    assert hasattr(grpc_module, f"{service}Stub")
    assert hasattr(grpc_module, f"{service}Servicer")
    assert hasattr(grpc_module, f"add_{service}Servicer_to_server")


def test_rpc_request_response_naming():
    for module in _all_files():
        for svc in module.DESCRIPTOR.services_by_name.values():
            for method in svc.methods:
                assert method.input_type.full_name == f"{svc.file.package}.{method.name}Request"
                assert method.output_type.full_name == f"{svc.file.package}.{method.name}Response"


def test_streaming_shapes():
    watches = {
        pur_pb2.DESCRIPTOR.services_by_name["PickupService"].methods_by_name["WatchPickupRequests"],
        dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"].methods_by_name["WatchOpenPickupsByRoute"],
    }
    for watch in watches:
        assert watch.server_streaming and not watch.client_streaming
    # Every other RPC of the mesh is unary.
    for module in _all_files():
        for s in module.DESCRIPTOR.services_by_name.values():
            for method in s.methods:
                if method in watches:
                    continue
                assert not method.server_streaming and not method.client_streaming, method.full_name


def test_only_the_four_public_services_exist():
    found = {s.full_name for m in _all_files() for s in m.DESCRIPTOR.services_by_name.values()}
    assert found == FULL_SERVICE_NAMES


# --- enums -----------------------------------------------------------------------


def _enum_values(enum_wrapper) -> dict[str, int]:
    return {v.name: v.number for v in enum_wrapper.DESCRIPTOR.values}


def test_pickup_status_values():
    assert _enum_values(pur_pb2.PickupStatus) == {
        "PICKUP_STATUS_UNSPECIFIED": 0,
        "PICKUP_STATUS_PENDING_ROUTE": 1,
        "PICKUP_STATUS_ROUTED": 2,
        "PICKUP_STATUS_UNROUTABLE": 3,
        "PICKUP_STATUS_DISPATCHED": 4,
        "PICKUP_STATUS_PICKED_UP": 5,
        "PICKUP_STATUS_CANCELLED": 6,
    }


def test_other_public_enums():
    assert common_pb2.RouteMatch.DESCRIPTOR.full_name == "firstmile.common.v1.RouteMatch"
    assert _enum_values(common_pb2.RouteMatch) == {
        "ROUTE_MATCH_UNSPECIFIED": 0,
        "ROUTE_MATCH_EXACT": 1,
        "ROUTE_MATCH_NEAREST": 2,
        "ROUTE_MATCH_NONE": 3,
        "ROUTE_MATCH_MANUAL": 4,
    }
    assert _enum_values(dispatch_pb2.DispatchStatus) == {
        "DISPATCH_STATUS_UNSPECIFIED": 0,
        "DISPATCH_STATUS_OPEN": 1,
        "DISPATCH_STATUS_IN_PROGRESS": 2,
        "DISPATCH_STATUS_COMPLETED": 3,
        "DISPATCH_STATUS_CANCELLED": 4,
    }
    assert _enum_values(dispatch_pb2.VehicleType) == {
        "VEHICLE_TYPE_UNSPECIFIED": 0,
        "VEHICLE_TYPE_BIKE": 1,
        "VEHICLE_TYPE_THREE_WHEELER": 2,
        "VEHICLE_TYPE_VAN": 3,
        "VEHICLE_TYPE_TRUCK": 4,
    }
    assert _enum_values(attendance_pb2.AttendanceStatus) == {
        "ATTENDANCE_STATUS_UNSPECIFIED": 0,
        "ATTENDANCE_STATUS_PRESENT": 1,
        "ATTENDANCE_STATUS_ABSENT": 2,
        "ATTENDANCE_STATUS_ON_LEAVE": 3,
        "ATTENDANCE_STATUS_CHECKED_OUT": 4,
        "ATTENDANCE_STATUS_ROSTERED": 5,
    }


def test_enum_style():
    for module in _all_files():
        for enum in _iter_enums(module):
            prefix = "".join("_" + c if c.isupper() else c.upper() for c in enum.name).lstrip("_") + "_"
            assert enum.values[0].number == 0
            assert enum.values[0].name == prefix + "UNSPECIFIED", enum.full_name
            for value in enum.values:
                assert value.name.startswith(prefix), value.name


# --- core fields -------------------------------------------------------------------


def _field_names(message) -> set[str]:
    return {f.name for f in message.DESCRIPTOR.fields}


def test_pickup_request_core_fields():
    assert {
        "id", "request_id", "client_id", "hub_id", "warehouse", "pickup_date",
        "expected_packages", "expected_weight_kg", "status", "route_id", "rider_id",
        "dispatch_id", "route_match", "distance_m", "map_version", "unroutable_reason",
        "created_at", "updated_at", "routed_at",
    } <= _field_names(pur_pb2.PickupRequest)  # fmt: skip
    assert _field_names(common_pb2.Warehouse) >= {"id", "name", "address", "pincode", "location"}
    assert _field_names(common_pb2.LatLng) == {"lat", "lng"}
    fields = pur_pb2.PickupRequest.DESCRIPTOR.fields_by_name
    assert fields["route_match"].enum_type.full_name == "firstmile.common.v1.RouteMatch"
    assert fields["status"].enum_type.full_name == "firstmile.pur.v1.PickupStatus"
    for ts in ("created_at", "updated_at", "routed_at"):
        assert fields[ts].message_type.full_name == "google.protobuf.Timestamp"
    assert fields["pickup_date"].type == fields["pickup_date"].TYPE_STRING
    assert fields["map_version"].type == fields["map_version"].TYPE_INT64


def test_list_pickup_requests_filters():
    assert {
        "hub_id", "status", "route_id", "pickup_date", "client_id", "page_size", "page_token",
    } <= _field_names(pur_pb2.ListPickupRequestsRequest)  # fmt: skip
    assert "next_page_token" in _field_names(pur_pb2.ListPickupRequestsResponse)


def test_route_and_lookup_fields():
    assert {
        "id", "hub_id", "name", "geometry_geojson", "default_rider_id", "priority",
        "active", "cell_count", "map_version",
    } <= _field_names(routing_pb2.Route)  # fmt: skip
    assert {
        "route_id", "hub_id", "rider_id", "match", "distance_m", "h3_cell", "map_version",
        "unroutable_reason",
    } <= _field_names(routing_pb2.LookupRouteResponse)  # fmt: skip
    batch = routing_pb2.BatchLookupRoutesRequest.DESCRIPTOR.fields_by_name["lookups"]
    assert batch.message_type is routing_pb2.LookupRouteRequest.DESCRIPTOR
    result = routing_pb2.BatchLookupRoutesResponse.DESCRIPTOR.fields_by_name["results"]
    assert result.message_type is routing_pb2.LookupRouteResponse.DESCRIPTOR


def test_dispatch_fields():
    assert {
        "id", "hub_id", "route_id", "pickup_date", "rider_id", "vehicle_id", "status",
        "pur_ids", "total_packages", "total_weight_kg", "created_at", "started_at",
        "completed_at", "cancelled_at", "cancel_reason",
    } <= _field_names(dispatch_pb2.Dispatch)  # fmt: skip
    assert {
        "request_id", "hub_id", "route_id", "pickup_date", "rider_id", "vehicle_id", "pur_ids",
    } <= _field_names(dispatch_pb2.CreateDispatchRequest)  # fmt: skip
    assert {"id", "hub_id", "name", "phone", "active"} <= _field_names(dispatch_pb2.Rider)
    assert {
        "id", "hub_id", "type", "capacity_packages", "capacity_kg", "registration", "active",
    } <= _field_names(dispatch_pb2.Vehicle)  # fmt: skip


def test_active_flags_track_presence():
    # Unset `active` on an upsert means true, so the field must track presence.
    for message in (routing_pb2.Route, dispatch_pb2.Rider, dispatch_pb2.Vehicle):
        assert message.DESCRIPTOR.fields_by_name["active"].has_presence, message.DESCRIPTOR.full_name
    assert not routing_pb2.Route(id="r1").HasField("active")


def test_attendance_freshness():
    assert {"source", "stale", "age", "fetched_at"} <= _field_names(attendance_pb2.Freshness)
    for response in (attendance_pb2.GetAttendanceResponse, attendance_pb2.ListAvailableRidersResponse):
        assert "freshness" in _field_names(response)


# --- events ---------------------------------------------------------------------------


def test_event_payloads_exist():
    for name in (
        "PickupRequested",
        "RouteAssigned",
        "Unroutable",
        "RouteAssignment",
        "PickupStatusChanged",
        "DispatchEvent",
        "PickupDispatched",
        "PickupReleased",
        "PickupPickedUp",
        "DispatchStarted",
        "RouteMapChanged",
        "AttendanceChanged",
    ):
        assert name in events_pb2.DESCRIPTOR.message_types_by_name, name


def test_event_oneofs():
    ra = events_pb2.RouteAssignment.DESCRIPTOR.oneofs_by_name["result"]
    assert [f.name for f in ra.fields] == ["assigned", "unroutable"]
    de = events_pb2.DispatchEvent.DESCRIPTOR.oneofs_by_name["change"]
    assert [f.name for f in de.fields] == ["dispatched", "released", "picked_up", "started", "rider_changed"]

    msg = events_pb2.RouteAssignment(unroutable=events_pb2.Unroutable(pur_id="p1", reason="too far"))
    decoded = events_pb2.RouteAssignment.FromString(msg.SerializeToString())
    assert decoded.WhichOneof("result") == "unroutable"
    assert decoded.unroutable.reason == "too far"

    ev = events_pb2.DispatchEvent(pur_id="p1", dispatch_id="d1", version=3, picked_up=events_pb2.PickupPickedUp())
    assert events_pb2.DispatchEvent.FromString(ev.SerializeToString()).WhichOneof("change") == "picked_up"


def test_pickup_status_changed_uses_pur_types():
    fields = events_pb2.PickupStatusChanged.DESCRIPTOR.fields_by_name
    assert fields["status"].enum_type is pur_pb2.PickupStatus.DESCRIPTOR
    assert fields["previous_status"].enum_type is pur_pb2.PickupStatus.DESCRIPTOR
    assert fields["pickup_request"].message_type is pur_pb2.PickupRequest.DESCRIPTOR
    assert fields["version"].type == fields["version"].TYPE_INT64


# --- round trip -----------------------------------------------------------------------


def _sample_pickup_request() -> pur_pb2.PickupRequest:
    ts = Timestamp(seconds=1_700_000_000, nanos=123_000_000)
    return pur_pb2.PickupRequest(
        id="pur-1",
        request_id="req-1",
        client_id="client-1",
        hub_id="BLR-01",
        warehouse=common_pb2.Warehouse(
            id="wh-1",
            name="Main warehouse",
            address="12 MG Road, Bengaluru",
            pincode="560001",
            location=common_pb2.LatLng(lat=12.9716, lng=77.5946),
        ),
        pickup_date="2024-05-17",
        expected_packages=42,
        expected_weight_kg=87.5,
        status=pur_pb2.PICKUP_STATUS_ROUTED,
        route_id="BLR-01-R07",
        rider_id="rider-9",
        dispatch_id="",
        route_match=common_pb2.ROUTE_MATCH_NEAREST,
        distance_m=312.25,
        map_version=7,
        unroutable_reason="",
        created_at=ts,
        updated_at=ts,
        routed_at=ts,
        version=3,
    )


def test_pickup_request_round_trip():
    pr = _sample_pickup_request()
    data = pr.SerializeToString(deterministic=True)
    decoded = pur_pb2.PickupRequest.FromString(data)
    assert decoded == pr
    assert decoded.warehouse.location.lng == pytest.approx(77.5946)
    assert decoded.status == pur_pb2.PICKUP_STATUS_ROUTED
    assert decoded.routed_at.ToNanoseconds() == 1_700_000_000_123_000_000

    # Also through the event that carries it, and through JSON.
    from google.protobuf import json_format

    event = events_pb2.PickupStatusChanged(
        pur_id=pr.id,
        previous_status=pur_pb2.PICKUP_STATUS_PENDING_ROUTE,
        status=pr.status,
        pickup_request=pr,
        version=pr.version,
    )
    assert events_pb2.PickupStatusChanged.FromString(event.SerializeToString()).pickup_request == pr
    assert json_format.Parse(json_format.MessageToJson(pr), pur_pb2.PickupRequest()) == pr


# --- tooling checks (skipped where the tool is missing) ------------------------------------


def _buf() -> str | None:
    for local in (ROOT / ".cache" / "bin" / "buf", ROOT / ".cache" / "npm" / "node_modules" / ".bin" / "buf"):
        if local.exists():
            return str(local)
    return shutil.which("buf")


def test_buf_lint_clean():
    """STANDARD + COMMENTS: every service, RPC, message, field, oneof, enum and value is documented."""
    buf = _buf()
    if buf is None:
        pytest.skip("buf is not installed (npm install --prefix .cache/npm @bufbuild/buf)")
    result = subprocess.run([buf, "lint"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_generated_code_is_fresh():
    try:
        importlib.import_module("grpc_tools.protoc")
    except ImportError:  # pragma: no cover - grpcio-tools is a project dependency
        pytest.skip("grpcio-tools is not installed")
    env = dict(os.environ, PYTHON=sys.executable)
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gen.sh"), "--check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_external_proto_dependencies():
    """Only firstmile/* and google/protobuf well-known types are imported (no googleapis)."""
    for proto in sorted(PROTOS.rglob("*.proto")):
        fdp = descriptor_pb2.FileDescriptorProto()
        module = importlib.import_module(".".join(proto.relative_to(PROTOS).with_suffix("").parts) + "_pb2")
        module.DESCRIPTOR.CopyToProto(fdp)
        for dep in fdp.dependency:
            assert dep.startswith("firstmile/") or dep.startswith("google/protobuf/"), (proto, dep)
