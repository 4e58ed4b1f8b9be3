"""The fault suite's own infrastructure (PostgreSQL, Redis, Kafka through infra/infra.sh, with a
state folder and ports of its own) and the mesh's four services as real processes."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from firstmile_client.channels import local_channel
from firstmile_client.endpoints import Endpoint
from firstmile_client.stubs import MeshClients
from tests.support.processes import ROOT, ServiceProcess, free_port, mesh_environment

INFRA = ROOT / "infra" / "infra.sh"
CACHE = Path(os.environ.get("FIRSTMILE_CACHE", ROOT / ".cache"))
STATE = CACHE / "faults"
# Preferred ports (far from the defaults and from each other); any that is taken is replaced by a free one.
PREFERRED_PORTS = {
    "PG_PORT": 25432,
    "REDIS_PORT": 26379,
    "KAFKA_PORT": 29192,
    "KAFKA_CONTROLLER_PORT": 29193,
    "KAFKA_SSL_PORT": 29194,
    "KAFKA_SASL_PORT": 29195,
}
SERVICES = ("attendance_adapter", "routing_svc", "pur_svc", "dispatch_svc")


def _port_taken(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class FaultInfra:
    """One PostgreSQL, Redis and Kafka of our own, driven through infra/infra.sh."""

    def __init__(self, state: Path, ports: dict[str, int]) -> None:
        self.state = state
        self.logs = state / "logs"
        self.ports = ports
        self.database_url = f"postgresql+psycopg2://firstmile@localhost:{self.ports['PG_PORT']}/firstmile"
        self.redis_url = f"redis://localhost:{self.ports['REDIS_PORT']}/0"
        self.kafka_bootstrap_servers = f"localhost:{self.ports['KAFKA_PORT']}"

    def infra(self, *args: str, **extra_env: str) -> None:
        env = {
            **os.environ,
            "FIRSTMILE_STATE": str(self.state),
            **{k: str(v) for k, v in self.ports.items()},
            **extra_env,
        }
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "infra-commands.log").open("a") as log:
            log.write(f"$ infra.sh {' '.join(args)}\n")
            log.flush()
            done = subprocess.run(["bash", str(INFRA), *args], env=env, stdout=log, stderr=log, timeout=180)
        if done.returncode != 0:
            raise AssertionError(f"infra.sh {' '.join(args)} failed; see {self.logs / 'infra-commands.log'}")

    def start(self, component: str) -> None:
        self.infra("start", component)

    def stop(self, component: str, **extra_env: str) -> None:
        self.infra("stop", component, **extra_env)

    def service_env(self) -> dict[str, str]:
        return {
            **mesh_environment(),
            "FIRSTMILE_DATABASE_URL": self.database_url,
            "FIRSTMILE_REDIS_URL": self.redis_url,
            "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap_servers,
        }

    def prepare(self) -> None:
        for module in ("mesh.commands.migrate", "mesh.commands.topics"):
            done = subprocess.run(
                [sys.executable, "-m", module],
                cwd=ROOT,
                env=self.service_env(),
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                raise AssertionError(f"python -m {module} failed:\n{done.stdout}\n{done.stderr}")

    @classmethod
    def fresh(cls, state: Path) -> FaultInfra:
        """Stops whatever a crashed earlier run left in `state`, removes its data and logs, and
        picks ports (the preferred ones unless taken)."""
        cls(state, PREFERRED_PORTS).infra("down")
        shutil.rmtree(state, ignore_errors=True)
        return cls(
            state, {name: (port if not _port_taken(port) else free_port()) for name, port in PREFERRED_PORTS.items()}
        )

    def wipe_data(self) -> None:
        for part in ("pg", "kafka", "redis", "run"):
            shutil.rmtree(self.state / part, ignore_errors=True)


class Mesh:
    """The four services as real processes on fixed ports, so a killed one comes back where
    clients expect it."""

    def __init__(self, infra: FaultInfra) -> None:
        self.infra = infra
        self.env = infra.service_env()
        self.ports = {name: (free_port(), free_port()) for name in SERVICES}
        self.processes: dict[str, ServiceProcess] = {}
        self.starts = dict.fromkeys(SERVICES, 0)
        self.env["DISPATCH_SVC_ATTENDANCE_ADDRESS"] = f"localhost:{self.ports['attendance_adapter'][0]}"
        endpoints = [Endpoint.of(name, f"localhost:{grpc_port}") for name, (grpc_port, _) in self.ports.items()]
        self.clients = MeshClients({endpoint: local_channel(endpoint.address) for endpoint in endpoints})

    def start(self, service: str) -> ServiceProcess:
        grpc_port, metrics_port = self.ports[service]
        self.starts[service] += 1
        proc = ServiceProcess(
            service,
            self.env,
            grpc_port=grpc_port,
            metrics_port=metrics_port,
            log_file=self.infra.logs / f"{service}.{self.starts[service]}.log",
        ).start()
        self.processes[service] = proc
        return proc

    def start_all(self) -> None:
        for service in SERVICES:
            self.start(service)
        for service in SERVICES:
            self.processes[service].wait_serving(timeout=90)

    def kill(self, service: str) -> None:
        self.processes[service].kill()  # SIGKILL: no drain, no goodbye to Kafka or PostgreSQL

    def stop_all(self) -> None:
        running = [p for p in self.processes.values() if p.process is not None and p.process.poll() is None]
        for proc in running:
            proc.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        for proc in running:
            try:
                proc.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        self.clients.close()
