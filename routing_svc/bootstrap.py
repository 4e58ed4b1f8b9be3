"""Composition root of routing_svc: the one place that builds and wires its parts."""

from __future__ import annotations

from mesh import tracing
from mesh.config import MeshSettings
from mesh.infrastructure import Infrastructure
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


def build_runtime(mesh: MeshSettings, settings: Settings) -> ServiceRuntime:
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
    return ServiceRuntime(
        name=NAME,
        settings=mesh,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        health_port=settings.health_port,
        registrations=[registration(RoutingServicer(uow, registry))],
        workers=[
            infra.outbox_relay(orm.outbox),
            *consumer_workers(infra, uow, registry),
            index_sync_worker(registry, settings.index_sync_interval_seconds),
        ],
        closers=[infra.close, stop_tracing],
    )


def main() -> int:
    return run_service(NAME, Settings, build_runtime)
