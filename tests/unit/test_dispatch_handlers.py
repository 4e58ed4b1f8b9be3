"""dispatch_svc's use cases on in-memory repositories: pur.events.v1 applied exactly once whatever
the order, the dispatch lifecycle with one domain event per PUR and change, capacity, riders and
vehicles that may be dispatched, idempotent creates, recommendations with attendance down, and
auto-dispatch. What only PostgreSQL shows (locks, unique indexes under races, the SQL of the
listings, the outbox rows) is in tests/integration/test_dispatch_handlers.py."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.events import DispatchEvent
from dispatch_svc.domain.model import (
    ChangeKind,
    DispatchStatus,
    PickupStatus,
    ReleaseReason,
    Rider,
    RiderBusy,
    Vehicle,
    VehicleType,
)
from dispatch_svc.entrypoints.auto_dispatch import AutoDispatcher
from dispatch_svc.service_layer import handlers
from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.polling import wait_until

HUB = "hub-1"
TODAY = date(2026, 5, 11)
MORNING = datetime.combine(TODAY, time(6, 0), tzinfo=UTC)


@pytest.fixture
def store() -> DispatchStore:
    return DispatchStore()


@pytest.fixture
def uow(store):
    """A fresh unit of work on the shared store for each call, like the service's factory."""
    return lambda: FakeDispatchUnitOfWork(store)


@pytest.fixture
def attendance() -> FakeAttendance:
    return FakeAttendance()


@pytest.fixture(autouse=True)
def hub(uow, attendance) -> None:
    """Riders asha, bala, chitra (present) and dev (absent), a bike (10 packages / 20 kg), a van
    (100 / 500) and a truck (1000 / 5000)."""
    for rider in ("asha", "bala", "chitra", "dev"):
        handlers.upsert_rider(uow(), Rider(rider, HUB, name=rider.title()))
    handlers.upsert_vehicle(uow(), Vehicle("bike", HUB, VehicleType.BIKE, 10, 20.0))
    handlers.upsert_vehicle(uow(), Vehicle("van", HUB, VehicleType.VAN, 100, 500.0))
    handlers.upsert_vehicle(uow(), Vehicle("truck", HUB, VehicleType.TRUCK, 1000, 5000.0))
    attendance.present[HUB] = {"asha", "bala", "chitra"}


routed = partial(pur_snapshot, hub=HUB, day=TODAY)


def purs(count: int) -> list[str]:
    return [f"pur-{i:03d}" for i in range(count)]


def events_of(store: DispatchStore, pur_id: str) -> list[DispatchEvent]:
    return [e for e in store.events if isinstance(e, DispatchEvent) and e.pur_id == pur_id]


def changes_of(store: DispatchStore, pur_id: str) -> list[tuple[str, int]]:
    return [(e.kind.value, e.version) for e in events_of(store, pur_id)]


def create(uow, attendance, request_id: str = "req-1", *, day: date = TODAY, **fields) -> handlers.Created:
    return handlers.create_dispatch(uow(), attendance, new_dispatch(request_id, hub=HUB, day=day, **fields))


# -- pur.events.v1 --------------------------------------------------------------------------------


def test_routed_purs_wait_in_the_queue_of_their_route_under_its_lock(store, uow):
    a, b = purs(2)
    work = uow()
    assert handlers.apply_pur_changes(work, [routed(a), routed(b, route="R2")]) == 0
    assert sorted(work.locked_routes) == [(HUB, "R1", TODAY), (HUB, "R2", TODAY)]
    assert {(p.route_id, p.status, p.listed, p.dispatch_id) for p in store.pickups.values()} == {
        ("R1", PickupStatus.ROUTED, True, ""),
        ("R2", PickupStatus.ROUTED, True, ""),
    }
    assert store.events == []


