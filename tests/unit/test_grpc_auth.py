"""The AuthInterceptor on a real GrpcServer with a small probe service: who gets in (a valid
bearer token whose role the method's access rule lists), what everyone else gets back
(UNAUTHENTICATED or PERMISSION_DENIED, with a message that says why), which services stay open
(health and reflection), and that the handler sees its caller through current_caller(). The
scope guard (a scope never checked) is test_access.py's."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from types import ModuleType

import grpc
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from firstmile.pur.v1 import pur_pb2  # noqa: F401 - loads PickupService into the descriptor pool
from mesh.access import AccessRule, Scope, current_caller
from mesh.auth import ADMINS, EVERY_ROLE, STAFF, Role, TokenIssuer
from mesh.grpc_server import GrpcServer, ServiceRegistration
from tests.support import auth
from tests.support.grpc_probe import (
    Msg,
    bearer,
    bidi_streaming,
    client_streaming,
    server_streaming,
    serving,
)
from tests.support.grpc_probe import (
    unary as unary_handler,
)

SERVICE = "test.v1.AuthProbe"
ACCESS = {
    "Whoami": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "AdminOnly": AccessRule(ADMINS, Scope.EVERY_HUB),
    "StaffOnly": AccessRule(STAFF, Scope.HUB),
    "Stream": AccessRule(STAFF, Scope.HUB),
    "Upload": AccessRule(STAFF, Scope.HUB),
    "Chat": AccessRule(STAFF, Scope.HUB),
}
UNLISTED = ("Unlisted", "UnlistedStream")  # served, but with no access rule: closed to everyone
SERVICE_APIS = [
    f"{package}.entrypoints.grpc_api" for package in ("pur_svc", "routing_svc", "dispatch_svc", "attendance_adapter")
]


def describe() -> str:
    caller = current_caller()
    caller.may_access_pickup("acme", "H1")  # the probe's data: its scope is checked on every call
    return f"{caller.role}|{caller.subject}|{caller.client_id or ''}|{','.join(sorted(caller.hubs))}"


def _handlers() -> dict[str, grpc.RpcMethodHandler]:
    def unary(request, context):
        return Msg(service=describe())

    def stream(request, context) -> Iterator[Msg]:
        for i in range(3):
            yield Msg(service=f"{i}:{describe()}")

    def upload(requests, context):
        return Msg(service=f"{sum(1 for _ in requests)}:{describe()}")

    def chat(requests, context) -> Iterator[Msg]:
        for request in requests:
            yield Msg(service=f"{request.service}:{describe()}")

    handlers = {name: unary_handler(unary) for name in ("Whoami", "AdminOnly", "StaffOnly", "Unlisted")}
    handlers["Stream"] = server_streaming(stream)
    handlers["UnlistedStream"] = server_streaming(stream)
    handlers["Upload"] = client_streaming(upload)
    handlers["Chat"] = bidi_streaming(chat)
    return handlers


@pytest.fixture(scope="module")
def server():
    with serving(SERVICE, _handlers(), ACCESS) as srv:
        yield srv


@pytest.fixture(scope="module")
def bare(server) -> Iterator[grpc.Channel]:
    """A channel that sends no token unless a call adds metadata itself."""
    with grpc.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        yield channel


def unary(channel: grpc.Channel, method: str, **kwargs) -> Msg:
    return channel.unary_unary(
        f"/{SERVICE}/{method}", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )(Msg(), timeout=5, **kwargs)


def stream(channel: grpc.Channel, method: str = "Stream", **kwargs) -> list[str]:
    call = channel.unary_stream(
        f"/{SERVICE}/{method}", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )
    return [m.service for m in call(Msg(), timeout=5, **kwargs)]


def upload(channel: grpc.Channel, **kwargs) -> str:
    call = channel.stream_unary(
        f"/{SERVICE}/Upload", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )
    return call(iter([Msg(), Msg()]), timeout=5, **kwargs).service


def chat(channel: grpc.Channel, **kwargs) -> list[str]:
    call = channel.stream_stream(
        f"/{SERVICE}/Chat", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
    )
    return [m.service for m in call(iter([Msg(service="a"), Msg(service="b")]), timeout=5, **kwargs)]


def failure(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details()


TOKENS = {
    "client": lambda: auth.token(Role.CLIENT, client_id="acme", subject="acme-user"),
    "team-lead": lambda: auth.token(Role.TEAM_LEAD, hubs=["H2", "H1"], subject="lead"),
    "service": lambda: auth.token(Role.SERVICE, subject="pur_svc"),
    "admin": lambda: auth.token(Role.ADMIN, subject="ops"),
}


# -- no or bad credentials: UNAUTHENTICATED --------------------------------------------------------


def test_no_metadata_is_unauthenticated_with_a_helpful_message(bare):
    code, details = failure(lambda: unary(bare, "Whoami"))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert "missing bearer token" in details and "authorization: Bearer <token>" in details


def _foreign_token() -> str:
    key = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return TokenIssuer(key).issue("intruder", Role.ADMIN)


BAD_CREDENTIALS = {
    "basic scheme": ([("authorization", "Basic dXNlcjpwYXNz")], "Bearer <token>"),
    "scheme only": ([("authorization", "Bearer")], "Bearer <token>"),
    "token without scheme": (lambda: [("authorization", auth.admin_token())], "Bearer <token>"),
    "garbage token": (bearer("not-a-jwt"), "bearer token is invalid"),
    "expired token": (
        lambda: bearer(
            auth.local_secrets()
            .issuer()
            .issue("x", Role.ADMIN, ttl=timedelta(minutes=5), now=datetime.now(UTC) - timedelta(hours=1))
        ),
        "expired",
    ),
    "another signing key": (lambda: bearer(_foreign_token()), "bearer token is invalid"),
    "wrong audience": (
        lambda: bearer(
            TokenIssuer(auth.local_secrets().jwt_private_key.read_bytes(), audience="other").issue("x", Role.ADMIN)
        ),
        "bearer token is invalid",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
@pytest.mark.parametrize("method", ["Whoami", "AdminOnly", "Unlisted"])
def test_bad_credentials_are_unauthenticated(bare, case, method):
    metadata, fragment = BAD_CREDENTIALS[case]
    metadata = metadata() if callable(metadata) else metadata
    code, details = failure(lambda: unary(bare, method, metadata=metadata))
    assert code is grpc.StatusCode.UNAUTHENTICATED
    assert fragment in details


def test_an_oversized_token_is_refused(bare):
    """Past gRPC's 8 KiB metadata soft limit the transport itself may refuse the call at random
    (RESOURCE_EXHAUSTED); what gets through is refused by the verifier's size limit."""
    for size in (8300, 9000, 12000):
        code, details = failure(lambda size=size: unary(bare, "Whoami", metadata=bearer("x" * size)))
        assert code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.RESOURCE_EXHAUSTED), details
        if code is grpc.StatusCode.UNAUTHENTICATED:
            assert "too long" in details


