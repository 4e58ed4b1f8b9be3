"""dispatch_svc's use cases on in-memory repositories: pur.events.v1 applied exactly once whatever
the order, the dispatch lifecycle with one domain event per PUR and change, capacity, riders and
vehicles that may be dispatched, idempotent creates, reassignments and moves between dispatches,
the actor and reason of every event, cancel versus complete, recommendations with attendance down,
and auto-dispatch. What only PostgreSQL shows (locks, unique indexes under races, the SQL of the
listings, the outbox rows) is in tests/integration/test_dispatch_handlers.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import pytest

from dispatch_svc.domain.events import DispatchEvent
from dispatch_svc.domain.model import (
    SERVICE_ACTOR,
    Actor,
    CapacityExceeded,
    ChangeKind,
    DispatchStatus,
    PickupMove,
    PickupStatus,
    Reassignment,
    ReleaseReason,
    Rider,
    RiderBusy,
    Vehicle,
    VehicleBusy,
    VehicleType,
)
from dispatch_svc.service_layer import handlers
from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, PermissionDenied, Unavailable
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork

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


# -- overrides: another rider or vehicle, pickups moved between dispatches -----------------------------

LEAD = Actor("tl-priya", "team-lead")


def reassign(uow, attendance, dispatch_id: str, rider_id: str = "", vehicle_id: str = "", reason: str = "rider ill"):
    return handlers.reassign_dispatch(
        uow(), attendance, Reassignment(dispatch_id, rider_id, vehicle_id, reason), actor=LEAD
    )


def move(uow, source: str, target: str, pur_ids, reason: str = "balance the load", **options):
    return handlers.move_pickups(uow(), PickupMove(source, target, tuple(pur_ids), reason), actor=LEAD, **options)


def test_a_reassigned_dispatch_takes_the_new_rider_and_vehicle_and_its_pickups_follow(store, uow, attendance):
    ids = purs(2)
    handlers.apply_pur_changes(uow(), [routed(p) for p in ids])
    d = create(uow, attendance, rider_id="asha", vehicle_id="bike").dispatch
    work = uow()
    got = handlers.reassign_dispatch(work, attendance, Reassignment(d.id, "bala", "van", "asha is ill"), actor=LEAD)
    assert work.locked_routes == [(HUB, "R1", TODAY)]
    assert (got.rider_id, got.vehicle_id, got.capacity.packages, got.version) == ("bala", "van", 100, d.version + 1)
    assert handlers.get_dispatch(uow(), d.id) == got
    for pur in ids:
        last = events_of(store, pur)[-1]
        assert (last.kind, last.version, last.rider_id, last.vehicle_id) == (ChangeKind.RIDER_CHANGED, 2, "bala", "van")
        assert (last.previous_rider_id, last.previous_vehicle_id) == ("asha", "bike")
        assert (last.actor, last.reason, last.dispatch_status) == (LEAD, "asha is ill", DispatchStatus.OPEN)
        assert store.pickups[pur].dispatch_id == d.id and store.pickups[pur].status is PickupStatus.DISPATCHED
    # The rider and vehicle it had are free again.
    assert create(uow, attendance, "req-2", route="R2", rider_id="asha", vehicle_id="bike").created


def test_an_empty_rider_or_vehicle_keeps_it_and_a_repeat_writes_nothing(store, uow, attendance):
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    d = create(uow, attendance, rider_id="asha", vehicle_id="bike").dispatch
    got = reassign(uow, attendance, d.id, vehicle_id="van", reason="bigger load later")
    assert (got.rider_id, got.vehicle_id) == ("asha", "van")
    [previous] = [e for e in store.events if e.kind is ChangeKind.RIDER_CHANGED]
    assert (previous.previous_rider_id, previous.previous_vehicle_id, previous.rider_id) == ("asha", "bike", "asha")
    commits, events = store.commits, len(store.events)
    attendance.known = False  # a repeat asks nothing of attendance
    for rider, vehicle in (("", "van"), ("asha", ""), ("asha", "van")):
        again = reassign(uow, attendance, d.id, rider, vehicle)
        assert (again.rider_id, again.vehicle_id, again.version) == ("asha", "van", got.version)
    assert (store.commits, len(store.events)) == (commits, events)


@pytest.mark.parametrize(
    "rider, vehicle, kind, message",
    [
        ("dev", "", FailedPrecondition, "not present"),
        ("nobody", "", NotFound, "rider 'nobody'"),
        ("bala", "", RiderBusy, "rider bala already has an active dispatch"),
        ("eve", "", FailedPrecondition, f"not a rider of hub {HUB}"),
        ("gone", "", FailedPrecondition, "inactive"),
        ("", "van", VehicleBusy, "vehicle van is already on active dispatch"),
        ("", "van-2", FailedPrecondition, f"not a vehicle of hub {HUB}"),
        ("", "cart", CapacityExceeded, "carries 6 packages / 8.0 kg but vehicle cart carries at most 5 packages"),
        ("", "nothing", NotFound, "vehicle 'nothing'"),
    ],
)
def test_a_reassignment_is_checked_like_a_create_and_writes_nothing(
    store, uow, attendance, rider, vehicle, kind, message
):
    handlers.upsert_rider(uow(), Rider("eve", "hub-2", name="Eve"))
    handlers.upsert_rider(uow(), Rider("gone", HUB, name="Gone", active=False))
    handlers.upsert_vehicle(uow(), Vehicle("van-2", "hub-2", VehicleType.VAN, 100, 500.0))
    handlers.upsert_vehicle(uow(), Vehicle("cart", HUB, VehicleType.BIKE, 5, 50.0))
    attendance.present[HUB] |= {"eve", "gone"}
    ids = purs(2)
    handlers.apply_pur_changes(uow(), [routed(p) for p in ids] + [routed("pur-r2", route="R2")])
    d = create(uow, attendance, rider_id="asha", vehicle_id="truck", pur_ids=tuple(ids)).dispatch
    create(uow, attendance, "req-busy", route="R2", rider_id="bala", vehicle_id="van")
    before = (store.commits, len(store.events), store.dispatches[d.id])
    with pytest.raises(kind, match=message):
        reassign(uow, attendance, d.id, rider, vehicle)
    assert (store.commits, len(store.events), store.dispatches[d.id]) == before


def test_only_an_open_dispatch_is_reassigned_and_attendance_must_answer(store, uow, attendance):
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    d = create(uow, attendance, rider_id="asha", vehicle_id="bike").dispatch
    attendance.known = False
    with pytest.raises(Unavailable, match="attendance of rider chitra"):
        reassign(uow, attendance, d.id, "chitra")
    attendance.known = True
    handlers.start_dispatch(uow(), d.id)
    with pytest.raises(FailedPrecondition, match="IN_PROGRESS; only an OPEN dispatch can get another rider"):
        reassign(uow, attendance, d.id, "chitra")
    with pytest.raises(NotFound):
        reassign(uow, attendance, "dsp_nope", "chitra")
    with pytest.raises(InvalidArgument, match="reason is required"):
        Reassignment(d.id, "chitra", "", " ")


def test_a_repeat_that_finds_the_rider_changed_meanwhile_asks_for_a_retry(store, uow, attendance):
    """The repeat skipped attendance, but under the lock the dispatch has another rider: it is not
    a repeat any more, and attendance is never asked while the route's lock is held."""
    handlers.apply_pur_changes(uow(), [routed(p) for p in purs(1)])
    d = create(uow, attendance, rider_id="asha", vehicle_id="bike").dispatch

    def reassigned_meanwhile(found) -> None:
        handlers.reassign_dispatch(uow(), attendance, Reassignment(found.id, "bala", "", "meanwhile"))

    with pytest.raises(Unavailable, match="got rider bala meanwhile; retry"):
        handlers.reassign_dispatch(
            uow(), attendance, Reassignment(d.id, "asha", "", "back to asha"), authorize=reassigned_meanwhile
        )
    assert store.dispatches[d.id].rider_id == "bala"
    assert reassign(uow, attendance, d.id, "asha").rider_id == "asha"  # the retry


