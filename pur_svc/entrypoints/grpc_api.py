"""gRPC entrypoint of pur_svc: translates `firstmile.pur.v1.PickupService` messages to use cases."""

from __future__ import annotations

import grpc

from firstmile.pur.v1 import pur_pb2_grpc
from mesh.grpc_server import ServiceRegistration

SERVICE_NAME = "firstmile.pur.v1.PickupService"


class PickupServicer(pur_pb2_grpc.PickupServiceServicer):
    """Serves firstmile.pur.v1.PickupService. RPCs not implemented yet fall through to the generated base
    class, which answers UNIMPLEMENTED."""


def registration(servicer: PickupServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        pur_pb2_grpc.add_PickupServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add)
