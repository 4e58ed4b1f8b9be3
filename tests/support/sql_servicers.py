"""The services' servicers on the real database (and Redis, Kafka), wired as their composition
roots wire them, for tests that serve them in-process."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import redis
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from attendance_adapter.adapters.repository import EmbeddedAttendanceSource
from attendance_adapter.adapters.unit_of_work import SqlAlchemyAttendanceUnitOfWork
from attendance_adapter.domain.model import CachePolicy
from attendance_adapter.entrypoints.grpc_api import AttendanceServicer
from attendance_adapter.service_layer.reader import AttendanceReader
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.entrypoints.grpc_api import PickupServicer
from pur_svc.entrypoints.watch import StatusFeed
from routing_svc.adapters.index_cache import RedisIndexCache
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork

Sessions = sessionmaker[Session]


def pickup_servicer(sessions: Sessions, kafka_bootstrap_servers: str) -> PickupServicer:
    return PickupServicer(lambda: SqlAlchemyPurUnitOfWork(sessions), StatusFeed(kafka_bootstrap_servers))


def index_registry(
    uow_factory: Callable[[], AbstractRoutingUnitOfWork],
    client: redis.Redis,
    *,
    max_nearest_m: float,
    resolution: int = 10,
) -> IndexRegistry:
    """routing_svc's compiled route indexes, cached in Redis for ten minutes."""
    cache = RedisIndexCache(client, resolution=resolution, max_nearest_m=max_nearest_m, ttl_seconds=600)
    return IndexRegistry(uow_factory, cache, resolution=resolution, max_nearest_m=max_nearest_m)


def require_attendance_schema(engine: sa.Engine) -> None:
    """Fails the test, saying what to run, when attendance_adapter's migrations were never applied."""
    with engine.connect() as conn:
        exists = conn.execute(sa.text("SELECT to_regclass('attendance.attendance_records')")).scalar()
    if exists is None:
        pytest.fail(
            "attendance.attendance_records is missing: run `python -m mesh.commands.migrate attendance_adapter`",
            pytrace=False,
        )


def embedded_attendance_servicer(sessions: Sessions) -> AttendanceServicer:
    """attendance_adapter with its embedded source (its own table), answers cached for a minute."""
    reader = AttendanceReader(EmbeddedAttendanceSource(sessions), None, CachePolicy(timedelta(seconds=60)))
    return AttendanceServicer(reader, lambda: SqlAlchemyAttendanceUnitOfWork(sessions))