def open_pair(uow, attendance, count: int = 3, **pickup) -> tuple[list[str], str, str]:
    """`count` pickups in an OPEN dispatch of R1 (asha, van), and an empty OPEN one of R1 (bala, bike)."""
    ids = purs(count)
    handlers.apply_pur_changes(uow(), [routed(p, **pickup) for p in ids])
    source = create(uow, attendance, "req-a", rider_id="asha", vehicle_id="van").dispatch
    target = create(uow, attendance, "req-b", rider_id="bala", vehicle_id="bike").dispatch
    assert source.pur_ids == ids and target.pur_ids == []
    return ids, source.id, target.id


def test_moved_pickups_join_the_target_with_its_rider(store, uow, attendance):
    ids, source_id, target_id = open_pair(uow, attendance)
    work = uow()
    source, target = handlers.move_pickups(
        work, PickupMove(source_id, target_id, (ids[2], ids[0], ids[2]), "bala is closer"), actor=LEAD
    )
    assert work.locked_routes == [(HUB, "R1", TODAY)]
    assert (source.pur_ids, source.load.packages, target.pur_ids, target.load.packages) == (
        [ids[1]],
        3,
        [ids[2], ids[0]],
        6,
    )
    assert handlers.get_dispatch(uow(), source_id) == source and handlers.get_dispatch(uow(), target_id) == target
    for pur in (ids[0], ids[2]):
        last = events_of(store, pur)[-1]
        assert (last.kind, last.version, last.dispatch_id, last.rider_id, last.moved_from_dispatch_id) == (
            ChangeKind.DISPATCHED,
            2,
            target_id,
            "bala",
            source_id,
        )
        assert (last.actor, last.reason, last.automatic) == (LEAD, "bala is closer", False)
        assert store.pickups[pur].dispatch_id == target_id and store.pickups[pur].listed
    assert changes_of(store, ids[1]) == [("DISPATCHED", 1)]
    [group] = handlers.list_open_pickups(uow(), HUB, TODAY)
    assert {p.pur_id: p.dispatch_id for p in group.pickups} == {ids[0]: target_id, ids[1]: source_id, ids[2]: target_id}


