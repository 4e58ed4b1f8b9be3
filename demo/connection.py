"""Connections to the running mesh, and failures a person can act on instead of stack traces."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from firstmile.pur.v1 import pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2_grpc
from mesh.config import ConfigError
from mesh.grpc_client import tool_channel

MAX_MESSAGE_BYTES = 64 * 1024 * 1024
READY_TIMEOUT_S = 5.0


class DemoError(Exception):
    """An expected failure: its message says what went wrong and what to do; no stack trace."""


@dataclass(frozen=True)
class Endpoint:
    """One service of the mesh: its process name (as in `.cache/logs/<name>.log`), gRPC service
    name and address."""

    process: str
    grpc_service: str
    address: str

    @property
    def log_hint(self) -> str:
        return f"its log: .cache/logs/{self.process}.log"


@dataclass(frozen=True)
class MeshClients:
    """Stubs of the services the demo talks to."""

    pur: pur_pb2_grpc.PickupServiceStub
    routing: routing_pb2_grpc.RoutingServiceStub
    pur_endpoint: Endpoint
    routing_endpoint: Endpoint


def pur_endpoint(address: str) -> Endpoint:
    return Endpoint("pur_svc", "firstmile.pur.v1.PickupService", address)


def routing_endpoint(address: str) -> Endpoint:
    return Endpoint("routing_svc", "firstmile.routing.v1.RoutingService", address)


@contextlib.contextmanager
def serving_channels(*endpoints: Endpoint) -> Iterator[dict[str, grpc.Channel]]:
    """A channel to each endpoint (by process name), each checked up and serving; closed at the end."""
    with contextlib.ExitStack() as stack:
        channels = {}
        for endpoint in endpoints:
            channel = stack.enter_context(_channel(endpoint.address))
            require_serving(channel, endpoint)
            channels[endpoint.process] = channel
        yield channels


@contextlib.contextmanager
def connect(pur: Endpoint, routing: Endpoint) -> Iterator[MeshClients]:
    """Opens a channel to each service, checks it is up and serving, and closes them at the end."""
    with serving_channels(pur, routing) as channels:
        yield MeshClients(
            pur=pur_pb2_grpc.PickupServiceStub(channels[pur.process]),
            routing=routing_pb2_grpc.RoutingServiceStub(channels[routing.process]),
            pur_endpoint=pur,
            routing_endpoint=routing,
        )


@contextlib.contextmanager
def _channel(address: str) -> Iterator[grpc.Channel]:
    try:
        channel = tool_channel(
            address,
            options=[
                ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
                ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            ],
        )
    except ConfigError as exc:
        raise DemoError(f"cannot call the mesh: {exc}. `make run` sets these up.") from None
    try:
        yield channel
    finally:
        channel.close()


def require_serving(channel: grpc.Channel, endpoint: Endpoint) -> None:
    """Raises DemoError unless the service answers its health check with SERVING."""
    try:
        grpc.channel_ready_future(channel).result(timeout=READY_TIMEOUT_S)
    except grpc.FutureTimeoutError:
        raise DemoError(
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
        raise DemoError(
            f"{endpoint.process} at {endpoint.address} is {status} (starting or draining); {endpoint.log_hint}"
        )


def explain(error: grpc.RpcError, endpoint: Endpoint, what: str) -> DemoError:
    """A DemoError saying in plain words why `what` (an RPC) failed on a service."""
    code = error.code() if hasattr(error, "code") else None
    details = error.details() if hasattr(error, "details") else str(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        return DemoError(
            f"{endpoint.process} at {endpoint.address} is unavailable during {what}: {details}; {endpoint.log_hint}"
        )
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return DemoError(f"{endpoint.process} does not implement {what} yet ({endpoint.address}); {endpoint.log_hint}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DemoError(f"{what} on {endpoint.process} took too long ({details}); {endpoint.log_hint}")
    name = code.name if code is not None else "error"
    return DemoError(f"{what} on {endpoint.process} failed with {name}: {details}")
