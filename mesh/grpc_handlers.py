"""Rebuilding a gRPC method handler around a wrapped behaviour: what every interceptor here does."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import grpc

Behavior = Callable[..., Any]

if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Continuation = Callable[[grpc.HandlerCallDetails], Handler | None]


def wrap_handler(
    handler: Handler,
    wrap: Callable[[Behavior, bool], Behavior],
    request_deserializer: Callable[[bytes], Any] | None = None,
) -> Handler:
    """Rebuild `handler` with its behaviour wrapped; `wrap(behavior, streams_response)`."""
    factory: Callable[..., Handler]
    behavior: Behavior | None
    if handler.unary_unary:
        factory, behavior = grpc.unary_unary_rpc_method_handler, handler.unary_unary
    elif handler.unary_stream:
        factory, behavior = grpc.unary_stream_rpc_method_handler, handler.unary_stream
    elif handler.stream_unary:
        factory, behavior = grpc.stream_unary_rpc_method_handler, handler.stream_unary
    else:
        factory, behavior = grpc.stream_stream_rpc_method_handler, handler.stream_stream
    if behavior is None:
        raise ValueError("a method handler without a behaviour")
    return factory(
        wrap(behavior, handler.response_streaming),
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def status_code_of(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The code the servicer set or aborted with, None while it has set none (grpcio has the
    method; its type stubs lack it)."""
    return context.code()  # type: ignore[attr-defined]


def status_details_of(context: grpc.ServicerContext) -> str:
    details = context.details()  # type: ignore[attr-defined]
    return details.decode(errors="replace") if isinstance(details, bytes) else details or ""
