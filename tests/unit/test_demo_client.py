"""firstmile_client, the client side of the demo, the benchmarks and the fault suite (no mesh
needed: a local health server stands in for a service)."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent import futures

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from demo import city, workload
from firstmile.attendance.v1 import attendance_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile_client import channels, requests
from firstmile_client.channels import ToolError, connect, explain
from firstmile_client.endpoints import Endpoint, dispatch_endpoint, pur_endpoint, routing_endpoint
from firstmile_client.stubs import MeshClients


@pytest.fixture
def tool_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIRSTMILE_GRPC_TRANSPORT", "plaintext")
    monkeypatch.setenv("FIRSTMILE_AUTH_TOKEN", "a-token")
    monkeypatch.delenv("FIRSTMILE_AUTH_TOKEN_FILE", raising=False)


@pytest.fixture
def health_server() -> Iterator[tuple[str, health.HealthServicer]]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield f"127.0.0.1:{port}", servicer
    server.stop(grace=None)


def test_endpoints_name_the_service_each_process_serves():
    assert pur_endpoint("h:1") == Endpoint("pur_svc", "firstmile.pur.v1.PickupService", "h:1")
    assert routing_endpoint("h:2").grpc_service == "firstmile.routing.v1.RoutingService"
    assert Endpoint.of("attendance_adapter", "h:4").grpc_service == "firstmile.attendance.v1.AttendanceService"
    assert dispatch_endpoint("h:3").log_hint == "its log: .cache/logs/dispatch_svc.log"


def test_connect_yields_stubs_of_the_services_that_serve(tool_environment, health_server):
    address, servicer = health_server
    servicer.set("firstmile.pur.v1.PickupService", health_pb2.HealthCheckResponse.SERVING)
    with connect(pur_endpoint(address)) as clients:
        assert clients.pur_endpoint.address == address
        assert clients.pur is clients.pur
        with pytest.raises(KeyError, match="routing_svc"):
            clients.routing  # noqa: B018 - the property is what is tested


def test_a_service_that_is_not_serving_is_a_tool_error(tool_environment, health_server):
    address, servicer = health_server
    servicer.set("firstmile.routing.v1.RoutingService", health_pb2.HealthCheckResponse.NOT_SERVING)
    with (
        pytest.raises(ToolError, match=r"routing_svc at .* is NOT_SERVING \(starting or draining\)"),
        connect(routing_endpoint(address)),
    ):
        pass


def test_an_unreachable_service_is_a_tool_error(tool_environment, monkeypatch):
    monkeypatch.setattr(channels, "READY_TIMEOUT_S", 0.2)
    with (
        pytest.raises(ToolError, match=r"pur_svc is not reachable at 127.0.0.1:9\. Start the mesh with `make up`"),
        connect(pur_endpoint("127.0.0.1:9")),
    ):
        pass


def test_without_a_token_a_tool_says_what_to_set(monkeypatch):
    monkeypatch.setenv("FIRSTMILE_GRPC_TRANSPORT", "plaintext")
    monkeypatch.delenv("FIRSTMILE_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("FIRSTMILE_AUTH_TOKEN_FILE", raising=False)
    with pytest.raises(ToolError, match="cannot call the mesh: no bearer token.*`make run` sets these up"):
        channels.tool_channel("127.0.0.1:9")


class Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


@pytest.mark.parametrize(
    ("code", "said"),
    [
        (grpc.StatusCode.UNAVAILABLE, "pur_svc at h:1 is unavailable during ListPickupRequests: gone; its log"),
        (grpc.StatusCode.UNIMPLEMENTED, "pur_svc does not implement ListPickupRequests yet (h:1); its log"),
        (grpc.StatusCode.DEADLINE_EXCEEDED, "ListPickupRequests on pur_svc took too long (gone); its log"),
        (grpc.StatusCode.NOT_FOUND, "ListPickupRequests on pur_svc failed with NOT_FOUND: gone"),
    ],
)
def test_explain_says_why_a_call_failed(code, said):
    assert str(explain(Failed(code, "gone"), pur_endpoint("h:1"), "ListPickupRequests")).startswith(said)


def test_mesh_clients_close_their_channels():
    channel = grpc.insecure_channel("127.0.0.1:9")
    MeshClients({pur_endpoint("127.0.0.1:9"): channel}).close()
    with pytest.raises(ValueError):
        channel.unary_unary("/x/y")(b"", timeout=0.1)


def test_a_planned_pickup_becomes_the_request_that_creates_it():
    pickup = workload.plan_day(city.load_route_map(), 1, seed=3, run_id="run")[0]
    request = pickup.request("HUB-1", "2025-03-14")
    assert (request.request_id, request.client_id, request.hub_id, request.pickup_date) == (
        pickup.request_id,
        pickup.client_id,
        "HUB-1",
        "2025-03-14",
    )
    warehouse = request.warehouse
    assert (warehouse.id, warehouse.name, warehouse.address, warehouse.pincode) == (
        pickup.warehouse_id,
        pickup.warehouse_name,
        pickup.address,
        pickup.pincode,
    )
    assert (warehouse.location.lat, warehouse.location.lng) == (pickup.lat, pickup.lng)
    assert (request.expected_packages, request.expected_weight_kg) == (
        pickup.expected_packages,
        pickup.expected_weight_kg,
    )


def test_fleet_requests_are_active_and_complete():
    rider = requests.upsert_rider_request(rider_id="r1", hub_id="H", name="Ravi").rider
    assert (rider.id, rider.hub_id, rider.name, rider.HasField("active"), rider.active) == (
        "r1",
        "H",
        "Ravi",
        True,
        True,
    )
    vehicle = requests.upsert_vehicle_request(
        vehicle_id="v1",
        hub_id="H",
        vehicle_type=dispatch_pb2.VEHICLE_TYPE_VAN,
        capacity_packages=40,
        capacity_kg=400.0,
        registration="KA-01",
    ).vehicle
    assert (vehicle.type, vehicle.capacity_packages, vehicle.capacity_kg, vehicle.active) == (
        dispatch_pb2.VEHICLE_TYPE_VAN,
        40,
        400.0,
        True,
    )
    absent = requests.record_attendance_request(
        rider_id="r1", hub_id="H", day="2025-03-14", status=attendance_pb2.ATTENDANCE_STATUS_ABSENT
    )
    assert not absent.HasField("check_in_time") and absent.date == "2025-03-14"


def test_a_route_map_import_replaces_the_hub_map_by_default():
    collection = {"type": "FeatureCollection", "features": []}
    request = requests.import_routes_request("H", collection)
    assert (request.hub_id, request.replace_existing) == ("H", True)
    assert request.feature_collection_geojson == '{"type": "FeatureCollection", "features": []}'
    assert not requests.import_routes_request("H", collection, replace_existing=False).replace_existing
