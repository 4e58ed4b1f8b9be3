"""PickupService's servicer under grpc-testing, on the in-memory unit of work: requests become
commands, PURs become messages, and every call narrows what it touches through the caller's
scope (the real server refuses a call that never checked it; so does `ServedAs` here). Status
codes come from the error interceptor, which grpc-testing does not run: they, and who is denied
what, are asserted over a real server (tests/integration/test_pur_grpc.py, test_authorization.py)."""

from __future__ import annotations

from typing import Any

import grpc
import pytest

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.kernel import utc_now
from pur_svc.domain.model import PickupStatus
from pur_svc.entrypoints.grpc_api import ACCESS, PickupServicer
from pur_svc.entrypoints.watch import StatusFeed
from tests.support.fakes_pur import FakePurUnitOfWork
from tests.support.polling import wait_until
from tests.support.servicer_calls import ServedAs

SERVICE = pur_pb2.DESCRIPTOR.services_by_name["PickupService"]
HUB, OTHER_HUB = "hub-1", "hub-2"
ADMIN = Principal("admin", Role.ADMIN)


def client(client_id: str) -> Principal:
    return Principal(client_id, Role.CLIENT, client_id=client_id)


def lead(*hubs: str) -> Principal:
    return Principal("lead", Role.TEAM_LEAD, hubs=frozenset(hubs))


class Pickups:
    """Calls PickupService as one caller or another; all share one store and one watch feed."""

    def __init__(self) -> None:
        self.uow = FakePurUnitOfWork(hubs=[HUB, OTHER_HUB])
        self.feed = StatusFeed("localhost:9092")  # never started: tests publish to it directly
        self.servicer = PickupServicer(lambda: self.uow, self.feed)

    def served_as(self, principal: Principal) -> ServedAs:
        return ServedAs(self.servicer, SERVICE, ACCESS, principal)

    def call(self, principal: Principal, name: str, request: Any) -> tuple[Any, grpc.StatusCode, str]:
        return self.served_as(principal).call(name, request)

    def ok(self, principal: Principal, name: str, request: Any) -> Any:
        return self.served_as(principal).ok(name, request)

    def create(
        self, principal: Principal, client_id: str, hub: str = HUB, request_id: str = "r1"
    ) -> pur_pb2.PickupRequest:
        response = self.ok(principal, "CreatePickupRequest", create_request(client_id, hub, request_id))
        return response.pickup_request


@pytest.fixture
def pickups() -> Pickups:
    return Pickups()


def create_request(
    client_id: str, hub: str = HUB, request_id: str = "r1", **changes: Any
) -> pur_pb2.CreatePickupRequestRequest:
    fields = {
        "request_id": request_id,
        "client_id": client_id,
        "hub_id": hub,
        "warehouse": common_pb2.Warehouse(
            id="wh-1",
            name="Seller One",
            address="1 MG Road",
            pincode="560001",
            location=common_pb2.LatLng(lat=12.97, lng=77.59),
        ),
        "pickup_date": utc_now().date().isoformat(),
        "expected_packages": 3,
        "expected_weight_kg": 2.5,
    }
    return pur_pb2.CreatePickupRequestRequest(**(fields | changes))


def test_create_turns_the_request_into_a_pur_and_answers_with_it(pickups):
    response = pickups.ok(client("acme"), "CreatePickupRequest", create_request("acme"))
    pur = response.pickup_request
    assert response.created and pur.id.startswith("pur_")
    assert (pur.request_id, pur.client_id, pur.hub_id, pur.status) == (
        "r1",
        "acme",
        HUB,
        pur_pb2.PICKUP_STATUS_PENDING_ROUTE,
    )
    assert (pur.warehouse.name, pur.warehouse.pincode, pur.warehouse.location.lat) == ("Seller One", "560001", 12.97)
    assert (pur.expected_packages, pur.expected_weight_kg, pur.version) == (3, 2.5, 1)
    assert pur.pickup_date == utc_now().date().isoformat() and pur.created_at.seconds > 0
    stored = pickups.uow.stored(pur.id)
    assert (stored.warehouse.address, stored.pickup_date.isoformat()) == ("1 MG Road", pur.pickup_date)

    again = pickups.ok(client("acme"), "CreatePickupRequest", create_request("acme"))
    assert again.pickup_request.id == pur.id and not again.created


