"""Looking ahead through real processes: eight weeks of a hub's volume history imported over gRPC
(again: every row replaced), a route's and the hub's forecast with 80% intervals and the backtest,
tomorrow's fleet need against a ROSTERED rider (recorded in attendance_adapter, followed by
dispatch_svc's read model), bad input refused with the right code and nothing written, and
ForecastPickupVolume from grpcurl against the real binaries."""

from __future__ import annotations

import json
import math
import random
import subprocess
import uuid
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import grpc
import pytest

from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from firstmile_client import requests
from tests.support import auth
from tests.support.geometry import square_geojson
from tests.support.polling import eventually
from tests.support.processes import GRPCURL

pytestmark = pytest.mark.e2e

ZONE = ZoneInfo("Asia/Kolkata")
WEEKLY = (1.2, 1.0, 1.0, 1.05, 1.15, 0.85, 0.5)  # Monday .. Sunday


def hub_today() -> date:
    return datetime.now(ZONE).date()


@pytest.fixture
def processes(start_service):
    attendance = start_service("attendance_adapter")
    attendance.wait_serving()
    started = {
        "routing": start_service("routing_svc"),
        "dispatch": start_service("dispatch_svc", DISPATCH_SVC_ATTENDANCE_ADDRESS=attendance.target),
        "attendance": attendance,
    }
    for process in started.values():
        process.wait_serving()
    return started


class Hub:
    """A fresh hub in Bengaluru: route R1 (rider-1 its default rider) and a van; history for R1
    and R2 (a route gone from the map: history outlives it)."""

    def __init__(self) -> None:
        self.id = f"HUB-{uuid.uuid4().hex[:8]}"
        self.r1, self.r2 = f"{self.id}-R1", f"{self.id}-R2"
        self.rider = f"{self.id}-rider-1"


@pytest.fixture
def stubs(processes) -> Iterator[dict]:
    channels = {name: processes[name].channel() for name in ("routing", "dispatch", "attendance")}
    try:
        yield {
            "routing": routing_pb2_grpc.RoutingServiceStub(channels["routing"]),
            "dispatch": dispatch_pb2_grpc.DispatchServiceStub(channels["dispatch"]),
            "attendance": attendance_pb2_grpc.AttendanceServiceStub(channels["attendance"]),
        }
    finally:
        for channel in channels.values():
            channel.close()