@pytest.mark.parametrize(
    "call",
    [lambda ch, **kw: stream(ch, **kw), lambda ch, **kw: upload(ch, **kw), lambda ch, **kw: chat(ch, **kw)],
    ids=["server-streaming", "client-streaming", "bidi"],
)
def test_streaming_methods_need_a_token_too(bare, call):
    assert failure(lambda: call(bare))[0] is grpc.StatusCode.UNAUTHENTICATED
    assert failure(lambda: call(bare, metadata=bearer("garbage")))[0] is grpc.StatusCode.UNAUTHENTICATED


def test_the_authorization_scheme_is_case_insensitive(bare):
    response = unary(bare, "Whoami", metadata=[("authorization", f"bearer {auth.admin_token()}")])
    assert response.service.startswith("admin|")


# -- authenticated but not allowed: PERMISSION_DENIED ----------------------------------------------


@pytest.mark.parametrize("role", ["client", "team-lead", "service"])
def test_a_role_missing_from_the_rule_is_permission_denied(bare, role):
    code, details = failure(lambda: unary(bare, "AdminOnly", metadata=bearer(TOKENS[role]())))
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert details == f"role {role} may not call AdminOnly"


def test_staff_rules_keep_clients_out(bare):
    client = bearer(TOKENS["client"]())
    for call in (
        lambda: unary(bare, "StaffOnly", metadata=client),
        lambda: stream(bare, metadata=client),
        lambda: upload(bare, metadata=client),
        lambda: chat(bare, metadata=client),
    ):
        code, details = failure(call)
        assert code is grpc.StatusCode.PERMISSION_DENIED and "role client may not call" in details


@pytest.mark.parametrize("role", list(TOKENS))
def test_a_method_without_an_access_rule_is_denied_to_everyone_including_admin(bare, role):
    for call, name in (
        (lambda md: unary(bare, "Unlisted", metadata=md), "Unlisted"),
        (lambda md: stream(bare, "UnlistedStream", metadata=md), "UnlistedStream"),
    ):
        code, details = failure(lambda call=call: call(bearer(TOKENS[role]())))
        assert code is grpc.StatusCode.PERMISSION_DENIED
        assert details == f"role {role} may not call {name}"


def test_an_unknown_method_is_unimplemented_not_an_auth_error(bare):
    code, _ = failure(lambda: unary(bare, "NoSuchMethod"))
    assert code is grpc.StatusCode.UNIMPLEMENTED


# -- allowed: the handler sees its caller ------------------------------------------------------------


@pytest.mark.parametrize(
    ("role", "seen"),
    [
        ("client", "client|acme-user|acme|"),
        ("team-lead", "team-lead|lead||H1,H2"),
        ("service", "service|pur_svc||"),
        ("admin", "admin|ops||"),
    ],
)
def test_current_caller_inside_the_handler_is_the_caller(bare, role, seen):
    assert unary(bare, "Whoami", metadata=bearer(TOKENS[role]())).service == seen


