"""attendance_adapter's unit of work over PostgreSQL: the embedded attendance table and the outbox,
in one transaction."""

from __future__ import annotations

from typing import Self

from sqlalchemy.orm import Session, sessionmaker

from attendance_adapter.adapters import orm
from attendance_adapter.adapters.messages import to_outbox
from attendance_adapter.adapters.repository import SqlAlchemyAttendanceRepository
from attendance_adapter.service_layer.unit_of_work import AbstractAttendanceUnitOfWork
from mesh.unit_of_work import SqlAlchemyUnitOfWork


class SqlAlchemyAttendanceUnitOfWork(AbstractAttendanceUnitOfWork, SqlAlchemyUnitOfWork):
    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        super().__init__(session_factory, orm.outbox, to_outbox)

    def __enter__(self) -> Self:
        super().__enter__()
        self.records = SqlAlchemyAttendanceRepository(self.session)
        return self
