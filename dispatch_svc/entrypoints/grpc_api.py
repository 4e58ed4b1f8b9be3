"""gRPC entrypoint of dispatch_svc: translates `firstmile.dispatch.v1.DispatchService` messages to use cases."""

from __future__ import annotations

import grpc

from firstmile.dispatch.v1 import dispatch_pb2_grpc
from mesh.grpc_server import ServiceRegistration

SERVICE_NAME = "firstmile.dispatch.v1.DispatchService"


class DispatchServicer(dispatch_pb2_grpc.DispatchServiceServicer):
    """Serves firstmile.dispatch.v1.DispatchService. RPCs not implemented yet fall through to the generated base
    class, which answers UNIMPLEMENTED."""


def registration(servicer: DispatchServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        dispatch_pb2_grpc.add_DispatchServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add)
