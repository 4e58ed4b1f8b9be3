"""PickupService over a real gRPC server: bad input gets the right status code and writes nothing."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa

from firstmile.common.v1 import common_pb2
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from pur_svc.adapters import orm
from pur_svc.entrypoints.grpc_api import registration
from tests.support.in_process_server import admin_channel
from tests.support.sql_servicers import pickup_servicer

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def stub(session_factory, kafka_bootstrap_servers):
    with admin_channel(registration(pickup_servicer(session_factory, kafka_bootstrap_servers))) as channel:
        yield pur_pb2_grpc.PickupServiceStub(channel)


@pytest.fixture(scope="module")
def hub(engine) -> str:
    hub_id = f"hub-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.insert(orm.hubs).values(hub_id=hub_id, map_version=1, updated_at=datetime.now(UTC)))
    return hub_id


def create_request(client: str, hub: str, **changes) -> pur_pb2.CreatePickupRequestRequest:
    location = changes.pop("location", common_pb2.LatLng(lat=12.97, lng=77.59))
    fields = {
        "request_id": "r1",
        "client_id": client,
        "hub_id": hub,
        "warehouse": common_pb2.Warehouse(
            id="wh-1", name="Seller", address="MG Road", pincode="560001", location=location
        ),
        "pickup_date": TODAY.isoformat(),
        "expected_packages": 3,
        "expected_weight_kg": 1.5,
    }
    fields.update(changes)
    return pur_pb2.CreatePickupRequestRequest(**fields)


def count_rows(engine, client: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(orm.pickup_requests).where(orm.pickup_requests.c.client_id == client)
        ).scalar_one()


BAD_CREATES = {
    "nan lat": ({"location": common_pb2.LatLng(lat=math.nan, lng=77.5)}, grpc.StatusCode.INVALID_ARGUMENT, "lat"),
    "infinite lng": ({"location": common_pb2.LatLng(lat=12.9, lng=math.inf)}, grpc.StatusCode.INVALID_ARGUMENT, "lng"),
    "lat out of range": (
        {"location": common_pb2.LatLng(lat=91, lng=77.5)},
        grpc.StatusCode.INVALID_ARGUMENT,
        "[-90, 90]",
    ),
    "lng out of range": (
        {"location": common_pb2.LatLng(lat=12, lng=-181)},
        grpc.StatusCode.INVALID_ARGUMENT,
        "[-180, 180]",
    ),
    "empty request id": ({"request_id": ""}, grpc.StatusCode.INVALID_ARGUMENT, "request_id is required"),
    "oversized request id": ({"request_id": "x" * 65}, grpc.StatusCode.INVALID_ARGUMENT, "request_id must be 1-64"),
    "oversized address": (
        {"warehouse": common_pb2.Warehouse(address="a" * 501, location=common_pb2.LatLng(lat=1, lng=1))},
        grpc.StatusCode.INVALID_ARGUMENT,
        "warehouse.address",
    ),
    "no location": (
        {"warehouse": common_pb2.Warehouse(name="x")},
        grpc.StatusCode.INVALID_ARGUMENT,
        "location is required",
    ),
    "impossible date": ({"pickup_date": "2026-02-30"}, grpc.StatusCode.INVALID_ARGUMENT, "not a real date"),
    "badly formatted date": ({"pickup_date": "23/11/2026"}, grpc.StatusCode.INVALID_ARGUMENT, "YYYY-MM-DD"),
    "date far in the past": (
        {"pickup_date": (TODAY - timedelta(days=30)).isoformat()},
        grpc.StatusCode.INVALID_ARGUMENT,
        "pickup_date",
    ),
    "zero packages": ({"expected_packages": 0}, grpc.StatusCode.INVALID_ARGUMENT, "expected_packages"),
    "negative weight": ({"expected_weight_kg": -1}, grpc.StatusCode.INVALID_ARGUMENT, "expected_weight_kg"),
    "nan weight": ({"expected_weight_kg": math.nan}, grpc.StatusCode.INVALID_ARGUMENT, "expected_weight_kg"),
    "unknown hub": ({"hub_id": "hub-nowhere"}, grpc.StatusCode.NOT_FOUND, "unknown"),
}


@pytest.mark.parametrize("case", list(BAD_CREATES))
def test_bad_create_is_refused_and_writes_nothing(stub, engine, hub, case):
    changes, code, fragment = BAD_CREATES[case]
    client = f"client-{uuid.uuid4().hex[:8]}"
    with pytest.raises(grpc.RpcError) as err:
        stub.CreatePickupRequest(create_request(client, hub, **changes), timeout=10)
    assert err.value.code() == code
    assert fragment in err.value.details()
    assert count_rows(engine, client) == 0


def test_create_get_list_cancel_round_trip(stub, hub):
    client = f"client-{uuid.uuid4().hex[:8]}"
    created = stub.CreatePickupRequest(create_request(client, hub), timeout=10)
    assert created.created and created.pickup_request.status == pur_pb2.PICKUP_STATUS_PENDING_ROUTE
    again = stub.CreatePickupRequest(create_request(client, hub), timeout=10)
    assert again.pickup_request.id == created.pickup_request.id and not again.created

    got = stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=created.pickup_request.id), timeout=10)
    assert got.pickup_request.warehouse.location.lat == pytest.approx(12.97)
    listed = stub.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(client_id=client), timeout=10)
    assert [p.id for p in listed.pickup_requests] == [created.pickup_request.id]

    cancelled = stub.CancelPickupRequest(
        pur_pb2.CancelPickupRequestRequest(id=created.pickup_request.id, reason="closed"), timeout=10
    )
    assert cancelled.pickup_request.status == pur_pb2.PICKUP_STATUS_CANCELLED


def test_batch_with_one_bad_item_names_it_and_writes_nothing(stub, engine, hub):
    client = f"client-{uuid.uuid4().hex[:8]}"
    items = [create_request(client, hub, request_id=f"r{i}") for i in range(10)]
    items[7] = create_request(client, hub, request_id="r7", location=common_pb2.LatLng(lat=math.nan, lng=1))
    with pytest.raises(grpc.RpcError) as err:
        stub.BatchCreatePickupRequests(pur_pb2.BatchCreatePickupRequestsRequest(requests=items), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith("requests[7]: ")
    assert count_rows(engine, client) == 0


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (pur_pb2.ListPickupRequestsRequest(page_size=-1), "page_size"),
        (pur_pb2.ListPickupRequestsRequest(page_token="not-a-token"), "page_token"),
        (pur_pb2.ListPickupRequestsRequest(status=99), "status"),
        (pur_pb2.ListPickupRequestsRequest(pickup_date="tomorrow"), "pickup_date"),
        (pur_pb2.ListPickupRequestsRequest(hub_id="bad hub id!"), "hub_id"),
    ],
)
def test_bad_list_requests_are_invalid_argument(stub, request_, fragment):
    with pytest.raises(grpc.RpcError) as err:
        stub.ListPickupRequests(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert fragment in err.value.details()


def test_page_token_is_bound_to_its_filters(stub, hub):
    client = f"client-{uuid.uuid4().hex[:8]}"
    stub.BatchCreatePickupRequests(
        pur_pb2.BatchCreatePickupRequestsRequest(
            requests=[create_request(client, hub, request_id=f"r{i}") for i in range(3)]
        ),
        timeout=10,
    )
    first = stub.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(client_id=client, page_size=2), timeout=10)
    assert first.next_page_token
    with pytest.raises(grpc.RpcError) as err:
        stub.ListPickupRequests(
            pur_pb2.ListPickupRequestsRequest(hub_id=hub, page_token=first.next_page_token), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    second = stub.ListPickupRequests(
        pur_pb2.ListPickupRequestsRequest(client_id=client, page_size=2, page_token=first.next_page_token), timeout=10
    )
    assert len(second.pickup_requests) == 1 and not second.next_page_token


def test_missing_pur_is_not_found(stub):
    with pytest.raises(grpc.RpcError) as err:
        stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id="pur_missing"), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
