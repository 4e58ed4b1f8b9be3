"""Each service is a real process: it serves health, reflection and its API, and drains on SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from grpc_health.v1 import health_pb2

from tests.support.processes import GRPCURL, ROOT, SERVICES, mesh_environment

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", list(SERVICES))
def test_service_serves_health_and_reflection_to_grpcurl(service, start_service):
    _, full_name = SERVICES[service]
    proc = start_service(service, FIRSTMILE_DRAIN_SECONDS="1")
    proc.wait_serving()

    assert proc.health(full_name) == health_pb2.HealthCheckResponse.SERVING
    listed = subprocess.run(
        [str(GRPCURL), "-plaintext", proc.target, "list"], capture_output=True, text=True, timeout=30, check=True
    ).stdout.split()
    assert full_name in listed
    assert "grpc.health.v1.Health" in listed
    assert any(name.startswith("grpc.reflection.") for name in listed)

    described = subprocess.run(
        [str(GRPCURL), "-plaintext", proc.target, "describe", full_name],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert f"service {full_name.rsplit('.', 1)[1]}" in described

    health = subprocess.run(
        [str(GRPCURL), "-plaintext", "-d", f'{{"service": "{full_name}"}}', proc.target, "grpc.health.v1.Health/Check"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert '"status": "SERVING"' in health


def test_sigterm_reports_not_serving_then_exits_cleanly(start_service):
    proc = start_service("pur_svc", FIRSTMILE_DRAIN_SECONDS="2", FIRSTMILE_GRACE_SECONDS="2")
    proc.wait_serving()
    assert proc.process is not None
    proc.process.send_signal(signal.SIGTERM)

    deadline = time.monotonic() + 1.5
    seen = None
    while time.monotonic() < deadline and seen != health_pb2.HealthCheckResponse.NOT_SERVING:
        seen = proc.health()
        time.sleep(0.05)
    assert seen == health_pb2.HealthCheckResponse.NOT_SERVING
    assert proc.process.wait(timeout=30) == 0


def test_metrics_endpoint_exports_rpc_counters(start_service):
    import urllib.request

    proc = start_service("routing_svc")
    proc.wait_serving()
    proc.health()
    body = urllib.request.urlopen(f"http://localhost:{proc.metrics_port}/metrics", timeout=5).read().decode()
    assert 'grpc_server_handled_total{grpc_code="OK",grpc_method="Check",grpc_service="grpc.health.v1.Health"}' in body


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"FIRSTMILE_DATABASE_URL": None}, "FIRSTMILE_DATABASE_URL: Field required"),
        ({"FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS": "no port here"}, "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS"),
        ({"PUR_SVC_GRPC_PORT": "fifty"}, "PUR_SVC_GRPC_PORT"),
    ],
)
def test_configuration_error_exits_non_zero_with_a_clear_message(overrides, expected):
    env = mesh_environment()
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    result = subprocess.run(
        [sys.executable, "-m", "pur_svc"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "invalid configuration" in result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
