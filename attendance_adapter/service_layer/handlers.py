"""attendance_adapter's write use case: recording attendance in the embedded table.

One unit of work per call: the rows it changes and the AttendanceChanged events it emits commit
together or not at all. Recording what is already recorded writes and emits nothing, so a retried
RecordAttendance or a CSV file imported twice is harmless.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from attendance_adapter.domain.events import AttendanceChanged
from attendance_adapter.domain.model import AttendanceRecord, InvalidAttendance, check_recordable_day
from attendance_adapter.metrics import RECORDED
from attendance_adapter.service_layer.repositories import RecordKey
from attendance_adapter.service_layer.unit_of_work import AbstractAttendanceUnitOfWork
from mesh.kernel import utc_now

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Recorded:
    record: AttendanceRecord  # as stored
    result: str  # "created", "updated" or "unchanged"
    announced: bool  # an AttendanceChanged event was emitted


def record_attendance(
    uow: AbstractAttendanceUnitOfWork,
    records: Sequence[AttendanceRecord],
    *,
    authorize: Callable[[AttendanceRecord], None] = lambda stored: None,
    now: Clock = utc_now,
) -> list[Recorded]:
    """Create or replace each rider's record for its day, all or none.

    `authorize(stored)` raises when the caller may not replace a record already stored (one of
    another hub); nothing is written then.

    An event goes out for a new record and for a record whose status or hub changed; a change of
    times or shift only is stored quietly (consumers care about availability).
    """
    moment = now()
    keys = _check_batch(records, moment)
    with uow:
        existing = uow.records.get_many_for_update(keys)
        for previous in existing.values():
            authorize(previous)
        fresh = [replace(r, updated_at=moment) for r in records if (r.rider_id, r.date) not in existing]
        inserted = uow.records.insert_new(fresh)
        lost = [(r.rider_id, r.date) for r in fresh if (r.rider_id, r.date) not in inserted]
        if lost:
            # Another transaction created some of the same rows since we looked: lock and read them.
            raced = uow.records.get_many_for_update(lost)
            for previous in raced.values():
                authorize(previous)  # raising rolls back what was inserted above
            existing.update(raced)
        results: list[Recorded] = []
        updates: list[AttendanceRecord] = []
        events: list[AttendanceChanged] = []
        for record in records:
            key = (record.rider_id, record.date)
            stored = replace(record, updated_at=moment)
            if key in inserted:
                events.append(AttendanceChanged(stored, None, moment))
                results.append(Recorded(stored, "created", True))
                continue
            previous = existing[key]
            if record.same_facts(previous):
                results.append(Recorded(previous, "unchanged", False))
                continue
            updates.append(stored)
            announce = stored.announces_change_from(previous)
            if announce:
                events.append(AttendanceChanged(stored, previous.status, moment))
            results.append(Recorded(stored, "updated", announce))
        uow.records.update(updates)
        uow.publish(events)
        uow.commit()
    for result in results:
        RECORDED.labels(result.result).inc()
    return results


def _check_batch(records: Sequence[AttendanceRecord], moment: datetime) -> list[RecordKey]:
    """The records' keys; InvalidAttendance for a day far from today or a rider twice on a day
    (naming `records[i]` when there are several)."""
    first: dict[RecordKey, int] = {}
    for index, record in enumerate(records):
        where = "" if len(records) == 1 else f"records[{index}]: "
        try:
            check_recordable_day(record.date, moment.date())
        except InvalidAttendance as exc:
            raise InvalidAttendance(f"{where}{exc}") from None
        key = (record.rider_id, record.date)
        if key in first:
            raise InvalidAttendance(
                f"{where}rider {record.rider_id} on {record.date.isoformat()} repeats records[{first[key]}]"
            )
        first[key] = index
    return list(first)
