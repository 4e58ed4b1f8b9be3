"""Service processes started for real (`python -m <service>`) against the local infrastructure."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from mesh.grpc_client import open_channel as mesh_open_channel
from mesh.tls import GrpcTransport
from tests.support import auth

ROOT = Path(__file__).resolve().parents[2]
GRPCURL = ROOT / ".cache" / "bin" / "grpcurl"

SERVICES = {
    "pur_svc": ("PUR_SVC", "firstmile.pur.v1.PickupService"),
    "routing_svc": ("ROUTING_SVC", "firstmile.routing.v1.RoutingService"),
    "dispatch_svc": ("DISPATCH_SVC", "firstmile.dispatch.v1.DispatchService"),
    "attendance_adapter": ("ATTENDANCE_ADAPTER", "firstmile.attendance.v1.AttendanceService"),
}


# Below the kernel's ephemeral range (32768-60999 by default): a port the kernel picks (bind to 0)
# is free only until an outgoing connection takes it as its source port, which happened between
# the pick and the service's bind ("Address already in use" in CI). Clear of the fixed ports the
# mesh and the fault suite use (5432, 6379, 9092-9199, 25432, 26379, 29192-29195).
_PORTS = range(10_000, 25_000)
_handed_out: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, not handed out before in this test session."""
    for _ in range(1000):
        port = random.choice(_PORTS)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free port found in {_PORTS}")


def _bindable(port: int) -> bool:
    for family, address in ((socket.AF_INET, "0.0.0.0"), (socket.AF_INET6, "::")):
        with socket.socket(family) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def mesh_environment() -> dict[str, str]:
    """The environment `infra/infra.sh env` describes, on top of this process's own."""
    env = dict(os.environ)
    env.setdefault("FIRSTMILE_DATABASE_URL", "postgresql+psycopg2://firstmile@localhost:5432/firstmile")
    env.setdefault("FIRSTMILE_REDIS_URL", "redis://localhost:6379/0")
    env.setdefault("FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    secrets = auth.local_secrets()
    env.setdefault("FIRSTMILE_GRPC_TRANSPORT", "plaintext")
    env.setdefault("FIRSTMILE_AUTH_JWT_PUBLIC_KEY_FILE", str(secrets.jwt_public_key))
    env.setdefault("FIRSTMILE_AUTH_SERVICE_TOKEN_FILE", str(secrets.service_token))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen")])
    return env


@dataclass
class ServiceProcess:
    service: str
    env: dict[str, str]
    grpc_port: int = field(default_factory=free_port)
    metrics_port: int = field(default_factory=free_port)
    # How test clients reach it; must match the FIRSTMILE_GRPC_* settings in `env`.
    transport: GrpcTransport = auth.PLAINTEXT
    process: subprocess.Popen[bytes] | None = None
    # A file, not a pipe: a chatty service must never block on a full pipe buffer.
    log_file: Path = field(default_factory=lambda: Path(tempfile.mkstemp(prefix="svc-", suffix=".log")[1]))

    @property
    def target(self) -> str:
        return f"localhost:{self.grpc_port}"

    def start(self) -> ServiceProcess:
        prefix, _ = SERVICES[self.service]
        env = {**self.env, f"{prefix}_GRPC_PORT": str(self.grpc_port), f"{prefix}_METRICS_PORT": str(self.metrics_port)}
        with self.log_file.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.service], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        return self

    def channel(self, bearer: str | None = None) -> grpc.Channel:
        return auth.open_channel(self.target, bearer, transport=self.transport)

    def health(self, service: str = "", timeout: float = 1.0) -> int:
        # No token: health stays open to probes.
        with mesh_open_channel(self.target, self.transport, None) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout).status

    def wait_serving(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.service} exited {self.process.returncode}:\n{self.output()}")
            try:
                if self.health() == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.service} not SERVING after {timeout}s")

    def terminate(self, timeout: float = 30.0) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def output(self) -> str:
        return self.log_file.read_text(errors="replace")
