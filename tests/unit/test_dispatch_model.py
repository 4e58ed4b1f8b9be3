"""Dispatch rules without infrastructure: lifecycle, capacity, membership events and how PUR
changes move a pickup between its queue and its dispatch."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.model import (
    CapacityExceeded,
    ChangeKind,
    Dispatch,
    DispatchStatus,
    IllegalTransition,
    Load,
    NewDispatch,
    Pickup,
    PickupNotEligible,
    PickupStatus,
    PurEffect,
    ReleaseReason,
    Rider,
    Vehicle,
    VehicleType,
    fill_from_queue,
)
from mesh.errors import FailedPrecondition, InvalidArgument
from tests.support.dispatch_inputs import pur_snapshot

DAY = date(2026, 5, 11)
NOW = datetime(2026, 5, 11, 8, 0, tzinfo=UTC)
HUB, ROUTE = "hub-1", "R1"


snapshot = partial(
    pur_snapshot, hub=HUB, day=DAY, route=ROUTE, packages=5, weight=10.0, rider="rider-default", route_match=None
)


def pickup(pur_id: str, packages: int = 5, weight: float = 10.0, *, route: str = ROUTE) -> Pickup:
    return Pickup.from_snapshot(snapshot(pur_id, 2, route=route, packages=packages, weight=weight))


BIKE_CAPACITY = Load(20, 50.0)


def dispatch(capacity: Load = BIKE_CAPACITY) -> Dispatch:
    rider = Rider("rider-1", HUB, "Asha")
    vehicle = Vehicle("bike-1", HUB, VehicleType.BIKE, capacity.packages, capacity.weight_kg)
    return Dispatch.create("d1", NewDispatch("req-1", HUB, ROUTE, DAY), rider, vehicle, NOW)


# -- validation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Rider("", HUB), "rider.id is required"),
        (lambda: Rider("r 1", HUB), "rider.id must be"),
        (lambda: Rider("r1", ""), "rider.hub_id is required"),
        (lambda: Rider("r1", HUB, name="x" * 201), "rider.name"),
        (lambda: Rider("r1", HUB, phone="call me"), "rider.phone"),
        (lambda: Rider("r1\n", HUB), "rider.id must be"),
        (lambda: Rider("r1", HUB, phone="98450 00000\n"), "rider.phone"),
        (lambda: Rider("r1", HUB, name="A\x00"), "control characters"),
        (lambda: Vehicle("v1", HUB, VehicleType.VAN, 0, 10.0), "capacity_packages must be between 1"),
        (lambda: Vehicle("v1", HUB, VehicleType.VAN, 100_001, 10.0), "capacity_packages"),
        (lambda: Vehicle("v1", HUB, VehicleType.VAN, 10, 0.0), "capacity_kg"),
        (lambda: Vehicle("v1", HUB, VehicleType.VAN, 10, float("nan")), "capacity_kg"),
        (lambda: Vehicle("v1", HUB, VehicleType.VAN, 10, float("inf")), "capacity_kg"),
        (lambda: Vehicle("v1", HUB, VehicleType.VAN, 10, 5.0, registration="x" * 33), "registration"),
        (lambda: NewDispatch("", HUB, ROUTE, DAY), "request_id is required"),
        (lambda: NewDispatch("r", HUB, ROUTE, DAY, pur_ids=("ok", "not ok")), "pur_ids[1]"),
    ],
)
def test_bad_input_is_refused_with_the_field_named(make, message):
    with pytest.raises(InvalidArgument, match=message.replace("[", r"\[").replace("]", r"\]")):
        make()


def test_domain_errors_are_kinds_the_transports_know():
    assert issubclass(IllegalTransition, FailedPrecondition)
    assert issubclass(CapacityExceeded, IllegalTransition) and issubclass(PickupNotEligible, IllegalTransition)


def test_a_dispatch_needs_an_active_rider_and_vehicle_of_its_hub():
    new = NewDispatch("req", HUB, ROUTE, DAY)
    vehicle = Vehicle("v", HUB, VehicleType.VAN, 10, 10.0)
    with pytest.raises(IllegalTransition, match="inactive"):
        Dispatch.create("d", new, Rider("r", HUB, active=False), vehicle, NOW)
    with pytest.raises(IllegalTransition, match="belongs to hub other"):
        Dispatch.create("d", new, Rider("r", "other"), vehicle, NOW)


# -- capacity -----------------------------------------------------------------------------------


def test_adding_pickups_marks_them_dispatched_with_one_event_each():
    d = dispatch()
    a, b = pickup("p1"), pickup("p2")
    changes = d.add([a, b], NOW, automatic=True)
    assert [c.kind for c in changes] == [ChangeKind.DISPATCHED] * 2
    assert all(c.automatic and c.version == 1 for c in changes)
    assert d.pur_ids == ["p1", "p2"] and d.load == Load(10, 20.0) and d.version == 2
    assert a.status is PickupStatus.DISPATCHED and a.dispatch_id == "d1" and a.listed


def test_adding_is_all_or_nothing_and_names_the_numbers():
    d = dispatch(Load(10, 100.0))
    d.add([pickup("p1", 6)], NOW)
    too_much = [pickup("p2", 3), pickup("p3", 3)]
    with pytest.raises(CapacityExceeded, match=r"would carry 12 packages / 30.0 kg .* at most 10 packages / 100.0 kg"):
        d.add(too_much, NOW)
    assert d.pur_ids == ["p1"] and all(p.queued for p in too_much)


def test_weight_is_a_limit_too():
    d = dispatch(Load(100, 25.0))
    with pytest.raises(CapacityExceeded, match="25.0 kg"):
        d.add([pickup("p1", 1, 20.0), pickup("p2", 1, 6.0)], NOW)
    assert d.add([pickup("p3", 1, 25.0)], NOW)  # an exact fit is fine


def test_only_queued_pickups_of_the_same_route_and_day_join():
    d = dispatch()
    with pytest.raises(PickupNotEligible, match="route R2"):
        d.add([pickup("p1", route="R2")], NOW)
    other = dispatch()
    p = pickup("p2")
    other.add([p], NOW)
    with pytest.raises(PickupNotEligible, match="already in dispatch d1"):
        Dispatch.create(
            "d2",
            NewDispatch("req-2", HUB, ROUTE, DAY),
            Rider("r2", HUB),
            Vehicle("v2", HUB, VehicleType.VAN, 50, 50),
            NOW,
        ).add([p], NOW)
    assert d.add([], NOW) == []


def test_adding_a_member_again_changes_nothing():
    d = dispatch()
    p = pickup("p1")
    d.add([p], NOW)
    version = d.version
    assert d.add([p], NOW) == [] and d.version == version and p.event_version == 1


def test_first_fit_takes_the_queue_in_order_as_far_as_capacity_allows():
    queue = [pickup("a", 6), pickup("b", 6), pickup("c", 3), pickup("d", 2)]
    taken = fill_from_queue(queue, Load(10, 1000.0))
    assert [p.pur_id for p in taken] == ["a", "c"]


# -- lifecycle ----------------------------------------------------------------------------------


def test_lifecycle_open_started_completed_with_per_pickup_events():
    d = dispatch()
    members = [pickup("p1"), pickup("p2")]
    d.add(members, NOW)
    started = d.start(members, NOW)
    assert [c.kind for c in started] == [ChangeKind.STARTED] * 2
    assert d.status is DispatchStatus.IN_PROGRESS and not any(p.listed for p in members)
    assert d.start(members, NOW) is None  # a retry changes nothing
    done = d.complete(members, NOW)
    assert [c.kind for c in done] == [ChangeKind.PICKED_UP] * 2
    assert [c.version for c in done] == [3, 3]  # dispatched, started, picked up
    assert d.status is DispatchStatus.COMPLETED and all(p.status is PickupStatus.PICKED_UP for p in members)
    assert d.complete(members, NOW) is None


@pytest.mark.parametrize(
    "setup, action, message",
    [
        ("open", "complete", "only an IN_PROGRESS dispatch can be completed (start it first)"),
        ("completed", "start", "only an OPEN dispatch can start"),
        ("completed", "cancel", "only an OPEN or IN_PROGRESS dispatch can be cancelled"),
        ("cancelled", "start", "only an OPEN dispatch can start"),
        ("cancelled", "complete", "only an IN_PROGRESS dispatch"),
        ("completed", "add", "pickups can be added only while OPEN or IN_PROGRESS"),
        ("cancelled", "remove", "pickups can be removed only while OPEN or IN_PROGRESS"),
    ],
)
def test_illegal_transitions_are_refused(setup, action, message):
    d = dispatch()
    members = [pickup("p1")]
    d.add(members, NOW)
    if setup == "completed":
        d.start(members, NOW)
        d.complete(members, NOW)
    elif setup == "cancelled":
        d.cancel(members, "rain", NOW)
    version = d.version
    calls = {
        "start": lambda: d.start(members, NOW),
        "complete": lambda: d.complete(members, NOW),
        "cancel": lambda: d.cancel(members, "x", NOW),
        "add": lambda: d.add([pickup("p9")], NOW),
        "remove": lambda: d.remove(members, NOW),
    }
    with pytest.raises(IllegalTransition, match=message.replace("(", r"\(").replace(")", r"\)")):
        calls[action]()
    assert d.version == version


def test_an_empty_dispatch_cannot_start():
    with pytest.raises(IllegalTransition, match="no pickups"):
        dispatch().start([], NOW)


@pytest.mark.parametrize("started", [False, True])
def test_cancelling_returns_pickups_to_the_queue_and_keeps_the_record(started):
    d = dispatch()
    members = [pickup("p1"), pickup("p2")]
    d.add(members, NOW)
    if started:
        d.start(members, NOW)
    changes = d.cancel(members, "rider fell ill", NOW)
    assert [(c.kind, c.release_reason, c.detail) for c in changes] == [
        (ChangeKind.RELEASED, ReleaseReason.DISPATCH_CANCELLED, "rider fell ill")
    ] * 2
    assert all(p.queued and p.listed and p.position is None for p in members)
    assert d.status is DispatchStatus.CANCELLED and d.pur_ids == ["p1", "p2"] and d.cancel_reason == "rider fell ill"
    assert d.cancel(members, "again", NOW) is None


def test_removing_pickups_releases_them_and_frees_capacity():
    d = dispatch(Load(10, 100.0))
    a, b = pickup("p1", 6), pickup("p2", 4)
    d.add([a, b], NOW)
    changes = d.remove([a, pickup("stranger")], NOW, detail="customer asked")
    assert [(c.pur_id, c.kind, c.release_reason) for c in changes] == [
        ("p1", ChangeKind.RELEASED, ReleaseReason.REMOVED)
    ]
    assert d.pur_ids == ["p2"] and d.load == Load(4, 10.0) and a.queued
    d.add([pickup("p3", 6)], NOW)  # the room is back


def test_event_versions_increase_per_pickup_across_dispatches():
    p = pickup("p1")
    first = dispatch()
    first.add([p], NOW)
    first.cancel([p], "", NOW)
    second = Dispatch.create(
        "d2", NewDispatch("req-2", HUB, ROUTE, DAY), Rider("r2", HUB), Vehicle("v2", HUB, VehicleType.VAN, 50, 50), NOW
    )
    [joined] = second.add([p], NOW)
    assert joined.version == 3 and p.dispatch_id == "d2"


# -- following pur_svc --------------------------------------------------------------------------


def test_pur_changes_are_ordered_by_version():
    p = pickup("p1")  # routed at version 2
    assert p.plan(snapshot("p1", 2)) is PurEffect.IGNORE
    assert p.plan(snapshot("p1", 1, status=PickupStatus.CANCELLED)) is PurEffect.IGNORE
    assert p.plan(snapshot("p1", 3, status=PickupStatus.CANCELLED)) is PurEffect.LEAVE
    assert p.plan(snapshot("p1", 3, route="R2")) is PurEffect.ENQUEUE
    assert p.plan(snapshot("p1", 3, day=date(2026, 5, 12))) is PurEffect.ENQUEUE
    assert p.plan(snapshot("p1", 3)) is PurEffect.RECORD  # same route again (e.g. a new map version)


def test_echoes_of_our_own_events_only_record_the_version():
    d = dispatch()
    p = pickup("p1")
    d.add([p], NOW)
    assert p.plan(snapshot("p1", 3, status=PickupStatus.DISPATCHED)) is PurEffect.RECORD
    d.remove([p], NOW)
    # pur_svc applied `released` and announces ROUTED again: the pickup stays queued, not re-joined.
    assert p.plan(snapshot("p1", 4, status=PickupStatus.ROUTED)) is PurEffect.RECORD


def test_a_picked_up_pickup_never_moves_again():
    d = dispatch()
    p = pickup("p1")
    d.add([p], NOW)
    d.start([p], NOW)
    d.complete([p], NOW)
    assert p.plan(snapshot("p1", 9, status=PickupStatus.CANCELLED)) is PurEffect.RECORD


def test_unroutable_then_routed_again_reenters_the_queue():
    p = pickup("p1")
    p.close(snapshot("p1", 3, status=PickupStatus.UNROUTABLE))
    assert not p.listed and p.status is PickupStatus.UNROUTABLE
    later = snapshot("p1", 4, route="R9")
    assert p.plan(later) is PurEffect.ENQUEUE
    p.enqueue(later)
    assert p.queued and p.listed and p.route_id == "R9" and p.position is None


# -- auto-dispatch policy ------------------------------------------------------------------------


def test_auto_dispatch_is_due_at_the_threshold_or_after_the_local_cutoff():
    policy = AutoDispatchPolicy(frozenset({HUB}), 20, time(14, 0), ZoneInfo("Asia/Kolkata"))
    morning = datetime(2026, 5, 11, 4, 0, tzinfo=UTC)  # 09:30 in Kolkata
    afternoon = datetime(2026, 5, 11, 9, 0, tzinfo=UTC)  # 14:30 in Kolkata
    assert policy.due(19, morning) is None
    assert "threshold 20" in policy.due(20, morning)
    assert "cut-off 14:00 Asia/Kolkata passed" in policy.due(1, afternoon)
    assert policy.due(0, afternoon) is None
    assert policy.enabled(HUB) and not policy.enabled("hub-2")
    assert policy.local_today(datetime(2026, 5, 11, 20, 0, tzinfo=UTC)) == date(2026, 5, 12)
