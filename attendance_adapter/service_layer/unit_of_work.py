"""attendance_adapter's unit of work: the embedded attendance table and the outbox, in one transaction."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Self

from mesh.db import SqlAlchemyUnitOfWork
from mesh.outbox import OutboxEvent
from attendance_adapter.adapters import orm
from attendance_adapter.adapters.repository import AttendanceRepository


class AttendanceUnitOfWork(SqlAlchemyUnitOfWork):
    records: AttendanceRepository

    def __enter__(self) -> Self:
        super().__enter__()
        self.records = AttendanceRepository(self.session)
        return self

    def publish(self, events: Iterable[OutboxEvent]) -> None:
        """Queue events to leave with this transaction's commit, and only then."""
        orm.outbox.add(self.session, events)