def test_streaming_handlers_see_their_caller_on_every_message(bare):
    assert stream(bare, metadata=bearer(TOKENS["team-lead"]())) == [f"{i}:team-lead|lead||H1,H2" for i in range(3)]
    assert upload(bare, metadata=bearer(TOKENS["service"]())) == "2:service|pur_svc||"
    assert chat(bare, metadata=bearer(TOKENS["admin"]())) == ["a:admin|ops||", "b:admin|ops||"]


def test_callers_do_not_leak_into_each_other(server):
    """Many calls from different callers over the same worker threads: each sees only itself."""
    target = f"127.0.0.1:{server.port}"
    channels = {role: auth.open_channel(target, make()) for role, make in TOKENS.items()}
    try:
        futures = [
            (
                role,
                channels[role]
                .unary_unary(
                    f"/{SERVICE}/Whoami", request_serializer=Msg.SerializeToString, response_deserializer=Msg.FromString
                )
                .future(Msg(), timeout=10),
            )
            for _ in range(25)
            for role in TOKENS
        ]
        for role, future in futures:
            assert future.result().service.startswith(f"{role}|")
        with grpc.insecure_channel(target) as bare:
            assert failure(lambda: unary(bare, "Whoami"))[0] is grpc.StatusCode.UNAUTHENTICATED
    finally:
        for channel in channels.values():
            channel.close()


# -- open services -----------------------------------------------------------------------------------


def test_health_answers_without_a_token(bare):
    health = health_pb2_grpc.HealthStub(bare)
    assert health.Check(health_pb2.HealthCheckRequest(), timeout=5).status == health_pb2.HealthCheckResponse.SERVING
    assert (
        health.Check(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5).status
        == health_pb2.HealthCheckResponse.SERVING
    )
    watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=5)
    assert next(watch).status == health_pb2.HealthCheckResponse.SERVING
    watch.cancel()


def test_health_ignores_a_bad_token(bare):
    """Probes may carry whatever a proxy adds; health never looks at it."""
    health = health_pb2_grpc.HealthStub(bare)
    assert (
        health.Check(health_pb2.HealthCheckRequest(), timeout=5, metadata=bearer("garbage")).status
        == health_pb2.HealthCheckResponse.SERVING
    )


def test_reflection_lists_services_without_a_token(bare):
    stub = reflection_pb2_grpc.ServerReflectionStub(bare)
    responses = list(
        stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="*")]), timeout=5)
    )
    names = {s.name for s in responses[0].list_services_response.service}
    assert {SERVICE, "grpc.health.v1.Health", "grpc.reflection.v1alpha.ServerReflection"} <= names


# -- access tables -----------------------------------------------------------------------------------


def _noop(server: grpc.Server) -> None:
    return None


def service_api(name: str) -> ModuleType:
    return importlib.import_module(name)


def test_method_access_refuses_a_real_service_with_an_unlisted_method():
    pur_api = service_api("pur_svc.entrypoints.grpc_api")
    access = {name: rule for name, rule in pur_api.ACCESS.items() if name != "CancelPickupRequest"}
    registration = ServiceRegistration(pur_api.SERVICE_NAME, _noop, access)
    with pytest.raises(
        ValueError, match=r"firstmile.pur.v1.PickupService: no access rule for \['CancelPickupRequest'\]"
    ):
        registration.method_access()
    with pytest.raises(ValueError, match="no access rule"):
        GrpcServer(port=0, verifier=auth.verifier(), credentials=None, registrations=[registration], host="127.0.0.1")


def test_method_access_refuses_rules_for_methods_the_service_does_not_have():
    pur_api = service_api("pur_svc.entrypoints.grpc_api")
    access = {**pur_api.ACCESS, "DropEverything": AccessRule(ADMINS, Scope.EVERY_HUB)}
    registration = ServiceRegistration(pur_api.SERVICE_NAME, _noop, access)
    with pytest.raises(ValueError, match=r"access rules for unknown methods \['DropEverything'\]"):
        registration.method_access()


@pytest.mark.parametrize("name", SERVICE_APIS)
def test_every_real_service_gives_every_method_an_access_rule(name):
    api = service_api(name)
    access = ServiceRegistration(api.SERVICE_NAME, _noop, api.ACCESS).method_access()
    assert access and all(method.startswith(f"/{api.SERVICE_NAME}/") for method in access)
    assert all(isinstance(rule, AccessRule) and rule.roles <= set(Role) for rule in access.values())


def test_route_map_writes_are_for_admins_only_and_clients_stay_out_of_staff_services():
    routing_api = service_api("routing_svc.entrypoints.grpc_api")
    assert all(routing_api.ACCESS[m].roles == ADMINS for m in ("UpsertRoute", "ImportRoutes", "DeleteRoute"))
    for name in SERVICE_APIS[1:]:
        api = service_api(name)
        assert all(Role.CLIENT not in rule.roles for rule in api.ACCESS.values()), api.SERVICE_NAME