def test_a_routed_pur_joins_the_oldest_open_dispatch_with_room(store, uow, attendance):
    dispatch = create(uow, attendance, vehicle_id="bike").dispatch
    first, second, other_day, too_big = purs(4)
    handlers.apply_pur_changes(
        uow(),
        [
            routed(first),
            routed(second, packages=5),
            routed(other_day, day=TODAY + timedelta(days=1)),
            routed(too_big, packages=3),
        ],
    )
    got = handlers.get_dispatch(uow(), dispatch.id)
    assert got.pur_ids == [first, second] and got.load.packages == 8  # the bike carries 10
    assert store.pickups[first].status is PickupStatus.DISPATCHED and store.pickups[first].listed
    assert store.pickups[too_big].dispatch_id == "" and store.pickups[other_day].dispatch_id == ""
    [event] = events_of(store, first)
    assert (event.kind, event.version, event.automatic) == (ChangeKind.DISPATCHED, 1, True)
    assert (event.dispatch_id, event.route_id, event.pickup_date, event.rider_id, event.vehicle_id) == (
        dispatch.id,
        "R1",
        TODAY,
        dispatch.rider_id,
        "bike",
    )
    assert event.dispatch_status is DispatchStatus.OPEN


def test_duplicate_and_older_pur_events_change_nothing(store, uow):
    [pur] = purs(1)
    handlers.apply_pur_changes(uow(), [routed(pur, version=5)])
    before = store.pickups[pur]
    stale = [routed(pur, version=5), routed(pur, version=3, route="R9"), routed(pur, 4, status=PickupStatus.CANCELLED)]
    assert handlers.apply_pur_changes(uow(), stale) == 0
    assert store.pickups[pur] == before


def test_a_cancelled_pur_leaves_its_dispatch_with_a_released_event(store, uow, attendance):
    keep, cancelled = purs(2)
    handlers.apply_pur_changes(uow(), [routed(keep), routed(cancelled)])
    dispatch = create(uow, attendance).dispatch
    assert dispatch.pur_ids == [keep, cancelled]
    handlers.apply_pur_changes(uow(), [routed(cancelled, 3, status=PickupStatus.DISPATCHED)])  # the echo
    handlers.apply_pur_changes(uow(), [routed(cancelled, 4, status=PickupStatus.CANCELLED)])
    got = handlers.get_dispatch(uow(), dispatch.id)
    assert got.pur_ids == [keep] and got.load.packages == 3 and got.version == 3
    pickup = store.pickups[cancelled]
    assert (pickup.status, pickup.dispatch_id, pickup.listed, pickup.pur_version) == (
        PickupStatus.CANCELLED,
        "",
        False,
        4,
    )
    assert changes_of(store, cancelled) == [("DISPATCHED", 1), ("RELEASED", 2)]
    released = events_of(store, cancelled)[-1]
    assert (released.release_reason, released.detail) == (ReleaseReason.REMOVED, "pickup request cancelled")
    [group] = handlers.list_open_pickups(uow(), HUB, TODAY)
    assert [p.pur_id for p in group.pickups] == [keep]


def test_a_rerouted_pur_moves_to_the_new_routes_open_dispatch(store, uow, attendance):
    pur, filler = purs(2)
    handlers.apply_pur_changes(uow(), [routed(pur, route="R1"), routed(filler, route="R2")])
    old = create(uow, attendance, "req-r1", route="R1").dispatch
    new = create(uow, attendance, "req-r2", route="R2").dispatch
    work = uow()
    handlers.apply_pur_changes(work, [routed(pur, version=3, route="R2")])
    assert sorted(work.locked_routes) == [(HUB, "R1", TODAY), (HUB, "R2", TODAY)]  # where it was and goes
    assert handlers.get_dispatch(uow(), old.id).pur_ids == []
    assert handlers.get_dispatch(uow(), new.id).pur_ids == [filler, pur]
    assert changes_of(store, pur) == [("DISPATCHED", 1), ("RELEASED", 2), ("DISPATCHED", 3)]
    assert events_of(store, pur)[1].detail == "pickup request re-routed to route R2"


