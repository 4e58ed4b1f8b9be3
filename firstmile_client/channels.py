"""Channels to the mesh's services: opened the way command-line tools open them (mesh.grpc_client),
checked up and serving before use, and their failures told in words a person can act on."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from firstmile_client.endpoints import Endpoint
from firstmile_client.stubs import MeshClients
from firstmile_client.tokens import local_admin_token
from mesh import grpc_client
from mesh.config import ConfigError
from mesh.tls import GrpcTransport

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
LARGE_MESSAGES = (
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
)
READY_TIMEOUT_S = 5.0
PLAINTEXT = GrpcTransport("plaintext")


class ToolError(Exception):
    """An expected failure of a command-line tool: its message says what went wrong and what to
    do; print it, no stack trace."""


def tool_channel(
    address: str, *, token: str | None = None, options: Sequence[tuple[str, Any]] = LARGE_MESSAGES
) -> grpc.Channel:
    """A channel as a command-line tool opens it: transport from FIRSTMILE_GRPC_*, token `token`
    or else from FIRSTMILE_AUTH_TOKEN or FIRSTMILE_AUTH_TOKEN_FILE. Missing settings are a ToolError."""
    try:
        return grpc_client.tool_channel(address, token=token, options=options)
    except ConfigError as exc:
        raise ToolError(f"cannot call the mesh: {exc}. `make run` sets these up.") from None


def local_channel(
    address: str,
    token: str | None = None,
    *,
    transport: GrpcTransport = PLAINTEXT,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    """A channel to a mesh this checkout started, whose calls carry `token` (default: a local admin
    token); `transport` must match the services' FIRSTMILE_GRPC_* settings."""
    bearer = token if token is not None else local_admin_token()
    source: Callable[[], str] = lambda: bearer  # noqa: E731
    return grpc_client.open_channel(address, transport, source, options=options)


@contextlib.contextmanager
def connect(*endpoints: Endpoint) -> Iterator[MeshClients]:
    """Opens a tool channel to each endpoint, checks each service is up and serving (in the order
    given), and closes the channels at the end."""
    with contextlib.ExitStack() as stack:
        channels = {}
        for endpoint in endpoints:
            channel = tool_channel(endpoint.address)
            stack.callback(channel.close)
            require_serving(channel, endpoint)
            channels[endpoint] = channel
        yield MeshClients(channels)


def require_serving(channel: grpc.Channel, endpoint: Endpoint) -> None:
    """Raises ToolError unless the service answers its health check with SERVING."""
    try:
        grpc.channel_ready_future(channel).result(timeout=READY_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise ToolError(
            f"{endpoint.process} is not reachable at {endpoint.address}. Start the mesh with `make up` "
            f"(or `bash infra/infra.sh services-up`); {endpoint.log_hint}"
        ) from None
    try:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=endpoint.grpc_service), timeout=READY_TIMEOUT_S
        )
    except grpc.RpcError as exc:
        raise explain(exc, endpoint, "the health check") from None
    if answer.status != health_pb2.HealthCheckResponse.SERVING:
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status)
        raise ToolError(
            f"{endpoint.process} at {endpoint.address} is {status} (starting or draining); {endpoint.log_hint}"
        )


def explain(error: grpc.RpcError, endpoint: Endpoint, what: str) -> ToolError:
    """A ToolError saying in plain words why `what` (an RPC) failed on a service."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return ToolError(
            f"{endpoint.process} at {endpoint.address} is unavailable during {what}: {details}; {endpoint.log_hint}"
        )
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return ToolError(f"{endpoint.process} does not implement {what} yet ({endpoint.address}); {endpoint.log_hint}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return ToolError(f"{what} on {endpoint.process} took too long ({details}); {endpoint.log_hint}")
    name = code.name if code is not None else "error"
    return ToolError(f"{what} on {endpoint.process} failed with {name}: {details}")
