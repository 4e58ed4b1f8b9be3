"""pur_svc's use cases on the in-memory unit of work: idempotent creates, all-or-nothing batches,
cancellation, and routing and dispatch news applied once whatever their order. What only
PostgreSQL shows (SQL, constraints, the outbox rows) is in tests/integration/test_pur_handlers.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from functools import partial

import pytest

from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied
from pur_svc.domain.events import RoutingReason, RoutingRequested, StatusChanged
from pur_svc.domain.model import (
    DispatchChange,
    DispatchChangeKind,
    IllegalTransition,
    MapChange,
    NewPickup,
    PickupStatus,
    RouteAssignment,
    RouteMatch,
)
from pur_svc.service_layer import handlers
from tests.support import pur_inputs
from tests.support.fakes_pur import FakePurUnitOfWork

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
HUB = "hub-1"
CLIENT = "client-1"


def clock() -> datetime:
    return NOW


@pytest.fixture
def uow() -> FakePurUnitOfWork:
    return FakePurUnitOfWork(hubs=[HUB])


new_pickup = partial(pur_inputs.new_pickup, client=CLIENT, hub=HUB, day=TODAY)


def create(uow: FakePurUnitOfWork, *requests: NewPickup) -> list[handlers.Created]:
    return handlers.create_pickups(uow, requests or [new_pickup()], now=clock)


def create_one(uow: FakePurUnitOfWork, request_id: str = "r1") -> str:
    [created] = create(uow, new_pickup(request_id))
    return created.pickup.id


def assigned(pur_id: str, route: str, version: int) -> RouteAssignment:
    return RouteAssignment(pur_id, HUB, route, f"rider-{route}", RouteMatch.EXACT, 0.0, "89618928cafffff", version)


def dispatch_change(pur_id: str, kind: str, version: int, dispatch_id: str = "dsp-1") -> DispatchChange:
    return DispatchChange(pur_id, dispatch_id, DispatchChangeKind[kind], version)


def status_events(uow: FakePurUnitOfWork, pur_id: str) -> list[StatusChanged]:
    return [e for e in uow.events if isinstance(e, StatusChanged) and e.pickup.id == pur_id]


# -- create -------------------------------------------------------------------------------------


def test_create_stores_the_pur_and_asks_for_routing_in_one_commit(uow):
    [result] = create(uow)
    assert result.created and result.pickup.status is PickupStatus.PENDING_ROUTE
    assert list(uow.purs) == [result.pickup.id] and uow.commits == 1
    requested, changed = uow.events
    assert isinstance(requested, RoutingRequested) and requested.reason is RoutingReason.CREATED
    assert requested.pickup.id == result.pickup.id and requested.min_map_version == 0
    assert isinstance(changed, StatusChanged) and changed.previous_status is None
    assert changed.pickup.status is PickupStatus.PENDING_ROUTE and changed.pickup.version == 1


def test_same_request_id_different_body_is_already_exists(uow):
    create(uow)
    with pytest.raises(AlreadyExists, match="request_id 'r1' was already used"):
        create(uow, new_pickup(packages=99))
    assert len(uow.purs) == 1 and uow.commits == 1


def test_a_retried_request_returns_the_stored_pur_and_publishes_nothing_new(uow):
    [first] = create(uow)
    [again] = create(uow)
    assert again.pickup.id == first.pickup.id and not again.created
    assert len(uow.purs) == 1 and len(uow.events) == 2


def test_unknown_hub_is_not_found_and_writes_nothing(uow):
    with pytest.raises(NotFound, match="hub 'nowhere' is unknown"):
        create(uow, new_pickup(hub="nowhere"))
    assert uow.purs == {} and uow.events == []


def test_a_pur_without_a_hub_is_accepted(uow):
    [result] = create(uow, new_pickup(hub=""))
    assert result.created and result.pickup.hub_id == ""


def test_batch_is_all_or_nothing_and_names_the_bad_item(uow):
    batch = [new_pickup(f"r{i}") for i in range(5)]
    batch[3] = new_pickup("r3", hub="nowhere")
    with pytest.raises(NotFound, match=r"^requests\[3\]: hub 'nowhere'"):
        create(uow, *batch)
    assert uow.purs == {}

    batch[3] = new_pickup("r0", packages=50)
    with pytest.raises(InvalidArgument, match=r"^requests\[3\]: request_id 'r0' repeats requests\[0\]"):
        create(uow, *batch)
    assert uow.purs == {} and uow.events == []


def test_a_batch_may_repeat_a_request_and_creates_it_once(uow):
    results = create(uow, new_pickup("r1"), new_pickup("r1"))
    assert results[0].pickup.id == results[1].pickup.id
    assert [r.created for r in results] == [True, False] and len(uow.purs) == 1


def test_a_date_out_of_range_names_the_batch_item(uow):
    stale = replace(new_pickup("r1"), pickup_date=TODAY.replace(year=2020))
    with pytest.raises(InvalidArgument, match=r"^requests\[1\]: pickup_date 2020-11-23 must be between"):
        create(uow, new_pickup("r0"), stale)
    with pytest.raises(InvalidArgument, match=r"^pickup_date 2020-11-23 must be between"):
        create(uow, stale)
    assert uow.purs == {}


# -- get and cancel -----------------------------------------------------------------------------


def test_a_missing_pur_is_not_found(uow):
    with pytest.raises(NotFound):
        handlers.get_pickup(uow, "pur_missing")
    with pytest.raises(NotFound):
        handlers.cancel_pickup(uow, "pur_missing", "")


def test_cancel_changes_the_pur_once(uow):
    pur_id = create_one(uow)
    cancelled = handlers.cancel_pickup(uow, pur_id, "seller closed", now=clock)
    assert (cancelled.status, cancelled.cancel_reason) == (PickupStatus.CANCELLED, "seller closed")
    assert handlers.cancel_pickup(uow, pur_id, "again", now=clock).cancel_reason == "seller closed"
    [_, change] = status_events(uow, pur_id)
    assert (change.previous_status, change.pickup.status) == (PickupStatus.PENDING_ROUTE, PickupStatus.CANCELLED)


def test_cancel_after_pickup_is_failed_precondition(uow):
    pur_id = create_one(uow)
    uow.stored(pur_id).status = PickupStatus.PICKED_UP
    with pytest.raises(FailedPrecondition, match="PICKED_UP and can no longer be cancelled") as caught:
        handlers.cancel_pickup(uow, pur_id, "")
    assert isinstance(caught.value, IllegalTransition)


def test_a_refused_caller_cancels_nothing(uow):
    pur_id = create_one(uow)

    def refuse(pur):
        raise PermissionDenied(f"not {pur.id}")

    with pytest.raises(PermissionDenied):
        handlers.cancel_pickup(uow, pur_id, "mine now", authorize=refuse)
    assert uow.stored(pur_id).status is PickupStatus.PENDING_ROUTE and uow.commits == 1


def test_a_bad_reason_is_invalid_and_cancels_nothing(uow):
    pur_id = create_one(uow)
    with pytest.raises(InvalidArgument, match="reason must not contain control characters"):
        handlers.cancel_pickup(uow, pur_id, "closed\x00")
    assert uow.stored(pur_id).status is PickupStatus.PENDING_ROUTE


# -- routing and dispatch news ----------------------------------------------------------------


def test_assignment_applies_once_and_older_maps_never_overwrite_newer(uow):
    pur_id = create_one(uow)

    assert handlers.apply_route_assignments(uow, [assigned(pur_id, "R2", 2)], now=clock) == 1
    assert handlers.apply_route_assignments(uow, [assigned(pur_id, "R2", 2)], now=clock) == 0  # duplicate
    assert handlers.apply_route_assignments(uow, [assigned(pur_id, "R1", 1)], now=clock) == 0  # reordered, older
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.route_id, pur.rider_id, pur.map_version) == (PickupStatus.ROUTED, "R2", "rider-R2", 2)
    assert pur.version == 2

    unroutable = RouteAssignment(pur_id, HUB, "", "", RouteMatch.NONE, 0.0, "", 3, "no route within 2000 m")
    assert handlers.apply_route_assignments(uow, [unroutable], now=clock) == 1
    pur = handlers.get_pickup(uow, pur_id)
    assert pur.status is PickupStatus.UNROUTABLE and pur.unroutable_reason == "no route within 2000 m"
    assert [e.pickup.version for e in status_events(uow, pur_id)] == [1, 2, 3]


def test_each_event_of_a_batch_shows_the_pur_as_its_own_change_left_it(uow):
    pur_id = create_one(uow)
    batch = [assigned(pur_id, "R1", 1), assigned(pur_id, "R2", 2)]
    assert handlers.apply_route_assignments(uow, batch, now=clock) == 1
    first, second = status_events(uow, pur_id)[1:]
    assert (first.pickup.route_id, first.pickup.version, first.previous_route_id) == ("R1", 2, "")
    assert (second.pickup.route_id, second.pickup.version, second.previous_route_id) == ("R2", 3, "R1")


def test_assignments_of_unknown_purs_are_ignored(uow):
    assert handlers.apply_route_assignments(uow, [assigned("pur_unknown", "R1", 1)], now=clock) == 0
    assert uow.purs == {} and uow.events == []


def test_cancelled_stays_cancelled(uow):
    pur_id = create_one(uow)
    handlers.cancel_pickup(uow, pur_id, "seller closed")
    assert handlers.apply_route_assignments(uow, [assigned(pur_id, "R1", 5)]) == 0
    pur = handlers.get_pickup(uow, pur_id)
    assert pur.status is PickupStatus.CANCELLED and pur.route_id == ""


def test_a_map_change_asks_for_routing_once_per_new_version(uow):
    pur_id = create_one(uow)
    assert handlers.apply_map_change(uow, MapChange(HUB, 2), now=clock) == 1
    assert handlers.apply_map_change(uow, MapChange(HUB, 2), now=clock) == 0  # the same change again
    assert handlers.apply_map_change(uow, MapChange(HUB, 1), now=clock) == 0  # an older one
    [reroute] = [e for e in uow.events if isinstance(e, RoutingRequested) and e.reason is RoutingReason.MAP_CHANGED]
    assert (reroute.pickup.id, reroute.min_map_version) == (pur_id, 2)


def test_a_map_change_of_a_new_hub_makes_it_known(uow):
    assert handlers.apply_map_change(uow, MapChange("hub-new", 1), now=clock) == 0
    [created] = create(uow, new_pickup(hub="hub-new"))
    assert created.created


def test_dispatch_events_move_the_pur_through_its_dispatch_in_order(uow):
    pur_id = create_one(uow)
    handlers.apply_route_assignments(uow, [assigned(pur_id, "R1", 1)])

    assert handlers.apply_dispatch_changes(uow, [dispatch_change(pur_id, "DISPATCHED", 1)]) == 1
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.dispatch_id) == (PickupStatus.DISPATCHED, "dsp-1")

    # A map change no longer re-routes it: it is dispatched.
    assert handlers.apply_map_change(uow, MapChange(HUB, 2)) == 0

    # Released (dispatch cancelled) arrives twice and out of order with an older event.
    changes = [dispatch_change(pur_id, "RELEASED", 2), dispatch_change(pur_id, "DISPATCHED", 1)]
    assert handlers.apply_dispatch_changes(uow, changes) == 1
    assert handlers.apply_dispatch_changes(uow, [dispatch_change(pur_id, "RELEASED", 2)]) == 0
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.dispatch_id) == (PickupStatus.ROUTED, "")

    handlers.apply_dispatch_changes(uow, [dispatch_change(pur_id, "DISPATCHED", 3, "dsp-2")])
    handlers.apply_dispatch_changes(uow, [dispatch_change(pur_id, "STARTED", 4, "dsp-2")])
    assert handlers.apply_dispatch_changes(uow, [dispatch_change(pur_id, "PICKED_UP", 5, "dsp-2")]) == 1
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.dispatch_id, pur.dispatch_version) == (PickupStatus.PICKED_UP, "dsp-2", 5)


def test_a_cancelled_pur_is_not_dispatched(uow):
    pur_id = create_one(uow)
    handlers.apply_route_assignments(uow, [assigned(pur_id, "R1", 1)])
    handlers.cancel_pickup(uow, pur_id, "closed today")
    assert handlers.apply_dispatch_changes(uow, [dispatch_change(pur_id, "DISPATCHED", 1)]) == 0
    assert handlers.get_pickup(uow, pur_id).status is PickupStatus.CANCELLED
