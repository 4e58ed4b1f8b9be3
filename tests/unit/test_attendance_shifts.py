"""A record's shift window (shift_start, shift_end), which dispatch_svc's planner fits trips into:
the domain's rules, the upstream JSON, the CSV columns, the cache, the AttendanceChanged event that
carries it, and a change of window announced like a change of status."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from attendance_adapter.adapters.cache import decode_snapshot, encode_snapshot
from attendance_adapter.adapters.csv_records import CsvRejected, parse_csv
from attendance_adapter.adapters.messages import attendance_changed, record_to_proto
from attendance_adapter.adapters.wire import WireError, parse_rider_answer, record_to_json
from attendance_adapter.domain.events import AttendanceChanged
from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus, InvalidAttendance, Snapshot
from attendance_adapter.entrypoints.grpc_api import record_from_proto
from attendance_adapter.service_layer import handlers
from firstmile.attendance.v1 import attendance_pb2
from firstmile.events.v1 import events_pb2
from tests.support.fakes_attendance import FakeAttendanceUnitOfWork, FakeClock

DAY = date(2025, 1, 31)
NOW = datetime(2025, 1, 31, 1, 0, tzinfo=UTC)
START = datetime(2025, 1, 31, 0, 30, tzinfo=UTC)  # 06:00 in Asia/Kolkata
END = START + timedelta(hours=8)


def rec(**changes) -> AttendanceRecord:
    fields = {"rider_id": "R-1", "hub_id": "HUB-1", "date": DAY, "status": AttendanceStatus.PRESENT}
    return AttendanceRecord(**(fields | changes))  # type: ignore[arg-type]


def test_a_shift_window_is_kept_with_the_record():
    record = rec(shift_start=START, shift_end=END)
    assert (record.shift_start, record.shift_end) == (START, END)
    assert rec().shift_start is None and rec().shift_end is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shift_start": START}, "set both or neither"),
        ({"shift_end": END}, "set both or neither"),
        ({"shift_start": END, "shift_end": START}, "shift_end: .* is not after shift_start"),
        ({"shift_start": START, "shift_end": START}, "not after"),
        ({"shift_start": START.replace(tzinfo=None), "shift_end": END}, "shift_start: .* has no UTC offset"),
        ({"shift_start": START, "shift_end": END + timedelta(days=3)}, "shift_end: .* too far from the record's day"),
        ({"shift_start": START - timedelta(days=2), "shift_end": END}, "shift_start: .* too far"),
    ],
)
def test_a_shift_window_that_breaks_a_rule_is_refused(changes, message):
    with pytest.raises(InvalidAttendance, match=message):
        rec(**changes)


def test_a_night_shift_may_end_the_next_morning():
    night = rec(shift_start=START + timedelta(hours=14), shift_end=START + timedelta(hours=24))
    assert night.shift_end is not None and night.shift_end.date() == DAY + timedelta(days=1)


def upstream_body(**changes) -> bytes:
    body = {"rider_id": "R-1", "hub_id": "HUB-1", "date": "2025-01-31", "status": "PRESENT"}
    return json.dumps(body | changes).encode()


def test_the_upstream_json_carries_the_window_and_the_cache_keeps_it():
    record = parse_rider_answer(
        upstream_body(shift_start="2025-01-31T06:00:00+05:30", shift_end="2025-01-31T14:00:00+05:30"), "R-1", DAY
    )
    assert (record.shift_start, record.shift_end) == (START, END)
    assert record_to_json(record)["shift_start"] == "2025-01-31T06:00:00+05:30"
    snapshot = Snapshot(NOW, (record,))
    assert decode_snapshot(encode_snapshot(snapshot)) == snapshot
    # Older documents without the fields: no window.
    assert parse_rider_answer(upstream_body(), "R-1", DAY).shift_start is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shift_start": "2025-01-31T06:00:00+05:30"}, "set both or neither"),
        ({"shift_start": "06:00", "shift_end": "14:00"}, "shift_start: '06:00' is not an RFC 3339 timestamp"),
        ({"shift_start": 6, "shift_end": 14}, "shift_start: expected string"),
        (
            {"shift_start": "2025-01-31T14:00:00+05:30", "shift_end": "2025-01-31T06:00:00+05:30"},
            "shift_end: .* is not after shift_start",
        ),
    ],
)
def test_an_upstream_window_that_breaks_the_contract_is_refused(changes, message):
    with pytest.raises(WireError, match=message):
        parse_rider_answer(upstream_body(**changes), "R-1", DAY)


def test_csv_columns_shift_start_and_shift_end():
    text = (
        "rider_id,hub_id,date,status,shift_start,shift_end\n"
        "R-1,HUB-1,2025-01-31,PRESENT,2025-01-31 06:00:00+05:30,2025-01-31T14:00:00+05:30\n"
        "R-2,HUB-1,2025-01-31,ABSENT,,\n"
    )
    first, second = parse_csv(text, today=DAY)
    assert (first.shift_start, first.shift_end) == (START, END)
    assert second.shift_start is None and second.shift_end is None
    with pytest.raises(CsvRejected, match="line 2: shift_start and shift_end: set both or neither"):
        parse_csv(
            "rider_id,hub_id,date,status,shift_start\nR-1,HUB-1,2025-01-31,PRESENT,2025-01-31T06:00:00Z\n", today=DAY
        )


def test_the_event_and_the_api_carry_the_window():
    record = rec(shift_start=START, shift_end=END, updated_at=NOW)
    message = record_to_proto(record)
    assert message.shift_start.ToDatetime(tzinfo=UTC) == START and message.shift_end.ToDatetime(tzinfo=UTC) == END
    assert not record_to_proto(rec()).HasField("shift_start")
    row = attendance_changed(AttendanceChanged(record, None, NOW))
    event = events_pb2.AttendanceChanged.FromString(row.payload)
    assert event.record.shift_end.ToDatetime(tzinfo=UTC) == END


def test_a_new_shift_window_is_announced_like_a_new_status():
    uow, clock = FakeAttendanceUnitOfWork(), FakeClock(NOW)
    handlers.record_attendance(uow, [rec(shift_start=START, shift_end=END)], now=clock)
    clock.advance(60)
    [moved] = handlers.record_attendance(uow, [rec(shift_start=START, shift_end=END + timedelta(hours=1))], now=clock)
    assert (moved.result, moved.announced) == ("updated", True)
    assert [e.record.shift_end for e in uow.outbox if isinstance(e, AttendanceChanged)] == [
        END,
        END + timedelta(hours=1),
    ]


def test_record_attendance_takes_the_window():
    today = datetime.now(UTC).date()
    start = datetime(today.year, today.month, today.day, 6, tzinfo=UTC)

    def request(**changes) -> attendance_pb2.RecordAttendanceRequest:
        fields = {"rider_id": "R-1", "hub_id": "HUB-1", "date": today.isoformat()}
        fields["status"] = attendance_pb2.ATTENDANCE_STATUS_PRESENT
        return attendance_pb2.RecordAttendanceRequest(**(fields | changes))

    record = record_from_proto(request(shift_start=stamp(start), shift_end=stamp(start + timedelta(hours=8))))
    assert (record.shift_start, record.shift_end) == (start, start + timedelta(hours=8))
    assert record_from_proto(request()).shift_start is None
    with pytest.raises(InvalidAttendance, match="set both or neither"):
        record_from_proto(request(shift_end=stamp(start)))


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result
