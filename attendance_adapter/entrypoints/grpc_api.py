"""gRPC entrypoint of attendance_adapter: turns `firstmile.attendance.v1.AttendanceService`
requests into domain values, runs the use case, and translates the answer. Errors propagate as
mesh error kinds (domain errors subclass them); the server maps them to status codes."""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc

from attendance_adapter.adapters.messages import STATUS_FROM_PROTO, freshness_to_proto, moment, record_to_proto
from attendance_adapter.domain.model import (
    STATUS_NAMES,
    AttendanceRecord,
    Freshness,
    InvalidAttendance,
    check_recordable_day,
)
from attendance_adapter.service_layer import handlers
from attendance_adapter.service_layer.reader import AttendanceReader
from attendance_adapter.service_layer.unit_of_work import AbstractAttendanceUnitOfWork
from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from mesh.access import AccessRule, Scope, current_caller
from mesh.auth import STAFF
from mesh.errors import FailedPrecondition, NotFound
from mesh.grpc_server import ServiceRegistration
from mesh.kernel import check_id, parse_date, utc_now

SERVICE_NAME = "firstmile.attendance.v1.AttendanceService"
# Part of the caller's deadline kept back to answer from the last known data in time.
DEADLINE_MARGIN_SECONDS = 0.2
NO_DEADLINE_SECONDS = 1e6


def _deadline(context: grpc.ServicerContext) -> float | None:
    """The caller's deadline as a time.monotonic() value, less a margin to answer in."""
    remaining = context.time_remaining()
    if remaining is None or remaining > NO_DEADLINE_SECONDS:
        return None
    return time.monotonic() + max(0.0, remaining - min(DEADLINE_MARGIN_SECONDS, remaining * 0.2))


def _as_of(freshness: Freshness) -> str:
    if not freshness.stale:
        return ""
    return f" (last known answer, {freshness.age.total_seconds():.0f} s old: {freshness.stale_reason})"


def record_from_proto(request: attendance_pb2.RecordAttendanceRequest) -> AttendanceRecord:
    """The record a RecordAttendance request asks for; InvalidArgument names what is wrong."""
    day = parse_date("date", request.date)
    # The day before the times: they are judged against it.
    check_recordable_day(day, utc_now().date())
    if request.status == attendance_pb2.ATTENDANCE_STATUS_UNSPECIFIED:
        raise InvalidAttendance(f"status is required ({STATUS_NAMES})")
    status = STATUS_FROM_PROTO.get(request.status)
    if status is None:
        raise InvalidAttendance(f"status {request.status} is not a known AttendanceStatus")
    try:
        check_in = moment(request.check_in_time, request.HasField("check_in_time"))
        check_out = moment(request.check_out_time, request.HasField("check_out_time"))
        shift_start = moment(request.shift_start, request.HasField("shift_start"))
        shift_end = moment(request.shift_end, request.HasField("shift_end"))
    except (ValueError, OverflowError) as exc:
        raise InvalidAttendance(
            f"check_in_time / check_out_time / shift_start / shift_end: not a valid timestamp ({exc})"
        ) from None
    return AttendanceRecord(
        rider_id=request.rider_id,
        hub_id=request.hub_id,
        date=day,
        status=status,
        check_in=check_in,
        check_out=check_out,
        shift=request.shift,
        shift_start=shift_start,
        shift_end=shift_end,
    )


# Team leads read and record attendance of their hubs' riders; dispatch_svc reads as a service.
ACCESS = {
    "GetAttendance": AccessRule(STAFF, Scope.HUB),
    "ListAvailableRiders": AccessRule(STAFF, Scope.HUB),
    "RecordAttendance": AccessRule(STAFF, Scope.HUB),
}


class AttendanceServicer(attendance_pb2_grpc.AttendanceServiceServicer):
    """`recorder` makes a unit of work over the embedded table; None when the adapter fronts an
    external system (RecordAttendance is then FAILED_PRECONDITION)."""

    def __init__(self, reader: AttendanceReader, recorder: Callable[[], AbstractAttendanceUnitOfWork] | None) -> None:
        self._reader = reader
        self._recorder = recorder

    def GetAttendance(self, request, context):
        rider_id = check_id("rider_id", request.rider_id)
        day = parse_date("date", request.date)
        answer = self._reader.rider(rider_id, day, deadline=_deadline(context))
        if answer.record is None:
            raise NotFound(f"no attendance record for rider {rider_id} on {day.isoformat()}{_as_of(answer.freshness)}")
        current_caller().require_hub(answer.record.hub_id)
        return attendance_pb2.GetAttendanceResponse(
            record=record_to_proto(answer.record), freshness=freshness_to_proto(answer.freshness)
        )

    def ListAvailableRiders(self, request, context):
        hub_id = check_id("hub_id", request.hub_id)
        day = parse_date("date", request.date)
        current_caller().require_hub(hub_id)
        answer = self._reader.hub(hub_id, day, deadline=_deadline(context))
        return attendance_pb2.ListAvailableRidersResponse(
            records=[record_to_proto(r) for r in answer.available()], freshness=freshness_to_proto(answer.freshness)
        )

    def RecordAttendance(self, request, context):
        if self._recorder is None:
            raise FailedPrecondition(
                "this adapter fronts an external attendance system (ATTENDANCE_ADAPTER_UPSTREAM_URL is set), "
                "which is the only source of truth: record attendance there"
            )
        record = record_from_proto(request)
        caller = current_caller()
        caller.require_hub(record.hub_id)
        # The record already stored for this rider and day must be of a hub the caller may access
        # too: naming its own hub must not let a team lead overwrite another hub's rider.
        [result] = handlers.record_attendance(
            self._recorder(), [record], authorize=lambda stored: caller.require_hub(stored.hub_id)
        )
        return attendance_pb2.RecordAttendanceResponse(record=record_to_proto(result.record))


def registration(servicer: AttendanceServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        attendance_pb2_grpc.add_AttendanceServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add, ACCESS)
