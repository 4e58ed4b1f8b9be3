"""Services on a real in-process mesh GrpcServer, as their gRPC tests run them: every interceptor,
plaintext, the local token keys, a free port, no drain."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import grpc

from mesh.grpc_server import GrpcServer, ServiceRegistration
from tests.support import auth


def start(*registrations: ServiceRegistration, **options: Any) -> GrpcServer:
    """A started, serving GrpcServer; the caller stops it (`drain_and_stop`)."""
    settings: dict[str, Any] = {"host": "127.0.0.1", "drain_seconds": 0, "grace_seconds": 1} | options
    server = GrpcServer(
        port=0, verifier=auth.verifier(), credentials=None, registrations=list(registrations), **settings
    )
    server.start()
    server.set_serving()
    return server


def address(server: GrpcServer) -> str:
    return f"127.0.0.1:{server.port}"


@contextmanager
def serving(*registrations: ServiceRegistration, **options: Any) -> Iterator[GrpcServer]:
    server = start(*registrations, **options)
    try:
        yield server
    finally:
        server.drain_and_stop()


@contextmanager
def admin_channel(*registrations: ServiceRegistration) -> Iterator[grpc.Channel]:
    """The services served, and a channel to them whose calls carry a local admin token."""
    with serving(*registrations) as server, auth.open_channel(address(server)) as channel:
        yield channel
