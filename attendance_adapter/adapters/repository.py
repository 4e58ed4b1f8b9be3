"""The embedded attendance table in PostgreSQL: rows in and out of the domain, the queries the use
cases need (the service layer's repository port), and `EmbeddedAttendanceSource`, the
AttendanceSource that reads it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, sessionmaker

from attendance_adapter.adapters.orm import attendance_records
from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus
from attendance_adapter.service_layer.ports import AttendanceSource
from attendance_adapter.service_layer.repositories import AbstractAttendanceRepository, RecordKey

T = attendance_records
# Rows per statement when a whole CSV file is written in one transaction.
CHUNK = 1000


def _to_row(record: AttendanceRecord) -> dict[str, Any]:
    return {
        "rider_id": record.rider_id,
        "date": record.date,
        "hub_id": record.hub_id,
        "status": record.status.value,
        "check_in": record.check_in,
        "check_out": record.check_out,
        "shift": record.shift,
        "updated_at": record.updated_at,
        "shift_start": record.shift_start,
        "shift_end": record.shift_end,
    }


def _from_row(row: Any) -> AttendanceRecord:
    return AttendanceRecord(
        rider_id=row.rider_id,
        hub_id=row.hub_id,
        date=row.date,
        status=AttendanceStatus(row.status),
        check_in=row.check_in,
        check_out=row.check_out,
        shift=row.shift,
        updated_at=row.updated_at,
        shift_start=row.shift_start,
        shift_end=row.shift_end,
    )


def _chunks(items: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


class SqlAlchemyAttendanceRepository(AbstractAttendanceRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, rider_id: str, day: date) -> AttendanceRecord | None:
        row = self.session.execute(sa.select(T).where(T.c.rider_id == rider_id, T.c.date == day)).first()
        return _from_row(row) if row else None

    def for_hub(self, hub_id: str, day: date) -> list[AttendanceRecord]:
        rows = self.session.execute(sa.select(T).where(T.c.hub_id == hub_id, T.c.date == day).order_by(T.c.rider_id))
        return [_from_row(row) for row in rows]

    def get_many_for_update(self, keys: Iterable[RecordKey]) -> dict[RecordKey, AttendanceRecord]:
        """Lock and load rows in key order (a fixed order, so concurrent writers cannot deadlock)."""
        ordered = sorted(set(keys))
        found: dict[RecordKey, AttendanceRecord] = {}
        for chunk in _chunks(ordered):
            rows = self.session.execute(
                sa.select(T)
                .where(sa.tuple_(T.c.rider_id, T.c.date).in_(list(chunk)))
                .order_by(T.c.rider_id, T.c.date)
                .with_for_update()
            )
            found.update({(row.rider_id, row.date): _from_row(row) for row in rows})
        return found

    def insert_new(self, records: Sequence[AttendanceRecord]) -> set[RecordKey]:
        """Insert the records whose (rider, day) has no row yet; returns the keys inserted. A
        concurrent insert of the same key loses quietly here and is resolved by the caller."""
        inserted: set[RecordKey] = set()
        for chunk in _chunks(records):
            statement = (
                pg_insert(T)
                .values([_to_row(r) for r in chunk])
                .on_conflict_do_nothing(constraint="attendance_records_pkey")
                .returning(T.c.rider_id, T.c.date)
            )
            inserted.update((row.rider_id, row.date) for row in self.session.execute(statement))
        return inserted

    def update(self, records: Sequence[AttendanceRecord]) -> None:
        if not records:
            return
        statement = (
            sa.update(T)
            .where(T.c.rider_id == sa.bindparam("k_rider_id"), T.c.date == sa.bindparam("k_date"))
            .values(
                {name: sa.bindparam(f"v_{name}") for name in _to_row(records[0]) if name not in ("rider_id", "date")}
            )
        )
        for chunk in _chunks(records):
            rows = []
            for record in chunk:
                row = _to_row(record)
                params = {f"v_{name}": value for name, value in row.items() if name not in ("rider_id", "date")}
                params.update(k_rider_id=record.rider_id, k_date=record.date)
                rows.append(params)
            self.session.execute(statement, rows)


class EmbeddedAttendanceSource(AttendanceSource):
    """Attendance from the adapter's own table; a database outage propagates (UNAVAILABLE)."""

    embedded = True

    def __init__(self, session_factory: sessionmaker[Session]) -> None:
        self._session_factory = session_factory

    def rider_attendance(self, rider_id: str, day: date, *, deadline: float | None = None) -> AttendanceRecord | None:
        with self._session_factory() as session:
            return SqlAlchemyAttendanceRepository(session).get(rider_id, day)

    def hub_attendance(self, hub_id: str, day: date, *, deadline: float | None = None) -> list[AttendanceRecord]:
        with self._session_factory() as session:
            return SqlAlchemyAttendanceRepository(session).for_hub(hub_id, day)
