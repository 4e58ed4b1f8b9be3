"""attendance_adapter with its embedded source, against the real PostgreSQL (migrations applied:
`python -m mesh.commands.migrate attendance_adapter`), through the gRPC servicer on a real GrpcServer: what
only the database shows. Rows and outbox events written and read back through the SQL, updates in
place, concurrent first records (ON CONFLICT and row locks), and the CSV import command. The rules
of recording and the request validation are unit-tested (test_attendance_handlers.py,
test_attendance_servicer.py)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from attendance_adapter import import_csv
from attendance_adapter.adapters import orm
from attendance_adapter.entrypoints.grpc_api import registration
from firstmile.attendance.v1 import attendance_pb2 as pb
from firstmile.attendance.v1 import attendance_pb2_grpc
from firstmile.events.v1 import events_pb2
from mesh.topics import ATTENDANCE_EVENTS
from tests.support.in_process_server import admin_channel
from tests.support.sql_servicers import embedded_attendance_servicer, require_attendance_schema

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
DAY = TODAY.isoformat()


@pytest.fixture(scope="module")
def stub(engine, session_factory) -> Iterator[attendance_pb2_grpc.AttendanceServiceStub]:
    require_attendance_schema(engine)
    with admin_channel(registration(embedded_attendance_servicer(session_factory))) as channel:
        yield attendance_pb2_grpc.AttendanceServiceStub(channel)


def ids() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"hub-{tag}", f"r-{tag}"


def stamp(hour: int, minute: int = 0) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(datetime(TODAY.year, TODAY.month, TODAY.day, hour, minute, tzinfo=UTC))
    return t


def record(stub, rider: str, hub: str, status: int, **fields) -> pb.RecordAttendanceResponse:
    return stub.RecordAttendance(
        pb.RecordAttendanceRequest(rider_id=rider, hub_id=hub, date=DAY, status=status, **fields), timeout=10
    )


def events_for(engine, rider: str) -> list[events_pb2.AttendanceChanged]:
    table = orm.outbox.table
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.topic, table.c.event_type, table.c.source, table.c.payload)
            .where(table.c.key == rider.encode())
            .order_by(table.c.id)
        ).all()
    for row in rows:
        assert (row.topic, row.event_type, row.source) == (
            ATTENDANCE_EVENTS,
            "firstmile.events.v1.AttendanceChanged",
            "attendance_adapter",
        )
    return [events_pb2.AttendanceChanged.FromString(row.payload) for row in rows]


def stored(engine, rider: str) -> list:
    t = orm.attendance_records
    with engine.connect() as conn:
        return conn.execute(sa.select(t).where(t.c.rider_id == rider)).all()


def test_recorded_attendance_is_served_and_announced_once(stub, engine):
    hub, rider = ids()
    a, b, c, d = (f"{rider}-{x}" for x in "abcd")
    response = record(stub, a, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(5, 30), shift="MORNING")
    assert (response.record.rider_id, response.record.shift) == (a, "MORNING")
    assert response.record.HasField("updated_at")
    record(stub, c, hub, pb.ATTENDANCE_STATUS_PRESENT)
    record(stub, b, hub, pb.ATTENDANCE_STATUS_ON_LEAVE)
    record(stub, d, hub, pb.ATTENDANCE_STATUS_CHECKED_OUT, check_in_time=stamp(1), check_out_time=stamp(3))

    available = stub.ListAvailableRiders(pb.ListAvailableRidersRequest(hub_id=hub, date=DAY), timeout=10)
    assert [r.rider_id for r in available.records] == [a, c]
    assert available.freshness.source == pb.ATTENDANCE_SOURCE_EMBEDDED
    assert not available.freshness.stale
    assert available.records[0].check_in_time == stamp(5, 30)

    got = stub.GetAttendance(pb.GetAttendanceRequest(rider_id=b, date=DAY), timeout=10)
    assert (got.record.status, got.record.hub_id) == (pb.ATTENDANCE_STATUS_ON_LEAVE, hub)
    assert got.freshness.source == pb.ATTENDANCE_SOURCE_EMBEDDED

    [event] = events_for(engine, a)
    assert (event.rider_id, event.hub_id, event.date) == (a, hub, DAY)
    assert (event.status, event.previous_status) == (pb.ATTENDANCE_STATUS_PRESENT, pb.ATTENDANCE_STATUS_UNSPECIFIED)
    assert event.record.shift == "MORNING"


def test_changes_replace_the_row_in_place_and_status_changes_are_announced(stub, engine):
    hub, rider = ids()
    first = record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(6))
    again = record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(6))
    assert again.record == first.record  # updated_at included: the row was not rewritten
    record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(6), shift="EVENING")
    checked_out = {"check_in_time": stamp(6), "check_out_time": stamp(14), "shift": "NIGHT"}
    record(stub, rider, f"{hub}-2", pb.ATTENDANCE_STATUS_CHECKED_OUT, **checked_out)

    [row] = stored(engine, rider)
    assert (row.hub_id, row.status, row.shift) == (f"{hub}-2", "CHECKED_OUT", "NIGHT")
    assert (row.check_in, row.check_out) == (stamp(6).ToDatetime(tzinfo=UTC), stamp(14).ToDatetime(tzinfo=UTC))
    assert [(e.previous_status, e.status, e.hub_id) for e in events_for(engine, rider)] == [
        (pb.ATTENDANCE_STATUS_UNSPECIFIED, pb.ATTENDANCE_STATUS_PRESENT, hub),
        (pb.ATTENDANCE_STATUS_PRESENT, pb.ATTENDANCE_STATUS_CHECKED_OUT, f"{hub}-2"),
    ]
    for where in (hub, f"{hub}-2"):
        available = stub.ListAvailableRiders(pb.ListAvailableRidersRequest(hub_id=where, date=DAY), timeout=10)
        assert list(available.records) == []


def test_concurrent_first_records_announce_once(stub, engine):
    hub, rider = ids()
    barrier = threading.Barrier(4)
    errors: list[Exception] = []

    def go() -> None:
        try:
            barrier.wait(5)
            record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=go) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert errors == []
    assert len(events_for(engine, rider)) == 1


# -- CSV import ------------------------------------------------------------------------------------


@pytest.fixture
def import_env(monkeypatch, database_url):
    monkeypatch.setenv("FIRSTMILE_DATABASE_URL", database_url)
    monkeypatch.delenv("ATTENDANCE_ADAPTER_UPSTREAM_URL", raising=False)
    monkeypatch.delenv("ATTENDANCE_ADAPTER_UPSTREAM_TOKEN", raising=False)
    return monkeypatch


def test_csv_import_writes_once_and_is_idempotent(stub, engine, tmp_path, capsys, import_env):
    hub, rider = ids()
    path = tmp_path / "attendance.csv"
    path.write_text(
        "rider_id,hub_id,date,status,check_in_time,check_out_time,shift\n"
        f"{rider}-a,{hub},{DAY},PRESENT,{DAY}T05:00:00Z,,MORNING\n"
        f"{rider}-b,{hub},{DAY},absent,,,\n"
        f"{rider}-c,{hub},{DAY},PRESENT,{DAY} 06:00:00+00:00,,\n"
    )
    assert import_csv.main([str(path)]) == 0
    assert (
        "3 record(s) imported: 3 created, 0 updated, 0 unchanged; 3 AttendanceChanged event(s) queued"
        in capsys.readouterr().out
    )
    available = stub.ListAvailableRiders(pb.ListAvailableRidersRequest(hub_id=hub, date=DAY), timeout=10)
    assert [r.rider_id for r in available.records] == [f"{rider}-a", f"{rider}-c"]

    assert import_csv.main([str(path)]) == 0
    assert "0 created, 0 updated, 3 unchanged; 0 AttendanceChanged event(s) queued" in capsys.readouterr().out
    assert len(events_for(engine, f"{rider}-a")) == 1
