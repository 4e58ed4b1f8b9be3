"""The manual queue on the in-memory unit of work: routing's answers that need a person, routes
assigned by hand (AssignPickupRoute and its batch form, through the servicer too), the route read
model kept from multi-part map changes, and manual routes that survive map changes until their
route is deleted. What only PostgreSQL shows (the queue's SQL and index, the read model's upserts,
the migration) is in tests/integration/test_pur_manual_queue.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.auth import Principal, Role
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from mesh.kafka import ConsumedMessage, EventHeaders
from pur_svc.domain.events import RoutingReason, RoutingRequested, StatusChanged
from pur_svc.domain.model import (
    IllegalTransition,
    KnownRoute,
    MapChange,
    PickupStatus,
    ReviewReason,
    RouteAssignment,
    RouteMatch,
    RouteNotAssignable,
)
from pur_svc.entrypoints.consumers import decode_assignment, decode_map_change
from pur_svc.entrypoints.grpc_api import ACCESS, PickupServicer
from pur_svc.entrypoints.watch import StatusFeed
from pur_svc.service_layer import handlers
from pur_svc.service_layer.handlers import ManualAssignment
from pur_svc.service_layer.repositories import ManualQueueFilter
from tests.support import pur_inputs
from tests.support.fakes_pur import FakePurUnitOfWork
from tests.support.servicer_calls import ServedAs

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
HUB, OTHER_HUB = "hub-1", "hub-2"
CLIENT = "client-1"
CELL = "89618928cafffff"

R1 = KnownRoute("R1", HUB, "Route 1", "rider-1", True, 0)
R2 = KnownRoute("R2", HUB, "Route 2", "rider-2", True, 0)
IDLE = KnownRoute("R-idle", HUB, "Idle route", "rider-9", False, 0)
ELSEWHERE = KnownRoute("R-other", OTHER_HUB, "Other hub's route", "rider-x", True, 0)


def clock() -> datetime:
    return NOW


@pytest.fixture
def uow() -> FakePurUnitOfWork:
    uow = FakePurUnitOfWork(hubs=[HUB, OTHER_HUB])
    for route in (R1, R2, IDLE):
        uow.add_route(route, map_version=3)
    uow.add_route(ELSEWHERE, map_version=5)
    return uow


new_pickup = partial(pur_inputs.new_pickup, client=CLIENT, hub=HUB, day=TODAY)


def create(uow: FakePurUnitOfWork, request_id: str = "r1", hub: str = HUB) -> str:
    [created] = handlers.create_pickups(uow, [new_pickup(request_id, hub=hub)], now=clock)
    return created.pickup.id


def routed(pur_id: str, route: str, version: int, *, distance: float = 0.0, hub: str = HUB) -> RouteAssignment:
    match = RouteMatch.NEAREST if distance else RouteMatch.EXACT
    return RouteAssignment(pur_id, hub, route, f"rider-{route}", match, distance, CELL, version)


def unroutable(pur_id: str, version: int, nearest: str = "R1", distance: float = 2400.0, hub: str = HUB):
    return RouteAssignment(
        pur_id, hub, "", "", RouteMatch.NONE, 0.0, CELL, version, "nearest route is too far", nearest, distance
    )


def assign(uow: FakePurUnitOfWork, *items: tuple[str, str, str], authorize=lambda pur: None) -> list:
    return handlers.assign_routes(uow, [ManualAssignment(*item) for item in items], authorize=authorize, now=clock)


def status_events(uow: FakePurUnitOfWork, pur_id: str) -> list[StatusChanged]:
    return [e for e in uow.events if isinstance(e, StatusChanged) and e.pickup.id == pur_id]


def reroutes(uow: FakePurUnitOfWork) -> list[str]:
    return [
        e.pickup.id for e in uow.events if isinstance(e, RoutingRequested) and e.reason is RoutingReason.MAP_CHANGED
    ]


def queue(uow: FakePurUnitOfWork, hub: str = HUB, **filters) -> list[str]:
    page, _ = handlers.list_manual_queue(uow, ManualQueueFilter(hub, **filters), 100, None)
    return [p.id for p in page]


# -- routing's answers that need a person ---------------------------------------------------------


def test_an_unroutable_pur_enters_the_queue_with_the_nearest_route(uow):
    pur_id = create(uow)
    handlers.apply_route_assignments(uow, [unroutable(pur_id, 3)], now=clock)
    pur = uow.stored(pur_id)
    assert (pur.status, pur.review) == (PickupStatus.UNROUTABLE, ReviewReason.UNROUTABLE)
    assert (pur.nearest_route_id, pur.nearest_distance_m) == ("R1", 2400.0)
    assert queue(uow) == [pur_id]

    # A newer map routes it: out of the queue.
    handlers.apply_route_assignments(uow, [routed(pur_id, "R2", 4)], now=clock)
    pur = uow.stored(pur_id)
    assert (pur.status, pur.review, pur.nearest_route_id, pur.nearest_distance_m) == (
        PickupStatus.ROUTED,
        None,
        "",
        0.0,
    )
    assert queue(uow) == []


def test_a_nearest_route_beyond_the_review_distance_is_routed_and_queued(uow):
    near, far = create(uow, "r1"), create(uow, "r2")
    answers = [routed(near, "R1", 3, distance=900.0), routed(far, "R1", 3, distance=1500.0)]
    assert handlers.apply_route_assignments(uow, answers, now=clock) == 2
    assert uow.stored(near).review is None
    far_pur = uow.stored(far)
    assert (far_pur.status, far_pur.route_id, far_pur.review) == (
        PickupStatus.ROUTED,
        "R1",
        ReviewReason.FAR_FROM_ROUTE,
    )
    assert (far_pur.nearest_route_id, far_pur.nearest_distance_m) == ("R1", 1500.0)
    assert queue(uow, review=ReviewReason.FAR_FROM_ROUTE) == [far] and queue(uow, review=ReviewReason.UNROUTABLE) == []

    # The distance is a setting.
    other = create(uow, "r3")
    handlers.apply_route_assignments(uow, [routed(other, "R1", 3, distance=900.0)], review_distance_m=500.0)
    assert uow.stored(other).review is ReviewReason.FAR_FROM_ROUTE


def test_a_pur_that_moves_on_leaves_the_queue(uow):
    pur_id = create(uow)
    handlers.apply_route_assignments(uow, [routed(pur_id, "R1", 3, distance=1500.0)], now=clock)
    handlers.cancel_pickup(uow, pur_id, "seller closed", now=clock)
    assert uow.stored(pur_id).review is None and queue(uow) == []


def test_the_queue_is_per_hub_and_hubless_pickups_have_their_own(uow):
    mine, hubless, other = create(uow, "r1"), create(uow, "r2", hub=""), create(uow, "r3", hub=OTHER_HUB)
    tomorrow = handlers.create_pickups(uow, [new_pickup("r4", day=TODAY + timedelta(days=1))], now=clock)[0].pickup.id
    answers = [
        unroutable(mine, 3),
        unroutable(hubless, 0, nearest="", distance=0.0, hub=""),
        unroutable(other, 5, hub=OTHER_HUB),
        routed(tomorrow, "R1", 3, distance=5000.0),
    ]
    handlers.apply_route_assignments(uow, answers, now=clock)
    # One clock: equal created_at, so the queue's order is its tie-break, the id.
    both = sorted([mine, tomorrow])
    assert queue(uow) == both and queue(uow, OTHER_HUB) == [other] and queue(uow, "") == [hubless]
    assert queue(uow, pickup_date=TODAY) == [mine]
    assert queue(uow, review=ReviewReason.FAR_FROM_ROUTE, pickup_date=TODAY + timedelta(days=1)) == [tomorrow]

    first, cursor = handlers.list_manual_queue(uow, ManualQueueFilter(HUB), 1, None)
    second, end = handlers.list_manual_queue(uow, ManualQueueFilter(HUB), 1, cursor)
    assert [p.id for p in first + second] == both and end is None


# -- routes assigned by hand ----------------------------------------------------------------------


def test_a_manual_assignment_routes_the_pur_with_the_routes_rider_and_the_hubs_map(uow):
    pur_id = create(uow)
    handlers.apply_route_assignments(uow, [unroutable(pur_id, 2)], now=clock)

    [pur] = assign(uow, (pur_id, "R2", "seller is on the R2 lane"))
    assert (pur.status, pur.route_id, pur.rider_id, pur.route_match) == (
        PickupStatus.ROUTED,
        "R2",
        "rider-2",
        RouteMatch.MANUAL,
    )
    assert (pur.map_version, pur.manual_reason, pur.review, pur.unroutable_reason) == (
        3,
        "seller is on the R2 lane",
        None,
        "",
    )
    assert uow.stored(pur_id) == pur and queue(uow) == []
    change = status_events(uow, pur_id)[-1]
    assert (change.previous_status, change.pickup.status, change.pickup.route_match) == (
        PickupStatus.UNROUTABLE,
        PickupStatus.ROUTED,
        RouteMatch.MANUAL,
    )

    # The same assignment again changes nothing; another route (or reason) is a new change.
    commits, version = uow.commits, pur.version
    [again] = assign(uow, (pur_id, "R2", "seller is on the R2 lane"))
    assert again.version == version and len(status_events(uow, pur_id)) == 3
    [moved] = assign(uow, (pur_id, "R1", "seller moved"))
    assert (moved.route_id, moved.rider_id, moved.version) == ("R1", "rider-1", version + 1)
    assert status_events(uow, pur_id)[-1].previous_route_id == "R2" and uow.commits > commits


def test_confirming_a_far_route_clears_its_review(uow):
    pur_id = create(uow)
    handlers.apply_route_assignments(uow, [routed(pur_id, "R1", 3, distance=1500.0)], now=clock)
    [pur] = assign(uow, (pur_id, "R1", "confirmed with the seller"))
    assert (pur.route_id, pur.route_match, pur.review, pur.nearest_route_id) == ("R1", RouteMatch.MANUAL, None, "")


def test_a_pending_pur_may_be_routed_by_hand_and_routing_no_longer_overrides_it(uow):
    pur_id = create(uow)
    assign(uow, (pur_id, "R1", "known seller"))
    assert handlers.apply_route_assignments(uow, [routed(pur_id, "R2", 9)], now=clock) == 0
    assert handlers.apply_route_assignments(uow, [unroutable(pur_id, 9)], now=clock) == 0
    pur = uow.stored(pur_id)
    assert (pur.route_id, pur.route_match, pur.map_version) == ("R1", RouteMatch.MANUAL, 3)


def test_a_pur_without_a_hub_takes_the_routes_hub(uow):
    pur_id = create(uow, hub="")
    [pur] = assign(uow, (pur_id, "R-other", "the seller is in the other hub's area"))
    assert (pur.hub_id, pur.route_id, pur.map_version) == (OTHER_HUB, "R-other", 5)
    assert queue(uow, "") == []


REFUSALS = {
    "unknown route": (("R-none", "x"), NotFound, "route 'R-none' does not exist"),
    "another hub's route": (("R-other", "x"), RouteNotAssignable, "is of hub 'hub-2'"),
    "inactive route": (("R-idle", "x"), RouteNotAssignable, "inactive"),
    "no reason": (("R1", ""), InvalidArgument, "reason is required"),
    "blank reason": (("R1", "   "), InvalidArgument, "reason is required"),
    "long reason": (("R1", "x" * 501), InvalidArgument, "reason must be at most 500"),
}


@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_a_refused_assignment_writes_nothing(uow, case):
    (route_id, reason), kind, message = REFUSALS[case]
    pur_id = create(uow)
    before, commits, events = uow.stored(pur_id), uow.commits, len(uow.events)
    with pytest.raises(kind, match=message):
        assign(uow, (pur_id, route_id, reason))
    assert uow.stored(pur_id) == before and (uow.commits, len(uow.events)) == (commits, events)


def test_a_deleted_route_is_unknown(uow):
    pur_id = create(uow)
    handlers.apply_map_change(uow, MapChange(HUB, 4, deleted_route_ids=("R2",)), now=clock)
    with pytest.raises(NotFound, match="route 'R2' does not exist"):
        assign(uow, (pur_id, "R2", "x"))


@pytest.mark.parametrize("status", [PickupStatus.DISPATCHED, PickupStatus.PICKED_UP, PickupStatus.CANCELLED])
def test_a_pur_past_routing_is_not_routed_by_hand(uow, status):
    pur_id = create(uow)
    uow.stored(pur_id).status = status
    with pytest.raises(FailedPrecondition, match=f"is {status.value}") as caught:
        assign(uow, (pur_id, "R1", "too late"))
    assert isinstance(caught.value, IllegalTransition) and uow.stored(pur_id).route_id == ""


def test_authorization_comes_before_the_route_and_writes_nothing(uow):
    pur_id = create(uow)

    def refuse(pur):
        raise PermissionDenied(f"not {pur.hub_id}")

    with pytest.raises(PermissionDenied, match="not hub-1"):
        assign(uow, (pur_id, "R-none", "x"), authorize=refuse)
    with pytest.raises(NotFound, match="pickup request 'pur_missing' does not exist"):
        assign(uow, ("pur_missing", "R1", "x"))
    assert uow.stored(pur_id).status is PickupStatus.PENDING_ROUTE


def test_a_batch_is_all_or_nothing_and_names_the_item(uow):
    a, b = create(uow, "r1"), create(uow, "r2")
    with pytest.raises(RouteNotAssignable, match=r"^assignments\[1\]: route 'R-idle' is inactive"):
        assign(uow, (a, "R1", "x"), (b, "R-idle", "x"))
    with pytest.raises(InvalidArgument, match=r"^assignments\[1\]: pickup request '.*' repeats assignments\[0\]"):
        assign(uow, (a, "R1", "x"), (a, "R2", "y"))
    assert uow.stored(a).route_id == "" and uow.stored(b).route_id == ""

    done = assign(uow, (b, "R2", "x"), (a, "R1", "x"))
    assert [(p.id, p.route_id) for p in done] == [(b, "R2"), (a, "R1")]


# -- map changes ----------------------------------------------------------------------------------


def test_the_parts_of_a_map_change_fill_the_read_model_and_reroute_once(uow):
    automatic, manual = create(uow, "r1"), create(uow, "r2")
    handlers.apply_route_assignments(uow, [routed(automatic, "R1", 3)], now=clock)
    assign(uow, (manual, "R1", "by hand"))
    new_route = KnownRoute("R3", HUB, "Route 3", "rider-3", True, 2)
    renamed = KnownRoute("R1", HUB, "Route one", "rider-7", True, 0)
    parts = [
        MapChange(HUB, 4, routes=(new_route,), part=1, parts=2),
        MapChange(HUB, 4, routes=(renamed,), part=2, parts=2),
    ]
    for part in parts:
        handlers.apply_map_change(uow, part, now=clock)
    assert uow.routes.get_many(["R1", "R3"]) == {"R1": renamed, "R3": new_route}
    # Re-routed once, and not the PUR routed by hand to a route that still exists.
    assert reroutes(uow) == [automatic]
    assert uow.stored(manual).route_match is RouteMatch.MANUAL

    # Redelivered parts, and an older change replayed, change nothing.
    for part in parts:
        handlers.apply_map_change(uow, part, now=clock)
    handlers.apply_map_change(uow, MapChange(HUB, 2, routes=(R1,)), now=clock)
    assert reroutes(uow) == [automatic] and uow.routes.get_many(["R1"]) == {"R1": renamed}


def test_a_deleted_route_sends_its_manual_pickups_back_to_the_queue(uow):
    waiting, dispatched = create(uow, "r1"), create(uow, "r2")
    assign(uow, (waiting, "R2", "by hand"), (dispatched, "R2", "by hand"))
    uow.stored(dispatched).status = PickupStatus.DISPATCHED

    # The deletion is in the second part of the change.
    handlers.apply_map_change(uow, MapChange(HUB, 4, routes=(R1,), part=1, parts=2), now=clock)
    handlers.apply_map_change(uow, MapChange(HUB, 4, deleted_route_ids=("R2",), part=2, parts=2), now=clock)
    pur = uow.stored(waiting)
    assert (pur.status, pur.review, pur.route_id, pur.rider_id, pur.route_match) == (
        PickupStatus.UNROUTABLE,
        ReviewReason.ROUTE_DELETED,
        "",
        "",
        RouteMatch.NONE,
    )
    assert "R2 was deleted" in pur.unroutable_reason and pur.map_version == 4
    change = status_events(uow, waiting)[-1]
    assert (change.previous_route_id, change.pickup.status) == ("R2", PickupStatus.UNROUTABLE)
    assert uow.stored(dispatched).route_id == "R2"  # dispatched: dispatch_svc has it
    assert queue(uow, review=ReviewReason.ROUTE_DELETED) == [waiting]

    # The same deletion redelivered changes nothing.
    events = len(uow.events)
    handlers.apply_map_change(uow, MapChange(HUB, 4, deleted_route_ids=("R2",), part=2, parts=2), now=clock)
    assert len(uow.events) == events and uow.stored(waiting).version == pur.version


# -- decoding the events pur_svc consumes ---------------------------------------------------------


def message(topic: str, event) -> ConsumedMessage:
    headers = EventHeaders(
        id=str(uuid.uuid4()), type=event.DESCRIPTOR.full_name, source="tests", time=datetime.now(UTC)
    )
    return ConsumedMessage(topic, 0, 0, b"k", event.SerializeToString(), dict(headers.to_kafka()), 0)


def test_a_map_change_part_carries_its_routes_and_deletions():
    event = events_pb2.RouteMapChanged(
        hub_id=HUB,
        map_version=4,
        routes=[events_pb2.RouteSummary(id="R3", name="Route 3", default_rider_id="rider-3", active=True, priority=2)],
        deleted_route_ids=["R2"],
        part=2,
        parts=3,
    )
    change = decode_map_change(message("routing.map-changes.v1", event))
    assert change == MapChange(HUB, 4, (KnownRoute("R3", HUB, "Route 3", "rider-3", True, 2),), ("R2",), 2, 3)
    old = decode_map_change(message("routing.map-changes.v1", events_pb2.RouteMapChanged(hub_id=HUB, map_version=4)))
    assert (old.part, old.parts, old.routes, old.deleted_route_ids) == (1, 1, (), ())


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"part": 3, "parts": 2}, "RouteMapChanged.part must be between 1 and parts"),
        ({"routes": [events_pb2.RouteSummary(id="a b")]}, "RouteMapChanged.routes[0].id must be 1-64"),
        ({"routes": [events_pb2.RouteSummary(id="R1", name="x\x00")]}, "routes[0].name must not contain control"),
        ({"deleted_route_ids": ["R1", ""]}, "RouteMapChanged.deleted_route_ids[1] is required"),
    ],
)
def test_an_invalid_map_change_is_invalid_argument(fields, problem):
    event = events_pb2.RouteMapChanged(hub_id=HUB, map_version=4, **fields)
    with pytest.raises(InvalidArgument) as caught:
        decode_map_change(message("routing.map-changes.v1", event))
    assert problem in str(caught.value)


def test_unroutable_keeps_the_nearest_route():
    event = events_pb2.RouteAssignment(
        unroutable=events_pb2.Unroutable(
            pur_id="p1", hub_id=HUB, reason="too far", map_version=3, nearest_route_id="R1", nearest_distance_m=2400.0
        )
    )
    decoded = decode_assignment(message("pur.route-assignments.v1", event))
    assert (decoded.match, decoded.nearest_route_id, decoded.nearest_distance_m) == (RouteMatch.NONE, "R1", 2400.0)
    event.unroutable.nearest_distance_m = float("nan")
    with pytest.raises(InvalidArgument, match="nearest_distance_m"):
        decode_assignment(message("pur.route-assignments.v1", event))


# -- through the servicer -------------------------------------------------------------------------

SERVICE = pur_pb2.DESCRIPTOR.services_by_name["PickupService"]
ADMIN = Principal("admin", Role.ADMIN)
LEAD = Principal("tl-priya", Role.TEAM_LEAD, hubs=frozenset({HUB}))
OTHER_LEAD = Principal("tl-omar", Role.TEAM_LEAD, hubs=frozenset({OTHER_HUB}))


@pytest.fixture
def serve(uow):
    servicer = PickupServicer(lambda: uow, StatusFeed("localhost:9092"))
    return lambda principal: ServedAs(servicer, SERVICE, ACCESS, principal)


def test_a_team_lead_lists_and_works_its_hubs_queue(uow, serve):
    pur_id = create(uow)
    handlers.apply_route_assignments(uow, [unroutable(pur_id, 3)], now=clock)
    lead = serve(LEAD)

    [listed] = lead.ok("ListManualQueue", pur_pb2.ListManualQueueRequest(hub_id=HUB)).pickup_requests
    assert (listed.id, listed.review, listed.nearest_route_id, listed.nearest_distance_m) == (
        pur_id,
        pur_pb2.REVIEW_REASON_UNROUTABLE,
        "R1",
        2400.0,
    )
    request = pur_pb2.AssignPickupRouteRequest(id=pur_id, route_id="R1", reason="seller on R1")
    assigned = lead.ok("AssignPickupRoute", request).pickup_request
    assert (assigned.status, assigned.route_match, assigned.rider_id, assigned.manual_reason, assigned.review) == (
        pur_pb2.PICKUP_STATUS_ROUTED,
        common_pb2.ROUTE_MATCH_MANUAL,
        "rider-1",
        "seller on R1",
        pur_pb2.REVIEW_REASON_UNSPECIFIED,
    )
    assert not lead.ok("ListManualQueue", pur_pb2.ListManualQueueRequest(hub_id=HUB)).pickup_requests


def test_the_queue_pages_with_a_token_bound_to_its_filters(uow, serve):
    ids = [create(uow, f"r{n}") for n in range(3)]
    handlers.apply_route_assignments(uow, [unroutable(i, 3) for i in ids], now=clock)
    lead = serve(LEAD)
    seen, token = [], ""
    while True:
        page = lead.ok("ListManualQueue", pur_pb2.ListManualQueueRequest(hub_id=HUB, page_size=2, page_token=token))
        seen += [p.id for p in page.pickup_requests]
        token = page.next_page_token
        if not token:
            break
    assert seen == sorted(ids, key=lambda i: (uow.stored(i).created_at, i))
    first = lead.ok("ListManualQueue", pur_pb2.ListManualQueueRequest(hub_id=HUB, page_size=1))
    other_filters = pur_pb2.ListManualQueueRequest(
        hub_id=HUB, review=pur_pb2.REVIEW_REASON_FAR_FROM_ROUTE, page_token=first.next_page_token
    )
    lead.refuses("ListManualQueue", other_filters, InvalidArgument, "issued for different filters")


QUEUE_REFUSALS = {
    "no hub": (pur_pb2.ListManualQueueRequest(), InvalidArgument, "hub_id is required"),
    "hub and hubless": (
        pur_pb2.ListManualQueueRequest(hub_id=HUB, hubless=True),
        InvalidArgument,
        "hub_id must be empty when hubless is set",
    ),
    "unknown review": (pur_pb2.ListManualQueueRequest(hub_id=HUB, review=9), InvalidArgument, "review 9"),
    "bad date": (pur_pb2.ListManualQueueRequest(hub_id=HUB, pickup_date="2026-02-30"), InvalidArgument, "pickup_date"),
    "negative page": (pur_pb2.ListManualQueueRequest(hub_id=HUB, page_size=-1), InvalidArgument, "page_size"),
    "another hub": (pur_pb2.ListManualQueueRequest(hub_id=OTHER_HUB), PermissionDenied, "'hub-2'"),
    "hubless": (pur_pb2.ListManualQueueRequest(hubless=True), PermissionDenied, "the hubless queue"),
}


@pytest.mark.parametrize("case", sorted(QUEUE_REFUSALS))
def test_bad_queue_requests_raise_their_kind(serve, case):
    request, kind, message = QUEUE_REFUSALS[case]
    serve(LEAD).refuses("ListManualQueue", request, kind, message)


def test_services_and_admins_see_the_hubless_queue(uow, serve):
    pur_id = create(uow, hub="")
    handlers.apply_route_assignments(uow, [unroutable(pur_id, 0, nearest="", distance=0.0, hub="")], now=clock)
    for principal in (ADMIN, Principal("dispatch_svc", Role.SERVICE)):
        page = serve(principal).ok("ListManualQueue", pur_pb2.ListManualQueueRequest(hubless=True))
        assert [p.id for p in page.pickup_requests] == [pur_id]


def test_only_admins_route_a_pickup_without_a_hub(uow, serve):
    pur_id = create(uow, hub="")
    request = pur_pb2.AssignPickupRouteRequest(id=pur_id, route_id="R1", reason="found its hub")
    serve(LEAD).refuses("AssignPickupRoute", request, PermissionDenied, "has no hub: only admins")
    assert uow.stored(pur_id).route_id == ""
    assert serve(ADMIN).ok("AssignPickupRoute", request).pickup_request.hub_id == HUB


def test_a_team_lead_of_another_hub_assigns_nothing(uow, serve):
    pur_id = create(uow)
    request = pur_pb2.AssignPickupRouteRequest(id=pur_id, route_id="R1", reason="mine now")
    serve(OTHER_LEAD).refuses("AssignPickupRoute", request, PermissionDenied, "'hub-1'")
    batch = pur_pb2.BatchAssignPickupRoutesRequest(assignments=[request])
    serve(OTHER_LEAD).refuses("BatchAssignPickupRoutes", batch, PermissionDenied, "'hub-1'")
    assert uow.stored(pur_id).version == 1


BATCH_REFUSALS = {
    "empty": ([], InvalidArgument, "assignments must not be empty"),
    "too many": ([pur_pb2.AssignPickupRouteRequest(id="p", route_id="R1", reason="x")] * 1001, InvalidArgument, "1001"),
    "bad id": (
        [pur_pb2.AssignPickupRouteRequest(id="p1", route_id="R1", reason="x"), pur_pb2.AssignPickupRouteRequest()],
        InvalidArgument,
        "assignments[1]: id is required",
    ),
    "no reason": (
        [pur_pb2.AssignPickupRouteRequest(id="p1", route_id="R1")],
        InvalidArgument,
        "assignments[0]: reason is required",
    ),
}


@pytest.mark.parametrize("case", sorted(BATCH_REFUSALS))
def test_bad_batches_raise_their_kind(serve, case):
    items, kind, message = BATCH_REFUSALS[case]
    request = pur_pb2.BatchAssignPickupRoutesRequest(assignments=items)
    serve(LEAD).refuses("BatchAssignPickupRoutes", request, kind, message)


def test_a_batch_answers_in_request_order(uow, serve):
    a, b = create(uow, "r1"), create(uow, "r2")
    request = pur_pb2.BatchAssignPickupRoutesRequest(
        assignments=[
            pur_pb2.AssignPickupRouteRequest(id=b, route_id="R2", reason="lane 2"),
            pur_pb2.AssignPickupRouteRequest(id=a, route_id="R1", reason="lane 1"),
        ]
    )
    answer = serve(LEAD).ok("BatchAssignPickupRoutes", request).pickup_requests
    assert [(p.id, p.route_id, p.route_match) for p in answer] == [
        (b, "R2", common_pb2.ROUTE_MATCH_MANUAL),
        (a, "R1", common_pb2.ROUTE_MATCH_MANUAL),
    ]
