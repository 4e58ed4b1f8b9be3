"""Fixtures that start service processes; they are killed when the test ends."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mesh.tls import GrpcTransport
from tests.support import auth
from tests.support.processes import ServiceProcess, mesh_environment


@pytest.fixture
def start_service() -> Iterator:
    started: list[ServiceProcess] = []

    def start(service: str, transport: GrpcTransport = auth.PLAINTEXT, **extra_env: str) -> ServiceProcess:
        proc = ServiceProcess(service, {**mesh_environment(), **extra_env}, transport=transport).start()
        started.append(proc)
        return proc

    yield start
    # SIGTERM first: a service that leaves its consumer groups cleanly does not hold partitions
    # hostage (until the session timeout) from the processes the next test starts.
    for proc in started:
        try:
            proc.terminate(timeout=30)
        except Exception:  # noqa: BLE001 - a hung process is killed below either way
            pass
        proc.kill()
