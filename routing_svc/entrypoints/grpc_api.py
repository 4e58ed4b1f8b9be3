"""gRPC entrypoint of routing_svc: translates `firstmile.routing.v1.RoutingService` messages to use cases."""

from __future__ import annotations

import grpc

from firstmile.routing.v1 import routing_pb2_grpc
from mesh.grpc_server import ServiceRegistration

SERVICE_NAME = "firstmile.routing.v1.RoutingService"


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    """Serves firstmile.routing.v1.RoutingService. RPCs not implemented yet fall through to the generated base
    class, which answers UNIMPLEMENTED."""


def registration(servicer: RoutingServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        routing_pb2_grpc.add_RoutingServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add)
