"""Stubs of the mesh's four services over channels a caller opened."""

from __future__ import annotations

import functools
from collections.abc import Mapping

import grpc

from firstmile.attendance.v1 import attendance_pb2_grpc
from firstmile.dispatch.v1 import dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2_grpc
from firstmile_client.endpoints import Endpoint


class MeshClients:
    """A stub per connected service, and the endpoint each was reached at. Asking for a service
    that was not connected raises KeyError naming it."""

    def __init__(self, channels: Mapping[Endpoint, grpc.Channel]) -> None:
        self._connected = {endpoint.process: (endpoint, channel) for endpoint, channel in channels.items()}

    def endpoint(self, process: str) -> Endpoint:
        return self._connected[process][0]

    def channel(self, process: str) -> grpc.Channel:
        return self._connected[process][1]

    def close(self) -> None:
        for _, channel in self._connected.values():
            channel.close()

    @functools.cached_property
    def pur(self) -> pur_pb2_grpc.PickupServiceStub:
        return pur_pb2_grpc.PickupServiceStub(self.channel("pur_svc"))

    @functools.cached_property
    def routing(self) -> routing_pb2_grpc.RoutingServiceStub:
        return routing_pb2_grpc.RoutingServiceStub(self.channel("routing_svc"))

    @functools.cached_property
    def dispatch(self) -> dispatch_pb2_grpc.DispatchServiceStub:
        return dispatch_pb2_grpc.DispatchServiceStub(self.channel("dispatch_svc"))

    @functools.cached_property
    def attendance(self) -> attendance_pb2_grpc.AttendanceServiceStub:
        return attendance_pb2_grpc.AttendanceServiceStub(self.channel("attendance_adapter"))

    @property
    def pur_endpoint(self) -> Endpoint:
        return self.endpoint("pur_svc")

    @property
    def routing_endpoint(self) -> Endpoint:
        return self.endpoint("routing_svc")

    @property
    def dispatch_endpoint(self) -> Endpoint:
        return self.endpoint("dispatch_svc")

    @property
    def attendance_endpoint(self) -> Endpoint:
        return self.endpoint("attendance_adapter")
