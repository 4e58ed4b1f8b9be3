"""The attendance port (`service_layer.attendance`) over gRPC, to attendance_adapter. An outage is
an answer: when the service cannot answer, `available_riders` says attendance is unknown."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime

import grpc

from dispatch_svc.domain.ranking import AttendanceSource, AttendanceView
from dispatch_svc.service_layer.attendance import AttendancePort
from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc

log = logging.getLogger(__name__)

_SOURCES = {
    attendance_pb2.ATTENDANCE_SOURCE_LIVE: AttendanceSource.LIVE,
    attendance_pb2.ATTENDANCE_SOURCE_CACHED: AttendanceSource.CACHED,
    attendance_pb2.ATTENDANCE_SOURCE_STALE: AttendanceSource.STALE,
    attendance_pb2.ATTENDANCE_SOURCE_EMBEDDED: AttendanceSource.EMBEDDED,
}


class GrpcAttendanceClient(AttendancePort):
    """`AttendanceService/ListAvailableRiders` with a short deadline."""

    def __init__(self, channel: grpc.Channel, timeout_seconds: float) -> None:
        self.timeout_seconds = timeout_seconds
        self._channel = channel
        self._stub = attendance_pb2_grpc.AttendanceServiceStub(self._channel)

    def available_riders(self, hub_id: str, day: date) -> AttendanceView:
        request = attendance_pb2.ListAvailableRidersRequest(hub_id=hub_id, date=day.isoformat())
        try:
            response = self._stub.ListAvailableRiders(request, timeout=self.timeout_seconds)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            name = code.name if code is not None else "ERROR"
            details = (exc.details() if hasattr(exc, "details") else "") or ""
            log.warning("attendance unavailable", extra={"hub_id": hub_id, "code": name, "details": details[:200]})
            return AttendanceView.unknown(f"attendance service answered {name}: {details[:200]}".rstrip(": "))
        return view_from_response(response, hub_id, day)

    def close(self) -> None:
        self._channel.close()


def view_from_response(response: attendance_pb2.ListAvailableRidersResponse, hub_id: str, day: date) -> AttendanceView:
    """Trust only what the answer says: records of this hub and day with status PRESENT."""
    present: dict[str, datetime | None] = {}
    for record in response.records:
        if record.status != attendance_pb2.ATTENDANCE_STATUS_PRESENT:
            continue
        if record.date and record.date != day.isoformat():
            continue
        if record.hub_id and record.hub_id != hub_id:
            continue
        present[record.rider_id] = (
            record.check_in_time.ToDatetime(tzinfo=UTC) if record.HasField("check_in_time") else None
        )
    freshness = response.freshness
    fetched_at = freshness.fetched_at.ToDatetime(tzinfo=UTC) if freshness.HasField("fetched_at") else None
    source = _SOURCES.get(freshness.source, AttendanceSource.LIVE)
    stale = freshness.stale or source is AttendanceSource.STALE
    return AttendanceView(
        known=True,
        present=present,
        source=source,
        stale=stale,
        fetched_at=fetched_at,
        age_seconds=freshness.age.ToTimedelta().total_seconds() if freshness.HasField("age") else 0.0,
        reason=freshness.stale_reason if stale else "",
    )
