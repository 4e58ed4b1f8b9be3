"""The pur.events batch's reads and writes in one statement each, against the real `dispatch` schema:
the OPEN dispatches of many routes and days in one locking query, volume observations upserted
over arrays, and the membership of several dispatches written together. What the batch does with
them is tested through apply_pur_changes in test_dispatch_handlers.py and test_dispatch_forecasts.py.
Every test works in its own hub."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import OperationalError

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork, route_lock_key
from dispatch_svc.domain.model import Dispatch, NewDispatch, PickupStatus, Rider, Vehicle, VehicleType
from dispatch_svc.domain.volumes import ObservedPickup
from dispatch_svc.service_layer import handlers
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TODAY = NOW.date()
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture
def hub() -> str:
    return f"hub-{uuid.uuid4().hex[:10]}"


def dispatcher(uow_factory, hub: str):
    """Creates OPEN dispatches of `hub`, each with a rider and van of its own."""
    attendance = FakeAttendance()
    made = 0

    def create(route: str, day=TODAY) -> Dispatch:
        nonlocal made
        rider, vehicle = f"{hub}-r{made}", f"{hub}-v{made}"
        handlers.upsert_rider(uow_factory(), Rider(rider, hub, name=f"Rider {made}"))
        handlers.upsert_vehicle(uow_factory(), Vehicle(vehicle, hub, VehicleType.VAN, 100, 500.0))
        attendance.present[hub].add(rider)
        new = NewDispatch(f"req-{made}", hub, route, day, rider_id=rider, vehicle_id=vehicle)
        made += 1
        return handlers.create_dispatch(uow_factory(), attendance, new).dispatch

    return create


def test_open_dispatches_of_many_routes_and_days_in_one_query_oldest_first_and_locked(uow_factory, engine, hub):
    create = dispatcher(uow_factory, hub)
    r1_old, r1_new = create("R1"), create("R1")
    r1_tomorrow = create("R1", TOMORROW)
    cancelled = create("R2")
    handlers.cancel_dispatch(uow_factory(), cancelled.id, "not needed")
    r0 = create("R0")
    not_asked = create("R4")
    keys = [(hub, "R3", TODAY), (hub, "R2", TODAY), (hub, "R1", TOMORROW), (hub, "R1", TODAY), (hub, "R0", TODAY)]

    with uow_factory() as uow:
        found = uow.dispatches.open_for_routes(keys, for_update=True)
        assert {key: [d.id for d in ds] for key, ds in found.items()} == {
            (hub, "R0", TODAY): [r0.id],
            (hub, "R1", TODAY): [r1_old.id, r1_new.id],
            (hub, "R1", TOMORROW): [r1_tomorrow.id],
        }
        assert list(found) == sorted(found)  # in key order, as the rows were locked
        assert found[(hub, "R1", TODAY)][0].rider_id == f"{hub}-r0"
        # The rows stay locked until the unit of work ends; a dispatch of another route does not.
        with engine.connect() as other:
            locked = sa.select(orm.dispatches.c.id).where(orm.dispatches.c.id == r1_new.id).with_for_update(nowait=True)
            with pytest.raises(OperationalError, match="could not obtain lock"):
                other.execute(locked)
        with engine.connect() as other:
            free = (
                sa.select(orm.dispatches.c.id).where(orm.dispatches.c.id == not_asked.id).with_for_update(nowait=True)
            )
            assert other.execute(free).scalar_one() == not_asked.id
        assert uow.dispatches.open_for_routes([]) == {}


def test_a_second_observation_of_a_pur_replaces_its_row_and_moves_its_day_sums(uow_factory, engine, hub):
    p1, p2 = f"{hub}-p1", f"{hub}-p2"
    with uow_factory() as uow:
        uow.volumes.observe({p1: ObservedPickup(p1, hub, "R1", TODAY, 3, 4.0)}, NOW)
        uow.commit()
    later = NOW + timedelta(minutes=5)
    with uow_factory() as uow:
        uow.volumes.observe(
            {p2: ObservedPickup(p2, hub, "R1", TODAY, 2, 1.5), p1: ObservedPickup(p1, hub, "R2", TODAY, 5, 2.5)}, later
        )
        uow.commit()

    o = orm.volume_observations.c
    d = orm.volume_days.c
    with engine.connect() as conn:
        observations = conn.execute(
            sa.select(o.pur_id, o.route_id, o.packages, o.weight_kg, o.updated_at)
            .where(o.hub_id == hub)
            .order_by(o.pur_id)
        ).all()
        days = conn.execute(
            sa.select(d.route_id, d.observed_pickups, d.observed_packages, d.observed_weight_kg, d.updated_at)
            .where(d.hub_id == hub)
            .order_by(d.route_id)
        ).all()
    assert [tuple(r) for r in observations] == [(p1, "R2", 5, 2.5, later), (p2, "R1", 2, 1.5, later)]
    assert [tuple(r) for r in days] == [("R1", 1, 2, 1.5, later), ("R2", 1, 5, 2.5, later)]

    with uow_factory() as uow:  # a PUR that no longer counts leaves its row and its day's sums
        uow.volumes.observe({p1: None}, later)
        uow.commit()
    with engine.connect() as conn:
        assert conn.execute(sa.select(o.pur_id).where(o.hub_id == hub)).scalars().all() == [p2]
        r2 = conn.execute(sa.select(d.observed_pickups).where(d.hub_id == hub, d.route_id == "R2")).scalar_one()
    assert r2 == 0


def test_membership_of_several_dispatches_written_together_keeps_each_join_order(uow_factory, engine, hub):
    create = dispatcher(uow_factory, hub)
    a, b = create("R1"), create("R2")
    snapshots = [pur_snapshot(f"{hub}-a{i}", hub=hub, day=TODAY, route="R1") for i in (3, 1, 2)]
    snapshots += [pur_snapshot(f"{hub}-b{i}", hub=hub, day=TODAY, route="R2") for i in (2, 1)]
    assert handlers.apply_pur_changes(uow_factory(), snapshots) == 5
    # One batch: a1 leaves R1's dispatch (re-routed to R2, joining b), b1 is cancelled.
    handlers.apply_pur_changes(
        uow_factory(),
        [
            pur_snapshot(f"{hub}-a1", 3, hub=hub, day=TODAY, route="R2"),
            pur_snapshot(f"{hub}-b1", 3, hub=hub, day=TODAY, route="R2", status=PickupStatus.CANCELLED),
        ],
    )

    m = orm.dispatch_pickups.c
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(m.dispatch_id, m.pur_id).where(m.dispatch_id.in_([a.id, b.id])).order_by(m.dispatch_id, m.seq)
        ).all()
    members: dict[str, list[str]] = {}
    for dispatch_id, pur_id in rows:
        members.setdefault(dispatch_id, []).append(pur_id)
    # The batch's PURs are applied in id order: a1, a2, a3 joined a; b1, b2 joined b, then a1.
    assert members == {a.id: [f"{hub}-a2", f"{hub}-a3"], b.id: [f"{hub}-b2", f"{hub}-a1"]}
    stored = {d.id: d for d in (handlers.get_dispatch(uow_factory(), a.id), handlers.get_dispatch(uow_factory(), b.id))}
    assert stored[a.id].pur_ids == [f"{hub}-a2", f"{hub}-a3"] and stored[a.id].load.packages == 6
    assert stored[b.id].pur_ids == [f"{hub}-b2", f"{hub}-a1"] and stored[b.id].load.packages == 6


def test_the_locks_of_many_routes_taken_in_one_statement_are_all_held(uow_factory, engine, hub):
    keys = [(hub, f"R{i}", day) for i in range(20) for day in (TODAY, TOMORROW)]
    free = (hub, "R99", TODAY)
    with uow_factory() as uow:
        uow.lock_routes(keys)
        with engine.connect() as other:
            try_lock = sa.text("SELECT pg_try_advisory_xact_lock(:k)")
            held = [not other.execute(try_lock, {"k": route_lock_key(key)}).scalar_one() for key in keys]
            assert all(held)
            assert other.execute(try_lock, {"k": route_lock_key(free)}).scalar_one()


def test_dispatches_read_by_ids_in_one_query_are_locked_and_missing_ids_skipped(uow_factory, engine, hub):
    create = dispatcher(uow_factory, hub)
    a, b, c = create("R1"), create("R2"), create("R3")
    with uow_factory() as uow:
        found = uow.dispatches.get_many([b.id, a.id, "dsp-missing", b.id], for_update=True)
        assert list(found) == sorted([a.id, b.id]) and found[b.id].route_id == "R2"  # in id order
        with engine.connect() as other:
            nowait = sa.select(orm.dispatches.c.id).with_for_update(nowait=True)
            with pytest.raises(OperationalError, match="could not obtain lock"):
                other.execute(nowait.where(orm.dispatches.c.id == a.id))
        with engine.connect() as other:
            assert other.execute(nowait.where(orm.dispatches.c.id == c.id)).scalar_one() == c.id
        assert uow.dispatches.get_many([]) == {}
