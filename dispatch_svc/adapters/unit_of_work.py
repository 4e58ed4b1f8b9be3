"""dispatch_svc's unit of work over PostgreSQL: the repositories on one session, domain events into
`dispatch.outbox` at commit, route locks as transaction-scoped advisory locks, and the board groups
of the locked routes announced to every replica (NOTIFY, adapters.board_channel) by the commit."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Self

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from dispatch_svc.adapters import board_channel, orm
from dispatch_svc.adapters.messages import to_outbox
from dispatch_svc.adapters.repositories.dispatches import SqlAlchemyDispatchRepository
from dispatch_svc.adapters.repositories.hubs import SqlAlchemyAttendanceRepository, SqlAlchemyHubRepository
from dispatch_svc.adapters.repositories.pickups import SqlAlchemyPickupRepository
from dispatch_svc.adapters.repositories.plans import SqlAlchemyPlanRepository
from dispatch_svc.adapters.repositories.riders import SqlAlchemyRiderRepository
from dispatch_svc.adapters.repositories.routes import SqlAlchemyRouteRepository
from dispatch_svc.adapters.repositories.vehicles import SqlAlchemyVehicleRepository
from dispatch_svc.adapters.repositories.volumes import SqlAlchemyVolumeRepository
from dispatch_svc.domain.board import BoardChange
from dispatch_svc.domain.model import RouteKey
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.unit_of_work import SqlAlchemyUnitOfWork


def route_lock_key(key: RouteKey) -> int:
    """Stable signed 64-bit advisory lock key of one (hub, route, date)."""
    hub_id, route_id, day = key
    text = f"firstmile.dispatch.route:{hub_id}\x1f{route_id}\x1f{day.isoformat()}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big", signed=True)


_LOCK_ROUTES = sa.text(
    "SELECT pg_advisory_xact_lock(k) FROM unnest(CAST(:locks AS BIGINT[])) WITH ORDINALITY AS t(k, n) ORDER BY n"
)


class SqlAlchemyDispatchUnitOfWork(AbstractDispatchUnitOfWork, SqlAlchemyUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        super().__init__(session_factory, orm.outbox, to_outbox)

    def __enter__(self) -> Self:
        super().__enter__()
        self.riders = SqlAlchemyRiderRepository(self.session)
        self.vehicles = SqlAlchemyVehicleRepository(self.session)
        self.pickups = SqlAlchemyPickupRepository(self.session)
        self.dispatches = SqlAlchemyDispatchRepository(self.session)
        self.routes = SqlAlchemyRouteRepository(self.session)
        self.hubs = SqlAlchemyHubRepository(self.session)
        self.attendance = SqlAlchemyAttendanceRepository(self.session)
        self.plans = SqlAlchemyPlanRepository(self.session)
        self.volumes = SqlAlchemyVolumeRepository(self.session)
        return self

    def lock_routes(self, keys: Iterable[RouteKey]) -> None:
        keys = set(keys)
        self.announce(BoardChange(*key) for key in keys)
        # In a fixed order, so two transactions locking overlapping routes cannot deadlock; in one
        # statement, whose function scan takes them in array order.
        locks = sorted({route_lock_key(k) for k in keys})
        if locks:
            self.session.execute(_LOCK_ROUTES, {"locks": locks})

    def _commit(self, events: list[object]) -> None:
        # In the transaction: heard by the replicas' board listeners when, and only if, it commits.
        changes, self.board_changes = self.board_changes, set()
        board_channel.notify(self.session, changes)
        super()._commit(events)