@pytest.mark.parametrize(
    "pickup, moving, kind, message",
    [
        ({}, ["pur-000", "nope"], FailedPrecondition, "not in dispatch .*: nope"),
        ({}, ["pur-000", "pur-001", "pur-002", "pur-003"], CapacityExceeded, "would carry 12 packages / 12.0 kg"),
        ({"packages": 1, "weight": 8.0}, ["pur-000", "pur-001", "pur-002"], CapacityExceeded, "24.0 kg but vehicle"),
    ],
)
def test_a_move_is_all_or_nothing(store, uow, attendance, pickup, moving, kind, message):
    pickup = {"packages": 3, "weight": 3.0} | pickup
    _, source_id, target_id = open_pair(uow, attendance, 4, **pickup)
    before = (store.commits, len(store.events), dict(store.dispatches))
    with pytest.raises(kind, match=message):
        move(uow, source_id, target_id, moving)
    assert (store.commits, len(store.events), store.dispatches) == before


def test_pickups_move_only_between_open_dispatches_of_one_route_and_day(store, uow, attendance):
    ids, source_id, target_id = open_pair(uow, attendance)
    other_route = create(uow, attendance, "req-c", route="R2", rider_id="chitra", vehicle_id="truck").dispatch
    with pytest.raises(FailedPrecondition, match="is of route R2"):
        move(uow, source_id, other_route.id, ids[:1])
    with pytest.raises(NotFound, match="dsp_nope"):
        move(uow, source_id, "dsp_nope", ids[:1])
    with pytest.raises(InvalidArgument, match="another dispatch"):
        PickupMove(source_id, source_id, tuple(ids), "x")
    with pytest.raises(InvalidArgument, match="reason is required"):
        PickupMove(source_id, target_id, tuple(ids), "")

    def refuse(dispatch):
        if dispatch.id == target_id:
            raise PermissionDenied(f"not your hub {dispatch.hub_id}")

    before = (store.commits, len(store.events))
    with pytest.raises(PermissionDenied):
        move(uow, source_id, target_id, ids[:1], authorize=refuse)
    handlers.start_dispatch(uow(), source_id)
    with pytest.raises(FailedPrecondition, match="IN_PROGRESS; pickups move only between OPEN dispatches"):
        move(uow, source_id, target_id, ids[:1])
    assert (store.commits, len(store.events)) == (before[0] + 1, before[1] + len(ids))  # only the start