def test_a_batch_answers_in_request_order_and_names_a_bad_item(pickups):
    items = [create_request("acme", request_id=f"r{i}") for i in range(3)]
    response = pickups.ok(ADMIN, "BatchCreatePickupRequests", pur_pb2.BatchCreatePickupRequestsRequest(requests=items))
    assert [p.request_id for p in response.pickup_requests] == ["r0", "r1", "r2"] and response.created_count == 3

    items[1] = create_request("acme", request_id="r9", pickup_date="2026-02-30")
    _, code, details = pickups.call(
        ADMIN, "BatchCreatePickupRequests", pur_pb2.BatchCreatePickupRequestsRequest(requests=items)
    )
    assert code is not grpc.StatusCode.OK and "requests[1]: pickup_date '2026-02-30' is not a real date" in details
    assert len(pickups.uow.purs) == 3


def test_a_client_lists_its_own_pickups_without_naming_itself(pickups):
    mine = pickups.create(client("acme"), "acme")
    pickups.create(client("globex"), "globex")
    listed = pickups.ok(client("acme"), "ListPickupRequests", pur_pb2.ListPickupRequestsRequest())
    assert [p.id for p in listed.pickup_requests] == [mine.id]


def test_list_pages_follow_their_tokens(pickups):
    created = [pickups.create(ADMIN, "acme", request_id=f"r{i}").id for i in range(3)]
    request = pur_pb2.ListPickupRequestsRequest(
        client_id="acme", status=pur_pb2.PICKUP_STATUS_PENDING_ROUTE, page_size=2
    )
    first = pickups.ok(ADMIN, "ListPickupRequests", request)
    request.page_token = first.next_page_token
    second = pickups.ok(ADMIN, "ListPickupRequests", request)
    assert [p.id for p in first.pickup_requests] + [p.id for p in second.pickup_requests] == sorted(
        created, key=lambda i: (pickups.uow.stored(i).created_at, i)
    )
    assert first.next_page_token and not second.next_page_token


def test_get_and_cancel_answer_with_the_pur_in_the_callers_hub(pickups):
    pur = pickups.create(ADMIN, "acme")
    got = pickups.ok(lead(HUB), "GetPickupRequest", pur_pb2.GetPickupRequestRequest(id=pur.id))
    assert got.pickup_request == pur

    cancelled = pickups.ok(
        lead(HUB), "CancelPickupRequest", pur_pb2.CancelPickupRequestRequest(id=pur.id, reason="closed")
    )
    assert (cancelled.pickup_request.status, cancelled.pickup_request.cancel_reason) == (
        pur_pb2.PICKUP_STATUS_CANCELLED,
        "closed",
    )
    assert pickups.uow.stored(pur.id).status is PickupStatus.CANCELLED


def test_a_client_watching_a_hub_sees_only_its_own_changes(pickups):
    rpc = pickups.served_as(client("acme")).server.invoke_unary_stream(
        SERVICE.methods_by_name["WatchPickupRequests"], (), pur_pb2.WatchPickupRequestsRequest(hub_id=HUB), None
    )
    wait_until(lambda: pickups.feed._watched.is_set(), timeout=5, message="the watcher to subscribe")
    for owner, version in (("globex", 1), ("acme", 2)):
        pickups.feed.publish(
            events_pb2.PickupStatusChanged(
                hub_id=HUB,
                status=pur_pb2.PICKUP_STATUS_ROUTED,
                version=version,
                pickup_request=pur_pb2.PickupRequest(id=f"pur-{owner}", client_id=owner, hub_id=HUB),
            )
        )
    update = rpc.take_response()
    assert (update.pickup_request.id, update.version) == ("pur-acme", 2)
    rpc.cancel()
    wait_until(lambda: not pickups.feed._watched.is_set(), timeout=5, message="the watcher to leave")


def test_history_answers_every_change_oldest_first_with_who_and_why(pickups):
    pur = pickups.create(client("acme"), "acme")
    pickups.ok(lead(HUB), "CancelPickupRequest", pur_pb2.CancelPickupRequestRequest(id=pur.id, reason="closed"))
    history = pickups.ok(lead(HUB), "ListPickupHistory", pur_pb2.ListPickupHistoryRequest(id=pur.id)).entries
    assert [(e.version, e.status, e.actor.subject, e.actor.role, e.reason) for e in history] == [
        (1, pur_pb2.PICKUP_STATUS_PENDING_ROUTE, "acme", "client", "created"),
        (2, pur_pb2.PICKUP_STATUS_CANCELLED, "lead", "team-lead", "cancelled: closed"),
    ]
    assert history[0].time.seconds > 0 and history[0].route_match == common_pb2.ROUTE_MATCH_UNSPECIFIED

    other_lead = pickups.served_as(lead(OTHER_HUB))
    request = pur_pb2.ListPickupHistoryRequest(id=pur.id)
    other_lead.refuses("ListPickupHistory", request, PermissionDenied, "may not access PURs of hub 'hub-1'")
    other_lead.refuses("ListPickupHistory", pur_pb2.ListPickupHistoryRequest(id="bad id"), InvalidArgument, "id must")
