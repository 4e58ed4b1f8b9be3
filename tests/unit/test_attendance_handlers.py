"""The rules of recording attendance (service_layer/handlers.py), on the in-memory unit of work of
tests/support/fakes_attendance.py: what is written, what is announced, all or none."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from attendance_adapter.domain.events import AttendanceChanged
from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus, InvalidAttendance
from attendance_adapter.service_layer import handlers
from mesh.errors import PermissionDenied
from tests.support.fakes_attendance import FakeAttendanceUnitOfWork, FakeClock

NOW = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)
DAY = NOW.date()


def rec(rider: str = "R-1", status: AttendanceStatus = AttendanceStatus.PRESENT, **changes) -> AttendanceRecord:
    fields = {"rider_id": rider, "hub_id": "HUB-1", "date": DAY, "status": status}
    fields.update(changes)
    return AttendanceRecord(**fields)  # type: ignore[arg-type]


def at(hour: int) -> datetime:
    return datetime(DAY.year, DAY.month, DAY.day, hour, tzinfo=UTC)


@pytest.fixture
def uow() -> FakeAttendanceUnitOfWork:
    return FakeAttendanceUnitOfWork()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


def record(uow, clock, *records: AttendanceRecord, **kwargs) -> list[handlers.Recorded]:
    return handlers.record_attendance(uow, list(records), now=clock, **kwargs)


def test_a_new_record_is_stored_with_its_time_and_announced(uow, clock):
    [result] = record(uow, clock, rec(shift="MORNING", check_in=at(6)))
    assert (result.result, result.announced) == ("created", True)
    assert result.record.updated_at == NOW
    assert uow.rows[("R-1", DAY)] == result.record
    assert uow.outbox == [AttendanceChanged(result.record, None, NOW)]
    assert uow.commits == 1


def test_recording_the_same_facts_again_writes_and_announces_nothing(uow, clock):
    [first] = record(uow, clock, rec(check_in=at(6)))
    clock.advance(60)
    [again] = record(uow, clock, rec(check_in=at(6)))
    assert (again.result, again.announced) == ("unchanged", False)
    assert again.record == first.record  # updated_at included: nothing was written
    assert uow.rows[("R-1", DAY)].updated_at == NOW
    assert len(uow.outbox) == 1


def test_a_change_of_times_or_shift_is_stored_quietly(uow, clock):
    record(uow, clock, rec(check_in=at(6)))
    clock.advance(60)
    [shifted] = record(uow, clock, rec(check_in=at(7), shift="EVENING"))
    assert (shifted.result, shifted.announced) == ("updated", False)
    assert uow.rows[("R-1", DAY)].shift == "EVENING"
    assert uow.rows[("R-1", DAY)].updated_at == NOW + timedelta(seconds=60)
    assert len(uow.outbox) == 1


def test_a_change_of_status_or_hub_is_announced_with_the_previous_status(uow, clock):
    record(uow, clock, rec(check_in=at(6)))
    [out] = record(uow, clock, rec(status=AttendanceStatus.CHECKED_OUT, check_in=at(6), check_out=at(14)))
    [moved] = record(
        uow, clock, rec(status=AttendanceStatus.CHECKED_OUT, hub_id="HUB-2", check_in=at(6), check_out=at(14))
    )
    assert (out.result, out.announced, moved.result, moved.announced) == ("updated", True, "updated", True)
    assert [(e.previous_status, e.record.status, e.record.hub_id) for e in uow.outbox] == [  # type: ignore[attr-defined]
        (None, AttendanceStatus.PRESENT, "HUB-1"),
        (AttendanceStatus.PRESENT, AttendanceStatus.CHECKED_OUT, "HUB-1"),
        (AttendanceStatus.CHECKED_OUT, AttendanceStatus.CHECKED_OUT, "HUB-2"),
    ]
    assert list(uow.rows) == [("R-1", DAY)]


def test_a_batch_is_written_in_one_transaction(uow, clock):
    record(uow, clock, rec("R-2"))
    results = record(uow, clock, rec("R-1"), rec("R-2"), rec("R-3", AttendanceStatus.ABSENT))
    assert [r.result for r in results] == ["created", "unchanged", "created"]
    assert uow.commits == 2
    assert sorted(rider for rider, _ in uow.rows) == ["R-1", "R-2", "R-3"]


@pytest.mark.parametrize(
    ("day", "message"),
    [
        (date(2205, 1, 31), "records[1]: date: 2205-01-31 must be between 366 days before and 366 days after today"),
        (DAY - timedelta(days=367), "records[1]: date: 2024-01-30 must be between"),
    ],
)
def test_a_day_far_from_today_refuses_the_whole_batch(uow, clock, day, message):
    with pytest.raises(InvalidAttendance) as caught:
        record(uow, clock, rec("R-1"), rec("R-2", date=day))
    assert str(caught.value).startswith(message)
    assert (uow.rows, uow.outbox, uow.commits) == ({}, [], 0)


def test_a_single_record_is_not_named_by_its_index(uow, clock):
    with pytest.raises(InvalidAttendance, match="^date: 2205-01-31 must be between"):
        record(uow, clock, rec(date=date(2205, 1, 31)))


def test_a_rider_twice_on_a_day_refuses_the_batch(uow, clock):
    with pytest.raises(InvalidAttendance, match=r"^records\[2\]: rider R-1 on 2025-01-31 repeats records\[0\]$"):
        record(uow, clock, rec("R-1"), rec("R-2"), rec("R-1", AttendanceStatus.ABSENT))
    assert (uow.rows, uow.outbox) == ({}, [])


def deny_hub_2(stored: AttendanceRecord) -> None:
    if stored.hub_id == "HUB-2":
        raise PermissionDenied(f"not your hub: {stored.hub_id!r}")


def test_a_stored_record_the_caller_may_not_replace_refuses_everything(uow, clock):
    record(uow, clock, rec("R-9", hub_id="HUB-2"))
    before = (dict(uow.rows), list(uow.outbox))
    with pytest.raises(PermissionDenied, match="'HUB-2'"):
        record(uow, clock, rec("R-1"), rec("R-9", AttendanceStatus.ABSENT), authorize=deny_hub_2)
    assert (uow.rows, uow.outbox) == before


def test_a_record_created_meanwhile_is_read_and_authorized_like_one_found(uow, clock):
    # Another transaction inserts R-1 between our look and our insert (ON CONFLICT loses the row).
    uow.inserted_meanwhile = [rec("R-1", hub_id="HUB-2", updated_at=NOW)]
    with pytest.raises(PermissionDenied):
        record(uow, clock, rec("R-1"), authorize=deny_hub_2)
    assert (uow.rows, uow.outbox) == ({}, [])

    uow.inserted_meanwhile = [rec("R-1", updated_at=NOW - timedelta(seconds=1))]
    [result] = record(uow, clock, rec("R-1"), authorize=deny_hub_2)
    assert (result.result, result.announced) == ("unchanged", False)
    assert uow.outbox == []


def test_results_are_counted(uow, clock):
    def created() -> float:
        return REGISTRY.get_sample_value("firstmile_attendance_recorded_total", {"result": "created"}) or 0.0

    before = created()
    record(uow, clock, rec("R-1"), rec("R-2"))
    assert created() == before + 2
