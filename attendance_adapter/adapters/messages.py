"""Translation between the attendance domain and protobuf: API messages, and domain events into
outbox rows (`to_outbox`, which the unit of work applies at commit)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from attendance_adapter.domain.events import AttendanceChanged
from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus, Freshness, Origin
from firstmile.attendance.v1 import attendance_pb2
from firstmile.events.v1 import events_pb2
from mesh.outbox import OutboxEvent
from mesh.protobuf import enum_to_proto, inverse, timestamp
from mesh.topics import ATTENDANCE_EVENTS

SOURCE = "attendance_adapter"

STATUS_TO_PROTO = enum_to_proto(AttendanceStatus, attendance_pb2.AttendanceStatus, "ATTENDANCE_STATUS_")
STATUS_FROM_PROTO = inverse(STATUS_TO_PROTO)
ORIGIN_TO_PROTO = enum_to_proto(Origin, attendance_pb2.AttendanceSource, "ATTENDANCE_SOURCE_")


def moment(stamp: Timestamp, present: bool) -> datetime | None:
    """A Timestamp field as an aware UTC datetime, or None when the field is unset."""
    if not present:
        return None
    return stamp.ToDatetime(tzinfo=UTC)


def record_to_proto(record: AttendanceRecord) -> attendance_pb2.AttendanceRecord:
    return attendance_pb2.AttendanceRecord(
        rider_id=record.rider_id,
        hub_id=record.hub_id,
        date=record.date.isoformat(),
        status=STATUS_TO_PROTO[record.status],
        check_in_time=timestamp(record.check_in),
        check_out_time=timestamp(record.check_out),
        shift=record.shift,
        updated_at=timestamp(record.updated_at),
        shift_start=timestamp(record.shift_start),
        shift_end=timestamp(record.shift_end),
    )


def freshness_to_proto(freshness: Freshness) -> attendance_pb2.Freshness:
    age = Duration()
    age.FromTimedelta(freshness.age)
    return attendance_pb2.Freshness(
        source=ORIGIN_TO_PROTO[freshness.origin],
        stale=freshness.stale,
        age=age,
        fetched_at=timestamp(freshness.fetched_at),
        stale_reason=freshness.stale_reason,
    )


def to_outbox(event: object) -> Iterable[OutboxEvent]:
    """The outbox rows announcing a domain event of attendance_adapter."""
    if isinstance(event, AttendanceChanged):
        return [attendance_changed(event)]
    raise TypeError(f"attendance_adapter publishes no {type(event).__name__}")


def attendance_changed(event: AttendanceChanged) -> OutboxEvent:
    """The rider's new attendance on `attendance.events.v1`, keyed by rider id."""
    record = event.record
    previous = event.previous_status
    payload = events_pb2.AttendanceChanged(
        rider_id=record.rider_id,
        hub_id=record.hub_id,
        date=record.date.isoformat(),
        status=STATUS_TO_PROTO[record.status],
        previous_status=STATUS_TO_PROTO[previous] if previous else attendance_pb2.ATTENDANCE_STATUS_UNSPECIFIED,
        record=record_to_proto(record),
        changed_at=timestamp(event.changed_at),
    )
    return OutboxEvent.of(ATTENDANCE_EVENTS, record.rider_id, payload, source=SOURCE, occurred_at=event.changed_at)