def test_a_released_pur_echoed_back_as_routed_stays_in_the_queue(store, uow, attendance):
    pur, other = purs(2)
    handlers.apply_pur_changes(uow(), [routed(pur), routed(other)])
    dispatch = create(uow, attendance).dispatch
    handlers.remove_pickups(uow(), dispatch.id, [pur], "customer not ready")
    handlers.apply_pur_changes(uow(), [routed(pur, 3, status=PickupStatus.DISPATCHED), routed(pur, 4)])
    assert handlers.get_dispatch(uow(), dispatch.id).pur_ids == [other]
    pickup = store.pickups[pur]
    assert (pickup.status, pickup.dispatch_id, pickup.listed, pickup.pur_version) == (
        PickupStatus.ROUTED,
        "",
        True,
        4,
    )
    assert changes_of(store, pur) == [("DISPATCHED", 1), ("RELEASED", 2)]


# -- lifecycle ------------------------------------------------------------------------------------


def test_cancelling_returns_purs_to_the_queue(store, uow, attendance):
    ids = purs(2)
    handlers.apply_pur_changes(uow(), [routed(p) for p in ids])
    d = create(uow, attendance).dispatch
    handlers.start_dispatch(uow(), d.id)
    cancelled = handlers.cancel_dispatch(uow(), d.id, "van broke down")
    assert cancelled.status is DispatchStatus.CANCELLED and cancelled.cancel_reason == "van broke down"
    assert cancelled.pur_ids == ids  # the record of what it held
    for pur in ids:
        last = events_of(store, pur)[-1]
        assert (last.kind, last.version, last.release_reason, last.detail) == (
            ChangeKind.RELEASED,
            3,
            ReleaseReason.DISPATCH_CANCELLED,
            "van broke down",
        )
    [group] = handlers.list_open_pickups(uow(), HUB, TODAY)
    assert group.queued_count == 2 and group.open_dispatch is None
    # The rider is free again, and the PURs can join a new dispatch.
    again = create(uow, attendance, "req-2", rider_id=d.rider_id)
    assert again.dispatch.pur_ids == ids
    assert [v for _, v in changes_of(store, ids[0])] == [1, 2, 3, 4]


def test_a_repeated_transition_writes_nothing(store, uow, attendance):
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    d = create(uow, attendance).dispatch
    started = handlers.start_dispatch(uow(), d.id)
    commits, events = store.commits, len(store.events)
    assert handlers.start_dispatch(uow(), d.id).version == started.version
    assert (store.commits, len(store.events)) == (commits, events)


def test_illegal_transitions_are_failed_precondition(uow, attendance):
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    d = create(uow, attendance).dispatch
    with pytest.raises(FailedPrecondition, match="start it first"):
        handlers.complete_dispatch(uow(), d.id)
    with pytest.raises(NotFound):
        handlers.start_dispatch(uow(), "dsp_nope")
    with pytest.raises(InvalidArgument, match="reason"):
        handlers.cancel_dispatch(uow(), d.id, "x" * 501)


def test_changing_a_dispatch_the_caller_may_not_touch_writes_nothing(store, uow, attendance):
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    d = create(uow, attendance).dispatch
    before = (store.commits, len(store.events))

    def refuse(dispatch):
        raise PermissionDenied(f"not your hub {dispatch.hub_id}")

    with pytest.raises(PermissionDenied):
        handlers.cancel_dispatch(uow(), d.id, "mine now", authorize=refuse)
    assert (store.commits, len(store.events)) == before
    assert handlers.get_dispatch(uow(), d.id).status is DispatchStatus.OPEN


# -- capacity ---------------------------------------------------------------------------------------


