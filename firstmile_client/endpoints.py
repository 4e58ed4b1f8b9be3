"""The mesh's services as a client reaches them: process name, gRPC service name, address."""

from __future__ import annotations

from dataclasses import dataclass

from firstmile.attendance.v1 import attendance_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile.routing.v1 import routing_pb2

# Process name (as in `.cache/logs/<name>.log`) -> the gRPC service it serves.
SERVICES = {
    "pur_svc": pur_pb2.DESCRIPTOR.services_by_name["PickupService"].full_name,
    "routing_svc": routing_pb2.DESCRIPTOR.services_by_name["RoutingService"].full_name,
    "dispatch_svc": dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"].full_name,
    "attendance_adapter": attendance_pb2.DESCRIPTOR.services_by_name["AttendanceService"].full_name,
}


@dataclass(frozen=True)
class Endpoint:
    """One service of the mesh: its process name, gRPC service name and address."""

    process: str
    grpc_service: str
    address: str

    @classmethod
    def of(cls, process: str, address: str) -> Endpoint:
        return cls(process, SERVICES[process], address)

    @property
    def log_hint(self) -> str:
        return f"its log: .cache/logs/{self.process}.log"


def pur_endpoint(address: str) -> Endpoint:
    return Endpoint.of("pur_svc", address)


def routing_endpoint(address: str) -> Endpoint:
    return Endpoint.of("routing_svc", address)


def dispatch_endpoint(address: str) -> Endpoint:
    return Endpoint.of("dispatch_svc", address)


def attendance_endpoint(address: str) -> Endpoint:
    return Endpoint.of("attendance_adapter", address)
