"""Access rules and the scope guard (mesh.access): which rules a service may declare, how a Caller
records that its scope was checked, and, through the real AuthInterceptor on an in-process
server, that a hub- or pickup-scoped call whose handler never checked the scope is refused before
its response (or first message) leaves and writes nothing, while services and admins pass."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest

from firstmile.pur.v1 import pur_pb2
from mesh.access import (
    AccessRule,
    Caller,
    Scope,
    current_caller,
    ensure_scope_checked,
    enter_call,
    leave_call,
)
from mesh.auth import ADMINS, EVERY_ROLE, MACHINES_AND_ADMINS, STAFF, Principal, Role
from mesh.errors import PermissionDenied, Unauthenticated
from mesh.grpc_server import GrpcServer, ServiceRegistration
from tests.support import auth
from tests.support.fake_unit_of_work import RecordingUnitOfWork
from tests.support.grpc_probe import Msg, bearer, call, call_streaming, server_streaming, serving, unary

TEAM_LEAD = Principal("lead", Role.TEAM_LEAD, hubs=frozenset({"H1"}))
CLIENT = Principal("acme-user", Role.CLIENT, client_id="acme")
SERVICE_PRINCIPAL = Principal("pur_svc", Role.SERVICE)
ADMIN = Principal("ops", Role.ADMIN)
HUB_RULE = AccessRule(STAFF, Scope.HUB)
PICKUP_RULE = AccessRule(EVERY_ROLE, Scope.PICKUP)


# -- AccessRule ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("roles", "scope"),
    [
        (frozenset({Role.CLIENT}), Scope.PICKUP),
        (EVERY_ROLE, Scope.PICKUP),
        (STAFF, Scope.HUB),
        (STAFF, Scope.PICKUP),
        (frozenset({Role.TEAM_LEAD}), Scope.HUB),
        (MACHINES_AND_ADMINS, Scope.EVERY_HUB),
        (ADMINS, Scope.EVERY_HUB),
        (ADMINS, Scope.HUB),
    ],
)
def test_rules_a_service_may_declare(roles, scope):
    rule = AccessRule(roles, scope)
    assert (rule.roles, rule.scope) == (roles, scope)


@pytest.mark.parametrize(
    ("roles", "scope", "message"),
    [
        (frozenset(), Scope.HUB, "at least one role"),
        (STAFF, Scope.EVERY_HUB, "for services and admins only"),
        (frozenset({Role.TEAM_LEAD}), Scope.EVERY_HUB, "for services and admins only"),
        (frozenset({Role.CLIENT}), Scope.EVERY_HUB, "for services and admins only"),
        (frozenset({Role.CLIENT}), Scope.HUB, "needs Scope.PICKUP"),
        (EVERY_ROLE, Scope.HUB, "needs Scope.PICKUP"),
    ],
)
def test_rules_that_would_leave_a_scope_open_are_refused(roles, scope, message):
    with pytest.raises(ValueError, match=message):
        AccessRule(roles, scope)


# -- Caller ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "check",
    [
        lambda c: c.may_access_hub("H1"),
        lambda c: c.may_access_hub("H2"),
        lambda c: c.require_hub("H1"),
        lambda c: c.may_access_pickup("acme", "H1"),
        lambda c: c.require_pickup("acme", "H1"),
    ],
    ids=["may_access_hub", "may_access_hub-denied", "require_hub", "may_access_pickup", "require_pickup"],
)
def test_every_check_records_that_the_scope_was_checked(check):
    caller = Caller(TEAM_LEAD, HUB_RULE, "Read")
    assert not caller.scope_checked
    with pytest.raises(PermissionDenied, match="Read: refused, the caller's hub scope was not checked"):
        caller.ensure_scope_checked()
    check(caller)
    assert caller.scope_checked
    caller.ensure_scope_checked()


def test_a_check_that_refuses_still_counts_as_checked():
    caller = Caller(TEAM_LEAD, HUB_RULE, "Read")
    with pytest.raises(PermissionDenied, match="may not access hub 'H2'"):
        caller.require_hub("H2")
    assert caller.scope_checked


def test_the_caller_answers_as_its_principal():
    caller = Caller(TEAM_LEAD, HUB_RULE, "Read")
    assert (caller.subject, caller.role, caller.client_id, caller.hubs) == ("lead", Role.TEAM_LEAD, None, {"H1"})
    assert caller.may_access_hub("H1") and not caller.may_access_hub("H2")
    assert not caller.sees_every_hub
    client = Caller(CLIENT, PICKUP_RULE, "Get")
    assert client.may_access_pickup("acme", "any-hub") and not client.may_access_pickup("other", "any-hub")


@pytest.mark.parametrize("principal", [SERVICE_PRINCIPAL, ADMIN], ids=["service", "admin"])
@pytest.mark.parametrize("rule", [HUB_RULE, PICKUP_RULE], ids=["hub", "pickup"])
def test_services_and_admins_pass_without_a_check(principal, rule):
    Caller(principal, rule, "Read").ensure_scope_checked()


def test_an_every_hub_rule_needs_no_check():
    Caller(ADMIN, AccessRule(ADMINS, Scope.EVERY_HUB), "Import").ensure_scope_checked()


def test_a_client_on_a_pickup_method_must_be_checked_too():
    caller = Caller(CLIENT, PICKUP_RULE, "Get")
    with pytest.raises(PermissionDenied, match="Get: refused, the caller's pickup scope was not checked"):
        caller.ensure_scope_checked()


def test_current_caller_is_the_entered_call_and_fails_closed_outside_one():
    with pytest.raises(Unauthenticated, match="no authenticated caller"):
        current_caller()
    ensure_scope_checked()  # no call, nothing to scope (consumers, commands)
    caller = Caller(TEAM_LEAD, HUB_RULE, "Read")
    token = enter_call(caller)
    try:
        assert current_caller() is caller
        with pytest.raises(PermissionDenied):
            ensure_scope_checked()
        caller.require_hub("H1")
        ensure_scope_checked()
    finally:
        leave_call(token)
    with pytest.raises(Unauthenticated):
        current_caller()


def test_leaving_a_call_from_another_thread_does_not_fail():
    """A cancelled stream is closed from a thread that never entered the call."""
    token = enter_call(Caller(TEAM_LEAD, HUB_RULE, "Watch"))
    try:
        failures: list[BaseException] = []

        def leave() -> None:
            try:
                leave_call(token)
            except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
                failures.append(exc)

        thread = threading.Thread(target=leave)
        thread.start()
        thread.join()
        assert failures == []
    finally:
        leave_call(token)


# -- through the AuthInterceptor on a real server ---------------------------------------------------------

SERVICE = "test.v1.ScopeProbe"
ACCESS = {
    "ReadUnchecked": HUB_RULE,
    "ReadChecked": HUB_RULE,
    "WatchUnchecked": HUB_RULE,
    "WatchChecked": HUB_RULE,
    "WriteUnchecked": HUB_RULE,
    "WriteChecked": HUB_RULE,
    "GetPickupUnchecked": PICKUP_RULE,
    "GetPickupChecked": PICKUP_RULE,
    "ImportEverything": AccessRule(ADMINS, Scope.EVERY_HUB),
}
EVENT = "pickup-created"


@dataclass
class Probe:
    """What the handlers did, to tell "refused before it ran" from "ran, then refused"."""

    ran: list[str]
    units_of_work: list[RecordingUnitOfWork]


def _handlers(probe: Probe) -> dict[str, grpc.RpcMethodHandler]:
    def read(checked: bool):
        def handle(request: Msg, context: grpc.ServicerContext) -> Msg:
            probe.ran.append(request.service)
            if checked:
                current_caller().require_hub(request.service)
            return Msg(service=f"rows of {request.service}")

        return handle

    def watch(checked: bool):
        def handle(request: Msg, context: grpc.ServicerContext) -> Iterator[Msg]:
            probe.ran.append(request.service)
            if checked:
                current_caller().require_hub(request.service)
            for i in range(3):
                yield Msg(service=f"{request.service}:{i}")

        return handle

    def write(checked: bool):
        def handle(request: Msg, context: grpc.ServicerContext) -> Msg:
            uow = RecordingUnitOfWork()
            probe.units_of_work.append(uow)
            with uow:
                if checked:
                    current_caller().require_hub(request.service)
                uow.publish([EVENT])
                uow.commit()
            return Msg(service="written")

        return handle

    def get_pickup(checked: bool):
        def handle(request: Msg, context: grpc.ServicerContext) -> Msg:
            if checked:
                current_caller().require_pickup("acme", request.service)
            return Msg(service="the pickup")

        return handle

    def import_everything(request: Msg, context: grpc.ServicerContext) -> Msg:
        return Msg(service="imported")

    handlers: dict[str, grpc.RpcMethodHandler] = {"ImportEverything": unary(import_everything)}
    for suffix, checked in (("Unchecked", False), ("Checked", True)):
        handlers[f"Read{suffix}"] = unary(read(checked))
        handlers[f"Watch{suffix}"] = server_streaming(watch(checked))
        handlers[f"Write{suffix}"] = unary(write(checked))
        handlers[f"GetPickup{suffix}"] = unary(get_pickup(checked))
    return handlers


@pytest.fixture
def probe() -> Probe:
    return Probe([], [])


@pytest.fixture
def channel(probe) -> Iterator[grpc.Channel]:
    with serving(SERVICE, _handlers(probe), ACCESS) as server, grpc.insecure_channel(f"127.0.0.1:{server.port}") as ch:
        yield ch


TOKENS = {
    "team-lead": lambda: auth.token(Role.TEAM_LEAD, hubs=["H1"], subject="lead"),
    "client": lambda: auth.token(Role.CLIENT, client_id="acme", subject="acme-user"),
    "service": lambda: auth.token(Role.SERVICE, subject="pur_svc"),
    "admin": lambda: auth.token(Role.ADMIN, subject="ops"),
}


def as_(role: str) -> list[tuple[str, str]]:
    return bearer(TOKENS[role]())


def method(name: str) -> str:
    return f"/{SERVICE}/{name}"


def refused(fn) -> str:
    with pytest.raises(grpc.RpcError) as caught:
        fn()
    assert caught.value.code() is grpc.StatusCode.PERMISSION_DENIED, caught.value.details()
    return caught.value.details()


def test_a_unary_read_whose_scope_was_never_checked_is_refused_before_the_response_leaves(channel, probe):
    details = refused(lambda: call(channel, method("ReadUnchecked"), Msg(service="H1"), metadata=as_("team-lead")))
    assert details == "ReadUnchecked: refused, the caller's hub scope was not checked"
    assert probe.ran == ["H1"]  # the handler ran; its answer never left


def test_a_checked_read_answers_the_team_lead_of_the_hub_and_refuses_others(channel):
    assert call(channel, method("ReadChecked"), Msg(service="H1"), metadata=as_("team-lead")).service == "rows of H1"
    details = refused(lambda: call(channel, method("ReadChecked"), Msg(service="H2"), metadata=as_("team-lead")))
    assert "may not access hub 'H2'" in details


def test_a_stream_whose_scope_was_never_checked_is_refused_before_its_first_message(channel, probe):
    received: list[str] = []

    def consume() -> None:
        for message in call_streaming(channel, method("WatchUnchecked"), Msg(service="H1"), metadata=as_("team-lead")):
            received.append(message.service)

    details = refused(consume)
    assert details == "WatchUnchecked: refused, the caller's hub scope was not checked"
    assert received == []
    assert probe.ran == ["H1"]


def test_a_checked_stream_delivers_every_message(channel):
    stream = call_streaming(channel, method("WatchChecked"), Msg(service="H1"), metadata=as_("team-lead"))
    assert [m.service for m in stream] == ["H1:0", "H1:1", "H1:2"]


def test_a_commit_in_a_call_whose_scope_was_never_checked_is_refused_and_writes_nothing(channel, probe):
    details = refused(lambda: call(channel, method("WriteUnchecked"), Msg(service="H1"), metadata=as_("team-lead")))
    assert details == "WriteUnchecked: refused, the caller's hub scope was not checked"
    [uow] = probe.units_of_work
    assert uow.committed == []
    assert uow.rollbacks == 1


def test_a_commit_after_the_check_writes_its_events(channel, probe):
    assert call(channel, method("WriteChecked"), Msg(service="H1"), metadata=as_("team-lead")).service == "written"
    [uow] = probe.units_of_work
    assert uow.committed == [[EVENT]]


def test_a_client_is_refused_unless_the_handler_checked_its_pickups(channel):
    details = refused(lambda: call(channel, method("GetPickupUnchecked"), Msg(service="H1"), metadata=as_("client")))
    assert details == "GetPickupUnchecked: refused, the caller's pickup scope was not checked"
    assert call(channel, method("GetPickupChecked"), Msg(service="H1"), metadata=as_("client")).service == "the pickup"


@pytest.mark.parametrize("role", ["service", "admin"])
def test_services_and_admins_pass_where_the_handler_never_checks(channel, probe, role):
    assert call(channel, method("ReadUnchecked"), Msg(service="H9"), metadata=as_(role)).service == "rows of H9"
    stream = call_streaming(channel, method("WatchUnchecked"), Msg(service="H9"), metadata=as_(role))
    assert len(list(stream)) == 3
    assert call(channel, method("WriteUnchecked"), Msg(service="H9"), metadata=as_(role)).service == "written"
    assert probe.units_of_work[0].committed == [[EVENT]]


def test_an_every_hub_method_needs_no_check(channel):
    assert call(channel, method("ImportEverything"), metadata=as_("admin")).service == "imported"


# -- start-up ---------------------------------------------------------------------------------------------

PICKUP_SERVICE = pur_pb2.DESCRIPTOR.services_by_name["PickupService"]


def _noop(server: grpc.Server) -> None:
    return None


def _pickup_access() -> dict[str, AccessRule]:
    return {m.name: PICKUP_RULE for m in PICKUP_SERVICE.methods}


def test_a_service_with_a_rule_for_every_method_registers():
    access = ServiceRegistration(PICKUP_SERVICE.full_name, _noop, _pickup_access()).method_access()
    assert set(access) == {f"/{PICKUP_SERVICE.full_name}/{m.name}" for m in PICKUP_SERVICE.methods}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda access: access.pop("CancelPickupRequest"), r"no access rule for \['CancelPickupRequest'\]"),
        (
            lambda access: access.update(CancelPickupRequest=STAFF),
            r"\['CancelPickupRequest'\] need an AccessRule \(roles and scope\)",
        ),
        (lambda access: access.update(DropEverything=PICKUP_RULE), r"access rules for unknown methods"),
    ],
    ids=["missing", "roles-only", "unknown-method"],
)
def test_the_server_refuses_to_start_without_a_complete_rule_for_every_method(change, message):
    access = _pickup_access()
    change(access)
    registration = ServiceRegistration(PICKUP_SERVICE.full_name, _noop, access)
    with pytest.raises(ValueError, match=message):
        registration.method_access()
    with pytest.raises(ValueError, match=message):
        GrpcServer(port=0, verifier=auth.verifier(), credentials=None, registrations=[registration], host="127.0.0.1")