# -- who and why --------------------------------------------------------------------------------------


def test_every_dispatch_event_names_its_actor_and_reason(store, uow, attendance):
    joined, removed, cancelled = purs(3)
    handlers.apply_pur_changes(uow(), [routed(removed), routed(cancelled)])
    d = handlers.create_dispatch(
        uow(), attendance, new_dispatch("req-lead", hub=HUB, day=TODAY, vehicle_id="van"), actor=LEAD
    ).dispatch
    handlers.apply_pur_changes(uow(), [routed(joined)])
    handlers.remove_pickups(uow(), d.id, [removed], "", actor=LEAD)
    handlers.apply_pur_changes(uow(), [routed(cancelled, 3, status=PickupStatus.CANCELLED)])
    handlers.cancel_dispatch(uow(), d.id, "rain", actor=LEAD)
    service = SERVICE_ACTOR
    assert (service.subject, service.role) == ("dispatch_svc", "service")
    assert [(e.kind.value, e.actor, e.reason) for e in events_of(store, joined)] == [
        ("DISPATCHED", service, "joined the open dispatch of R1"),
        ("RELEASED", LEAD, "dispatch cancelled: rain"),
    ]
    assert [(e.kind.value, e.actor, e.reason) for e in events_of(store, removed)] == [
        ("DISPATCHED", LEAD, "dispatch created"),
        ("RELEASED", LEAD, "removed from the dispatch"),
    ]
    assert [(e.kind.value, e.actor, e.reason) for e in events_of(store, cancelled)] == [
        ("DISPATCHED", LEAD, "dispatch created"),
        ("RELEASED", service, "pickup request cancelled"),
    ]


# -- cancel versus complete -------------------------------------------------------------------------


def test_a_cancellation_after_the_completion_leaves_the_pur_picked_up(store, uow, attendance):
    keep, late = purs(2)
    handlers.apply_pur_changes(uow(), [routed(keep), routed(late)])
    d = create(uow, attendance).dispatch
    handlers.start_dispatch(uow(), d.id)
    done = handlers.complete_dispatch(uow(), d.id, actor=LEAD)
    assert events_of(store, late)[-1].reason == "dispatch completed"
    events = len(store.events)
    work = uow()
    handlers.apply_pur_changes(work, [routed(late, 5, status=PickupStatus.CANCELLED)])
    assert work.locked_routes == [d.route_key()]  # the completion's lock
    assert len(store.events) == events  # PickupPickedUp was sent; nothing else to say
    assert (store.pickups[late].status, store.pickups[late].dispatch_id) == (PickupStatus.PICKED_UP, d.id)
    assert handlers.get_dispatch(uow(), d.id).pur_ids == done.pur_ids == [keep, late]


def test_a_cancellation_before_the_completion_takes_the_pur_off_its_dispatch(store, uow, attendance):
    keep, cancelled = purs(2)
    handlers.apply_pur_changes(uow(), [routed(keep), routed(cancelled)])
    d = create(uow, attendance).dispatch
    handlers.start_dispatch(uow(), d.id)
    handlers.apply_pur_changes(uow(), [routed(cancelled, 5, status=PickupStatus.CANCELLED)])
    work = uow()
    done = handlers.complete_dispatch(work, d.id)
    assert work.locked_routes == [d.route_key()]
    assert done.status is DispatchStatus.COMPLETED and done.pur_ids == [keep]
    assert changes_of(store, cancelled) == [("DISPATCHED", 1), ("STARTED", 2), ("RELEASED", 3)]
    released = events_of(store, cancelled)[-1]
    assert (released.release_reason, released.detail) == (ReleaseReason.REMOVED, "pickup request cancelled")
    assert (store.pickups[cancelled].status, store.pickups[cancelled].dispatch_id) == (PickupStatus.CANCELLED, "")
    assert store.pickups[keep].status is PickupStatus.PICKED_UP


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
