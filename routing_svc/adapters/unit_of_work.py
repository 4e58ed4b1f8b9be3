"""routing_svc's unit of work over PostgreSQL: the route repository and the outbox."""

from __future__ import annotations

from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from mesh.unit_of_work import SqlAlchemyUnitOfWork
from routing_svc.adapters import orm
from routing_svc.adapters.messages import to_outbox
from routing_svc.adapters.repository import SqlAlchemyRouteRepository
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork


class SqlAlchemyRoutingUnitOfWork(AbstractRoutingUnitOfWork, SqlAlchemyUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        super().__init__(session_factory, orm.outbox, to_outbox)

    def __enter__(self) -> Self:
        super().__enter__()
        self.routes = SqlAlchemyRouteRepository(self.session)
        return self
