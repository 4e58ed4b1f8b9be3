"""routing_svc's unit of work: the route repository and the outbox, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from mesh.db import SqlAlchemyUnitOfWork
from mesh.outbox import OutboxEvent
from routing_svc.adapters import orm
from routing_svc.adapters.repository import RouteRepository


class RoutingUnitOfWork(SqlAlchemyUnitOfWork):
    routes: RouteRepository

    def __enter__(self) -> Self:
        super().__enter__()
        self.routes = RouteRepository(self.session)
        return self

    def publish(self, events: Iterable[OutboxEvent]) -> None:
        """Queue events to leave with this transaction's commit, and only then."""
        orm.outbox.add(self.session, events)
