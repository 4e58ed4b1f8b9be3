"""pur_svc's unit of work over PostgreSQL: the `pur` schema's PUR repository, route read model and
outbox in one transaction, with a per-replica memory of the hubs that have a route map."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from mesh.unit_of_work import SqlAlchemyUnitOfWork
from pur_svc.adapters import orm
from pur_svc.adapters.messages import to_outbox
from pur_svc.adapters.repository import PickupRepository, RouteRepository
from pur_svc.service_layer.unit_of_work import AbstractPurUnitOfWork


class KnownHubs:
    """Hubs this replica has seen in `pur.hubs`. A hub, once mapped, is never unmapped, so a
    positive answer can be remembered for good; an unknown hub is asked of the database each
    time (it may be mapped any moment)."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def filter_known(self, hub_ids: Iterable[str], lookup: Callable[[set[str]], set[str]]) -> set[str]:
        wanted = {h for h in hub_ids if h}
        with self._lock:
            missing = wanted - self._known
        if missing:
            found = lookup(missing)
            with self._lock:
                self._known |= found
        with self._lock:
            return wanted & self._known


class SqlAlchemyPurUnitOfWork(AbstractPurUnitOfWork, SqlAlchemyUnitOfWork):
    pickups: PickupRepository
    routes: RouteRepository

    def __init__(self, session_factory: sessionmaker[Session], known_hubs: KnownHubs | None = None) -> None:
        super().__init__(session_factory, orm.outbox, to_outbox)
        self._known_hubs = known_hubs or KnownHubs()

    def __enter__(self) -> Self:
        super().__enter__()
        self.pickups = PickupRepository(self.session)
        self.routes = RouteRepository(self.session)
        return self

    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        return self._known_hubs.filter_known(hub_ids, self.pickups.known_hubs)
