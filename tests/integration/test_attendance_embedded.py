"""attendance_adapter with its embedded source, against the real PostgreSQL (migrations applied:
`python -m mesh.migrate attendance_adapter`), through the gRPC servicer on a real GrpcServer:
RecordAttendance -> GetAttendance / ListAvailableRiders, the AttendanceChanged outbox event written
once per change, validation, and the CSV import command."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import grpc
import pytest
import sqlalchemy as sa
from google.protobuf.timestamp_pb2 import Timestamp

from attendance_adapter import import_csv
from attendance_adapter.adapters import orm
from attendance_adapter.adapters.repository import EmbeddedAttendanceSource
from attendance_adapter.domain.model import CachePolicy
from attendance_adapter.entrypoints.grpc_api import AttendanceServicer, registration
from attendance_adapter.service_layer.reader import AttendanceReader
from attendance_adapter.service_layer.unit_of_work import AttendanceUnitOfWork
from firstmile.attendance.v1 import attendance_pb2 as pb
from firstmile.attendance.v1 import attendance_pb2_grpc
from firstmile.events.v1 import events_pb2
from mesh.db import make_session_factory
from mesh.grpc_server import GrpcServer
from mesh.topics import ATTENDANCE_EVENTS
from tests.support import auth

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
DAY = TODAY.isoformat()


@pytest.fixture(scope="module")
def migrated(engine) -> None:
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass('attendance.attendance_records')")).scalar()
    if exists is None:
        pytest.fail(
            "attendance.attendance_records is missing: run `python -m mesh.migrate attendance_adapter`", pytrace=False
        )


@pytest.fixture(scope="module")
def stub(engine, migrated) -> Iterator[attendance_pb2_grpc.AttendanceServiceStub]:
    factory = make_session_factory(engine)
    reader = AttendanceReader(EmbeddedAttendanceSource(factory), None, CachePolicy(timedelta(seconds=60)))
    servicer = AttendanceServicer(reader, lambda: AttendanceUnitOfWork(factory))
    server = GrpcServer(
        port=0,
        verifier=auth.verifier(),
        credentials=None,
        registrations=[registration(servicer)],
        host="127.0.0.1",
        drain_seconds=0,
        grace_seconds=1,
    )
    server.start()
    server.set_serving()
    with auth.open_channel(f"127.0.0.1:{server.port}") as channel:
        yield attendance_pb2_grpc.AttendanceServiceStub(channel)
    server.drain_and_stop()


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


def test_recording_the_same_thing_twice_emits_nothing_more(stub, engine):
    hub, rider = ids()
    first = record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(6))
    again = record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(6))
    assert again.record == first.record  # updated_at included: nothing was written
    assert len(events_for(engine, rider)) == 1

    # Times or shift only: stored, not announced (consumers care about availability).
    shifted = record(stub, rider, hub, pb.ATTENDANCE_STATUS_PRESENT, check_in_time=stamp(6), shift="EVENING")
    assert shifted.record.shift == "EVENING"
    assert len(events_for(engine, rider)) == 1

    # A status change is news, with the previous status.
    record(stub, rider, hub, pb.ATTENDANCE_STATUS_CHECKED_OUT, check_in_time=stamp(6), check_out_time=stamp(14))
    events = events_for(engine, rider)
    assert [(e.previous_status, e.status) for e in events] == [
        (pb.ATTENDANCE_STATUS_UNSPECIFIED, pb.ATTENDANCE_STATUS_PRESENT),
        (pb.ATTENDANCE_STATUS_PRESENT, pb.ATTENDANCE_STATUS_CHECKED_OUT),
    ]
    available = stub.ListAvailableRiders(pb.ListAvailableRidersRequest(hub_id=hub, date=DAY), timeout=10)
    assert list(available.records) == []

    # Another hub for the day is news too.
    record(stub, rider, f"{hub}-2", pb.ATTENDANCE_STATUS_CHECKED_OUT, check_in_time=stamp(6), check_out_time=stamp(14))
    assert events_for(engine, rider)[-1].hub_id == f"{hub}-2"
    assert len(stored(engine, rider)) == 1


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


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rider_id": ""}, "rider_id is required"),
        ({"hub_id": "a/b"}, "hub_id: 'a/b' must be 1-64 characters"),
        ({"date": "2025-02-30"}, "is not a real calendar day"),
        ({"date": "2025-2-3"}, "is not a date written YYYY-MM-DD"),
        ({"date": "2205-01-31"}, "must be between 366 days before and 366 days after today"),
        ({"status": pb.ATTENDANCE_STATUS_UNSPECIFIED}, "status is required"),
        ({"status": 42}, "status 42 is not a known AttendanceStatus"),
        (
            {"status": pb.ATTENDANCE_STATUS_CHECKED_OUT, "check_in_time": stamp(10), "check_out_time": stamp(9)},
            "is before check_in_time",
        ),
        ({"check_out_time": stamp(9)}, "check_out_time: set without a check_in_time"),
        ({"check_in_time": stamp(6), "check_out_time": stamp(9)}, "PRESENT with a check_out_time"),
        ({"status": pb.ATTENDANCE_STATUS_ABSENT, "check_in_time": stamp(6)}, "ABSENT with a check-in"),
        ({"shift": "x" * 65}, "shift: must be at most 64"),
    ],
)
def test_bad_records_are_invalid_argument_and_write_nothing(stub, engine, changes, message):
    hub, rider = ids()
    fields = dict(rider_id=rider, hub_id=hub, date=DAY, status=pb.ATTENDANCE_STATUS_PRESENT)
    fields.update(changes)
    with pytest.raises(grpc.RpcError) as caught:
        stub.RecordAttendance(pb.RecordAttendanceRequest(**fields), timeout=10)
    assert caught.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert message in caught.value.details()
    assert stored(engine, rider) == []
    assert events_for(engine, rider) == []


def test_unknown_rider_is_not_found_and_unknown_hub_has_nobody(stub):
    hub, rider = ids()
    with pytest.raises(grpc.RpcError) as caught:
        stub.GetAttendance(pb.GetAttendanceRequest(rider_id=rider, date=DAY), timeout=10)
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert f"no attendance record for rider {rider} on {DAY}" == caught.value.details()
    empty = stub.ListAvailableRiders(pb.ListAvailableRidersRequest(hub_id=hub, date=DAY), timeout=10)
    assert list(empty.records) == []
    assert empty.freshness.source == pb.ATTENDANCE_SOURCE_EMBEDDED


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


def test_csv_import_refuses_a_bad_file_whole(engine, tmp_path, capsys, import_env):
    hub, rider = ids()
    path = tmp_path / "attendance.csv"
    path.write_text(f"rider_id,hub_id,date,status\n{rider}-a,{hub},{DAY},PRESENT\n{rider}-b,{hub},{DAY},HOLIDAY\n")
    assert import_csv.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "refused, nothing was imported (1 bad line(s))" in err
    assert "line 3: status: 'HOLIDAY' is not one of PRESENT, ABSENT, ON_LEAVE, CHECKED_OUT" in err
    assert stored(engine, f"{rider}-a") == []


def test_csv_import_is_refused_when_fronting_an_external_system(tmp_path, capsys, import_env):
    hub, rider = ids()
    path = tmp_path / "attendance.csv"
    path.write_text(f"rider_id,hub_id,date,status\n{rider},{hub},{DAY},PRESENT\n")
    import_env.setenv("ATTENDANCE_ADAPTER_UPSTREAM_URL", "https://attendance.example.com")
    import_env.setenv("ATTENDANCE_ADAPTER_UPSTREAM_TOKEN", "t")
    assert import_csv.main([str(path)]) == 2
    assert "ATTENDANCE_ADAPTER_UPSTREAM_URL is set" in capsys.readouterr().err
