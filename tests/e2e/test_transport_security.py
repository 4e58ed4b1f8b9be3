"""Mutual TLS and bearer tokens on real processes: who can connect, who can call, and what stays open."""

from __future__ import annotations

import subprocess
import uuid
from datetime import UTC, datetime

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from mesh.commands import devsecrets
from mesh.grpc_client import open_channel
from mesh.tls import GrpcTransport
from tests.support import auth
from tests.support.processes import GRPCURL, free_port

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date().isoformat()


def mtls_env(secrets: devsecrets.DevSecrets, health_port: int | None = None, prefix: str = "PUR_SVC") -> dict[str, str]:
    env = {
        "FIRSTMILE_GRPC_TRANSPORT": "mtls",
        "FIRSTMILE_GRPC_TLS_CERT_FILE": str(secrets.mesh_cert),
        "FIRSTMILE_GRPC_TLS_KEY_FILE": str(secrets.mesh_key),
        "FIRSTMILE_GRPC_TLS_CA_FILE": str(secrets.ca_cert),
    }
    if health_port is not None:
        env[f"{prefix}_HEALTH_PORT"] = str(health_port)
    return env


def mtls(secrets: devsecrets.DevSecrets) -> GrpcTransport:
    return GrpcTransport("mtls", secrets.mesh_cert, secrets.mesh_key, secrets.ca_cert)


@pytest.fixture
def pur_over_mtls(start_service):
    secrets = auth.local_secrets()
    health_port = free_port()
    proc = start_service("pur_svc", transport=mtls(secrets), **mtls_env(secrets, health_port))
    proc.wait_serving()
    return proc, secrets, health_port


def list_call(channel: grpc.Channel) -> pur_pb2.ListPickupRequestsResponse:
    stub = pur_pb2_grpc.PickupServiceStub(channel)
    return stub.ListPickupRequests(
        pur_pb2.ListPickupRequestsRequest(client_id="nobody-" + uuid.uuid4().hex[:6]), timeout=5
    )


def failure(call) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code()


def test_a_client_with_a_mesh_certificate_and_a_token_gets_in(pur_over_mtls):
    proc, secrets, _ = pur_over_mtls
    with open_channel(proc.target, mtls(secrets), auth.admin_token) as channel:
        assert list_call(channel).pickup_requests == []


def test_without_a_token_the_tls_handshake_is_not_enough(pur_over_mtls):
    proc, secrets, _ = pur_over_mtls
    with open_channel(proc.target, mtls(secrets), None) as channel:
        assert failure(lambda: list_call(channel)) is grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("client", ["plaintext", "tls without a client certificate", "certificate of another CA"])
def test_clients_without_a_trusted_certificate_cannot_connect(pur_over_mtls, tmp_path, client):
    proc, secrets, _ = pur_over_mtls
    if client == "plaintext":
        transport = GrpcTransport("plaintext")
    elif client == "tls without a client certificate":
        transport = GrpcTransport("tls", ca_file=secrets.ca_cert)
    else:
        stranger = devsecrets.ensure(tmp_path / "stranger")
        transport = GrpcTransport("mtls", stranger.mesh_cert, stranger.mesh_key, secrets.ca_cert)
    with open_channel(proc.target, transport, auth.admin_token) as channel:
        assert failure(lambda: list_call(channel)) is grpc.StatusCode.UNAVAILABLE


def test_probes_reach_health_in_plaintext_on_the_health_port_and_nothing_else(pur_over_mtls):
    proc, _, health_port = pur_over_mtls
    with grpc.insecure_channel(f"localhost:{health_port}") as channel:
        check = health_pb2_grpc.HealthStub(channel).Check
        answer = check(health_pb2.HealthCheckRequest(service="firstmile.pur.v1.PickupService"), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        assert failure(lambda: list_call(channel)) is grpc.StatusCode.UNIMPLEMENTED


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(GRPCURL), *args], capture_output=True, text=True, timeout=30)


def test_grpcurl_over_mutual_tls_lists_without_a_token_and_calls_with_one(pur_over_mtls):
    proc, secrets, _ = pur_over_mtls
    tls = ["-cacert", str(secrets.ca_cert), "-cert", str(secrets.mesh_cert), "-key", str(secrets.mesh_key)]
    listed = grpcurl(*tls, proc.target, "list")
    assert listed.returncode == 0, listed.stderr
    assert "firstmile.pur.v1.PickupService" in listed.stdout.split()

    method = "firstmile.pur.v1.PickupService/ListPickupRequests"
    denied = grpcurl(*tls, "-d", '{"hub_id": "HUB-X"}', proc.target, method)
    assert denied.returncode != 0 and "Unauthenticated" in denied.stderr

    lead = auth.token("team-lead", hubs=["HUB-X"])
    allowed = grpcurl(*tls, "-H", f"authorization: Bearer {lead}", "-d", '{"hub_id": "HUB-X"}', proc.target, method)
    assert allowed.returncode == 0, allowed.stderr

    elsewhere = grpcurl(*tls, "-H", f"authorization: Bearer {lead}", "-d", '{"hub_id": "HUB-Y"}', proc.target, method)
    assert elsewhere.returncode != 0 and "PermissionDenied" in elsewhere.stderr

    plaintext = grpcurl("-plaintext", proc.target, "list")
    assert plaintext.returncode != 0


def test_services_call_each_other_over_mutual_tls_with_their_service_token(start_service):
    secrets = auth.local_secrets()
    transport = mtls(secrets)
    attendance = start_service("attendance_adapter", transport=transport, **mtls_env(secrets))
    attendance.wait_serving()
    dispatch = start_service(
        "dispatch_svc", transport=transport, DISPATCH_SVC_ATTENDANCE_ADDRESS=attendance.target, **mtls_env(secrets)
    )
    dispatch.wait_serving()
    hub = f"TLS-{uuid.uuid4().hex[:6]}"
    lead = auth.token("team-lead", hubs=[hub])
    with attendance.channel(lead) as channel:
        attendance_pb2_grpc.AttendanceServiceStub(channel).RecordAttendance(
            attendance_pb2.RecordAttendanceRequest(
                rider_id=f"{hub}-r1", hub_id=hub, date=TODAY, status=attendance_pb2.ATTENDANCE_STATUS_PRESENT
            ),
            timeout=10,
        )
    with dispatch.channel(lead) as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        stub.UpsertRider(
            dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=f"{hub}-r1", hub_id=hub, name="Asha")),
            timeout=10,
        )
        answer = stub.RecommendDispatch(
            dispatch_pb2.RecommendDispatchRequest(hub_id=hub, route_id="R1", pickup_date=TODAY), timeout=10
        )
    # dispatch_svc reached attendance_adapter (mTLS + its service token): the rider shows present.
    freshness = answer.attendance_freshness
    assert not freshness.stale and not freshness.stale_reason, freshness
    assert [(r.rider_id, r.present) for r in answer.riders] == [(f"{hub}-r1", True)]


def test_a_service_configured_for_tls_without_its_files_refuses_to_start(start_service):
    proc = start_service("pur_svc", FIRSTMILE_GRPC_TRANSPORT="mtls")
    assert proc.process is not None
    assert proc.process.wait(timeout=60) == 2
    output = proc.output()
    assert "FIRSTMILE_GRPC_TLS_CERT_FILE" in output and "plaintext" in output
