"""In-memory stand-ins for attendance_adapter's ports, subclassing the same ABCs as the real
adapters: the record repository and unit of work, the attendance source, the cache, and a clock."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, date, datetime, timedelta

from attendance_adapter.domain.model import AttendanceRecord, Snapshot
from attendance_adapter.service_layer.ports import AttendanceCache, AttendanceSource, CacheKey, HubNotKnown
from attendance_adapter.service_layer.repositories import AbstractAttendanceRepository, RecordKey
from attendance_adapter.service_layer.unit_of_work import AbstractAttendanceUnitOfWork


class FakeClock:
    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class FakeAttendanceRepository(AbstractAttendanceRepository):
    """Records in a dict. `inserted_meanwhile` plays another transaction: its records appear just
    before the next `insert_new`, which then loses those keys as PostgreSQL's ON CONFLICT would."""

    def __init__(self, rows: dict[RecordKey, AttendanceRecord]) -> None:
        self.rows = rows
        self.inserted_meanwhile: list[AttendanceRecord] = []

    def get(self, rider_id: str, day: date) -> AttendanceRecord | None:
        return self.rows.get((rider_id, day))

    def for_hub(self, hub_id: str, day: date) -> list[AttendanceRecord]:
        return sorted((r for r in self.rows.values() if r.hub_id == hub_id and r.date == day), key=lambda r: r.rider_id)

    def get_many_for_update(self, keys: Iterable[RecordKey]) -> dict[RecordKey, AttendanceRecord]:
        return {key: self.rows[key] for key in keys if key in self.rows}

    def insert_new(self, records: Sequence[AttendanceRecord]) -> set[RecordKey]:
        for record in self.inserted_meanwhile:
            self.rows[(record.rider_id, record.date)] = record
        self.inserted_meanwhile = []
        inserted: set[RecordKey] = set()
        for record in records:
            key = (record.rider_id, record.date)
            if key not in self.rows:
                self.rows[key] = record
                inserted.add(key)
        return inserted

    def update(self, records: Sequence[AttendanceRecord]) -> None:
        for record in records:
            key = (record.rider_id, record.date)
            assert key in self.rows, f"update of a record never stored: {key}"
            self.rows[key] = record


class FakeAttendanceUnitOfWork(AbstractAttendanceUnitOfWork):
    """A transaction over a copy of `rows`: committing keeps the copy and the published events
    (`outbox`, in order); leaving without a commit drops both. `commits` counts the commits."""

    def __init__(self) -> None:
        self.rows: dict[RecordKey, AttendanceRecord] = {}
        self.outbox: list[object] = []
        self.commits = 0
        self.inserted_meanwhile: list[AttendanceRecord] = []

    def __enter__(self) -> FakeAttendanceUnitOfWork:
        self.records = FakeAttendanceRepository(dict(self.rows))
        self.records.inserted_meanwhile, self.inserted_meanwhile = self.inserted_meanwhile, []
        return super().__enter__()

    def _commit(self, events: list[object]) -> None:
        assert isinstance(self.records, FakeAttendanceRepository)
        self.rows = dict(self.records.rows)
        self.outbox.extend(events)
        self.commits += 1

    def _rollback(self) -> None:
        pass  # the copy in self.records is simply not kept


class FakeAttendanceSource(AttendanceSource):
    """Answers from `hubs` / `riders`, or raises `failure` when set; records every call."""

    def __init__(self, *, embedded: bool = False) -> None:
        self.embedded = embedded
        self.hubs: dict[str, list[AttendanceRecord]] = {}
        self.riders: dict[str, AttendanceRecord] = {}
        self.failure: Exception | None = None
        self.calls: list[tuple[str, str]] = []
        self.deadlines: list[float | None] = []
        self.gate: Callable[[], None] | None = None

    def rider_attendance(self, rider_id: str, day: date, *, deadline: float | None = None) -> AttendanceRecord | None:
        self.calls.append(("rider", rider_id))
        self.deadlines.append(deadline)
        if self.failure:
            raise self.failure
        return self.riders.get(rider_id)

    def hub_attendance(self, hub_id: str, day: date, *, deadline: float | None = None) -> list[AttendanceRecord]:
        self.calls.append(("hub", hub_id))
        self.deadlines.append(deadline)
        if self.gate:
            self.gate()
        if self.failure:
            raise self.failure
        if hub_id not in self.hubs:
            raise HubNotKnown(f"hub {hub_id!r} is not known to the attendance system")
        return list(self.hubs[hub_id])


class MemoryCache(AttendanceCache):
    def __init__(self) -> None:
        self.entries: dict[str, Snapshot] = {}

    def get(self, key: CacheKey) -> Snapshot | None:
        return self.entries.get(str(key))

    def put(self, key: CacheKey, snapshot: Snapshot) -> None:
        self.entries[str(key)] = snapshot


class DownCache(AttendanceCache):
    """Redis down: every lookup misses, nothing is kept (RedisAttendanceCache never raises)."""

    def get(self, key: CacheKey) -> Snapshot | None:
        return None

    def put(self, key: CacheKey, snapshot: Snapshot) -> None:
        pass


class FakeEmbeddedSource(AttendanceSource):
    """The embedded source over what a FakeAttendanceUnitOfWork committed."""

    embedded = True

    def __init__(self, uow: FakeAttendanceUnitOfWork) -> None:
        self._uow = uow

    def rider_attendance(self, rider_id: str, day: date, *, deadline: float | None = None) -> AttendanceRecord | None:
        return FakeAttendanceRepository(self._uow.rows).get(rider_id, day)

    def hub_attendance(self, hub_id: str, day: date, *, deadline: float | None = None) -> list[AttendanceRecord]:
        return FakeAttendanceRepository(self._uow.rows).for_hub(hub_id, day)
