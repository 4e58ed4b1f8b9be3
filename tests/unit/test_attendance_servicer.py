"""AttendanceServicer's translations between protobuf and the use cases, without a database: calls
through grpc_testing on the fakes of tests/support/fakes_attendance.py, and the error kinds a bad
request raises (the server's interceptor maps kinds to status codes; grpc_testing does not)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from attendance_adapter.domain.events import AttendanceChanged
from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus, CachePolicy
from attendance_adapter.entrypoints.grpc_api import ACCESS, AttendanceServicer
from attendance_adapter.service_layer.ports import SourceUnreachable
from attendance_adapter.service_layer.reader import AttendanceReader
from firstmile.attendance.v1 import attendance_pb2 as pb
from mesh.auth import Principal, Role
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.kernel import utc_now
from tests.support.fakes_attendance import (
    FakeAttendanceSource,
    FakeAttendanceUnitOfWork,
    FakeClock,
    FakeEmbeddedSource,
    MemoryCache,
)
from tests.support.servicer_calls import ServedAs

SERVICE = pb.DESCRIPTOR.services_by_name["AttendanceService"]
TODAY = utc_now().date()
DAY = TODAY.isoformat()
HUB = "HUB-1"
TTL = timedelta(seconds=60)


def stamp(hour: int, minute: int = 0) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(datetime(TODAY.year, TODAY.month, TODAY.day, hour, minute, tzinfo=UTC))
    return t


LEAD = Principal("lead", Role.TEAM_LEAD, hubs=frozenset({HUB, "HUB-EMPTY"}))


def served(servicer: AttendanceServicer) -> ServedAs:
    return ServedAs(servicer, SERVICE, ACCESS, LEAD)


@pytest.fixture
def uow() -> FakeAttendanceUnitOfWork:
    return FakeAttendanceUnitOfWork()


@pytest.fixture
def embedded(uow) -> ServedAs:
    reader = AttendanceReader(FakeEmbeddedSource(uow), None, CachePolicy(TTL))
    return served(AttendanceServicer(reader, lambda: uow))


@pytest.fixture
def upstream() -> FakeAttendanceSource:
    return FakeAttendanceSource()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fronting(upstream, clock) -> ServedAs:
    return served(AttendanceServicer(AttendanceReader(upstream, MemoryCache(), CachePolicy(TTL), clock=clock), None))


def present(rider: str, **changes: Any) -> pb.RecordAttendanceRequest:
    fields: dict[str, Any] = {"rider_id": rider, "hub_id": HUB, "date": DAY, "status": pb.ATTENDANCE_STATUS_PRESENT}
    fields.update(changes)
    return pb.RecordAttendanceRequest(**fields)


# -- translations ----------------------------------------------------------------------------------


def test_record_attendance_translates_the_request_and_the_stored_record(embedded, uow):
    response = embedded.ok("RecordAttendance", present("R-1", check_in_time=stamp(5, 30), shift="MORNING"))
    got = response.record
    assert (got.rider_id, got.hub_id, got.date, got.status, got.shift) == (
        "R-1",
        HUB,
        DAY,
        pb.ATTENDANCE_STATUS_PRESENT,
        "MORNING",
    )
    assert got.check_in_time == stamp(5, 30)
    assert not got.HasField("check_out_time")
    assert got.HasField("updated_at")
    [event] = uow.outbox
    assert isinstance(event, AttendanceChanged)
    assert (event.record.rider_id, event.record.check_in, event.previous_status) == (
        "R-1",
        datetime(TODAY.year, TODAY.month, TODAY.day, 5, 30, tzinfo=UTC),
        None,
    )


def test_reads_of_the_embedded_table_are_labelled_embedded(embedded):
    embedded.ok("RecordAttendance", present("R-2"))
    embedded.ok("RecordAttendance", present("R-1", check_in_time=stamp(6)))
    embedded.ok("RecordAttendance", present("R-3", status=pb.ATTENDANCE_STATUS_ON_LEAVE))

    listed = embedded.ok("ListAvailableRiders", pb.ListAvailableRidersRequest(hub_id=HUB, date=DAY))
    assert [r.rider_id for r in listed.records] == ["R-1", "R-2"]
    assert listed.records[0].check_in_time == stamp(6)
    assert (listed.freshness.source, listed.freshness.stale) == (pb.ATTENDANCE_SOURCE_EMBEDDED, False)
    assert listed.freshness.age.ToTimedelta() == timedelta(0)

    got = embedded.ok("GetAttendance", pb.GetAttendanceRequest(rider_id="R-3", date=DAY))
    assert (got.record.status, got.freshness.source) == (pb.ATTENDANCE_STATUS_ON_LEAVE, pb.ATTENDANCE_SOURCE_EMBEDDED)

    empty = embedded.ok("ListAvailableRiders", pb.ListAvailableRidersRequest(hub_id="HUB-EMPTY", date=DAY))
    assert list(empty.records) == []


def test_a_stale_answer_says_how_old_it_is_and_why(fronting, upstream, clock):
    upstream.hubs[HUB] = [AttendanceRecord("R-1", HUB, TODAY, AttendanceStatus.PRESENT)]
    live = fronting.ok("ListAvailableRiders", pb.ListAvailableRidersRequest(hub_id=HUB, date=DAY))
    assert live.freshness.source == pb.ATTENDANCE_SOURCE_LIVE

    clock.advance(600)
    upstream.failure = SourceUnreachable("upstream HTTP 503 after 3 attempts")
    stale = fronting.ok("ListAvailableRiders", pb.ListAvailableRidersRequest(hub_id=HUB, date=DAY))
    assert (stale.freshness.source, stale.freshness.stale) == (pb.ATTENDANCE_SOURCE_STALE, True)
    assert stale.freshness.age.ToTimedelta() == timedelta(seconds=600)
    assert stale.freshness.fetched_at == live.freshness.fetched_at
    assert stale.freshness.stale_reason == "upstream HTTP 503 after 3 attempts"
    assert [r.rider_id for r in stale.records] == ["R-1"]


def test_a_rider_unknown_in_the_last_known_answer_says_so(fronting, upstream, clock):
    request = pb.GetAttendanceRequest(rider_id="R-404", date=DAY)
    fronting.refuses("GetAttendance", request, NotFound, f"no attendance record for rider R-404 on {DAY}")
    clock.advance(120)
    upstream.failure = SourceUnreachable("upstream timeout (2 s per attempt) after 3 attempts")
    fronting.refuses(
        "GetAttendance",
        request,
        NotFound,
        f"no attendance record for rider R-404 on {DAY} (last known answer, 120 s old: upstream timeout",
    )


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"rider_id": ""}, "rider_id is required"),
        ({"hub_id": "a/b"}, "hub_id must be 1-64 characters"),
        ({"date": "2025-02-30"}, "is not a real date"),
        ({"date": "2025-2-3"}, 'date must be a date as "YYYY-MM-DD"'),
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
        ({"check_in_time": Timestamp(seconds=2**40)}, "not a valid timestamp"),
        ({"shift": "x" * 65}, "shift must be at most 64 characters"),
        ({"shift": "MORNING\n"}, "shift must be printable characters on one line"),
    ],
)
def test_bad_records_are_invalid_and_write_nothing(embedded, uow, changes, message):
    embedded.refuses("RecordAttendance", present("R-1", **changes), InvalidArgument, message)
    assert (uow.rows, uow.outbox, uow.commits) == ({}, [], 0)


@pytest.mark.parametrize(
    ("hub", "day", "message"),
    [
        ("", DAY, "hub_id is required"),
        ("hub 1", DAY, "hub_id must be 1-64 characters"),
        ("hub-1", "", 'date must be a date as "YYYY-MM-DD"'),
        ("hub-1", "2025-02-30", "is not a real date"),
        ("hub-1", "31/01/2025", 'date must be a date as "YYYY-MM-DD"'),
    ],
)
def test_bad_reads_are_invalid_and_never_reach_the_upstream(fronting, upstream, hub, day, message):
    request = pb.ListAvailableRidersRequest(hub_id=hub, date=day)
    fronting.refuses("ListAvailableRiders", request, InvalidArgument, message)
    request = pb.GetAttendanceRequest(rider_id=hub, date=day)
    fronting.refuses("GetAttendance", request, InvalidArgument, message.replace("hub_id", "rider_id"))
    assert upstream.calls == []


def test_record_attendance_is_refused_in_front_of_an_external_system(fronting, upstream):
    fronting.refuses("RecordAttendance", present("R-1"), FailedPrecondition, "only source of truth")
    assert upstream.calls == []
