"""Translation of hubs and attendance events between protobuf and the domain (dispatch_svc.domain.hubs)."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.timestamp_pb2 import Timestamp

from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence
from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.events.v1 import events_pb2
from mesh.errors import InvalidArgument
from mesh.kernel import check_id, parse_date
from mesh.protobuf import enum_to_proto, inverse

PRESENCE_TO_PROTO = enum_to_proto(Presence, attendance_pb2.AttendanceStatus, "ATTENDANCE_STATUS_")
PRESENCE_FROM_PROTO = inverse(PRESENCE_TO_PROTO)


def hub_from_proto(request: dispatch_pb2.UpsertHubRequest) -> Hub:
    if not request.HasField("hub"):
        raise InvalidArgument("hub is required")
    hub = request.hub
    if not hub.HasField("location"):
        raise InvalidArgument("hub.location is required")
    return Hub(id=hub.id, name=hub.name, lat=hub.location.lat, lng=hub.location.lng, timezone=hub.timezone)


def hub_to_proto(hub: Hub) -> dispatch_pb2.Hub:
    return dispatch_pb2.Hub(
        id=hub.id, name=hub.name, location=common_pb2.LatLng(lat=hub.lat, lng=hub.lng), timezone=hub.timezone
    )


def _moment(field: str, stamp: Timestamp, present: bool) -> datetime | None:
    if not present:
        return None
    try:
        return stamp.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidArgument(f"{field} is not a valid timestamp ({exc})") from None


def attendance_change_from_proto(event: events_pb2.AttendanceChanged) -> AttendanceChange:
    """An AttendanceChanged event as the read model applies it; InvalidArgument names what is wrong."""
    rider_id = check_id("AttendanceChanged.rider_id", event.rider_id)
    hub_id = check_id("AttendanceChanged.hub_id", event.hub_id)
    day = parse_date("AttendanceChanged.date", event.date)
    status = PRESENCE_FROM_PROTO.get(event.status)
    if status is None:
        raise InvalidArgument(f"AttendanceChanged.status {event.status} is not a known AttendanceStatus")
    record = event.record
    if event.HasField("record") and record.rider_id and record.rider_id != rider_id:
        raise InvalidArgument("AttendanceChanged.record.rider_id differs from AttendanceChanged.rider_id")
    changed_at = _moment("AttendanceChanged.changed_at", event.changed_at, event.HasField("changed_at"))
    if changed_at is None:
        raise InvalidArgument("AttendanceChanged.changed_at is required")
    return AttendanceChange(
        rider_id=rider_id,
        hub_id=hub_id,
        day=day,
        status=status,
        changed_at=changed_at,
        shift_start=_moment("record.shift_start", record.shift_start, record.HasField("shift_start")),
        shift_end=_moment("record.shift_end", record.shift_end, record.HasField("shift_end")),
    )
