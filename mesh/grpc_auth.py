"""The server side of authentication: every RPC but health and reflection needs a bearer token
whose role the method allows; the servicer then reads the caller with `current_principal()` to
check hubs and clients against the data it touches.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection

from mesh.auth import Principal, Role, TokenVerifier
from mesh.errors import MeshError, Unauthenticated
from mesh.grpc_handlers import wrap_handler

log = logging.getLogger(__name__)

# Probes (kubelet, load balancers) and grpcurl's discovery carry no token.
OPEN_SERVICES = frozenset(
    {
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
        "grpc.reflection.v1.ServerReflection",
    }
)

_current_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal:
    """The caller of the RPC being served; fails closed when no interceptor authenticated it."""
    principal = _current_principal.get()
    if principal is None:
        raise Unauthenticated("no authenticated caller")
    return principal


def bearer_token(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = (value if isinstance(value, str) else value.decode()).partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
            return token.strip()
    raise Unauthenticated("missing bearer token: send metadata 'authorization: Bearer <token>'")


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates each call and lets through only the roles `access` lists for its method.

    `access` maps a full method name ("/pkg.Service/Method") to the roles allowed to call it;
    a method missing from it is denied to everyone, so a new RPC is closed until someone decides.
    """

    def __init__(self, verifier: TokenVerifier, access: Mapping[str, frozenset[Role]]) -> None:
        self._verifier = verifier
        self._access = dict(access)

    def intercept_service(self, continuation, handler_call_details):  # type: ignore[no-untyped-def]
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES:
            return handler
        allowed = self._access.get(method, frozenset())

        def authorize(context: grpc.ServicerContext) -> Principal:
            try:
                principal = self._verifier.verify(bearer_token(context.invocation_metadata()))
            except MeshError as exc:
                context.abort(exc.code, str(exc))
            if principal.role not in allowed:
                context.abort(
                    grpc.StatusCode.PERMISSION_DENIED,
                    f"role {principal.role} may not call {method.rpartition('/')[2]}",
                )
            return principal

        def wrap(behavior: Callable[..., Any], streams: bool) -> Callable[..., Any]:
            if streams:

                def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    token = _current_principal.set(authorize(context))
                    try:
                        yield from behavior(request, context)
                    finally:
                        _reset(token)

                return streaming

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                token = _current_principal.set(authorize(context))
                try:
                    return behavior(request, context)
                finally:
                    _reset(token)

            return unary

        return wrap_handler(handler, wrap)


def _reset(token: contextvars.Token[Principal | None]) -> None:
    try:
        _current_principal.reset(token)
    except ValueError:
        # A cancelled stream is closed from another thread; that thread never saw the value.
        pass
