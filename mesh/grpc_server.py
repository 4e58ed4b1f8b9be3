"""gRPC server bootstrap: health, reflection, interceptors and a graceful drain.

Every service builds its server here, so they all answer `grpc.health.v1.Health` per service,
serve reflection for grpcurl, map errors to status codes the same way, export the same metrics,
and shut down the same way: health goes NOT_SERVING first, then in-flight calls get a grace period.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent import futures
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import grpc
from google.protobuf import descriptor_pool
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from prometheus_client import Counter, Histogram

from mesh.access import AccessRule
from mesh.auth import TokenVerifier
from mesh.errors import MeshError
from mesh.grpc_auth import AuthInterceptor
from mesh.grpc_errors import status_code
from mesh.grpc_handlers import Behavior, status_code_of, status_details_of, wrap_handler
from mesh.tracing import server_interceptors as tracing_interceptors
from mesh.transient import is_transient

if TYPE_CHECKING:
    from mesh.grpc_handlers import Continuation, Handler

log = logging.getLogger(__name__)

RPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from an RPC's start to its last response.",
    ["grpc_service", "grpc_method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)

MAX_MESSAGE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class ServiceRegistration:
    """A business servicer to serve: its full proto name, the generated `add_..._to_server`, and
    the access rule of each of its methods (every method must have one)."""

    full_name: str
    add_to_server: Callable[[grpc.Server], None]
    access: Mapping[str, AccessRule]

    def method_access(self) -> dict[str, AccessRule]:
        """`access` keyed by full method name; fails when a method of the service is not listed."""
        try:
            methods = {m.name for m in descriptor_pool.Default().FindServiceByName(self.full_name).methods}
        except KeyError:  # a service without a compiled descriptor: the interceptor still denies unlisted methods
            methods = set(self.access)
        if unlisted := methods - set(self.access):
            raise ValueError(f"{self.full_name}: no access rule for {sorted(unlisted)}")
        if unknown := set(self.access) - methods:
            raise ValueError(f"{self.full_name}: access rules for unknown methods {sorted(unknown)}")
        if incomplete := sorted(name for name, rule in self.access.items() if not isinstance(rule, AccessRule)):
            raise ValueError(f"{self.full_name}: {incomplete} need an AccessRule (roles and scope)")
        return {f"/{self.full_name}/{name}": rule for name, rule in self.access.items()}


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service, method


class _Undecodable:
    """Stands in for a request whose bytes are not a valid message of the method's type."""

    def __init__(self, error: Exception) -> None:
        self.error = error


