"""Composition root of attendance_adapter: the one place that builds and wires its parts."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from datetime import timedelta

from attendance_adapter.adapters import orm
from attendance_adapter.adapters.cache import RedisAttendanceCache
from attendance_adapter.adapters.repository import EmbeddedAttendanceSource
from attendance_adapter.adapters.unit_of_work import SqlAlchemyAttendanceUnitOfWork
from attendance_adapter.adapters.upstream import HttpAttendanceSource, UpstreamConfig
from attendance_adapter.config import Settings
from attendance_adapter.domain.model import CachePolicy
from attendance_adapter.entrypoints.grpc_api import AttendanceServicer, registration
from attendance_adapter.service_layer.reader import AttendanceReader
from mesh import tracing
from mesh.config import MeshSettings
from mesh.infrastructure import Infrastructure
from mesh.roles import Role, parse_role
from mesh.runtime import ServiceRuntime
from mesh.service import run_service

NAME = "attendance_adapter"

log = logging.getLogger(__name__)


def upstream_config(settings: Settings) -> UpstreamConfig:
    assert settings.upstream_token is not None  # Settings refuses an upstream URL without one
    return UpstreamConfig(
        base_url=settings.upstream_url,
        token=settings.upstream_token.get_secret_value(),
        timeout_seconds=settings.upstream_timeout_seconds,
        attempts=settings.upstream_attempts,
        retry_budget_seconds=settings.upstream_retry_budget_seconds,
        cooldown_seconds=settings.upstream_cooldown_seconds,
    )


def build_servicer(infra: Infrastructure, settings: Settings) -> AttendanceServicer:
    policy = CachePolicy(timedelta(seconds=settings.cache_ttl_seconds))
    if settings.upstream_url:
        source = HttpAttendanceSource(upstream_config(settings))
        cache = RedisAttendanceCache(infra.redis, keep_seconds=settings.last_known_ttl_seconds)
        log.info("attendance source: external system", extra={"upstream_url": settings.upstream_url})
        return AttendanceServicer(AttendanceReader(source, cache, policy), recorder=None)

    def uow() -> SqlAlchemyAttendanceUnitOfWork:
        return SqlAlchemyAttendanceUnitOfWork(infra.session_factory)

    log.info("attendance source: embedded table attendance.attendance_records")
    return AttendanceServicer(AttendanceReader(EmbeddedAttendanceSource(infra.session_factory), None, policy), uow)


def build_runtime(mesh: MeshSettings, settings: Settings, role: Role = Role.ALL) -> ServiceRuntime:
    stop_tracing = tracing.configure(mesh, service=NAME)
    infra = Infrastructure.connect(mesh, service=NAME)
    return ServiceRuntime(
        name=NAME,
        settings=mesh,
        grpc_port=settings.grpc_port,
        metrics_port=settings.metrics_port,
        health_port=settings.health_port,
        registrations=[registration(build_servicer(infra, settings))] if role.serves_api else [],
        workers=[infra.outbox_relay(orm.outbox)] if role.runs_workers else [],
        closers=[infra.close, stop_tracing],
    )


def main(argv: Sequence[str] | None = None) -> int:
    role = parse_role(NAME, sys.argv[1:] if argv is None else argv)
    return run_service(NAME, Settings, lambda mesh, settings: build_runtime(mesh, settings, role))
