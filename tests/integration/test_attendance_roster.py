"""The ROSTERED status against the real PostgreSQL (attendance migration attendance_0004 and the
dispatch read model): what only the database shows. A roster entry for tomorrow recorded through
the gRPC servicer is stored with its window and announced; the table itself refuses a roster
entry without a window or with a check-in; dispatch_svc's rider_days keeps and reads ROSTERED.
The rules are unit-tested in tests/unit/test_attendance_roster.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy.exc import IntegrityError

from attendance_adapter.adapters import orm
from attendance_adapter.entrypoints.grpc_api import registration
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.hubs import AttendanceChange, Presence, RiderDay
from dispatch_svc.domain.model import Rider
from dispatch_svc.service_layer import handlers, hubs
from dispatch_svc.service_layer.attendance import rostered_riders
from firstmile.attendance.v1 import attendance_pb2 as pb
from firstmile.attendance.v1 import attendance_pb2_grpc
from firstmile.events.v1 import events_pb2
from tests.support.in_process_server import admin_channel
from tests.support.sql_servicers import embedded_attendance_servicer, require_attendance_schema

pytestmark = pytest.mark.integration

TOMORROW = datetime.now(UTC).date() + timedelta(days=1)
START = datetime.combine(TOMORROW, datetime.min.time(), tzinfo=UTC) + timedelta(hours=6)
END = START + timedelta(hours=8)


@pytest.fixture(scope="module")
def stub(engine, session_factory) -> Iterator[attendance_pb2_grpc.AttendanceServiceStub]:
    require_attendance_schema(engine)
    with admin_channel(registration(embedded_attendance_servicer(session_factory))) as channel:
        yield attendance_pb2_grpc.AttendanceServiceStub(channel)


def ids() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"hub-{tag}", f"r-{tag}"


def stamp(moment: datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(moment)
    return t


def test_a_roster_for_tomorrow_is_stored_announced_and_replaced_by_the_check_in(stub, engine):
    hub, rider = ids()
    stub.RecordAttendance(
        pb.RecordAttendanceRequest(
            rider_id=rider,
            hub_id=hub,
            date=TOMORROW.isoformat(),
            status=pb.ATTENDANCE_STATUS_ROSTERED,
            shift_start=stamp(START),
            shift_end=stamp(END),
        ),
        timeout=10,
    )
    t = orm.attendance_records
    with engine.connect() as conn:
        [row] = conn.execute(sa.select(t).where(t.c.rider_id == rider)).all()
    assert (row.status, row.shift_start, row.shift_end, row.check_in) == ("ROSTERED", START, END, None)
    listed = stub.ListAvailableRiders(pb.ListAvailableRidersRequest(hub_id=hub, date=TOMORROW.isoformat()), timeout=10)
    assert list(listed.records) == []
    stub.RecordAttendance(
        pb.RecordAttendanceRequest(
            rider_id=rider,
            hub_id=hub,
            date=TOMORROW.isoformat(),
            status=pb.ATTENDANCE_STATUS_PRESENT,
            check_in_time=stamp(START + timedelta(minutes=3)),
            shift_start=stamp(START),
            shift_end=stamp(END),
        ),
        timeout=10,
    )
    table = orm.outbox.table
    with engine.connect() as conn:
        payloads = conn.execute(
            sa.select(table.c.payload).where(table.c.key == rider.encode()).order_by(table.c.id)
        ).scalars()
        events = [events_pb2.AttendanceChanged.FromString(p) for p in payloads]
    assert [(e.previous_status, e.status) for e in events] == [
        (pb.ATTENDANCE_STATUS_UNSPECIFIED, pb.ATTENDANCE_STATUS_ROSTERED),
        (pb.ATTENDANCE_STATUS_ROSTERED, pb.ATTENDANCE_STATUS_PRESENT),
    ]
    assert events[0].record.shift_end == stamp(END)


@pytest.mark.parametrize(
    ("fields", "constraint"),
    [
        ({"shift_start": None, "shift_end": None}, "attendance_records_rostered_check"),
        ({"check_in": START}, "attendance_records_rostered_check"),
    ],
)
def test_the_table_refuses_a_roster_entry_without_a_window_or_with_a_check_in(engine, fields, constraint):
    hub, rider = ids()
    row = {
        "rider_id": rider,
        "date": TOMORROW,
        "hub_id": hub,
        "status": "ROSTERED",
        "shift_start": START,
        "shift_end": END,
        "updated_at": START,
    }
    with pytest.raises(IntegrityError, match=constraint), engine.begin() as conn:
        conn.execute(sa.insert(orm.attendance_records).values(row | fields))


def test_dispatch_read_model_keeps_rostered_riders_and_counts_them(session_factory):
    hub, rider = ids()
    uow = lambda: SqlAlchemyDispatchUnitOfWork(session_factory)  # noqa: E731
    for who in (rider, f"{rider}-b"):
        handlers.upsert_rider(uow(), Rider(who, hub))
    hubs.apply_attendance_changes(
        uow(),
        [
            AttendanceChange(rider, hub, TOMORROW, Presence.ROSTERED, START, START, END),
            AttendanceChange(f"{rider}-b", hub, TOMORROW, Presence.ABSENT, START),
        ],
    )
    with uow() as work:
        assert work.attendance.attendance_for(hub, TOMORROW)[rider] == RiderDay(Presence.ROSTERED, START, END)
        assert rostered_riders(work, hub, TOMORROW) == {rider: RiderDay(Presence.ROSTERED, START, END)}
