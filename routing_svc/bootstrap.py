"""Composition root of routing_svc: the one place that builds and wires its parts."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from mesh import tracing
from mesh.config import MeshSettings
from mesh.infrastructure import Infrastructure
from mesh.roles import Role, parse_role
from mesh.runtime import ServiceRuntime
from mesh.service import run_service
from routing_svc.adapters import orm
from routing_svc.adapters.index_cache import RedisIndexCache
from routing_svc.adapters.unit_of_work import SqlAlchemyRoutingUnitOfWork
from routing_svc.config import Settings
from routing_svc.entrypoints.consumers import consumer_workers
from routing_svc.entrypoints.grpc_api import RoutingServicer, registration
from routing_svc.entrypoints.index_sync import index_sync_worker
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork

NAME = "routing_svc"


def build_runtime(mesh: MeshSettings, settings: Settings, role: Role = Role.ALL) -> ServiceRuntime:
    stop_tracing = tracing.configure(mesh, service=NAME)
    infra = Infrastructure.connect(mesh, service=NAME)

    def uow() -> AbstractRoutingUnitOfWork:
        return SqlAlchemyRoutingUnitOfWork(infra.session_factory)

    cache = RedisIndexCache(
        infra.redis,
        resolution=settings.h3_resolution,
        max_nearest_m=settings.max_nearest_m,
        ttl_seconds=settings.index_cache_ttl_seconds,
    )
    registry = IndexRegistry(uow, cache, resolution=settings.h3_resolution, max_nearest_m=settings.max_nearest_m)
    # Every hub's map is in memory before the first RPC or event is served.
    registry.warm_up()
    # Both roles keep every hub's map in memory: the api answers lookups, the workers route.
    workers = [*consumer_workers(infra, uow, registry, route_pickups=role.runs_workers)]
    workers.append(index_sync_worker(registry, settings.index_sync_interval_seconds))
    if role.runs_workers:
        workers.append(infra.outbox_relay(orm.outbox))
    return ServiceRuntime(
        name=NAME,
        settings=mesh,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        health_port=settings.health_port,
        registrations=[registration(RoutingServicer(uow, registry))] if role.serves_api else [],
        workers=workers,
        closers=[infra.close, stop_tracing],
    )


def main(argv: Sequence[str] | None = None) -> int:
    role = parse_role(NAME, sys.argv[1:] if argv is None else argv)
    return run_service(NAME, Settings, lambda mesh, settings: build_runtime(mesh, settings, role))
