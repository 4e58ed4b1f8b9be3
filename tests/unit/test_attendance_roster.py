"""The ROSTERED status end to end without a database: a rider on a day's roster with a shift
window, not checked in yet. attendance_adapter's rules (record, RecordAttendance, the upstream's
JSON, the CSV, the event) and dispatch_svc's read model (not present, not gone, counted as
rostered capacity; the planner leaves them out)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from attendance_adapter.adapters.csv_records import CsvRejected, parse_csv
from attendance_adapter.adapters.messages import attendance_changed
from attendance_adapter.adapters.wire import WireError, record_from_json
from attendance_adapter.domain.events import AttendanceChanged
from attendance_adapter.domain.model import (
    AttendanceRecord,
    AttendanceStatus,
    CachePolicy,
    InvalidAttendance,
    available_riders,
    parse_status,
)
from attendance_adapter.entrypoints.grpc_api import ACCESS, AttendanceServicer
from attendance_adapter.service_layer import handlers as attendance_handlers
from attendance_adapter.service_layer.reader import AttendanceReader
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence, RiderDay
from dispatch_svc.domain.model import DispatchStatus, Rider, Vehicle, VehicleType
from dispatch_svc.domain.planning import PlanResult
from dispatch_svc.entrypoints.consumers import decode_attendance_event
from dispatch_svc.service_layer import handlers, hubs
from dispatch_svc.service_layer import plans as planning
from dispatch_svc.service_layer.attendance import rostered_riders
from firstmile.attendance.v1 import attendance_pb2 as pb
from firstmile.events.v1 import events_pb2
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument
from mesh.kernel import utc_now
from mesh.topics import ATTENDANCE_EVENTS
from tests.support.consumed_messages import consumed
from tests.support.dispatch_inputs import attendance_change, new_dispatch, pur_snapshot
from tests.support.fakes_attendance import FakeAttendanceUnitOfWork, FakeClock, FakeEmbeddedSource
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.servicer_calls import ServedAs

NOW = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)
DAY = NOW.date()
HUB = "HUB-1"


def at(hour: int, day: date = DAY) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=UTC)


def rostered(rider: str = "R-1", **changes) -> AttendanceRecord:
    fields = {
        "rider_id": rider,
        "hub_id": HUB,
        "date": DAY,
        "status": AttendanceStatus.ROSTERED,
        "shift": "MORNING",
        "shift_start": at(6),
        "shift_end": at(14),
    }
    return AttendanceRecord(**(fields | changes))  # type: ignore[arg-type]


# -- attendance_adapter: the record ----------------------------------------------------------------


def test_rostered_is_a_status_with_a_window_and_no_check_in_and_is_not_available():
    assert parse_status("ROSTERED") is AttendanceStatus.ROSTERED
    record = rostered()
    assert not record.available
    present = rostered("R-2", status=AttendanceStatus.PRESENT, check_in=at(6))
    assert available_riders([record, present]) == [present]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"shift_start": None, "shift_end": None}, "ROSTERED without shift_start and shift_end"),
        ({"check_in": at(6)}, "ROSTERED with a check-in or check-out time"),
        ({"shift_end": None}, "set both or neither"),
    ],
)
def test_a_roster_entry_names_its_window_and_has_no_check_in(changes, message):
    with pytest.raises(InvalidAttendance, match=message):
        rostered(**changes)


@pytest.mark.parametrize(
    ("then", "times"),
    [
        (AttendanceStatus.PRESENT, {"check_in": at(7)}),
        (AttendanceStatus.ABSENT, {"shift_start": None, "shift_end": None}),
        (AttendanceStatus.ON_LEAVE, {"shift_start": None, "shift_end": None}),
    ],
)
def test_a_rostered_rider_checks_in_or_is_absent_or_on_leave_and_each_is_announced(then, times):
    """Like every status, a roster entry is replaced by the next record of the day; the change
    goes out with ROSTERED as the previous status."""
    uow, clock = FakeAttendanceUnitOfWork(), FakeClock(NOW)
    attendance_handlers.record_attendance(uow, [rostered()], now=clock)
    clock.advance(60)
    [result] = attendance_handlers.record_attendance(uow, [rostered(status=then, **times)], now=clock)
    assert (result.result, result.announced) == ("updated", True)
    assert [(e.previous_status, e.record.status) for e in uow.outbox] == [  # type: ignore[attr-defined]
        (None, AttendanceStatus.ROSTERED),
        (AttendanceStatus.ROSTERED, then),
    ]


def test_a_roster_moved_to_another_window_is_announced():
    uow, clock = FakeAttendanceUnitOfWork(), FakeClock(NOW)
    attendance_handlers.record_attendance(uow, [rostered()], now=clock)
    [moved] = attendance_handlers.record_attendance(uow, [rostered(shift_start=at(10), shift_end=at(18))], now=clock)
    assert moved.announced and len(uow.outbox) == 2


def test_the_event_carries_rostered_and_its_window():
    record = rostered()
    row = attendance_changed(AttendanceChanged(record, None, NOW))
    event = events_pb2.AttendanceChanged.FromString(row.payload)
    assert (event.status, event.previous_status) == (pb.ATTENDANCE_STATUS_ROSTERED, pb.ATTENDANCE_STATUS_UNSPECIFIED)
    assert event.record.shift_start.ToDatetime(tzinfo=UTC) == at(6)
    assert not event.record.HasField("check_in_time")


# -- attendance_adapter: the ways in ---------------------------------------------------------------


def test_the_upstream_may_send_a_roster_entry_and_must_give_its_window():
    item = {
        "rider_id": "R-1",
        "hub_id": HUB,
        "date": "2025-01-31",
        "status": "ROSTERED",
        "shift_start": "2025-01-31T06:00:00+05:30",
        "shift_end": "2025-01-31T14:00:00+05:30",
    }
    assert record_from_json(item).status is AttendanceStatus.ROSTERED
    without_window = {k: v for k, v in item.items() if not k.startswith("shift_")}
    with pytest.raises(WireError, match=r"records\[0\]\.status: ROSTERED without shift_start"):
        record_from_json(without_window, "records[0].")


def test_the_csv_takes_rostered_rows_in_any_case():
    text = (
        "rider_id,hub_id,date,status,shift_start,shift_end\n"
        "R-1,HUB-1,2025-02-01,rostered,2025-02-01T06:00:00Z,2025-02-01T14:00:00Z\n"
    )
    [record] = parse_csv(text, today=DAY)
    assert (record.status, record.shift_start) == (AttendanceStatus.ROSTERED, at(6, DAY + timedelta(days=1)))
    with pytest.raises(CsvRejected) as caught:
        parse_csv("rider_id,hub_id,date,status\nR-1,HUB-1,2025-02-01,ROSTERED\n", today=DAY)
    assert [str(e) for e in caught.value.errors] == [
        "line 2: status: ROSTERED without shift_start and shift_end; a roster names the window"
    ]


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def test_record_attendance_takes_a_roster_for_tomorrow_and_lists_it_as_unavailable():
    tomorrow = utc_now().date() + timedelta(days=1)
    uow = FakeAttendanceUnitOfWork()
    reader = AttendanceReader(FakeEmbeddedSource(uow), None, CachePolicy(timedelta(seconds=60)))
    lead = Principal("lead", Role.TEAM_LEAD, hubs=frozenset({HUB}))
    served = ServedAs(
        AttendanceServicer(reader, lambda: uow), pb.DESCRIPTOR.services_by_name["AttendanceService"], ACCESS, lead
    )
    request = pb.RecordAttendanceRequest(
        rider_id="R-1",
        hub_id=HUB,
        date=tomorrow.isoformat(),
        status=pb.ATTENDANCE_STATUS_ROSTERED,
        shift_start=stamp(at(6, tomorrow)),
        shift_end=stamp(at(14, tomorrow)),
    )
    got = served.ok("RecordAttendance", request).record
    assert (got.status, got.shift_end) == (pb.ATTENDANCE_STATUS_ROSTERED, stamp(at(14, tomorrow)))
    listed = served.ok("ListAvailableRiders", pb.ListAvailableRidersRequest(hub_id=HUB, date=tomorrow.isoformat()))
    assert list(listed.records) == []
    assert served.ok("GetAttendance", pb.GetAttendanceRequest(rider_id="R-1", date=tomorrow.isoformat())).record == got
    request.ClearField("shift_start")
    request.ClearField("shift_end")
    error = served.raised("RecordAttendance", request)
    assert isinstance(error, InvalidArgument) and "ROSTERED without shift_start" in str(error)


# -- dispatch_svc: the attendance read model -------------------------------------------------------


@pytest.fixture
def store() -> DispatchStore:
    store = DispatchStore()
    store.hubs[HUB] = Hub(HUB, "Hub One", 12.97, 77.59, "UTC")
    return store


@pytest.fixture
def uow(store):
    return lambda: FakeDispatchUnitOfWork(store)


def change(rider: str, status: Presence, minute: int = 0, *, day: date = DAY, **fields) -> AttendanceChange:
    return attendance_change(rider, status, hub=HUB, day=day, at=NOW, minute=minute, **fields)


def test_a_rostered_event_is_decoded_with_its_window():
    record = pb.AttendanceRecord(
        rider_id="R-1", hub_id=HUB, date=DAY.isoformat(), status=pb.ATTENDANCE_STATUS_ROSTERED,
        shift_start=stamp(at(6)), shift_end=stamp(at(14)),
    )  # fmt: skip
    event = events_pb2.AttendanceChanged(
        rider_id="R-1", hub_id=HUB, date=DAY.isoformat(), status=pb.ATTENDANCE_STATUS_ROSTERED,
        record=record, changed_at=stamp(NOW),
    )  # fmt: skip
    decoded = decode_attendance_event(consumed(ATTENDANCE_EVENTS, event))
    assert decoded == AttendanceChange("R-1", HUB, DAY, Presence.ROSTERED, NOW, at(6), at(14))
    assert decoded.rider_day == RiderDay(Presence.ROSTERED, at(6), at(14))


def test_rostered_is_neither_present_nor_gone_but_counts_as_rostered():
    day = RiderDay(Presence.ROSTERED, at(6), at(14))
    assert (day.present, day.rostered, Presence.ROSTERED.gone) == (False, True, False)
    assert RiderDay(Presence.PRESENT).rostered
    assert not any(RiderDay(s).rostered for s in (Presence.ABSENT, Presence.ON_LEAVE, Presence.CHECKED_OUT))


def test_rostered_riders_are_the_hubs_active_riders_present_or_rostered_that_day(store, uow):
    for rider, active in (("asha", True), ("bala", True), ("chitra", True), ("dev", False), ("esha", True)):
        handlers.upsert_rider(uow(), Rider(rider, HUB, name=rider.title(), active=active))
    window: dict[str, Any] = {"shift_start": at(6), "shift_end": at(14)}
    hubs.apply_attendance_changes(
        uow(),
        [
            change("asha", Presence.ROSTERED, **window),
            change("bala", Presence.PRESENT),
            change("chitra", Presence.ON_LEAVE),
            change("dev", Presence.ROSTERED, **window),  # inactive
            change("esha", Presence.ROSTERED, day=DAY + timedelta(days=1), **window),  # another day
            change("farid", Presence.ROSTERED, **window),  # not a rider of the hub
        ],
    )
    with uow() as work:
        assert rostered_riders(work, HUB, DAY) == {
            "asha": RiderDay(Presence.ROSTERED, **window),
            "bala": RiderDay(Presence.PRESENT),
        }
        assert list(rostered_riders(work, HUB, DAY + timedelta(days=1))) == ["esha"]


def test_an_open_dispatch_stays_when_its_rider_is_rostered_again(store, uow):
    """ROSTERED is not gone: a check-in undone (back to the roster) releases nothing."""
    handlers.upsert_rider(uow(), Rider("asha", HUB, name="Asha"))
    handlers.upsert_vehicle(uow(), Vehicle("van", HUB, VehicleType.VAN, 100, 500.0))
    present = FakeAttendance()
    present.present[HUB] = {"asha"}
    handlers.apply_pur_changes(uow(), [pur_snapshot("pur-1", hub=HUB, day=DAY)])
    dispatch = handlers.create_dispatch(
        uow(), present, new_dispatch("req-1", hub=HUB, day=DAY, rider_id="asha", vehicle_id="van")
    ).dispatch
    rostered_again = change("asha", Presence.ROSTERED, shift_start=at(6), shift_end=at(14))
    assert hubs.apply_attendance_changes(uow(), [rostered_again]) == []
    assert store.dispatches[dispatch.id].status is DispatchStatus.OPEN


def test_the_planner_leaves_rostered_riders_out(store, uow):
    for rider in ("asha", "bala"):
        handlers.upsert_rider(uow(), Rider(rider, HUB))
    handlers.upsert_vehicle(uow(), Vehicle("van", HUB, VehicleType.VAN, 100, 500.0))
    hubs.apply_attendance_changes(
        uow(),
        [change("asha", Presence.PRESENT), change("bala", Presence.ROSTERED, shift_start=at(6), shift_end=at(14))],
    )
    handlers.apply_pur_changes(uow(), [pur_snapshot("p1", hub=HUB, day=DAY)])
    planner = FakeTripPlanner(lambda problem: PlanResult(trips=(), unplanned=()))
    planning.plan_dispatches(uow(), planner, HUB, DAY, (), now=lambda: NOW)
    [problem] = planner.problems
    assert [r.id for r in problem.riders] == ["asha"]
