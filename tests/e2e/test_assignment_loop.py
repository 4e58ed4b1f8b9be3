"""The PUR-to-route loop through real processes, Kafka, PostgreSQL and Redis: a PUR created over
gRPC is ROUTED by geography with no one in the loop, a map change re-routes it, and a routing_svc
killed mid-stream loses nothing."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import grpc
import pytest

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.kafka import EventHeaders, make_producer
from mesh.topics import PUR_ROUTE_ASSIGNMENTS
from tests.support.geometry import square_geojson

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date().isoformat()
SETTLED = {pur_pb2.PICKUP_STATUS_ROUTED, pur_pb2.PICKUP_STATUS_UNROUTABLE}


@pytest.fixture
def mesh(start_service):
    routing = start_service("routing_svc")
    pur = start_service("pur_svc")
    routing.wait_serving()
    pur.wait_serving()
    routing_channel = routing.channel()
    pur_channel = pur.channel()
    yield {
        "routing": routing_pb2_grpc.RoutingServiceStub(routing_channel),
        "pur": pur_pb2_grpc.PickupServiceStub(pur_channel),
        "routing_process": routing,
        "start_service": start_service,
    }
    routing_channel.close()
    pur_channel.close()


def upsert_route(routing, route: routing_pb2.Route) -> None:
    routing.UpsertRoute(routing_pb2.UpsertRouteRequest(route=route), timeout=30)


def new_hub_with_one_route(routing, size: float = 0.01) -> str:
    """A fresh hub whose map is one route, {hub}-R1 of rider-1: a square of `size` degrees at
    12.90 N, 77.60 E."""
    hub = f"HUB-{uuid.uuid4().hex[:8]}"
    square = square_geojson(77.60, 12.90, size)
    upsert_route(
        routing,
        routing_pb2.Route(id=f"{hub}-R1", hub_id=hub, name="One", geometry_geojson=square, default_rider_id="rider-1"),
    )
    return hub


def pur_request(hub: str, request_id: str, lat: float, lng: float) -> pur_pb2.CreatePickupRequestRequest:
    return pur_pb2.CreatePickupRequestRequest(
        request_id=request_id,
        client_id=f"client-{hub}",
        hub_id=hub,
        warehouse=common_pb2.Warehouse(name="Seller", location=common_pb2.LatLng(lat=lat, lng=lng)),
        pickup_date=TODAY,
        expected_packages=2,
        expected_weight_kg=1.0,
    )


def create_when_hub_known(stub, request, timeout: float = 30.0):
    """pur_svc learns hubs from routing.map-changes.v1: retry NOT_FOUND until it has."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return stub(request, timeout=10)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for(pur_stub, pur_id: str, done, timeout: float = 60.0) -> pur_pb2.PickupRequest:
    deadline = time.monotonic() + timeout
    while True:
        pur = pur_stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_id), timeout=10).pickup_request
        if done(pur) or time.monotonic() > deadline:
            return pur
        time.sleep(0.1)


def test_created_pur_is_routed_then_rerouted_by_a_map_change(mesh):
    routing, pur_stub = mesh["routing"], mesh["pur"]
    hub = new_hub_with_one_route(routing)
    created = create_when_hub_known(pur_stub.CreatePickupRequest, pur_request(hub, "in-r1", 12.905, 77.605))
    pur = wait_for(pur_stub, created.pickup_request.id, lambda p: p.status in SETTLED)
    assert pur.status == pur_pb2.PICKUP_STATUS_ROUTED
    assert (pur.route_id, pur.rider_id, pur.route_match, pur.map_version) == (
        f"{hub}-R1",
        "rider-1",
        common_pb2.ROUTE_MATCH_EXACT,
        1,
    )

    far = create_when_hub_known(pur_stub.CreatePickupRequest, pur_request(hub, "far", 13.5, 78.2))
    far_pur = wait_for(pur_stub, far.pickup_request.id, lambda p: p.status in SETTLED)
    assert far_pur.status == pur_pb2.PICKUP_STATUS_UNROUTABLE and far_pur.unroutable_reason

    # A premium route over the same spot: the PUR moves to it at map version 2.
    upsert_route(
        routing,
        routing_pb2.Route(
            id=f"{hub}-R2",
            hub_id=hub,
            name="Premium",
            geometry_geojson=square_geojson(77.604, 12.904, 0.002),
            default_rider_id="rider-2",
            priority=10,
        ),
    )
    pur = wait_for(pur_stub, created.pickup_request.id, lambda p: p.map_version >= 2)
    assert (pur.status, pur.route_id, pur.rider_id, pur.map_version) == (
        pur_pb2.PICKUP_STATUS_ROUTED,
        f"{hub}-R2",
        "rider-2",
        2,
    )