def test_capacity_is_enforced_with_numbers_and_nothing_is_written(store, uow, attendance):
    ids = purs(4)
    handlers.apply_pur_changes(uow(), [routed(p, packages=4, weight=2.0) for p in ids])
    with pytest.raises(
        FailedPrecondition, match=r"would carry 16 packages / 8.0 kg but vehicle bike carries at most 10 packages"
    ):
        create(uow, attendance, vehicle_id="bike", pur_ids=tuple(ids))
    assert store.dispatches == {} and store.events == []
    # From the queue, as far as capacity allows.
    d = create(uow, attendance, "req-2", vehicle_id="bike").dispatch
    assert d.pur_ids == ids[:2] and d.load.packages == 8
    with pytest.raises(FailedPrecondition, match="would carry 12 packages"):
        handlers.add_pickups(uow(), d.id, [ids[2]])
    assert handlers.get_dispatch(uow(), d.id).version == d.version
    removed = handlers.remove_pickups(uow(), d.id, [ids[0]], "")
    added = handlers.add_pickups(uow(), d.id, [ids[2], ids[1]])  # ids[1] is already in: ignored
    assert removed.pur_ids == [ids[1]] and added.pur_ids == [ids[1], ids[2]]


def test_add_pickups_refuses_unknown_and_foreign_purs(uow, attendance):
    mine, foreign = purs(2)
    handlers.apply_pur_changes(uow(), [routed(mine), routed(foreign, route="R2")])
    d = create(uow, attendance, pur_ids=(mine,)).dispatch
    with pytest.raises(NotFound, match="nope"):
        handlers.add_pickups(uow(), d.id, ["nope"])
    with pytest.raises(FailedPrecondition, match="on route R2"):
        handlers.add_pickups(uow(), d.id, [foreign])


# -- riders and vehicles ----------------------------------------------------------------------------


def test_a_rider_has_at_most_one_active_dispatch(uow, attendance):
    first = create(uow, attendance, "req-1", rider_id="asha", route="R1").dispatch
    with pytest.raises(RiderBusy, match=f"rider asha already has an active dispatch {first.id}"):
        create(uow, attendance, "req-2", rider_id="asha", route="R2")


def test_absent_or_unknown_riders_are_not_dispatched(uow, attendance):
    with pytest.raises(FailedPrecondition, match="not present"):
        create(uow, attendance, rider_id="dev")
    with pytest.raises(NotFound, match="rider"):
        create(uow, attendance, rider_id="nobody")
    attendance.known = False
    with pytest.raises(Unavailable, match="attendance"):
        create(uow, attendance, rider_id="asha")
    with pytest.raises(Unavailable, match="cannot choose a rider"):
        create(uow, attendance)


def test_only_active_riders_and_vehicles_of_the_dispatch_hub_are_dispatched(uow, attendance):
    handlers.upsert_rider(uow(), Rider("eve", "hub-2", name="Eve"))
    handlers.upsert_vehicle(uow(), Vehicle("van-2", "hub-2", VehicleType.VAN, 100, 500.0))
    handlers.upsert_rider(uow(), Rider("gone", HUB, name="Gone", active=False))
    handlers.upsert_vehicle(uow(), Vehicle("old", HUB, VehicleType.VAN, 100, 500.0, active=False))
    with pytest.raises(FailedPrecondition, match=f"not a rider of hub {HUB}"):
        create(uow, attendance, rider_id="eve")
    with pytest.raises(FailedPrecondition, match=f"not a vehicle of hub {HUB}"):
        create(uow, attendance, rider_id="asha", vehicle_id="van-2")
    with pytest.raises(FailedPrecondition, match="inactive"):
        create(uow, attendance, rider_id="gone")
    with pytest.raises(FailedPrecondition, match="inactive"):
        create(uow, attendance, rider_id="asha", vehicle_id="old")


def test_upserts_say_whether_they_created_and_refuse_what_the_caller_may_not_replace(store, uow):
    assert not handlers.upsert_rider(uow(), Rider("asha", HUB, name="Asha K"))
    assert handlers.upsert_vehicle(uow(), Vehicle("cart", HUB, VehicleType.BIKE, 5, 5.0))

    def other_hubs_only(stored: Rider) -> None:
        raise PermissionDenied(f"rider of {stored.hub_id}")

    with pytest.raises(PermissionDenied):
        handlers.upsert_rider(uow(), Rider("asha", "hub-2"), authorize=other_hubs_only)
    assert store.riders["asha"] == Rider("asha", HUB, name="Asha K")


# -- idempotency ------------------------------------------------------------------------------------


