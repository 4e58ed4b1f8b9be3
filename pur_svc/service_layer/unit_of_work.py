"""pur_svc's unit of work: the PUR repository and the outbox, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from mesh.db import SqlAlchemyUnitOfWork
from mesh.outbox import OutboxEvent
from pur_svc.adapters import orm
from pur_svc.adapters.repository import PickupRepository


class PurUnitOfWork(SqlAlchemyUnitOfWork):
    pickups: PickupRepository

    def __enter__(self) -> Self:
        super().__enter__()
        self.pickups = PickupRepository(self.session)
        return self

    def publish(self, events: Iterable[OutboxEvent]) -> None:
        """Queue events to leave with this transaction's commit, and only then."""
        orm.outbox.add(self.session, events)