def test_killing_routing_svc_mid_stream_loses_no_pur(mesh):
    routing, pur_stub = mesh["routing"], mesh["pur"]
    hub = new_hub_with_one_route(routing, size=0.05)
    ids: list[str] = []
    for batch in range(10):
        requests = [pur_request(hub, f"b{batch}-{i}", 12.90 + 0.0001 * i, 77.60 + 0.004 * batch) for i in range(50)]
        response = create_when_hub_known(
            pur_stub.BatchCreatePickupRequests, pur_pb2.BatchCreatePickupRequestsRequest(requests=requests)
        )
        ids.extend(p.id for p in response.pickup_requests)
        if batch == 4:
            mesh["routing_process"].kill()
            mesh["start_service"]("routing_svc").wait_serving()

    deadline = time.monotonic() + 120
    pending = set(ids)
    while pending and time.monotonic() < deadline:
        listed = pur_stub.ListPickupRequests(
            pur_pb2.ListPickupRequestsRequest(hub_id=hub, status=pur_pb2.PICKUP_STATUS_ROUTED, page_size=1000),
            timeout=10,
        )
        pending -= {p.id for p in listed.pickup_requests}
        time.sleep(0.5)
    assert not pending, f"{len(pending)} of {len(ids)} PURs never routed"
    assert len(ids) == len(set(ids)) == 500


def test_duplicated_and_reordered_assignment_events_change_nothing(mesh, kafka_bootstrap_servers):
    """Events replayed into Kafka by hand, as a redelivery or a lagging replica would: the PUR
    keeps the answer of the newest map version, and a duplicate adds no status change."""
    routing, pur_stub = mesh["routing"], mesh["pur"]
    hub = new_hub_with_one_route(routing)
    created = create_when_hub_known(pur_stub.CreatePickupRequest, pur_request(hub, "replayed", 12.905, 77.605))
    pur_id = created.pickup_request.id
    routed = wait_for(pur_stub, pur_id, lambda p: p.status in SETTLED)
    assert routed.map_version == 1

    def assignment(route_id: str, map_version: int) -> events_pb2.RouteAssignment:
        return events_pb2.RouteAssignment(
            assigned=events_pb2.RouteAssigned(
                pur_id=pur_id,
                route_id=route_id,
                hub_id=hub,
                rider_id=f"rider-{route_id}",
                match=common_pb2.ROUTE_MATCH_EXACT,
                map_version=map_version,
            )
        )

    producer = make_producer(kafka_bootstrap_servers, client_id="e2e-replay")
    try:
        for event in (assignment(f"{hub}-NEW", 7), assignment(f"{hub}-OLD", 3), assignment(f"{hub}-NEW", 7)):
            headers = EventHeaders(
                id=str(uuid.uuid4()),
                type=events_pb2.RouteAssignment.DESCRIPTOR.full_name,
                source="e2e-test",
                time=datetime.now(UTC),
            )
            producer.send(
                PUR_ROUTE_ASSIGNMENTS, key=pur_id.encode(), value=event.SerializeToString(), headers=headers.to_kafka()
            )
        producer.flush(timeout=10)
    finally:
        producer.close(timeout=5)

    pur = wait_for(pur_stub, pur_id, lambda p: p.map_version == 7)
    time.sleep(2)  # room for the older and the duplicate event to arrive after the newest
    pur = pur_stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_id), timeout=10).pickup_request
    assert (pur.route_id, pur.map_version) == (f"{hub}-NEW", 7)
    assert pur.version == routed.version + 1


def test_watch_streams_a_hubs_status_changes_live(mesh):
    routing, pur_stub = mesh["routing"], mesh["pur"]
    hub = new_hub_with_one_route(routing)
    # The hub must be known before the stream opens, or the first create would be refused.
    create_when_hub_known(pur_stub.CreatePickupRequest, pur_request(hub, "warm-up", 12.905, 77.605))
    stream = pur_stub.WatchPickupRequests(
        pur_pb2.WatchPickupRequestsRequest(hub_id=hub, statuses=[pur_pb2.PICKUP_STATUS_ROUTED]), timeout=60
    )
    time.sleep(2)  # the feed's consumer joins at the end of the topic
    created = pur_stub.CreatePickupRequest(pur_request(hub, "watched", 12.906, 77.606), timeout=10)
    try:
        for update in stream:
            if update.pickup_request.id == created.pickup_request.id:
                assert update.pickup_request.status == pur_pb2.PICKUP_STATUS_ROUTED
                assert update.previous_status == pur_pb2.PICKUP_STATUS_PENDING_ROUTE
                assert update.pickup_request.route_id == f"{hub}-R1"
                break
    finally:
        stream.cancel()
