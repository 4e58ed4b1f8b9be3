"""A probe service on a real in-process GrpcServer (every interceptor of the mesh, plaintext,
local token keys), for tests of what the server does around a handler: authentication, access
rules and the scope guard, error mapping, metrics. Handlers are plain functions over one small
message type."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import grpc
from grpc_health.v1 import health_pb2

from mesh.access import AccessRule
from mesh.grpc_server import GrpcServer, ServiceRegistration
from tests.support import in_process_server

# Any small message with a string field will do.
Msg = health_pb2.HealthCheckRequest
_CODEC: dict[str, Any] = {"request_deserializer": Msg.FromString, "response_serializer": Msg.SerializeToString}


def unary(fn: Callable[..., Msg]) -> grpc.RpcMethodHandler:
    return grpc.unary_unary_rpc_method_handler(fn, **_CODEC)


def server_streaming(fn: Callable[..., Iterator[Msg]]) -> grpc.RpcMethodHandler:
    return grpc.unary_stream_rpc_method_handler(fn, **_CODEC)


def client_streaming(fn: Callable[..., Msg]) -> grpc.RpcMethodHandler:
    return grpc.stream_unary_rpc_method_handler(fn, **_CODEC)


def bidi_streaming(fn: Callable[..., Iterator[Msg]]) -> grpc.RpcMethodHandler:
    return grpc.stream_stream_rpc_method_handler(fn, **_CODEC)


@contextmanager
def serving(
    service: str, handlers: Mapping[str, grpc.RpcMethodHandler], access: Mapping[str, AccessRule], **options: Any
) -> Iterator[GrpcServer]:
    """`service` with `handlers` (method name -> handler) behind a started GrpcServer."""
    generic = grpc.method_handlers_generic_handler(service, dict(handlers))
    registration = ServiceRegistration(service, lambda s: s.add_generic_rpc_handlers((generic,)), access)
    with in_process_server.serving(registration, **options) as server:
        yield server


def bearer(token: str) -> list[tuple[str, str]]:
    return [("authorization", f"Bearer {token}")]


def call(channel: grpc.Channel, method: str, request: Msg | None = None, **kwargs: Any) -> Msg:
    """Unary call of `method` ("/pkg.Service/Method")."""
    stub = channel.unary_unary(method, request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString)
    return stub(request or Msg(), timeout=5, **kwargs)


def call_streaming(channel: grpc.Channel, method: str, request: Msg | None = None, **kwargs: Any) -> Iterator[Msg]:
    """Server-streaming call of `method`: the responses as they arrive."""
    stub = channel.unary_stream(method, request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString)
    return stub(request or Msg(), timeout=5, **kwargs)