class UndecodableRequestInterceptor(grpc.ServerInterceptor):
    """Bytes that do not parse as the request message (e.g. invalid UTF-8 in a string field) are
    the caller's mistake: INVALID_ARGUMENT, where grpcio alone would answer INTERNAL."""

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None or handler.request_streaming or handler.request_deserializer is None:
            return handler
        parse = handler.request_deserializer

        def deserialize(data: bytes) -> Any:
            try:
                return parse(data)
            except Exception as exc:  # noqa: BLE001 - answered below as INVALID_ARGUMENT
                return _Undecodable(exc)

        def wrap(behavior: Behavior, streams: bool) -> Behavior:
            def refuse(context: grpc.ServicerContext) -> None:
                context.abort(
                    grpc.StatusCode.INVALID_ARGUMENT, "the request is not a valid message of this method's type"
                )

            if streams:

                def streaming(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    if isinstance(request, _Undecodable):
                        refuse(context)
                    yield from behavior(request, context)

                return streaming

            def unary(request: Any, context: grpc.ServicerContext) -> Any:
                if isinstance(request, _Undecodable):
                    refuse(context)
                return behavior(request, context)

            return unary

        return wrap_handler(handler, wrap, request_deserializer=deserialize)


class ErrorMappingInterceptor(grpc.ServerInterceptor):
    """Turns exceptions into status codes: a MeshError by its kind (the one table is
    `mesh.grpc_errors`), a dependency outage into UNAVAILABLE (safe to retry), anything else into
    INTERNAL without leaking its text."""

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method

        def wrap(behavior: Behavior, streams: bool) -> Behavior:
            def abort_for(exc: Exception, context: grpc.ServicerContext) -> None:
                if isinstance(exc, MeshError):
                    context.abort(status_code(exc), _details(str(exc)))
                if is_transient(exc):
                    log.warning("dependency unavailable", extra={"method": method, "error": repr(exc)})
                    context.abort(grpc.StatusCode.UNAVAILABLE, "a dependency is unavailable; retry later")
                log.exception("unhandled error", extra={"method": method})
                context.abort(grpc.StatusCode.INTERNAL, "internal error")

            if streams:

                def streaming(request_or_iterator: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    try:
                        yield from behavior(request_or_iterator, context)
                    except Exception as exc:
                        if _is_abort(exc, context):
                            raise
                        abort_for(exc, context)

                return streaming

            def unary(request_or_iterator: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return behavior(request_or_iterator, context)
                except Exception as exc:
                    if _is_abort(exc, context):
                        raise
                    abort_for(exc, context)

            return unary

        return wrap_handler(handler, wrap)


# Status details travel in a header; a message quoting a huge input must not exceed the peer's
# header limit (the call would fail with RESOURCE_EXHAUSTED instead of the real code).
MAX_DETAILS_CHARS = 2000


def _details(message: str) -> str:
    return message if len(message) <= MAX_DETAILS_CHARS else message[: MAX_DETAILS_CHARS - 1] + "…"


def _is_abort(exc: Exception, context: grpc.ServicerContext) -> bool:
    """True when the servicer already chose a status (context.abort raises a bare Exception)."""
    return status_code_of(context) is not None and not isinstance(exc, MeshError)


class ObservabilityInterceptor(grpc.ServerInterceptor):
    """Counts and times every RPC by method and status code, and logs failures."""

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        service, method = _split_method(handler_call_details.method)

        def finish(context: grpc.ServicerContext, started: float, failed: bool, cancelled: bool = False) -> None:
            if cancelled:
                code = grpc.StatusCode.CANCELLED
            else:
                code = status_code_of(context) or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
            elapsed = time.perf_counter() - started
            RPC_HANDLED.labels(service, method, code.name).inc()
            RPC_SECONDS.labels(service, method).observe(elapsed)
            if code is not grpc.StatusCode.OK:
                level = logging.ERROR if code in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN) else logging.INFO
                log.log(
                    level,
                    "rpc failed",
                    extra={
                        "method": f"{service}/{method}",
                        "code": code.name,
                        "details": status_details_of(context),
                        "ms": round(elapsed * 1000, 2),
                    },
                )

        def wrap(behavior: Behavior, streams: bool) -> Behavior:
            if streams:

                def streaming(request_or_iterator: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    started, failed, cancelled = time.perf_counter(), True, False
                    try:
                        yield from behavior(request_or_iterator, context)
                        failed = False
                    except GeneratorExit:
                        # grpc closes the generator when the client cancels or goes away: the
                        # caller's choice, not a server failure.
                        cancelled = True
                        raise
                    finally:
                        finish(context, started, failed, cancelled)

                return streaming

            def unary(request_or_iterator: Any, context: grpc.ServicerContext) -> Any:
                started, failed = time.perf_counter(), True
                try:
                    response = behavior(request_or_iterator, context)
                    failed = False
                    return response
                finally:
                    finish(context, started, failed)

            return unary

        return wrap_handler(handler, wrap)


class GrpcServer:
    """A gRPC server with health and reflection that drains before it stops.

    Every business call is authenticated with `verifier`; `credentials` are the server's TLS
    credentials, and None (plaintext) is only passed when configuration asks for it explicitly.
    """

    def __init__(
        self,
        *,
        port: int,
        registrations: Sequence[ServiceRegistration],
        verifier: TokenVerifier,
        credentials: grpc.ServerCredentials | None,
        max_workers: int = 16,
        drain_seconds: float = 2.0,
        grace_seconds: float = 10.0,
        interceptors: Iterable[grpc.ServerInterceptor] = (),
        host: str = "[::]",
        health_port: int | None = None,
    ) -> None:
        self._registrations = list(registrations)
        self._drain_seconds = drain_seconds
        self._grace_seconds = grace_seconds
        access = {method: rule for r in self._registrations for method, rule in r.method_access().items()}
        self._server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
            # Outermost first: metrics see the status the error mapping settled on.
            interceptors=[
                # Outermost: the span covers authentication too (none while tracing is off).
                *tracing_interceptors(),
                ObservabilityInterceptor(),
                ErrorMappingInterceptor(),
                AuthInterceptor(verifier, access),
                # After authentication: a caller without a token learns nothing about its bytes.
                UndecodableRequestInterceptor(),
                *interceptors,
            ],
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
                ("grpc.so_reuseport", 0),
            ],
        )
        self.health = health.HealthServicer(experimental_non_blocking=True)
        self._add_services()
        address = f"{host}:{port}"
        if credentials is None:
            self.port = self._server.add_insecure_port(address)
        else:
            self.port = self._server.add_secure_port(address, credentials)
        if self.port == 0:
            raise OSError(f"cannot bind gRPC port {port}")
        self._health_server: grpc.Server | None = None
        self.health_port: int | None = None
        if health_port is not None:
            self._add_health_port(host, health_port)

    def _add_services(self) -> None:
        """The business services, NOT_SERVING until `set_serving`, plus health and reflection."""
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        for registration in self._registrations:
            registration.add_to_server(self._server)
            self.health.set(registration.full_name, health_pb2.HealthCheckResponse.NOT_SERVING)
        self.health.set("", health_pb2.HealthCheckResponse.NOT_SERVING)
        reflection.enable_server_reflection(
            [r.full_name for r in self._registrations]
            + [health_pb2.DESCRIPTOR.services_by_name["Health"].full_name, reflection.SERVICE_NAME],
            self._server,
        )

    def _add_health_port(self, host: str, port: int) -> None:
        """Kubelet gRPC probes speak plaintext only, so with TLS on the main port they get a port
        of their own that serves nothing but the same health answers."""
        self._health_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2, thread_name_prefix="health"))
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._health_server)
        self.health_port = self._health_server.add_insecure_port(f"{host}:{port}")
        if self.health_port == 0:
            raise OSError(f"cannot bind health port {port}")

    def start(self) -> None:
        self._server.start()
        if self._health_server is not None:
            self._health_server.start()

    def set_serving(self) -> None:
        for name in ["", *(r.full_name for r in self._registrations)]:
            self.health.set(name, health_pb2.HealthCheckResponse.SERVING)

    def drain_and_stop(self) -> None:
        """Report NOT_SERVING everywhere, wait for clients to notice, then stop with a grace period."""
        self.health.enter_graceful_shutdown()
        if self._drain_seconds:
            time.sleep(self._drain_seconds)
        self._server.stop(self._grace_seconds).wait()
        if self._health_server is not None:
            self._health_server.stop(0).wait()
