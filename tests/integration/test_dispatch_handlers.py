"""dispatch_svc's use cases against the real `dispatch` schema: pur.events.v1 applied exactly once
whatever the order, the dispatch lifecycle with its per-PUR outbox events, capacity, one active
dispatch per rider, idempotent creates, open pickups by route, recommendations and auto-dispatch.
Every test works in its own hub (the database is shared)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.attendance import AttendanceClient
from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.model import (
    DispatchStatus,
    NewDispatch,
    PickupStatus,
    PurSnapshot,
    Rider,
    RouteMatch,
    Vehicle,
    VehicleType,
)
from dispatch_svc.domain.ranking import AttendanceSource, AttendanceView
from dispatch_svc.entrypoints.auto_dispatch import AutoDispatcher
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.unit_of_work import DispatchUnitOfWork
from firstmile.events.v1 import events_pb2
from mesh.db import make_session_factory
from mesh.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


class FakeAttendance(AttendanceClient):
    """Present riders by hub; `known=False` plays an unreachable attendance service."""

    def __init__(self) -> None:
        self.present: dict[str, set[str]] = {}
        self.known = True

    def available_riders(self, hub_id: str, day: date) -> AttendanceView:
        if not self.known:
            return AttendanceView.unknown("attendance service answered UNAVAILABLE: down for the test")
        return AttendanceView(
            known=True,
            present={r: None for r in self.present.get(hub_id, set())},
            source=AttendanceSource.EMBEDDED,
            fetched_at=datetime.now(UTC),
        )


@pytest.fixture(scope="module")
def uow_factory(engine):
    factory = make_session_factory(engine)
    return lambda: DispatchUnitOfWork(factory)


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


def routed(
    pur_id: str,
    hub: str,
    version: int = 2,
    *,
    route: str = "R1",
    packages: int = 3,
    weight: float = 4.0,
    status: PickupStatus = PickupStatus.ROUTED,
    day: date = TODAY,
    rider: str = "",
) -> PurSnapshot:
    return PurSnapshot(
        pur_id=pur_id,
        version=version,
        status=status,
        hub_id=hub,
        route_id=route,
        pickup_date=day,
        client_id="client-1",
        warehouse_name=f"Warehouse {pur_id[-4:]}",
        lat=12.97,
        lng=77.59,
        packages=packages,
        weight_kg=weight,
        route_match=RouteMatch.EXACT,
        rider_id=rider,
    )


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


def create(uow_factory, attendance, hub: str, request_id: str = "req-1", **fields) -> handlers.Created:
    new = NewDispatch(
        request_id=request_id,
        hub_id=hub,
        route_id=fields.pop("route", "R1"),
        pickup_date=fields.pop("day", TODAY),
        **fields,
    )
    return handlers.create_dispatch(uow_factory(), attendance, new)


# -- pur.events.v1 --------------------------------------------------------------------------------


def test_routed_purs_wait_in_their_routes_queue(engine, uow_factory, hub):
    ids = purs(hub, 3)
    emitted = handlers.apply_pur_changes(
        uow_factory(), [routed(ids[0], hub), routed(ids[1], hub), routed(ids[2], hub, route="R2")]
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


def test_a_routed_pur_joins_the_open_dispatch_of_its_route_and_day(engine, uow_factory, attendance, hub):
    dispatch = create(uow_factory, attendance, hub, vehicle_id=f"{hub}-bike").dispatch
    assert dispatch.pur_ids == []
    first, second, other_day, too_big = purs(hub, 4)
    handlers.apply_pur_changes(
        uow_factory(),
        [
            routed(first, hub),
            routed(second, hub, packages=5),
            routed(other_day, hub, day=TODAY + timedelta(days=1)),
            routed(too_big, hub, packages=3),
        ],
    )
    got = handlers.get_dispatch(uow_factory(), dispatch.id)
    assert got.pur_ids == [first, second] and got.load.packages == 8  # the bike carries 10
    rows = pickup_rows(engine, [first, too_big, other_day])
    assert rows[first].status == "DISPATCHED" and rows[first].dispatch_id == dispatch.id and rows[first].listed
    assert rows[too_big].status == "ROUTED" and rows[too_big].dispatch_id is None
    assert rows[other_day].dispatch_id is None
    [(pur_id, change, version, event)] = [e for e in events(engine, [first]) if e[1] == "dispatched"]
    assert (pur_id, version, event.dispatched.automatic) == (first, 1, True)
    assert (event.dispatch_id, event.route_id, event.rider_id, event.vehicle_id) == (
        dispatch.id,
        "R1",
        dispatch.rider_id,
        f"{hub}-bike",
    )
    assert event.pickup_date == TODAY.isoformat() and event.dispatch_status == 1  # OPEN


def test_duplicate_and_older_pur_events_change_nothing(engine, uow_factory, attendance, hub):
    [pur] = purs(hub, 1)
    handlers.apply_pur_changes(uow_factory(), [routed(pur, hub, version=5)])
    before = pickup_rows(engine, [pur])[pur]
    assert (
        handlers.apply_pur_changes(
            uow_factory(),
            [
                routed(pur, hub, version=5),
                routed(pur, hub, version=3, route="R9"),
                routed(pur, hub, version=4, status=PickupStatus.CANCELLED),
            ],
        )
        == 0
    )
    after = pickup_rows(engine, [pur])[pur]
    assert (after.route_id, after.status, after.pur_version, after.position) == (
        before.route_id,
        before.status,
        5,
        before.position,
    )


def test_a_cancelled_pur_leaves_its_dispatch_with_a_released_event(engine, uow_factory, attendance, hub):
    keep, cancelled = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(keep, hub), routed(cancelled, hub)])
    dispatch = create(uow_factory, attendance, hub).dispatch
    assert dispatch.pur_ids == [keep, cancelled]
    handlers.apply_pur_changes(
        uow_factory(), [routed(cancelled, hub, version=3, status=PickupStatus.DISPATCHED)]
    )  # echo
    handlers.apply_pur_changes(uow_factory(), [routed(cancelled, hub, version=4, status=PickupStatus.CANCELLED)])
    got = handlers.get_dispatch(uow_factory(), dispatch.id)
    assert got.pur_ids == [keep] and got.load.packages == 3 and got.version == 3
    row = pickup_rows(engine, [cancelled])[cancelled]
    assert (row.status, row.dispatch_id, row.listed, row.pur_version) == ("CANCELLED", None, False, 4)
    assert [(c, v) for _, c, v, _ in events(engine, [cancelled])] == [("dispatched", 1), ("released", 2)]
    released = events(engine, [cancelled])[-1][3].released
    assert (released.reason, released.detail) == (events_pb2.RELEASE_REASON_REMOVED, "pickup request cancelled")
    groups = handlers.list_open_pickups(uow_factory(), hub, TODAY)
    assert [p.pur_id for g in groups for p in g.pickups] == [keep]


def test_a_rerouted_pur_moves_to_the_new_routes_queue_or_open_dispatch(engine, uow_factory, attendance, hub):
    pur, filler = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(pur, hub, route="R1"), routed(filler, hub, route="R2")])
    old = create(uow_factory, attendance, hub, "req-r1", route="R1").dispatch
    new = create(uow_factory, attendance, hub, "req-r2", route="R2").dispatch
    assert old.pur_ids == [pur] and new.pur_ids == [filler]
    handlers.apply_pur_changes(uow_factory(), [routed(pur, hub, version=3, route="R2")])
    assert handlers.get_dispatch(uow_factory(), old.id).pur_ids == []
    assert handlers.get_dispatch(uow_factory(), new.id).pur_ids == [filler, pur]
    assert [(c, v) for _, c, v, _ in events(engine, [pur])] == [("dispatched", 1), ("released", 2), ("dispatched", 3)]
    assert events(engine, [pur])[1][3].released.detail == "pickup request re-routed to route R2"


def test_a_released_pur_echoed_back_as_routed_stays_in_the_queue(engine, uow_factory, attendance, hub):
    pur, other = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(pur, hub), routed(other, hub)])
    dispatch = create(uow_factory, attendance, hub).dispatch
    handlers.remove_pickups(uow_factory(), dispatch.id, [pur], "customer not ready")
    handlers.apply_pur_changes(
        uow_factory(), [routed(pur, hub, version=3, status=PickupStatus.DISPATCHED), routed(pur, hub, version=4)]
    )  # pur_svc's echoes
    assert handlers.get_dispatch(uow_factory(), dispatch.id).pur_ids == [other]
    row = pickup_rows(engine, [pur])[pur]
    assert (row.status, row.dispatch_id, row.listed, row.pur_version) == ("ROUTED", None, True, 4)
    assert [(c, v) for _, c, v, _ in events(engine, [pur])] == [("dispatched", 1), ("released", 2)]


# -- lifecycle and events ---------------------------------------------------------------------------


def test_lifecycle_emits_one_event_per_pur_with_increasing_versions(engine, uow_factory, attendance, hub):
    ids = purs(hub, 3)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in ids])
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


def test_cancelling_returns_purs_to_the_queue(engine, uow_factory, attendance, hub):
    ids = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in ids])
    d = create(uow_factory, attendance, hub).dispatch
    handlers.start_dispatch(uow_factory(), d.id)
    cancelled = handlers.cancel_dispatch(uow_factory(), d.id, "van broke down")
    assert cancelled.status is DispatchStatus.CANCELLED and cancelled.cancel_reason == "van broke down"
    assert cancelled.pur_ids == ids  # the record of what it held
    for pur in ids:
        _, change, version, event = events(engine, [pur])[-1]
        assert (change, version, event.released.reason, event.released.detail) == (
            "released",
            3,
            events_pb2.RELEASE_REASON_DISPATCH_CANCELLED,
            "van broke down",
        )
    [group] = handlers.list_open_pickups(uow_factory(), hub, TODAY)
    assert group.queued_count == 2 and group.open_dispatch is None
    # The rider is free again, and the PURs can join a new dispatch.
    again = create(uow_factory, attendance, hub, "req-2", rider_id=d.rider_id)
    assert again.dispatch.pur_ids == ids
    assert [v for _, _, v, _ in events(engine, [ids[0]])] == [1, 2, 3, 4]


def test_illegal_transitions_are_failed_precondition(uow_factory, attendance, hub):
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in purs(hub, 1)])
    d = create(uow_factory, attendance, hub).dispatch
    with pytest.raises(FailedPrecondition, match="start it first"):
        handlers.complete_dispatch(uow_factory(), d.id)
    with pytest.raises(NotFound):
        handlers.start_dispatch(uow_factory(), "dsp_nope")


# -- capacity ---------------------------------------------------------------------------------------


def test_capacity_is_enforced_with_numbers(engine, uow_factory, attendance, hub):
    ids = purs(hub, 4)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub, packages=4, weight=2.0) for p in ids])
    with pytest.raises(
        FailedPrecondition, match=r"would carry 16 packages / 8.0 kg but vehicle .*-bike carries at most 10 packages"
    ):
        create(uow_factory, attendance, hub, vehicle_id=f"{hub}-bike", pur_ids=tuple(ids))
    # From the queue, as far as capacity allows.
    d = create(uow_factory, attendance, hub, "req-2", vehicle_id=f"{hub}-bike").dispatch
    assert d.pur_ids == ids[:2] and d.load.packages == 8
    with pytest.raises(FailedPrecondition, match="would carry 12 packages"):
        handlers.add_pickups(uow_factory(), d.id, [ids[2]])
    assert handlers.get_dispatch(uow_factory(), d.id).version == d.version
    removed = handlers.remove_pickups(uow_factory(), d.id, [ids[0]], "")
    added = handlers.add_pickups(uow_factory(), d.id, [ids[2], ids[1]])  # ids[1] is already in: ignored
    assert removed.pur_ids == [ids[1]] and added.pur_ids == [ids[1], ids[2]]


def test_add_pickups_refuses_unknown_and_foreign_purs(uow_factory, attendance, hub):
    mine, foreign = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(mine, hub), routed(foreign, hub, route="R2")])
    d = create(uow_factory, attendance, hub, pur_ids=(mine,)).dispatch
    with pytest.raises(NotFound, match="nope"):
        handlers.add_pickups(uow_factory(), d.id, ["nope"])
    with pytest.raises(FailedPrecondition, match="on route R2"):
        handlers.add_pickups(uow_factory(), d.id, [foreign])


# -- riders -----------------------------------------------------------------------------------------


def test_a_rider_has_at_most_one_active_dispatch(uow_factory, attendance, hub):
    rider = f"{hub}-asha"
    first = create(uow_factory, attendance, hub, "req-1", rider_id=rider, route="R1").dispatch
    with pytest.raises(FailedPrecondition, match=f"rider {rider} already has an active dispatch {first.id}"):
        create(uow_factory, attendance, hub, "req-2", rider_id=rider, route="R2")


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
    assert sorted(type(r).__name__ for r in results) == ["Created", "FailedPrecondition"]


def test_absent_or_unknown_riders_are_not_dispatched(uow_factory, attendance, hub):
    with pytest.raises(FailedPrecondition, match="not present"):
        create(uow_factory, attendance, hub, rider_id=f"{hub}-dev")
    with pytest.raises(NotFound, match="rider"):
        create(uow_factory, attendance, hub, rider_id=f"{hub}-nobody")
    attendance.known = False
    with pytest.raises(Unavailable, match="attendance"):
        create(uow_factory, attendance, hub, rider_id=f"{hub}-asha")
    with pytest.raises(Unavailable, match="cannot choose a rider"):
        create(uow_factory, attendance, hub)


def test_only_active_riders_and_vehicles_of_the_dispatch_hub_are_dispatched(uow_factory, attendance, hub):
    other = f"hub-{uuid.uuid4().hex[:10]}"
    handlers.upsert_rider(uow_factory(), Rider(f"{other}-eve", other, name="Eve"))
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{other}-van", other, VehicleType.VAN, 100, 500.0))
    handlers.upsert_rider(uow_factory(), Rider(f"{hub}-gone", hub, name="Gone", active=False))
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub}-old", hub, VehicleType.VAN, 100, 500.0, active=False))
    with pytest.raises(FailedPrecondition, match=f"not a rider of hub {hub}"):
        create(uow_factory, attendance, hub, rider_id=f"{other}-eve")
    with pytest.raises(FailedPrecondition, match=f"not a vehicle of hub {hub}"):
        create(uow_factory, attendance, hub, rider_id=f"{hub}-asha", vehicle_id=f"{other}-van")
    with pytest.raises(FailedPrecondition, match="inactive"):
        create(uow_factory, attendance, hub, rider_id=f"{hub}-gone")
    with pytest.raises(FailedPrecondition, match="inactive"):
        create(uow_factory, attendance, hub, rider_id=f"{hub}-asha", vehicle_id=f"{hub}-old")


# -- idempotency ------------------------------------------------------------------------------------


def test_create_dispatch_is_idempotent_on_request_id(engine, uow_factory, attendance, hub):
    ids = purs(hub, 2)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in ids])
    first = create(uow_factory, attendance, hub, "req-same")
    again = create(uow_factory, attendance, hub, "req-same")
    assert first.created and not again.created and again.dispatch.id == first.dispatch.id
    assert len([e for e in events(engine, ids) if e[1] == "dispatched"]) == 2
    with pytest.raises(AlreadyExists, match=first.dispatch.id):
        create(uow_factory, attendance, hub, "req-same", route="R2")


# -- reads ------------------------------------------------------------------------------------------


def test_open_pickups_by_route_with_totals_and_limits(uow_factory, attendance, hub):
    ids = purs(hub, 5)
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub, packages=2, weight=1.5) for p in ids[:3]])
    d = create(uow_factory, attendance, hub, vehicle_id=f"{hub}-bike").dispatch  # takes all three
    handlers.apply_pur_changes(
        uow_factory(), [routed(p, hub, packages=4, weight=1.0) for p in ids[3:]]
    )  # 4th joins, 5th waits
    [group] = handlers.list_open_pickups(uow_factory(), hub, TODAY, per_route_limit=2)
    assert (group.pur_count, group.queued_count, group.packages, group.weight_kg) == (5, 1, 14, 6.5)
    assert [p.pur_id for p in group.pickups] == [ids[4], ids[0]]  # queued first, then the dispatch's
    assert group.open_dispatch.id == d.id and group.open_dispatch.pur_ids == ids[:4]
    assert handlers.list_open_pickups(uow_factory(), hub, TODAY, route_id="R9") == []


def test_list_dispatches_pages_newest_first(uow_factory, attendance, hub):
    made = [create(uow_factory, attendance, hub, f"req-{i}", route=f"R{i}").dispatch.id for i in range(3)]
    where = handlers.DispatchFilter(hub_id=hub)
    page, cursor = handlers.list_dispatches(uow_factory(), where, 2, None)
    rest, end = handlers.list_dispatches(uow_factory(), where, 2, cursor)
    assert [d.id for d in page + rest] == made[::-1] and end is None
    only, _ = handlers.list_dispatches(uow_factory(), handlers.DispatchFilter(hub_id=hub, route_id="R1"), 10, None)
    assert [d.id for d in only] == [made[1]]


def _complete(uow_factory, attendance, hub: str, rider: str, vehicle: str, day: date, n: int) -> None:
    pur = f"{hub}-hist-{n}"
    handlers.apply_pur_changes(uow_factory(), [routed(pur, hub, day=day)])
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
        uow_factory(), [routed(p, hub, packages=30, weight=50.0, rider=chitra) for p in purs(hub, 2)]
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


def test_recommendations_with_attendance_down_mark_nobody_present(uow_factory, attendance, hub):
    attendance.known = False
    result = handlers.recommend(uow_factory(), attendance, hub, "R1", TODAY, 10)
    assert len(result.riders) == 4 and not any(r.present for r in result.riders)
    assert all("attendance unknown" in r.reasons[-1] for r in result.riders)
    assert not result.attendance.known
    with pytest.raises(NotFound):
        handlers.recommend(uow_factory(), attendance, f"hub-{uuid.uuid4().hex[:8]}", "R1", TODAY, 5)


# -- auto-dispatch ----------------------------------------------------------------------------------


def test_auto_dispatch_creates_at_the_threshold_only_for_enabled_hubs(engine, uow_factory, attendance, hub):
    noon = datetime.combine(TODAY, time(6, 0), tzinfo=UTC)  # before the 14:00 UTC cut-off
    policy = AutoDispatchPolicy(frozenset({hub}), 3, time(14, 0), ZoneInfo("UTC"))
    ids = purs(hub, 4)
    handlers.apply_pur_changes(
        uow_factory(), [routed(p, hub, route="R1") for p in ids[:2]] + [routed(ids[2], hub, route="R2")]
    )
    assert handlers.auto_dispatch_hub(uow_factory(), attendance, policy, hub, now=lambda: noon) == []
    handlers.apply_pur_changes(uow_factory(), [routed(ids[3], hub, route="R1")])
    [outcome] = handlers.auto_dispatch_hub(uow_factory(), attendance, policy, hub, now=lambda: noon)
    assert outcome.route_id == "R1" and "threshold 3" in outcome.reason
    d = outcome.dispatch
    assert d.automatic and d.pur_ids == [ids[0], ids[1], ids[3]] and d.status is DispatchStatus.OPEN
    assert all(e[3].dispatched.automatic for e in events(engine, [ids[0]]))
    # Nothing due any more; after the cut-off the short R2 queue goes too.
    assert handlers.auto_dispatch_hub(uow_factory(), attendance, policy, hub, now=lambda: noon) == []
    evening = datetime.combine(TODAY, time(15, 0), tzinfo=UTC)
    [late] = handlers.auto_dispatch_hub(uow_factory(), attendance, policy, hub, now=lambda: evening)
    assert late.route_id == "R2" and late.dispatch is not None and late.dispatch.rider_id != d.rider_id


def test_auto_dispatch_skips_when_nobody_is_known_present(uow_factory, attendance, hub):
    policy = AutoDispatchPolicy(frozenset({hub}), 1, time(14, 0), ZoneInfo("UTC"))
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in purs(hub, 1)])
    attendance.known = False
    [outcome] = handlers.auto_dispatch_hub(
        uow_factory(), attendance, policy, hub, now=lambda: datetime.combine(TODAY, time(9), tzinfo=UTC)
    )
    assert outcome.dispatch is None and "attendance unknown" in outcome.skipped
    attendance.known = True
    attendance.present[hub] = set()
    [outcome] = handlers.auto_dispatch_hub(
        uow_factory(), attendance, policy, hub, now=lambda: datetime.combine(TODAY, time(9), tzinfo=UTC)
    )
    assert outcome.dispatch is None and "no active rider" in outcome.skipped


def test_auto_dispatch_skips_a_route_another_replica_holds(uow_factory, attendance, hub):
    policy = AutoDispatchPolicy(frozenset({hub}), 1, time(14, 0), ZoneInfo("UTC"))
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in purs(hub, 1)])
    with uow_factory() as other_replica:
        other_replica.lock_routes([(hub, "R1", TODAY)])
        [outcome] = handlers.auto_dispatch_hub(
            uow_factory(), attendance, policy, hub, now=lambda: datetime.combine(TODAY, time(9), tzinfo=UTC)
        )
    assert outcome.dispatch is None and "route busy" in outcome.skipped


def test_the_auto_dispatch_worker_runs_until_stopped(uow_factory, attendance, hub):
    policy = AutoDispatchPolicy(frozenset({hub}), 2, time(23, 59), ZoneInfo("UTC"))
    handlers.apply_pur_changes(uow_factory(), [routed(p, hub) for p in purs(hub, 2)])
    dispatcher = AutoDispatcher(policy, uow_factory, attendance, interval_seconds=0.05)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,))
    thread.start()
    try:
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while (
            datetime.now(UTC) < deadline
            and not handlers.list_dispatches(uow_factory(), handlers.DispatchFilter(hub_id=hub), 10, None)[0]
        ):
            threading.Event().wait(0.05)
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
    [d], _ = handlers.list_dispatches(uow_factory(), handlers.DispatchFilter(hub_id=hub), 10, None)
    assert d.automatic and len(d.pur_ids) == 2


def test_two_hubs_creating_the_same_new_rider_at_once_cannot_both_win(uow_factory, monkeypatch):
    from dispatch_svc.adapters.repository import RiderRepository
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