def test_create_dispatch_is_idempotent_on_request_id(store, uow, attendance):
    ids = purs(2)
    handlers.apply_pur_changes(uow(), [routed(p) for p in ids])
    first = create(uow, attendance, "req-same")
    again = create(uow, attendance, "req-same")
    assert first.created and not again.created and again.dispatch.id == first.dispatch.id
    assert [e.kind for e in store.events] == [ChangeKind.DISPATCHED] * 2
    with pytest.raises(AlreadyExists, match=first.dispatch.id):
        create(uow, attendance, "req-same", route="R2")


# -- recommendations --------------------------------------------------------------------------------


def test_recommendations_with_attendance_down_mark_nobody_present(uow, attendance):
    attendance.known = False
    result = handlers.recommend(uow(), attendance, HUB, "R1", TODAY, 10)
    assert len(result.riders) == 4 and not any(r.present for r in result.riders)
    assert all("attendance unknown" in r.reasons[-1] for r in result.riders)
    assert not result.attendance.known
    with pytest.raises(NotFound):
        handlers.recommend(uow(), attendance, "hub-nobody", "R1", TODAY, 5)


# -- auto-dispatch ----------------------------------------------------------------------------------


def test_auto_dispatch_creates_at_the_threshold_and_after_the_cutoff(store, uow, attendance):
    policy = AutoDispatchPolicy(frozenset({HUB}), 3, time(14, 0), ZoneInfo("UTC"))
    ids = purs(4)
    handlers.apply_pur_changes(uow(), [routed(p, route="R1") for p in ids[:2]] + [routed(ids[2], route="R2")])
    assert handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: MORNING) == []
    handlers.apply_pur_changes(uow(), [routed(ids[3], route="R1")])
    [outcome] = handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: MORNING)
    assert outcome.route_id == "R1" and "threshold 3" in outcome.reason
    d = outcome.dispatch
    assert d.automatic and d.pur_ids == [ids[0], ids[1], ids[3]] and d.status is DispatchStatus.OPEN
    assert d.request_id.startswith("auto_")
    assert all(e.automatic for e in events_of(store, ids[0]))
    # Nothing due any more; after the cut-off the short R2 queue goes too.
    assert handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: MORNING) == []
    evening = datetime.combine(TODAY, time(15, 0), tzinfo=UTC)
    [late] = handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: evening)
    assert late.route_id == "R2" and late.dispatch is not None and late.dispatch.rider_id != d.rider_id


def test_auto_dispatch_skips_when_nobody_is_known_present(uow, attendance):
    policy = AutoDispatchPolicy(frozenset({HUB}), 1, time(14, 0), ZoneInfo("UTC"))
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    attendance.known = False
    [outcome] = handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: MORNING)
    assert outcome.dispatch is None and "attendance unknown" in outcome.skipped
    attendance.known = True
    attendance.present[HUB] = set()
    [outcome] = handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: MORNING)
    assert outcome.dispatch is None and "no active rider" in outcome.skipped


def test_auto_dispatch_skips_a_route_another_replica_holds(store, uow, attendance):
    policy = AutoDispatchPolicy(frozenset({HUB}), 1, time(14, 0), ZoneInfo("UTC"))
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    store.busy_routes.add((HUB, "R1", TODAY))
    [outcome] = handlers.auto_dispatch_hub(uow(), attendance, policy, HUB, now=lambda: MORNING)
    assert outcome.dispatch is None and "route busy" in outcome.skipped and store.dispatches == {}


def test_the_auto_dispatch_worker_runs_until_stopped(store, uow, attendance):
    policy = AutoDispatchPolicy(frozenset({HUB}), 2, time(23, 59), ZoneInfo("UTC"))
    handlers.apply_pur_changes(uow(), [routed(p, day=datetime.now(UTC).date()) for p in purs(2)])
    dispatcher = AutoDispatcher(policy, uow, attendance, interval_seconds=0.01)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: store.dispatches, timeout=10, message="auto-dispatch to create a dispatch")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    [d] = store.dispatches.values()
    assert d.automatic and len(d.pur_ids) == 2
