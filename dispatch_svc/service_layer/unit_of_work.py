"""dispatch_svc's unit of work: the repositories, the outbox and route locks, in one transaction."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date
from typing import Self

import sqlalchemy as sa

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.repository import DispatchRepository, PickupRepository, RiderRepository, VehicleRepository
from mesh.db import SqlAlchemyUnitOfWork
from mesh.outbox import OutboxEvent

RouteKey = tuple[str, str, date]


def route_lock_key(key: RouteKey) -> int:
    """Stable signed 64-bit advisory lock key of one (hub, route, date)."""
    hub_id, route_id, day = key
    text = f"firstmile.dispatch.route:{hub_id}\x1f{route_id}\x1f{day.isoformat()}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


class DispatchUnitOfWork(SqlAlchemyUnitOfWork):
    riders: RiderRepository
    vehicles: VehicleRepository
    pickups: PickupRepository
    dispatches: DispatchRepository

    def __enter__(self) -> Self:
        super().__enter__()
        self.riders = RiderRepository(self.session)
        self.vehicles = VehicleRepository(self.session)
        self.pickups = PickupRepository(self.session)
        self.dispatches = DispatchRepository(self.session)
        return self

    def publish(self, events: Iterable[OutboxEvent]) -> None:
        """Queue events to leave with this transaction's commit, and only then."""
        orm.outbox.add(self.session, events)

    def lock_routes(self, keys: Iterable[RouteKey]) -> None:
        """Wait for the transaction-scoped lock of each route (in a fixed order: no deadlocks).
        Every change to a route's queue or dispatches takes it first."""
        for lock in sorted({route_lock_key(k) for k in keys}):
            self.session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))

    def try_lock_route(self, key: RouteKey) -> bool:
        """Take the route's lock if nobody holds it (auto-dispatch skips busy routes)."""
        return bool(
            self.session.execute(sa.select(sa.func.pg_try_advisory_xact_lock(route_lock_key(key)))).scalar_one()
        )
