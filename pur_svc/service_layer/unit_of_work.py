"""pur_svc's unit of work: the PUR repository and the outbox, in one transaction."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from mesh.db import SqlAlchemyUnitOfWork
from mesh.outbox import OutboxEvent
from pur_svc.adapters import orm
from pur_svc.adapters.repository import PickupRepository


class KnownHubs:
    """Hubs this replica has seen in `pur.hubs`. A hub, once mapped, is never unmapped, so a
    positive answer can be remembered for good; an unknown hub is asked of the database each
    time (it may be mapped any moment)."""

    def __init__(self) -> None:
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def filter_known(self, hub_ids: Iterable[str], lookup) -> set[str]:
        wanted = {h for h in hub_ids if h}
        with self._lock:
            missing = wanted - self._known
        if missing:
            found = lookup(missing)
            with self._lock:
                self._known |= found
        with self._lock:
            return wanted & self._known


class PurUnitOfWork(SqlAlchemyUnitOfWork):
    pickups: PickupRepository

    def __init__(self, session_factory: sessionmaker[Session], known_hubs: KnownHubs | None = None) -> None:
        super().__init__(session_factory)
        self._known_hubs = known_hubs or KnownHubs()

    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        return self._known_hubs.filter_known(hub_ids, self.pickups.known_hubs)

    def __enter__(self) -> Self:
        super().__enter__()
        self.pickups = PickupRepository(self.session)
        self._pending: list[OutboxEvent] = []
        return self

    def publish(self, events: Iterable[OutboxEvent]) -> None:
        """Queue events to leave with this transaction's commit, and only then."""
        self._pending.extend(events)

    def commit(self) -> None:
        # All of the transaction's events in one insert and one NOTIFY: every NOTIFY takes a
        # database-wide lock at commit, so one per transaction is the most it should cost.
        if self._pending:
            orm.outbox.add(self.session, self._pending)
            self._pending = []
        super().commit()
