"""dispatch_svc's hubs (UpsertHub) and attendance read model (attendance.events.v1) on the in-memory
fakes: the rules of a hub, changes of a rider's day applied in changed_at order, the OPEN
dispatches of a rider gone for the day released with the reason in their PURs' events, and the
decoding of AttendanceChanged (what is refused goes to the DLQ). What only PostgreSQL shows is in
tests/integration/test_dispatch_hubs.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from dispatch_svc.domain.events import DispatchEvent
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence, RiderDay
from dispatch_svc.domain.model import ChangeKind, DispatchStatus, ReleaseReason, Rider, Vehicle, VehicleType
from dispatch_svc.entrypoints.consumers import decode_attendance_event
from dispatch_svc.entrypoints.grpc_api import ACCESS, DispatchServicer
from dispatch_svc.service_layer import handlers, hubs
from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.events.v1 import events_pb2
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument
from mesh.topics import ATTENDANCE_EVENTS
from tests.support.consumed_messages import consumed
from tests.support.dispatch_inputs import attendance_change, new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.servicer_calls import ServedAs

HUB = "hub-1"
TODAY = date(2026, 5, 11)
MORNING = datetime.combine(TODAY, time(6, 0), tzinfo=UTC)
SERVICE = dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"]
ADMIN = Principal("ops", Role.ADMIN)


@pytest.fixture
def store() -> DispatchStore:
    return DispatchStore()


@pytest.fixture
def uow(store):
    return lambda: FakeDispatchUnitOfWork(store)


def change(rider: str, status: Presence, minute: int = 0, *, day: date = TODAY, **fields) -> AttendanceChange:
    return attendance_change(rider, status, hub=HUB, day=day, at=MORNING, minute=minute, **fields)


# -- hubs -----------------------------------------------------------------------------------------


def test_a_hub_is_created_then_replaced(store, uow):
    hub = Hub("hub-1", "Whitefield", 12.97, 77.75, "Asia/Kolkata")
    assert hubs.upsert_hub(uow(), hub) is True
    moved = replace(hub, lat=12.98, name="Whitefield depot")
    assert hubs.upsert_hub(uow(), moved) is False
    assert store.hubs == {"hub-1": moved}
    assert uow().__enter__().hubs.get("hub-1") == moved


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"id": "bad id"}, "hub.id"),
        ({"name": "x" * 201}, "hub.name"),
        ({"lat": 91.0}, "hub.location.lat"),
        ({"lng": float("nan")}, "hub.location.lng"),
        ({"timezone": ""}, "hub.timezone is required"),
        ({"timezone": "Mars/Olympus"}, "not an IANA time zone"),
        ({"timezone": "../etc/passwd"}, "not an IANA time zone"),
        ({"timezone": "/usr/share/zoneinfo/UTC"}, "not an IANA time zone"),
        ({"timezone": "Asia"}, "not an IANA time zone"),
        ({"timezone": "Asia//Kolkata"}, "not an IANA time zone"),
        ({"timezone": "leapseconds"}, "not an IANA time zone"),
    ],
)
def test_a_hub_that_breaks_a_rule_cannot_be_built(fields, message):
    values = {"id": "hub-1", "name": "H", "lat": 12.9, "lng": 77.6, "timezone": "Asia/Kolkata"}
    with pytest.raises(InvalidArgument, match=message):
        Hub(**(values | fields))  # type: ignore[arg-type]


def test_upsert_hub_through_the_servicer_answers_with_the_stored_hub(store):
    servicer = DispatchServicer(lambda: FakeDispatchUnitOfWork(store), FakeAttendance())
    served = ServedAs(servicer, SERVICE, ACCESS, ADMIN)
    hub = dispatch_pb2.Hub(
        id="hub-1", name="Depot", location=common_pb2.LatLng(lat=12.9, lng=77.6), timezone="Asia/Kolkata"
    )
    first = served.ok("UpsertHub", dispatch_pb2.UpsertHubRequest(hub=hub))
    assert first.created and first.hub == hub
    assert served.ok("UpsertHub", dispatch_pb2.UpsertHubRequest(hub=hub)).created is False
    assert isinstance(served.raised("UpsertHub", dispatch_pb2.UpsertHubRequest()), InvalidArgument)
    no_depot = dispatch_pb2.Hub(id="hub-2", timezone="UTC")
    error = served.raised("UpsertHub", dispatch_pb2.UpsertHubRequest(hub=no_depot))
    assert isinstance(error, InvalidArgument) and "hub.location is required" in str(error)
    assert list(store.hubs) == ["hub-1"]


# -- the attendance read model --------------------------------------------------------------------


def test_the_newest_change_of_a_riders_day_wins_whatever_the_order(store, uow):
    shift = {"shift_start": MORNING, "shift_end": MORNING + timedelta(hours=8)}
    hubs.apply_attendance_changes(uow(), [change("asha", Presence.PRESENT, 5, **shift)])
    hubs.apply_attendance_changes(uow(), [change("asha", Presence.ABSENT, 1)])  # older: ignored
    hubs.apply_attendance_changes(uow(), [change("bala", Presence.ON_LEAVE, 1), change("bala", Presence.PRESENT, 2)])
    hubs.apply_attendance_changes(uow(), [change("chitra", Presence.PRESENT, 1, hub_id="hub-2")])
    days = uow().__enter__().attendance.attendance_for(HUB, TODAY)
    assert days == {"asha": RiderDay(Presence.PRESENT, **shift), "bala": RiderDay(Presence.PRESENT)}
    assert days["asha"].present
    assert uow().__enter__().attendance.attendance_for(HUB, TODAY + timedelta(days=1)) == {}


def test_a_shift_is_both_ends_or_neither_and_ends_after_it_starts():
    with pytest.raises(InvalidArgument, match="set together"):
        change("asha", Presence.PRESENT, shift_start=MORNING)
    with pytest.raises(InvalidArgument, match="after"):
        change("asha", Presence.PRESENT, shift_start=MORNING, shift_end=MORNING)


# -- releasing the dispatches of a rider gone for the day -----------------------------------------


@pytest.fixture
def fleet(uow) -> FakeAttendance:
    for rider in ("asha", "bala"):
        handlers.upsert_rider(uow(), Rider(rider, HUB, name=rider.title()))
    for vehicle in ("van", "van-2"):
        handlers.upsert_vehicle(uow(), Vehicle(vehicle, HUB, VehicleType.VAN, 100, 500.0))
    attendance = FakeAttendance()
    attendance.present[HUB] = {"asha", "bala"}
    return attendance


routed = partial(pur_snapshot, hub=HUB, day=TODAY)


def dispatch_of(uow, attendance, rider: str, vehicle: str, pur_ids: list[str], request_id: str):
    handlers.apply_pur_changes(uow(), [routed(p) for p in pur_ids])
    created = handlers.create_dispatch(
        uow(), attendance, new_dispatch(request_id, hub=HUB, day=TODAY, rider_id=rider, vehicle_id=vehicle)
    )
    return created.dispatch


@pytest.mark.parametrize("status", [Presence.ABSENT, Presence.ON_LEAVE, Presence.CHECKED_OUT])
def test_an_open_dispatch_of_a_rider_gone_for_the_day_is_released(store, uow, fleet, status):
    d = dispatch_of(uow, fleet, "asha", "van", ["pur-1", "pur-2"], "req-1")
    released = hubs.apply_attendance_changes(uow(), [change("asha", status)])
    assert released == [d.id]
    stored = store.dispatches[d.id]
    words = status.value.lower().replace("_", " ")
    assert stored.status is DispatchStatus.CANCELLED
    assert stored.cancel_reason == f"rider asha is {words} on {TODAY.isoformat()}: dispatch released"
    for pur_id in ("pur-1", "pur-2"):
        last = [e for e in store.events if isinstance(e, DispatchEvent) and e.pur_id == pur_id][-1]
        assert (last.kind, last.release_reason, last.reason) == (
            ChangeKind.RELEASED,
            ReleaseReason.DISPATCH_CANCELLED,
            stored.cancel_reason,
        )
    [group] = handlers.list_open_pickups(uow(), HUB, TODAY)
    assert group.queued_count == 2 and group.open_dispatch is None
    # Told again (a redelivery): nothing more happens.
    events = len(store.events)
    assert hubs.apply_attendance_changes(uow(), [change("asha", status)]) == []
    assert len(store.events) == events


def test_present_riders_in_progress_dispatches_and_other_riders_are_left_alone(store, uow, fleet):
    started = dispatch_of(uow, fleet, "asha", "van", ["pur-1"], "req-1")
    handlers.start_dispatch(uow(), started.id)
    other = dispatch_of(uow, fleet, "bala", "van-2", ["pur-2"], "req-2")
    assert hubs.apply_attendance_changes(uow(), [change("asha", Presence.CHECKED_OUT)]) == []
    assert hubs.apply_attendance_changes(uow(), [change("bala", Presence.PRESENT)]) == []
    # Absent tomorrow is not absent today.
    tomorrow = change("bala", Presence.ABSENT, day=TODAY + timedelta(days=1))
    assert hubs.apply_attendance_changes(uow(), [tomorrow]) == []
    assert store.dispatches[started.id].status is DispatchStatus.IN_PROGRESS
    assert store.dispatches[other.id].status is DispatchStatus.OPEN


def test_a_batch_that_ends_present_releases_nothing(store, uow, fleet):
    d = dispatch_of(uow, fleet, "asha", "van", ["pur-1"], "req-1")
    batch = [change("asha", Presence.PRESENT, 2), change("asha", Presence.ABSENT, 1)]
    assert hubs.apply_attendance_changes(uow(), batch) == []
    assert store.dispatches[d.id].status is DispatchStatus.OPEN


# -- decoding attendance.events.v1 ----------------------------------------------------------------


def stamp(moment: datetime) -> Timestamp:
    result = Timestamp()
    result.FromDatetime(moment)
    return result


def attendance_event(**fields) -> events_pb2.AttendanceChanged:
    record = attendance_pb2.AttendanceRecord(
        rider_id="asha",
        hub_id=HUB,
        date=TODAY.isoformat(),
        status=attendance_pb2.ATTENDANCE_STATUS_PRESENT,
        shift_start=stamp(MORNING),
        shift_end=stamp(MORNING + timedelta(hours=8)),
    )
    event = events_pb2.AttendanceChanged(
        rider_id="asha",
        hub_id=HUB,
        date=TODAY.isoformat(),
        status=attendance_pb2.ATTENDANCE_STATUS_PRESENT,
        record=record,
        changed_at=stamp(MORNING),
    )
    for name, value in fields.items():
        setattr(event, name, value)
    return event


def test_an_attendance_event_is_decoded_with_its_shift():
    decoded = decode_attendance_event(consumed(ATTENDANCE_EVENTS, attendance_event()))
    assert decoded == AttendanceChange(
        "asha", HUB, TODAY, Presence.PRESENT, MORNING, MORNING, MORNING + timedelta(hours=8)
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"rider_id": ""}, "rider_id"),
        ({"hub_id": "a b"}, "hub_id"),
        ({"date": "2026-13-01"}, "date"),
        ({"status": attendance_pb2.ATTENDANCE_STATUS_UNSPECIFIED}, "status"),
        ({"status": 42}, "status"),
    ],
)
def test_a_bad_attendance_event_is_refused_for_the_dlq(fields, message):
    with pytest.raises(InvalidArgument, match=message):
        decode_attendance_event(consumed(ATTENDANCE_EVENTS, attendance_event(**fields)))


def test_an_attendance_event_without_its_time_or_with_a_broken_shift_is_refused():
    event = attendance_event()
    event.ClearField("changed_at")
    with pytest.raises(InvalidArgument, match="changed_at"):
        decode_attendance_event(consumed(ATTENDANCE_EVENTS, event))
    event = attendance_event()
    event.record.ClearField("shift_end")
    with pytest.raises(InvalidArgument, match="set together"):
        decode_attendance_event(consumed(ATTENDANCE_EVENTS, event))
    event = attendance_event()
    event.record.rider_id = "bala"
    with pytest.raises(InvalidArgument, match="differs"):
        decode_attendance_event(consumed(ATTENDANCE_EVENTS, event))
