"""The gRPC bootstrap on a real in-process server: error mapping, metrics, health and drain."""

from __future__ import annotations

import threading

import grpc
import pytest
import sqlalchemy.exc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import REGISTRY

from mesh.auth import EVERY_ROLE
from mesh.errors import InvalidArgument, NotFound
from mesh.grpc_server import GrpcServer, ServiceRegistration
from tests.support import auth

SERVICE = "test.v1.ProbeService"
Msg = health_pb2.HealthCheckRequest
PROBE_ACCESS = {name: EVERY_ROLE for name in ("NotFound", "DbDown", "Bug", "Aborts", "Echo", "Stream")}


def _handlers() -> grpc.GenericRpcHandler:
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

    def stream_then_fail(request, context):
        yield Msg(service="first")
        raise InvalidArgument("page_token is not valid")

    unary = {
        name: grpc.unary_unary_rpc_method_handler(
            fn, request_deserializer=Msg.FromString, response_serializer=Msg.SerializeToString
        )
        for name, fn in {"NotFound": not_found, "DbDown": db_down, "Bug": bug, "Aborts": aborts, "Echo": echo}.items()
    }
    unary["Stream"] = grpc.unary_stream_rpc_method_handler(
        stream_then_fail, request_deserializer=Msg.FromString, response_serializer=Msg.SerializeToString
    )
    return grpc.method_handlers_generic_handler(SERVICE, unary)


@pytest.fixture
def server():
    registration = ServiceRegistration(SERVICE, lambda s: s.add_generic_rpc_handlers((_handlers(),)), PROBE_ACCESS)
    srv = GrpcServer(
        port=0,
        verifier=auth.verifier(),
        credentials=None,
        registrations=[registration],
        host="127.0.0.1",
        drain_seconds=0.3,
        grace_seconds=1,
    )
    srv.start()
    srv.set_serving()
    yield srv
    srv.drain_and_stop()


@pytest.fixture
def channel(server):
    with auth.open_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


def call(channel, method: str, service: str = "x"):
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )(Msg(service=service), timeout=5)


@pytest.mark.parametrize(
    ("method", "code", "details"),
    [
        ("NotFound", grpc.StatusCode.NOT_FOUND, "pickup request 'x' does not exist"),
        ("DbDown", grpc.StatusCode.UNAVAILABLE, "a dependency is unavailable; retry later"),
        ("Bug", grpc.StatusCode.INTERNAL, "internal error"),
        ("Aborts", grpc.StatusCode.PERMISSION_DENIED, "not your hub"),
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