@pytest.fixture
def hub(stubs) -> Hub:
    hub = Hub()
    dispatch = stubs["dispatch"]
    try:
        dispatch.UpsertHub(
            requests.upsert_hub_request(hub_id=hub.id, name="Ahead", lat=12.895, lng=77.595, timezone=ZONE.key),
            timeout=10,
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            pytest.skip("this dispatch_svc has no UpsertHub yet")
        raise
    route = routing_pb2.Route(
        id=hub.r1, hub_id=hub.id, name="One", geometry_geojson=square_geojson(77.60, 12.90), default_rider_id=hub.rider
    )
    stubs["routing"].UpsertRoute(routing_pb2.UpsertRouteRequest(route=route), timeout=30)
    dispatch.UpsertRider(requests.upsert_rider_request(rider_id=hub.rider, hub_id=hub.id, name="Asha"), timeout=10)
    dispatch.UpsertVehicle(
        requests.upsert_vehicle_request(
            vehicle_id=f"{hub.id}-van-1", hub_id=hub.id, vehicle_type=dispatch_pb2.VEHICLE_TYPE_VAN,
            capacity_packages=300, capacity_kg=800, registration="KA01AB1234",
        ),
        timeout=10,
    )  # fmt: skip
    return hub


def history(route_id: str, level: float, end: date, weeks: int = 8) -> list[dispatch_pb2.VolumeHistoryRow]:
    """`weeks` weeks to `end`: level x weekday x a trend, with seeded noise (a known structure a
    model can learn and repeating last week cannot: the trend, and noise that does not repeat)."""
    rng = random.Random(route_id.rsplit("-", 1)[-1])
    rows = []
    for n in range(weeks * 7):
        day = end - timedelta(days=weeks * 7 - 1 - n)
        pickups = round(level * WEEKLY[day.weekday()] * (1 + 0.006 * n) * rng.lognormvariate(0, 0.06))
        rows.append(
            requests.volume_history_row(
                date=day.isoformat(), route_id=route_id, pickups=pickups, packages=pickups * 12, weight_kg=pickups * 9.5
            )
        )
    return rows


def import_rows(dispatch, hub_id: str, rows, batch: int = 40) -> tuple[int, int]:
    imported = replaced = 0
    for start in range(0, len(rows), batch):
        request = requests.import_volume_history_request(hub_id=hub_id, rows=rows[start : start + batch])
        response = dispatch.ImportVolumeHistory(request, timeout=30)
        imported, replaced = imported + response.imported, replaced + response.replaced
    return imported, replaced


def forecast(dispatch, hub_id: str, route_id: str, start: date, days: int = 7):
    request = requests.forecast_pickup_volume_request(
        hub_id=hub_id, route_id=route_id, start_date=start.isoformat(), days=days
    )
    return dispatch.ForecastPickupVolume(request, timeout=60)


def code_of(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value.code(), caught.value.details() or ""


def test_history_is_imported_forecast_and_tomorrows_fleet_compared_with_the_roster(stubs, hub):
    dispatch = stubs["dispatch"]
    today = hub_today()
    tomorrow = today + timedelta(days=1)
    rows = history(hub.r1, 60, today - timedelta(days=1)) + history(hub.r2, 20, today - timedelta(days=1))
    assert import_rows(dispatch, hub.id, rows) == (len(rows), 0)
    assert import_rows(dispatch, hub.id, rows) == (len(rows), len(rows))  # idempotent: replaced, not added

    route = forecast(dispatch, hub.id, hub.r1, tomorrow)
    assert route.route_id == hub.r1 and route.model
    assert [d.date for d in route.days] == [(tomorrow + timedelta(days=n)).isoformat() for n in range(7)]
    for day in route.days:
        assert 0 <= day.pickups_low <= day.pickups <= day.pickups_high
        assert day.packages == pytest.approx(12 * day.pickups, rel=0.05)
        assert day.weight_kg == pytest.approx(9.5 * day.pickups, rel=0.05)
    by_weekday = {date.fromisoformat(d.date).weekday(): d.pickups for d in route.days}
    assert by_weekday[6] < 0.75 * by_weekday[0], "the weekly pattern: quiet Sundays"
    assert route.HasField("backtest_mase") and 0 <= route.backtest_mase < 1.0, "beats repeating last week"
    assert route.backtest_origins >= 1 and route.history_days == 56
    assert route.history_end == (today - timedelta(days=1)).isoformat()

    total = forecast(dispatch, hub.id, "", tomorrow)
    other = forecast(dispatch, hub.id, hub.r2, tomorrow)
    assert total.route_id == ""
    for whole, one, two in zip(total.days, route.days, other.days, strict=True):
        assert whole.pickups == pytest.approx(one.pickups + two.pickups, rel=0.2)

    start = datetime.combine(tomorrow, time(8), tzinfo=ZONE)
    stubs["attendance"].RecordAttendance(
        requests.record_attendance_request(
            rider_id=hub.rider, hub_id=hub.id, day=tomorrow.isoformat(), status=attendance_pb2.ATTENDANCE_STATUS_ROSTERED,
            shift="08:00-17:00", shift_window=(start, start + timedelta(hours=9)),
        ),
        timeout=10,
    )  # fmt: skip
    need = eventually(
        lambda: dispatch.ForecastFleetNeed(
            requests.forecast_fleet_need_request(hub_id=hub.id, date=tomorrow.isoformat()), timeout=60
        ),
        lambda n: n.riders_rostered == 1,
        what="the rostered rider in dispatch_svc's read model",
    )
    assert (need.hub_id, need.date) == (hub.id, tomorrow.isoformat())
    routes = {r.route_id: r for r in need.routes}
    one = routes[hub.r1]
    assert one.forecast.pickups == pytest.approx(route.days[0].pickups, rel=0.01)
    assert one.trips >= 1 and one.riders_needed >= 1 and hub.rider in one.rostered_rider_ids
    assert one.rider_shortfall == max(0, one.riders_needed - len(one.rostered_rider_ids))
    assert need.riders_needed == sum(r.riders_needed for r in need.routes)
    assert need.notes, "shortfalls and idle capacity are named"


def test_bad_input_is_refused_with_the_right_code_and_nothing_written(stubs, hub):
    dispatch = stubs["dispatch"]
    today = hub_today()
    tomorrow = today + timedelta(days=1)
    fresh = f"{hub.id}-R3"
    good = requests.volume_history_row(
        date=(today - timedelta(days=3)).isoformat(), route_id=fresh, pickups=5, packages=9, weight_kg=4.0
    )

    def rows_with(**bad) -> list[dispatch_pb2.VolumeHistoryRow]:
        fields = {"date": (today - timedelta(days=2)).isoformat(), "route_id": fresh, "pickups": 5, "packages": 9}
        return [good, requests.volume_history_row(**(fields | {"weight_kg": 4.0} | bad))]

    for bad, words in (
        ({"pickups": -1}, "pickups"),
        ({"weight_kg": math.nan}, "weight_kg"),
        ({"weight_kg": math.inf}, "weight_kg"),
        ({"date": (today + timedelta(days=2)).isoformat()}, "date"),
        ({"date": "2026-02-30"}, "date"),
    ):
        request = requests.import_volume_history_request(hub_id=hub.id, rows=rows_with(**bad))
        code, details = code_of(lambda request=request: dispatch.ImportVolumeHistory(request, timeout=30))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (bad, details)
        assert "rows[1]" in details and words in details, details  # the row's index and what is wrong
    code, _ = code_of(lambda: forecast(dispatch, hub.id, fresh, tomorrow))
    assert code == grpc.StatusCode.FAILED_PRECONDITION, "nothing of the refused imports was written"

    unknown = requests.import_volume_history_request(hub_id=f"{hub.id}-nowhere", rows=[good])
    assert code_of(lambda: dispatch.ImportVolumeHistory(unknown, timeout=30))[0] == grpc.StatusCode.NOT_FOUND
    import_rows(dispatch, hub.id, history(hub.r1, 30, today - timedelta(days=1), weeks=3))
    assert code_of(lambda: forecast(dispatch, f"{hub.id}-nowhere", "", tomorrow))[0] == grpc.StatusCode.NOT_FOUND
    yesterday = today - timedelta(days=1)
    for start, days in ((yesterday, 7), (tomorrow, 0), (tomorrow, 10_000), (tomorrow, -1)):
        code, details = code_of(lambda start=start, days=days: forecast(dispatch, hub.id, hub.r1, start, days))
        assert code == grpc.StatusCode.INVALID_ARGUMENT, (start, days, details)
    past = requests.forecast_fleet_need_request(hub_id=hub.id, date=yesterday.isoformat())
    assert code_of(lambda: dispatch.ForecastFleetNeed(past, timeout=30))[0] == grpc.StatusCode.INVALID_ARGUMENT


def test_grpcurl_forecasts_a_route(processes, stubs, hub):
    today = hub_today()
    import_rows(stubs["dispatch"], hub.id, history(hub.r1, 40, today - timedelta(days=1), weeks=4))
    body = {"hub_id": hub.id, "route_id": hub.r1, "start_date": today.isoformat(), "days": 3}
    done = subprocess.run(
        [
            str(GRPCURL), "-plaintext", "-H", f"authorization: Bearer {auth.admin_token()}", "-d", json.dumps(body),
            processes["dispatch"].target, "firstmile.dispatch.v1.DispatchService/ForecastPickupVolume",
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert [d["date"] for d in answer["days"]] == [(today + timedelta(days=n)).isoformat() for n in range(3)]
    assert answer["model"] and answer["route_id"] == hub.r1
    for day in answer["days"]:
        assert day.get("pickups_low", 0) <= day["pickups"] <= day["pickups_high"]
