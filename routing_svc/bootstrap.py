"""Composition root of routing_svc: the one place that builds and wires its parts."""

from __future__ import annotations

from mesh.config import MeshSettings
from mesh.infrastructure import Infrastructure
from mesh.runtime import ServiceRuntime
from mesh.service import run_service
from routing_svc.adapters import orm
from routing_svc.config import Settings
from routing_svc.entrypoints.grpc_api import RoutingServicer, registration

NAME = "routing_svc"


def build_runtime(mesh: MeshSettings, settings: Settings) -> ServiceRuntime:
    infra = Infrastructure.connect(mesh, service=NAME)
    return ServiceRuntime(
        name=NAME,
        settings=mesh,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        registrations=[registration(RoutingServicer())],
        workers=[infra.outbox_relay(orm.outbox)],
        closers=[infra.close],
    )


def main() -> int:
    return run_service(NAME, Settings, build_runtime)
