"""The repository the write use case needs: the embedded attendance table, one record per rider
and day. adapters/repository.py implements it over PostgreSQL; tests over a dict."""

from __future__ import annotations

import abc
from collections.abc import Iterable, Sequence
from datetime import date

from attendance_adapter.domain.model import AttendanceRecord

RecordKey = tuple[str, date]  # (rider_id, date)


class AbstractAttendanceRepository(abc.ABC):
    @abc.abstractmethod
    def get(self, rider_id: str, day: date) -> AttendanceRecord | None: ...

    @abc.abstractmethod
    def for_hub(self, hub_id: str, day: date) -> list[AttendanceRecord]:
        """The hub's records of the day, ordered by rider id."""

    @abc.abstractmethod
    def get_many_for_update(self, keys: Iterable[RecordKey]) -> dict[RecordKey, AttendanceRecord]:
        """The stored records of these keys, locked until the unit of work ends."""

    @abc.abstractmethod
    def insert_new(self, records: Sequence[AttendanceRecord]) -> set[RecordKey]:
        """Insert the records whose (rider, day) has no row yet; returns the keys inserted. A key
        another transaction inserted meanwhile is left out (the caller reads and locks it)."""

    @abc.abstractmethod
    def update(self, records: Sequence[AttendanceRecord]) -> None:
        """Replace the stored records of these (rider, day) keys."""
