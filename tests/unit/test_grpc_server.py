"""The gRPC bootstrap on a real in-process server: error mapping (the one table from error kind to
status code), metrics, health and drain."""

from __future__ import annotations

import threading

import grpc
import pytest
import sqlalchemy.exc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from mesh.access import AccessRule, Scope
from mesh.auth import ADMINS
from mesh.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidArgument,
    MeshError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from mesh.grpc_errors import status_code
from tests.support import auth
from tests.support.grpc_probe import Msg, server_streaming, serving, unary

SERVICE = "test.v1.ProbeService"
METHODS = ("NotFound", "DbDown", "Bug", "Aborts", "Echo", "Stream", "Domain", "Endless")
# The probe is called with an admin token (tests.support.auth); authorization is test_access.py's.
PROBE_ACCESS = {name: AccessRule(ADMINS, Scope.EVERY_HUB) for name in METHODS}


class IllegalTransition(FailedPrecondition):
    """A domain's error: a subclass of a kind."""


def _handlers() -> dict[str, grpc.RpcMethodHandler]:
    def not_found(request, context):
        raise NotFound(f"pickup request {request.service!r} does not exist")

    def db_down(request, context):
        raise sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("connection refused"))

    def bug(request, context):
        raise ValueError("secret internal detail")

    def aborts(request, context):
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "not your hub")

    def echo(request, context):
        return request

    def domain(request, context):
        raise IllegalTransition("a CANCELLED pickup cannot be routed")

    def stream_then_fail(request, context):
        yield Msg(service="first")
        raise InvalidArgument("page_token is not valid")

    handlers = {
        name: unary(fn)
        for name, fn in {
            "NotFound": not_found,
            "DbDown": db_down,
            "Bug": bug,
            "Aborts": aborts,
            "Echo": echo,
            "Domain": domain,
        }.items()
    }

    def endless(request, context):
        while context.is_active():
            yield Msg(service="tick")

    handlers["Stream"] = server_streaming(stream_then_fail)
    handlers["Endless"] = server_streaming(endless)
    return handlers


@pytest.fixture
def server():
    with serving(SERVICE, _handlers(), PROBE_ACCESS, drain_seconds=0.3) as srv:
        yield srv


@pytest.fixture
def channel(server):
    with auth.open_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


def call(channel, method: str, service: str = "x"):
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )(Msg(service=service), timeout=5)


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        (InvalidArgument, grpc.StatusCode.INVALID_ARGUMENT),
        (NotFound, grpc.StatusCode.NOT_FOUND),
        (AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
        (FailedPrecondition, grpc.StatusCode.FAILED_PRECONDITION),
        (Unauthenticated, grpc.StatusCode.UNAUTHENTICATED),
        (PermissionDenied, grpc.StatusCode.PERMISSION_DENIED),
        (ResourceExhausted, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (Unavailable, grpc.StatusCode.UNAVAILABLE),
    ],
)
def test_each_error_kind_has_its_status_code(kind, code):
    assert status_code(kind("x")) is code


def test_a_domain_error_has_the_code_of_its_kind_and_a_bare_mesh_error_is_unknown():
    class InvalidPickup(InvalidArgument):
        pass

    class StalePickup(InvalidPickup):
        pass

    assert status_code(InvalidPickup("x")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(StalePickup("x")) is grpc.StatusCode.INVALID_ARGUMENT
    assert status_code(IllegalTransition("x")) is grpc.StatusCode.FAILED_PRECONDITION
    assert status_code(MeshError("x")) is grpc.StatusCode.UNKNOWN


@pytest.mark.parametrize(
    ("method", "code", "details"),
    [
        ("NotFound", grpc.StatusCode.NOT_FOUND, "pickup request 'x' does not exist"),
        ("DbDown", grpc.StatusCode.UNAVAILABLE, "a dependency is unavailable; retry later"),
        ("Bug", grpc.StatusCode.INTERNAL, "internal error"),
        ("Aborts", grpc.StatusCode.PERMISSION_DENIED, "not your hub"),
        ("Domain", grpc.StatusCode.FAILED_PRECONDITION, "a CANCELLED pickup cannot be routed"),
    ],
)
def test_exceptions_become_status_codes(channel, method, code, details):
    with pytest.raises(grpc.RpcError) as err:
        call(channel, method)
    assert err.value.code() == code
    assert err.value.details() == details


def test_streaming_error_after_first_message_keeps_its_code(channel):
    stream = channel.unary_stream(
        f"/{SERVICE}/Stream", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )(Msg(), timeout=5)
    assert next(stream).service == "first"
    with pytest.raises(grpc.RpcError) as err:
        next(stream)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_stream_the_client_cancels_counts_as_cancelled_not_as_a_failure(channel):
    def count(code: str) -> float:
        labels = {"grpc_service": SERVICE, "grpc_method": "Endless", "grpc_code": code}
        return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0

    before_cancelled, before_unknown = count("CANCELLED"), count("UNKNOWN")
    stream = channel.unary_stream(
        f"/{SERVICE}/Endless", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )(Msg(), timeout=5)
    assert next(stream).service == "tick"
    stream.cancel()
    deadline = threading.Event()
    for _ in range(50):
        if count("CANCELLED") > before_cancelled:
            break
        deadline.wait(0.1)
    assert count("CANCELLED") == before_cancelled + 1
    assert count("UNKNOWN") == before_unknown


def test_metrics_count_each_rpc_by_code(channel):
    def count(method: str, code: str) -> float:
        labels = {"grpc_service": SERVICE, "grpc_method": method, "grpc_code": code}
        return REGISTRY.get_sample_value("grpc_server_handled_total", labels) or 0.0

    before_ok, before_nf = count("Echo", "OK"), count("NotFound", "NOT_FOUND")
    call(channel, "Echo")
    with pytest.raises(grpc.RpcError):
        call(channel, "NotFound")
    assert count("Echo", "OK") == before_ok + 1
    assert count("NotFound", "NOT_FOUND") == before_nf + 1


def test_health_is_per_service_and_not_serving_while_draining(server, channel):
    health = health_pb2_grpc.HealthStub(channel)
    assert health.Check(health_pb2.HealthCheckRequest(service=SERVICE)).status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as err:
        health.Check(health_pb2.HealthCheckRequest(service="unknown.Service"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND

    stopping = threading.Thread(target=server.drain_and_stop)
    stopping.start()
    try:
        statuses = set()
        while stopping.is_alive():
            try:
                statuses.add(health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=1).status)
            except grpc.RpcError:
                break
        assert health_pb2.HealthCheckResponse.NOT_SERVING in statuses
    finally:
        stopping.join()


def test_bytes_that_are_not_the_request_message_are_invalid_argument(channel):
    # Field 1 (service, a string) holding invalid UTF-8: protobuf refuses to parse it.
    raw = channel.unary_unary(f"/{SERVICE}/Echo", request_serializer=None, response_deserializer=None)
    with pytest.raises(grpc.RpcError) as caught:
        raw(b"\x0a\x02\xff\xfe", timeout=5)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid message" in caught.value.details()


def test_huge_error_details_are_cut_to_fit_a_header(channel):
    with pytest.raises(grpc.RpcError) as caught:
        call(channel, "NotFound", service="x" * 100_000)
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert len(caught.value.details()) <= 2000
