"""Composition root of pur_svc: the one place that builds and wires its parts."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mesh import tracing
from mesh.config import MeshSettings
from mesh.grpc_server import ServiceRegistration
from mesh.infrastructure import Infrastructure
from mesh.roles import Role, parse_role
from mesh.runtime import ServiceRuntime, Worker
from mesh.service import run_service
from pur_svc.adapters import orm
from pur_svc.adapters.unit_of_work import KnownHubs, SqlAlchemyPurUnitOfWork
from pur_svc.config import Settings
from pur_svc.entrypoints.consumers import consumer_workers
from pur_svc.entrypoints.grpc_api import PickupServicer, registration
from pur_svc.entrypoints.watch import StatusFeed

NAME = "pur_svc"


def build_runtime(mesh: MeshSettings, settings: Settings, role: Role = Role.ALL) -> ServiceRuntime:
    stop_tracing = tracing.configure(mesh, service=NAME)
    infra = Infrastructure.connect(mesh, service=NAME)

    known_hubs = KnownHubs()

    def uow() -> SqlAlchemyPurUnitOfWork:
        return SqlAlchemyPurUnitOfWork(infra.session_factory, known_hubs)

    registrations: list[ServiceRegistration] = []
    workers: list[Worker] = []
    if role.serves_api:
        feed = StatusFeed(mesh.kafka_bootstrap_servers, security=infra.kafka_security)
        registrations.append(registration(PickupServicer(uow, feed)))
        workers.append(Worker(name="watch-feed", run=feed.run))
    if role.runs_workers:
        workers.append(infra.outbox_relay(orm.outbox))
        workers.extend(
            consumer_workers(
                infra,
                uow,
                review_distance_m=settings.review_distance_m,
                reroute_batch_size=settings.reroute_batch_size,
            )
        )
    return ServiceRuntime(
        name=NAME,
        settings=mesh,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        health_port=settings.health_port,
        registrations=registrations,
        workers=workers,
        closers=[infra.close, stop_tracing],
    )


def main(argv: Sequence[str] | None = None) -> int:
    role = parse_role(NAME, sys.argv[1:] if argv is None else argv)
    return run_service(NAME, Settings, lambda mesh, settings: build_runtime(mesh, settings, role))
