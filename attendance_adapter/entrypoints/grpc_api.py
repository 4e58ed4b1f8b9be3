"""gRPC entrypoint of attendance_adapter: translates `firstmile.attendance.v1.AttendanceService` messages to use cases."""

from __future__ import annotations

import grpc

from firstmile.attendance.v1 import attendance_pb2_grpc
from mesh.grpc_server import ServiceRegistration

SERVICE_NAME = "firstmile.attendance.v1.AttendanceService"


class AttendanceServicer(attendance_pb2_grpc.AttendanceServiceServicer):
    """Serves firstmile.attendance.v1.AttendanceService. RPCs not implemented yet fall through to the generated base
    class, which answers UNIMPLEMENTED."""


def registration(servicer: AttendanceServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        attendance_pb2_grpc.add_AttendanceServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add)
