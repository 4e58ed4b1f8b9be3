"""The server side of authentication: every RPC but health and reflection needs a bearer token
whose role the method's `AccessRule` allows; the servicer reads the caller with
`mesh.access.current_caller()` to check hubs and clients against the data it touches, and a call
whose scope was never checked is refused (see `mesh.access`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import grpc
from grpc_health.v1 import health_pb2
from grpc_reflection.v1alpha import reflection

from mesh.access import AccessRule, Caller, enter_call, leave_call
from mesh.auth import TokenVerifier
from mesh.errors import MeshError, PermissionDenied, Unauthenticated
from mesh.grpc_errors import status_code
from mesh.grpc_handlers import wrap_handler

if TYPE_CHECKING:
    from mesh.grpc_handlers import Continuation, Handler

log = logging.getLogger(__name__)

# Probes (kubelet, load balancers) and grpcurl's discovery carry no token.
OPEN_SERVICES = frozenset(
    {
        health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
        reflection.SERVICE_NAME,
        "grpc.reflection.v1.ServerReflection",
    }
)


def bearer_token(metadata: Any) -> str:
    for key, value in metadata or ():
        if key == "authorization":
            scheme, _, token = (value if isinstance(value, str) else value.decode()).partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                raise Unauthenticated("authorization metadata must be 'Bearer <token>'")
            return token.strip()
    raise Unauthenticated("missing bearer token: send metadata 'authorization: Bearer <token>'")


class AuthInterceptor(grpc.ServerInterceptor):
    """Authenticates each call, lets through only the roles its method's rule allows, and refuses
    an answer whose scope the handler never checked.

    `access` maps a full method name ("/pkg.Service/Method") to its rule; a method missing from it
    is denied to everyone, so a new RPC is closed until someone decides.
    """

    def __init__(self, verifier: TokenVerifier, access: Mapping[str, AccessRule]) -> None:
        self._verifier = verifier
        self._access = dict(access)

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.lstrip("/").rpartition("/")[0] in OPEN_SERVICES:
            return handler
        rule = self._access.get(method)
        name = method.rpartition("/")[2]

        def authorize(context: grpc.ServicerContext) -> Caller:
            try:
                principal = self._verifier.verify(bearer_token(context.invocation_metadata()))
                if rule is None or principal.role not in rule.roles:
                    raise PermissionDenied(f"role {principal.role} may not call {name}")
            except MeshError as exc:
                context.abort(status_code(exc), str(exc))
            return Caller(principal, rule, name)

        def wrap(behavior: Callable[..., Any], streams: bool) -> Callable[..., Any]:
            if streams:

                def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    caller = authorize(context)
                    token = enter_call(caller)
                    try:
                        for response in behavior(request, context):
                            caller.ensure_scope_checked()
                            yield response
                    finally:
                        leave_call(token)

                return streaming

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                caller = authorize(context)
                token = enter_call(caller)
                try:
                    response = behavior(request, context)
                    caller.ensure_scope_checked()
                    return response
                finally:
                    leave_call(token)

            return unary

        return wrap_handler(handler, wrap)
