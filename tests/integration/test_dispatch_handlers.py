"""dispatch_svc's use cases against the real `dispatch` schema, for what only PostgreSQL shows: queue
positions from the sequence, the per-PUR DispatchEvents in the outbox, the partial unique indexes
and the request key under concurrent creates and reassignments, membership rows of moved pickups,
a cancellation and a completion crossing under the route's lock, the SQL of open pickups, dispatch
pages and recommendation history, and the advisory locks of routes and ids. The rules themselves are tested
on in-memory repositories in tests/unit/test_dispatch_handlers.py. Every test works in its own hub
(the database is shared)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import (
    Actor,
    DispatchStatus,
    PickupMove,
    PickupStatus,
    Reassignment,
    Rider,
    RiderBusy,
    Vehicle,
    VehicleType,
)
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.views import DispatchFilter
from firstmile.events.v1 import events_pb2
from mesh.errors import AlreadyExists, FailedPrecondition
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture
def attendance() -> FakeAttendance:
    return FakeAttendance()


@pytest.fixture
def hub(uow_factory, attendance) -> str:
    """A fresh hub with riders asha, bala, chitra (present) and dev (absent), a bike (10
    packages / 20 kg), a van (100 packages / 500 kg) and a truck (1000 packages / 5000 kg)."""
    hub_id = f"hub-{uuid.uuid4().hex[:10]}"
    for rider in ("asha", "bala", "chitra", "dev"):
        handlers.upsert_rider(uow_factory(), Rider(f"{hub_id}-{rider}", hub_id, name=rider.title()))
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub_id}-bike", hub_id, VehicleType.BIKE, 10, 20.0))
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub_id}-van", hub_id, VehicleType.VAN, 100, 500.0))
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub_id}-truck", hub_id, VehicleType.TRUCK, 1000, 5000.0))
    attendance.present[hub_id] = {f"{hub_id}-{r}" for r in ("asha", "bala", "chitra")}
    return hub_id


routed = partial(pur_snapshot, day=TODAY)


def purs(hub: str, count: int) -> list[str]:
    return [f"{hub}-pur-{i:03d}" for i in range(count)]


def pickup_rows(engine, pur_ids: list[str]) -> dict[str, sa.Row]:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(orm.open_pickups).where(orm.open_pickups.c.pur_id.in_(pur_ids)))
        return {row.pur_id: row for row in rows}


def events(engine, pur_ids: list[str]) -> list[tuple[str, str, int, events_pb2.DispatchEvent]]:
    """(pur id, change, version, event) of the DispatchEvents in the outbox for these PURs."""
    table = orm.outbox.table
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table).where(table.c.key.in_([p.encode() for p in pur_ids])).order_by(table.c.id)
        ).all()
    result = []
    for row in rows:
        assert row.topic == "dispatch.events.v1" and row.event_type == "firstmile.events.v1.DispatchEvent"
        event = events_pb2.DispatchEvent.FromString(row.payload)
        assert event.pur_id == row.key.decode()
        result.append((event.pur_id, event.WhichOneof("change"), event.version, event))
    return result


def create(uow_factory, attendance, hub: str, request_id: str = "req-1", *, day=TODAY, **fields) -> handlers.Created:
    return handlers.create_dispatch(uow_factory(), attendance, new_dispatch(request_id, hub=hub, day=day, **fields))


# -- pur.events.v1 --------------------------------------------------------------------------------


def test_routed_purs_wait_in_their_routes_queue(engine, uow_factory, hub):
    ids = purs(hub, 3)
    emitted = handlers.apply_pur_changes(
        uow_factory(), [routed(ids[0], hub=hub), routed(ids[1], hub=hub), routed(ids[2], hub=hub, route="R2")]
    )
    assert emitted == 0
    rows = pickup_rows(engine, ids)
    assert {r.status for r in rows.values()} == {"ROUTED"} and all(
        r.listed and r.dispatch_id is None for r in rows.values()
    )
    assert rows[ids[0]].position < rows[ids[1]].position
    groups = handlers.list_open_pickups(uow_factory(), hub, TODAY)
    assert [(g.route_id, g.pur_count, g.queued_count, g.packages) for g in groups] == [("R1", 2, 2, 6), ("R2", 1, 1, 3)]
    assert events(engine, ids) == []


# -- lifecycle and events ---------------------------------------------------------------------------


def test_lifecycle_emits_one_event_per_pur_with_increasing_versions(engine, uow_factory, attendance, hub):
    ids = purs(hub, 3)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub=hub) for p in ids])
    created = create(uow_factory, attendance, hub, rider_id=f"{hub}-bala", vehicle_id=f"{hub}-van")
    d = created.dispatch
    assert created.created and d.status is DispatchStatus.OPEN and d.pur_ids == ids and d.version == 2
    started = handlers.start_dispatch(uow_factory(), d.id)
    assert started.status is DispatchStatus.IN_PROGRESS and started.started_at is not None
    assert handlers.start_dispatch(uow_factory(), d.id).version == started.version  # retry: unchanged
    assert handlers.list_open_pickups(uow_factory(), hub, TODAY) == []  # nothing open once it left
    done = handlers.complete_dispatch(uow_factory(), d.id)
    assert done.status is DispatchStatus.COMPLETED and done.completed_at is not None
    for pur in ids:
        assert [(c, v) for _, c, v, _ in events(engine, [pur])] == [("dispatched", 1), ("started", 2), ("picked_up", 3)]
    last = events(engine, [ids[0]])[-1][3]
    assert last.dispatch_status == 3 and not last.dispatched.automatic  # COMPLETED
    assert {r.status for r in pickup_rows(engine, ids).values()} == {"PICKED_UP"}
    with pytest.raises(FailedPrecondition, match="only an OPEN or IN_PROGRESS dispatch can be cancelled"):
        handlers.cancel_dispatch(uow_factory(), d.id, "too late")


# -- unique indexes under concurrent creates ----------------------------------------------------------


def test_the_partial_unique_index_holds_under_concurrent_creates(uow_factory, attendance, hub):
    rider = f"{hub}-asha"
    results: list[object] = []
    barrier = threading.Barrier(2)

    def attempt(route: str, vehicle: str) -> None:
        barrier.wait()
        try:
            results.append(
                create(uow_factory, attendance, hub, f"req-{route}", rider_id=rider, vehicle_id=vehicle, route=route)
            )
        except FailedPrecondition as exc:
            results.append(exc)

    threads = [threading.Thread(target=attempt, args=(r, f"{hub}-{v}")) for r, v in (("R1", "bike"), ("R2", "van"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["Created", "RiderBusy"]


def test_a_request_id_taken_meanwhile_on_another_route_is_already_exists(uow_factory, attendance, hub):
    results: list[object] = []
    barrier = threading.Barrier(2)

    def attempt(route: str, rider: str, vehicle: str) -> None:
        barrier.wait()
        try:
            results.append(
                create(uow_factory, attendance, hub, "req-same", route=route, rider_id=rider, vehicle_id=vehicle)
            )
        except AlreadyExists as exc:
            results.append(exc)

    plans = (("R1", f"{hub}-asha", f"{hub}-bike"), ("R2", f"{hub}-bala", f"{hub}-van"))
    threads = [threading.Thread(target=attempt, args=plan) for plan in plans]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(type(r).__name__ for r in results) == ["AlreadyExists", "Created"]


# -- overrides: reassignments and moves ---------------------------------------------------------------

LEAD = Actor("tl-priya", "team-lead")


def test_a_reassignment_is_stored_and_its_events_name_the_new_rider_and_the_caller(
    engine, uow_factory, attendance, hub
):
    ids = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub=hub) for p in ids])
    d = create(uow_factory, attendance, hub, rider_id=f"{hub}-asha", vehicle_id=f"{hub}-bike").dispatch
    change = Reassignment(d.id, f"{hub}-bala", f"{hub}-van", "asha is ill")
    handlers.reassign_dispatch(uow_factory(), attendance, change, actor=LEAD)
    got = handlers.get_dispatch(uow_factory(), d.id)
    assert (got.rider_id, got.vehicle_id, got.capacity.packages, got.version) == (
        f"{hub}-bala",
        f"{hub}-van",
        100,
        d.version + 1,
    )
    for pur in ids:
        [(_, first, _, _), (_, kind, version, event)] = events(engine, [pur])
        assert (first, kind, version, event.rider_id, event.vehicle_id) == (
            "dispatched",
            "rider_changed",
            2,
            f"{hub}-bala",
            f"{hub}-van",
        )
        assert (event.rider_changed.previous_rider_id, event.rider_changed.previous_vehicle_id) == (
            f"{hub}-asha",
            f"{hub}-bike",
        )
        assert (event.actor.subject, event.actor.role, event.reason) == ("tl-priya", "team-lead", "asha is ill")
    # Asha and the bike are free for another dispatch: the unique indexes see the new rider.
    assert create(uow_factory, attendance, hub, "req-2", route="R2", rider_id=f"{hub}-asha", vehicle_id=f"{hub}-bike")


def test_one_rider_reassigned_to_two_dispatches_at_once_goes_to_one(uow_factory, attendance, hub, monkeypatch):
    from dispatch_svc.adapters.repositories.dispatches import SqlAlchemyDispatchRepository as DispatchRepository

    first = create(uow_factory, attendance, hub, "req-1", rider_id=f"{hub}-asha", vehicle_id=f"{hub}-bike").dispatch
    second = create(
        uow_factory, attendance, hub, "req-2", route="R2", rider_id=f"{hub}-bala", vehicle_id=f"{hub}-van"
    ).dispatch
    both_checked = threading.Barrier(2, timeout=2.0)
    real_active_for = DispatchRepository.active_for

    def active_for_then_wait(self, **ids):
        # Without the rider's lock both would find the rider free here and only the unique index
        # could decide; with it the second waits (the barrier times out) and finds the rider busy.
        found = real_active_for(self, **ids)
        try:
            both_checked.wait()
        except threading.BrokenBarrierError:
            pass
        return found

    monkeypatch.setattr(DispatchRepository, "active_for", active_for_then_wait)
    outcomes: dict[str, object] = {}

    def reassign(dispatch_id: str) -> None:
        try:
            change = Reassignment(dispatch_id, f"{hub}-chitra", "", "chitra is free")
            outcomes[dispatch_id] = handlers.reassign_dispatch(uow_factory(), attendance, change)
        except RiderBusy as exc:
            outcomes[dispatch_id] = exc

    threads = [threading.Thread(target=reassign, args=(d.id,)) for d in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(type(o).__name__ for o in outcomes.values()) == ["Dispatch", "RiderBusy"], outcomes
    [winner] = [dispatch_id for dispatch_id, o in outcomes.items() if not isinstance(o, RiderBusy)]
    [loser] = [o for o in outcomes.values() if isinstance(o, RiderBusy)]
    assert f"{hub}-chitra" in str(loser)
    riders = {d.id: handlers.get_dispatch(uow_factory(), d.id).rider_id for d in (first, second)}
    assert riders == {
        first.id: f"{hub}-chitra" if winner == first.id else f"{hub}-asha",
        second.id: f"{hub}-chitra" if winner == second.id else f"{hub}-bala",
    }


def test_moved_pickups_change_membership_rows_and_can_move_back(engine, uow_factory, attendance, hub):
    ids = purs(hub, 3)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub=hub) for p in ids])
    source = create(uow_factory, attendance, hub, "req-a", rider_id=f"{hub}-asha", vehicle_id=f"{hub}-van").dispatch
    target = create(uow_factory, attendance, hub, "req-b", rider_id=f"{hub}-bala", vehicle_id=f"{hub}-bike").dispatch
    moved_from, moved_to = handlers.move_pickups(
        uow_factory(), PickupMove(source.id, target.id, (ids[2], ids[0]), "bala passes by"), actor=LEAD
    )
    assert (moved_from.pur_ids, moved_to.pur_ids) == ([ids[1]], [ids[2], ids[0]])
    assert handlers.get_dispatch(uow_factory(), source.id).pur_ids == [ids[1]]
    assert handlers.get_dispatch(uow_factory(), target.id).pur_ids == [ids[2], ids[0]]
    rows = pickup_rows(engine, ids)
    assert {p: rows[p].dispatch_id for p in ids} == {ids[0]: target.id, ids[1]: source.id, ids[2]: target.id}
    assert rows[ids[2]].position < rows[ids[0]].position  # in the order they were named
    [(_, kind, version, event)] = events(engine, [ids[0]])[1:]
    assert (kind, version, event.dispatch_id, event.rider_id, event.dispatched.moved_from_dispatch_id) == (
        "dispatched",
        2,
        target.id,
        f"{hub}-bala",
        source.id,
    )
    assert (event.actor.subject, event.reason) == ("tl-priya", "bala passes by")
    # Back again: the membership row it left is gone, so it can be written anew.
    handlers.move_pickups(uow_factory(), PickupMove(target.id, source.id, (ids[0],), "back"), actor=LEAD)
    assert handlers.get_dispatch(uow_factory(), source.id).pur_ids == [ids[1], ids[0]]
    assert handlers.get_dispatch(uow_factory(), target.id).pur_ids == [ids[2]]


def at_once(*calls: Callable[[], object]) -> None:
    """Run the calls in threads of their own, released together."""
    start = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> None:
        start.wait()
        call()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)


def test_a_cancellation_and_a_completion_that_cross_never_both_win(engine, uow_factory, attendance, hub):
    """Dispatch side of cancel versus complete: apply_pur_changes (the PUR's CANCELLED status) and
    complete_dispatch run at once, many times; the route's lock orders them, so the PUR is either
    picked up in the completed dispatch or released from it, never both."""
    for round_ in range(8):
        keep, raced = f"{hub}-keep-{round_}", f"{hub}-raced-{round_}"
        handlers.apply_pur_changes(uow_factory(), [routed(keep, hub=hub), routed(raced, hub=hub)])
        d = create(uow_factory, attendance, hub, f"req-{round_}", rider_id=f"{hub}-asha").dispatch
        handlers.start_dispatch(uow_factory(), d.id)
        at_once(
            partial(handlers.complete_dispatch, uow_factory(), d.id),
            partial(
                handlers.apply_pur_changes, uow_factory(), [routed(raced, 5, hub=hub, status=PickupStatus.CANCELLED)]
            ),
        )
        done = handlers.get_dispatch(uow_factory(), d.id)
        row = pickup_rows(engine, [raced])[raced]
        changes = [kind for _, kind, _, _ in events(engine, [raced])]
        assert done.status is DispatchStatus.COMPLETED
        if raced in done.pur_ids:  # the completion went first
            assert (row.status, row.dispatch_id, changes) == ("PICKED_UP", d.id, ["dispatched", "started", "picked_up"])
        else:
            assert (row.status, row.dispatch_id, changes) == ("CANCELLED", None, ["dispatched", "started", "released"])


# -- reads ------------------------------------------------------------------------------------------


def test_open_pickups_by_route_with_totals_and_limits(uow_factory, attendance, hub):
    ids = purs(hub, 5)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub=hub, packages=2, weight=1.5) for p in ids[:3]])
    d = create(uow_factory, attendance, hub, vehicle_id=f"{hub}-bike").dispatch  # takes all three
    handlers.apply_pur_changes(
        uow_factory(), [routed(p, hub=hub, packages=4, weight=1.0) for p in ids[3:]]
    )  # 4th joins, 5th waits
    [group] = handlers.list_open_pickups(uow_factory(), hub, TODAY, per_route_limit=2)
    assert (group.pur_count, group.queued_count, group.packages, group.weight_kg) == (5, 1, 14, 6.5)
    assert [p.pur_id for p in group.pickups] == [ids[4], ids[0]]  # queued first, then the dispatch's
    assert group.open_dispatch.id == d.id and group.open_dispatch.pur_ids == ids[:4]
    assert handlers.list_open_pickups(uow_factory(), hub, TODAY, route_id="R9") == []


def test_list_dispatches_pages_newest_first(uow_factory, attendance, hub):
    made = [create(uow_factory, attendance, hub, f"req-{i}", route=f"R{i}").dispatch.id for i in range(3)]
    where = DispatchFilter(hub_id=hub)
    page, cursor = handlers.list_dispatches(uow_factory(), where, 2, None)
    rest, end = handlers.list_dispatches(uow_factory(), where, 2, cursor)
    assert [d.id for d in page + rest] == made[::-1] and end is None
    only, _ = handlers.list_dispatches(uow_factory(), DispatchFilter(hub_id=hub, route_id="R1"), 10, None)
    assert [d.id for d in only] == [made[1]]


def _complete(uow_factory, attendance, hub: str, rider: str, vehicle: str, day: date, n: int) -> None:
    pur = f"{hub}-hist-{n}"
    handlers.apply_pur_changes(uow_factory(), [routed(pur, hub=hub, day=day)])
    d = create(uow_factory, attendance, hub, f"hist-{n}", rider_id=rider, vehicle_id=vehicle, day=day).dispatch
    handlers.start_dispatch(uow_factory(), d.id)
    handlers.complete_dispatch(uow_factory(), d.id)


def test_recommendations_use_history_attendance_and_the_default_rider(uow_factory, attendance, hub):
    asha, bala, chitra, dev = (f"{hub}-{r}" for r in ("asha", "bala", "chitra", "dev"))
    for n, days_ago in enumerate((2, 5, 9)):
        _complete(uow_factory, attendance, hub, asha, f"{hub}-van", TODAY - timedelta(days=days_ago), n)
    attendance.present[hub].add(dev)  # dev rode yesterday...
    _complete(uow_factory, attendance, hub, dev, f"{hub}-bike", TODAY - timedelta(days=1), 9)
    attendance.present[hub].discard(dev)  # ...and is absent today
    handlers.apply_pur_changes(
        uow_factory(), [routed(p, hub=hub, packages=30, weight=50.0, rider=chitra) for p in purs(hub, 2)]
    )
    busy = create(uow_factory, attendance, hub, "busy", rider_id=bala, vehicle_id=f"{hub}-bike", route="R7", pur_ids=())
    result = handlers.recommend(uow_factory(), attendance, hub, "R1", TODAY, 5)
    assert [r.rider.id for r in result.riders] == [asha, chitra, bala]  # dev is absent: never listed
    top = result.riders[0]
    assert top.past_dispatches == 3 and top.reasons[0] == "3 past dispatches on this route (last 2 days ago)"
    assert result.riders[1].default_rider and result.riders[2].on_active_dispatch
    assert busy.dispatch.id in result.riders[2].reasons[0]
    assert (result.queued_count, result.queued_load.packages) == (2, 60)
    assert [(v.vehicle.id, v.fits_load, v.on_active_dispatch) for v in result.vehicles] == [
        (f"{hub}-van", True, False),
        (f"{hub}-truck", True, False),
        (f"{hub}-bike", False, True),
    ]
    # The top recommendation is what an empty CreateDispatch takes.
    d = create(uow_factory, attendance, hub, "auto-pick").dispatch
    assert (d.rider_id, d.vehicle_id, len(d.pur_ids)) == (asha, f"{hub}-van", 2)


def test_two_hubs_creating_the_same_new_rider_at_once_cannot_both_win(uow_factory, monkeypatch):
    from dispatch_svc.adapters.repositories.riders import SqlAlchemyRiderRepository as RiderRepository
    from mesh.errors import PermissionDenied

    rider_id = f"race-{uuid.uuid4().hex[:10]}"
    both_read = threading.Barrier(2, timeout=1.0)
    real_upsert = RiderRepository.upsert

    def upsert_after_both_read(self, rider, now):
        # Without a lock on the id both writers pass their check first, then both write.
        try:
            both_read.wait()
        except threading.BrokenBarrierError:
            pass
        return real_upsert(self, rider, now)

    monkeypatch.setattr(RiderRepository, "upsert", upsert_after_both_read)
    outcomes: dict[str, object] = {}

    def create_as_lead_of(hub: str) -> None:
        def only_my_hub(stored: Rider) -> None:
            if stored.hub_id != hub:
                raise PermissionDenied(f"rider of {stored.hub_id}")

        try:
            outcomes[hub] = handlers.upsert_rider(uow_factory(), Rider(rider_id, hub, name=hub), authorize=only_my_hub)
        except PermissionDenied as exc:
            outcomes[hub] = exc

    threads = [threading.Thread(target=create_as_lead_of, args=(hub,)) for hub in ("hub-x", "hub-y")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [hub for hub, outcome in outcomes.items() if outcome is True]
    assert len(winners) == 1 and sum(isinstance(o, PermissionDenied) for o in outcomes.values()) == 1, outcomes
    with uow_factory() as uow:
        assert uow.riders.get(rider_id).hub_id == winners[0]
