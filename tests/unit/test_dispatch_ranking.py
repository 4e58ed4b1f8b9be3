"""Recommendations without infrastructure: history recency, the default rider, attendance
(absent riders are never recommended, unknown attendance is never "present"), busy riders and
vehicles, and vehicle fit. Also the attendance port: the shared fake and the gRPC adapter both
implement it, and the adapter trusts only present records of the hub and day."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from dispatch_svc.adapters.attendance import GrpcAttendanceClient, view_from_response
from dispatch_svc.domain.model import Load, Rider, Vehicle, VehicleType
from dispatch_svc.domain.ranking import (
    ActiveDispatchRef,
    AttendanceSource,
    AttendanceView,
    PastDispatch,
    rank_riders,
    rank_vehicles,
    recency_weight,
)
from dispatch_svc.service_layer.attendance import AttendancePort
from firstmile.attendance.v1 import attendance_pb2
from tests.support.fakes_attendance_port import FakeAttendance

TODAY = date(2026, 5, 11)
HUB = "hub-1"


def present(*ids: str, stale: bool = False) -> AttendanceView:
    return AttendanceView(
        known=True,
        present={i: datetime(2026, 5, 11, 2, 35, tzinfo=UTC) for i in ids},
        source=AttendanceSource.STALE if stale else AttendanceSource.LIVE,
        stale=stale,
        age_seconds=720.0 if stale else 0.0,
        reason="upstream timeout after 3 attempts" if stale else "",
    )


def past(rider: str, days_ago: int, vehicle: str = "v-x") -> PastDispatch:
    return PastDispatch(rider, vehicle, TODAY - timedelta(days=days_ago))


def riders(*ids: str) -> list[Rider]:
    return [Rider(i, HUB, name=i.title()) for i in ids]


def test_recency_halves_every_fourteen_days():
    assert recency_weight(0) == 1.0
    assert recency_weight(14) == 0.5
    assert abs(recency_weight(28) - 0.25) < 1e-12


def test_recent_history_beats_old_history_even_when_the_old_is_longer():
    history = [past("old", d) for d in (60, 61, 62, 63, 64, 65)] + [past("recent", 1), past("recent", 3)]
    ranked = rank_riders(riders("old", "recent"), present("old", "recent"), history, {}, [], TODAY)
    assert [r.rider.id for r in ranked] == ["recent", "old"]
    assert ranked[0].past_dispatches == 2 and ranked[1].past_dispatches == 6
    assert ranked[0].reasons[0] == "2 past dispatches on this route (last yesterday)"
    assert ranked[1].reasons[0] == "6 past dispatches on this route (last 60 days ago)"


def test_the_default_rider_gets_a_bonus_and_a_reason():
    ranked = rank_riders(riders("a", "b"), present("a", "b"), [], {}, ["b"], TODAY)
    assert ranked[0].rider.id == "b" and ranked[0].default_rider
    assert "the route's default rider" in ranked[0].reasons
    assert ranked[0].score > ranked[1].score


def test_absent_riders_are_never_recommended_whatever_their_record():
    history = [past("star", d) for d in range(10)]
    ranked = rank_riders(riders("star", "newbie"), present("newbie"), history, {}, ["star"], TODAY)
    assert [r.rider.id for r in ranked] == ["newbie"]
    assert ranked[0].present and ranked[0].reasons[-1] == "present today (checked in 02:35 UTC)"


def test_unknown_attendance_counts_nobody_as_present_and_says_so():
    view = AttendanceView.unknown("attendance service answered UNAVAILABLE: connection refused")
    ranked = rank_riders(riders("a", "b"), view, [past("a", 2)], {}, [], TODAY)
    assert [r.rider.id for r in ranked] == ["a", "b"]
    assert not any(r.present or r.eligible for r in ranked)
    assert all(r.reasons[-1].startswith("attendance unknown (attendance service answered UNAVAILABLE") for r in ranked)


def test_stale_attendance_is_used_but_flagged():
    [only] = rank_riders(riders("a"), present("a", stale=True), [], {}, [], TODAY)
    assert only.present
    assert "per last known attendance, 12 min old (upstream timeout after 3 attempts)" in only.reasons[-1]


def test_busy_riders_rank_last_with_their_dispatch_named():
    history = [past("busy", d) for d in range(5)]
    busy = {"busy": ActiveDispatchRef("dsp_1", "R7", "IN_PROGRESS")}
    ranked = rank_riders(riders("busy", "free"), present("busy", "free"), history, busy, ["busy"], TODAY)
    assert [r.rider.id for r in ranked] == ["free", "busy"]
    assert ranked[1].on_active_dispatch and not ranked[1].eligible
    assert ranked[1].reasons[0].startswith("on active dispatch dsp_1 (route R7, IN_PROGRESS)")
    assert ranked[1].score < ranked[0].score


def test_inactive_riders_are_left_out():
    ranked = rank_riders(
        [Rider("gone", HUB, active=False), Rider("here", HUB)], present("gone", "here"), [], {}, [], TODAY
    )
    assert [r.rider.id for r in ranked] == ["here"]


def test_ties_are_broken_by_rider_id():
    ranked = rank_riders(riders("b", "a", "c"), present("a", "b", "c"), [], {}, [], TODAY)
    assert [r.rider.id for r in ranked] == ["a", "b", "c"]


# -- vehicles -----------------------------------------------------------------------------------


def vehicle(vid: str, packages: int, kg: float, kind: VehicleType = VehicleType.VAN) -> Vehicle:
    return Vehicle(vid, HUB, kind, packages, kg)


def test_the_smallest_vehicle_that_fits_comes_first():
    fleet = [
        vehicle("truck", 1000, 5000.0, VehicleType.TRUCK),
        vehicle("bike", 20, 30.0, VehicleType.BIKE),
        vehicle("van", 150, 500.0),
    ]
    ranked = rank_vehicles(fleet, Load(120, 300.0), [], {}, TODAY)
    assert [v.vehicle.id for v in ranked] == ["van", "truck", "bike"]
    assert (
        ranked[0].fits_load
        and ranked[0].reasons[0] == "fits the queued 120 packages / 300.0 kg (uses 80% of its capacity)"
    )
    assert not ranked[2].fits_load and ranked[2].reasons[0].startswith(
        "too small for the queued 120 packages / 300.0 kg"
    )


def test_past_use_on_the_route_breaks_near_ties():
    fleet = [vehicle("van-a", 100, 400.0), vehicle("van-b", 100, 400.0)]
    history = [past("r", d, vehicle="van-b") for d in (1, 8)]
    ranked = rank_vehicles(fleet, Load(50, 100.0), history, {}, TODAY)
    assert [v.vehicle.id for v in ranked] == ["van-b", "van-a"]
    assert (
        ranked[0].past_dispatches == 2
        and "used on 2 past dispatches on this route (last yesterday)" in ranked[0].reasons
    )


def test_a_vehicle_on_an_active_dispatch_ranks_last():
    fleet = [vehicle("van-a", 100, 400.0), vehicle("van-b", 100, 400.0)]
    busy = {"van-a": ActiveDispatchRef("dsp_9", "R1", "OPEN")}
    ranked = rank_vehicles(fleet, Load(10, 10.0), [], busy, TODAY)
    assert [(v.vehicle.id, v.on_active_dispatch) for v in ranked] == [("van-b", False), ("van-a", True)]


def test_with_nothing_queued_the_smallest_vehicle_leads():
    fleet = [vehicle("big", 500, 900.0), vehicle("small", 30, 40.0)]
    ranked = rank_vehicles(fleet, Load(), [], {}, TODAY)
    assert [v.vehicle.id for v in ranked] == ["small", "big"] and ranked[0].reasons[0].startswith("nothing queued")


# -- the attendance port -------------------------------------------------------------------------


def test_the_fake_and_the_grpc_adapter_implement_the_attendance_port():
    fake = FakeAttendance(present("a"))
    assert isinstance(fake, AttendancePort) and issubclass(GrpcAttendanceClient, AttendancePort)
    assert fake.available_riders(HUB, TODAY).is_present("a") and fake.calls == [(HUB, TODAY)]


def test_only_present_records_of_the_hub_and_day_count():
    response = attendance_pb2.ListAvailableRidersResponse(
        records=[
            attendance_pb2.AttendanceRecord(
                rider_id="a", hub_id=HUB, date="2026-05-11", status=attendance_pb2.ATTENDANCE_STATUS_PRESENT
            ),
            attendance_pb2.AttendanceRecord(
                rider_id="b", hub_id=HUB, date="2026-05-11", status=attendance_pb2.ATTENDANCE_STATUS_ABSENT
            ),
            attendance_pb2.AttendanceRecord(
                rider_id="c", hub_id="elsewhere", date="2026-05-11", status=attendance_pb2.ATTENDANCE_STATUS_PRESENT
            ),
            attendance_pb2.AttendanceRecord(
                rider_id="d", hub_id=HUB, date="2026-05-10", status=attendance_pb2.ATTENDANCE_STATUS_PRESENT
            ),
        ],
        freshness=attendance_pb2.Freshness(
            source=attendance_pb2.ATTENDANCE_SOURCE_STALE, stale=True, stale_reason="upstream down"
        ),
    )
    view = view_from_response(response, HUB, TODAY)
    assert view.known and set(view.present) == {"a"}
    assert view.stale and view.source is AttendanceSource.STALE and view.reason == "upstream down"
