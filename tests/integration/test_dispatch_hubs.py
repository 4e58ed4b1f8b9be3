"""dispatch_svc's hubs and attendance read model against the real `dispatch` schema (migration
dispatch_0005), for what only PostgreSQL shows: the upsert's created flag, the newest changed_at
winning in SQL, the shift window's check constraint, and a release's rows and outbox events. The
rules are tested on the fakes in tests/unit/test_dispatch_hubs.py. Every test works in its own hub."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence, RiderDay
from dispatch_svc.domain.model import DispatchStatus, Rider, Vehicle, VehicleType
from dispatch_svc.service_layer import handlers, hubs
from firstmile.events.v1 import events_pb2
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
MORNING = datetime.combine(TODAY, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture
def hub_id() -> str:
    return f"hub-{uuid.uuid4().hex[:10]}"


def test_a_hub_is_created_then_replaced(uow_factory, hub_id):
    hub = Hub(hub_id, "Depot", 12.9352, 77.6245, "Asia/Kolkata")
    assert hubs.upsert_hub(uow_factory(), hub) is True
    moved = Hub(hub_id, "Depot 2", 12.94, 77.62, "UTC")
    assert hubs.upsert_hub(uow_factory(), moved) is False
    with uow_factory() as uow:
        assert uow.hubs.get(hub_id) == moved
        assert uow.hubs.get(f"{hub_id}-none") is None


def test_the_newest_change_wins_in_sql_and_is_read_per_hub_and_day(uow_factory, hub_id):
    rider = f"{hub_id}-asha"
    shift = {"shift_start": MORNING, "shift_end": MORNING + timedelta(hours=8)}
    newer = AttendanceChange(rider, hub_id, TODAY, Presence.PRESENT, MORNING + timedelta(minutes=5), **shift)
    older = AttendanceChange(rider, hub_id, TODAY, Presence.ABSENT, MORNING)
    hubs.apply_attendance_changes(uow_factory(), [newer])
    hubs.apply_attendance_changes(uow_factory(), [older])
    other_hub = AttendanceChange(f"{hub_id}-bala", f"{hub_id}-x", TODAY, Presence.PRESENT, MORNING)
    hubs.apply_attendance_changes(uow_factory(), [other_hub])
    with uow_factory() as uow:
        assert uow.attendance.attendance_for(hub_id, TODAY) == {rider: RiderDay(Presence.PRESENT, **shift)}
        assert uow.attendance.attendance_for(hub_id, TODAY + timedelta(days=1)) == {}


def test_the_shift_window_constraint_holds_in_the_table(engine, hub_id):
    row = {
        "rider_id": f"{hub_id}-asha",
        "day": TODAY,
        "hub_id": hub_id,
        "status": "PRESENT",
        "shift_start": MORNING,
        "shift_end": None,
        "changed_at": MORNING,
        "updated_at": MORNING,
    }
    with pytest.raises(IntegrityError, match="rider_days_shift_window"), engine.begin() as conn:
        conn.execute(sa.insert(orm.rider_days).values(row))


def test_a_release_cancels_the_dispatch_and_its_events_carry_the_reason(uow_factory, engine, hub_id):
    rider, vehicle = f"{hub_id}-asha", f"{hub_id}-van"
    handlers.upsert_rider(uow_factory(), Rider(rider, hub_id, name="Asha"))
    handlers.upsert_vehicle(uow_factory(), Vehicle(vehicle, hub_id, VehicleType.VAN, 100, 500.0))
    attendance = FakeAttendance()
    attendance.present[hub_id] = {rider}
    pur_ids = [f"{hub_id}-pur-1", f"{hub_id}-pur-2"]
    handlers.apply_pur_changes(uow_factory(), [pur_snapshot(p, hub=hub_id, day=TODAY) for p in pur_ids])
    created = handlers.create_dispatch(
        uow_factory(), attendance, new_dispatch("req-1", hub=hub_id, day=TODAY, rider_id=rider, vehicle_id=vehicle)
    )
    gone = AttendanceChange(rider, hub_id, TODAY, Presence.ON_LEAVE, datetime.now(UTC))
    assert hubs.apply_attendance_changes(uow_factory(), [gone]) == [created.dispatch.id]
    with uow_factory() as uow:
        stored = uow.dispatches.get(created.dispatch.id)
    assert stored is not None and stored.status is DispatchStatus.CANCELLED
    reason = f"rider {rider} is on leave on {TODAY.isoformat()}: dispatch released"
    assert stored.cancel_reason == reason
    outbox = orm.outbox.table
    with engine.connect() as conn:
        payloads = conn.execute(
            sa.select(outbox.c.payload).where(outbox.c.key.in_([p.encode() for p in pur_ids])).order_by(outbox.c.id)
        ).scalars()
        released = [
            event
            for event in (events_pb2.DispatchEvent.FromString(p) for p in payloads)
            if event.WhichOneof("change") == "released"
        ]
    assert sorted(e.pur_id for e in released) == pur_ids
    assert {e.reason for e in released} == {reason}
    # The rider may be dispatched again once present (the release freed them).
    back = AttendanceChange(rider, hub_id, TODAY, Presence.PRESENT, datetime.now(UTC))
    assert hubs.apply_attendance_changes(uow_factory(), [back]) == []
