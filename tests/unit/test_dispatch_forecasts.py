"""Volume history, forecasts and the fleet a day needs (service_layer/forecasts.py) on the in-memory
fakes and the seasonal naive fake forecaster: imports all or nothing, the observed volume the
pur-events consumer keeps (a PUR counted once, moved on re-route, gone when cancelled), forecasts'
bad input and their stored backtests, the fleet need's inputs, and the servicer's translation.
What only PostgreSQL shows is in tests/integration/test_dispatch_forecasts.py."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from dispatch_svc.domain.forecasting import HUB_TOTAL, InvalidForecastRequest, KnownEvent, NoVolumeHistory
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence
from dispatch_svc.domain.model import PickupStatus, Rider, Vehicle, VehicleType
from dispatch_svc.domain.planning import GreatCircleTravelModel, PlanningSettings, Point
from dispatch_svc.domain.routes import RouteMapChange
from dispatch_svc.domain.volumes import InvalidVolumeRow, RouteProfiles, VolumeRowInput
from dispatch_svc.entrypoints.grpc_api import ACCESS, DispatchServicer
from dispatch_svc.service_layer import forecasts, handlers
from dispatch_svc.service_layer.forecasts import FleetNeedQuery, VolumeForecastQuery
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile_client.requests import (
    forecast_fleet_need_request,
    forecast_pickup_volume_request,
    import_volume_history_request,
    volume_event,
    volume_history_row,
)
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument, NotFound, PermissionDenied, Unavailable
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.fakes_forecaster import SeasonalNaiveForecaster
from tests.support.servicer_calls import ServedAs

HUB = "hub-1"
# 20:00 UTC on the 10th is 01:30 on the 11th at an Asia/Kolkata hub: its today is the 11th.
NOW = datetime(2026, 5, 10, 20, 0, tzinfo=UTC)
TODAY = date(2026, 5, 11)
YESTERDAY = TODAY - timedelta(days=1)
TOMORROW = TODAY + timedelta(days=1)
WEEKLY = (30, 34, 32, 36, 40, 22, 10)  # Monday .. Sunday
SPEEDS = dict.fromkeys(VehicleType, 20.0)
SERVICE = dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"]
ADMIN = Principal("ops", Role.ADMIN)


def clock() -> datetime:
    return NOW


def hub_today() -> date:
    """Today at the hub, for calls through the servicer (which reads the real clock)."""
    return datetime.now(ZoneInfo("Asia/Kolkata")).date()


@pytest.fixture
def store() -> DispatchStore:
    store = DispatchStore()
    store.hubs[HUB] = Hub(HUB, "Koramangala", 12.9352, 77.6245, "Asia/Kolkata")
    return store


@pytest.fixture
def uow(store):
    return lambda: FakeDispatchUnitOfWork(store)


def row(day: date, route: str = "R1", pickups: int = 10, packages: int = 30, weight: float = 25.0) -> VolumeRowInput:
    return VolumeRowInput(day.isoformat(), route, pickups, packages, weight)


def weeks_of_history(route: str, weeks: int = 8, *, scale: float = 1.0, end: date = YESTERDAY) -> list[VolumeRowInput]:
    """`weeks` whole weeks ending `end`, with the WEEKLY pattern x scale, 3 packages and 2.5 kg per pickup."""
    days = [end - timedelta(days=i) for i in range(weeks * 7)]
    rows = []
    for day in sorted(days):
        pickups = round(WEEKLY[day.weekday()] * scale)
        rows.append(row(day, route, pickups, 3 * pickups, 2.5 * pickups))
    return rows


def imported(uow, rows, **kwargs) -> forecasts.ImportResult:
    return forecasts.import_volume_history(uow(), HUB, rows, now=clock, **kwargs)


def history(uow, since: date = date(2000, 1, 1), until: date = date(2100, 1, 1)):
    with uow() as tx:
        return tx.volumes.history(HUB, since, until)


# -- import ---------------------------------------------------------------------------------------


def test_an_import_stores_every_row_and_importing_again_replaces_them(uow):
    first = imported(uow, [row(YESTERDAY), row(YESTERDAY, "R2", 4, 8, 3.0)])
    assert (first.imported, first.replaced) == (2, 0)
    again = imported(uow, [row(YESTERDAY, pickups=12, packages=40, weight=30.0)])
    assert (again.imported, again.replaced) == (1, 1)
    by_route = {v.route_id: (v.pickups, v.packages, v.weight_kg) for v in history(uow)}
    assert by_route == {"R1": (12, 40, 30.0), "R2": (4, 8, 3.0)}
    # The same rows again: the same history (idempotent).
    imported(uow, [row(YESTERDAY, pickups=12, packages=40, weight=30.0)])
    assert {v.route_id: v.pickups for v in history(uow)} == {"R1": 12, "R2": 4}


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (VolumeRowInput("2026-05-12", "R1", 1, 1, 1.0), "rows[1].date 2026-05-12 is in the future"),
        (VolumeRowInput("2026-02-30", "R1", 1, 1, 1.0), "rows[1].date"),
        (VolumeRowInput("10/05/2026", "R1", 1, 1, 1.0), "rows[1].date"),
        (VolumeRowInput("2026-05-01", "R 1", 1, 1, 1.0), "rows[1].route_id"),
        (VolumeRowInput("2026-05-01", "", 1, 1, 1.0), "rows[1].route_id"),
        (VolumeRowInput("2026-05-01", "R1", -1, 1, 1.0), "rows[1]: pickups must be between 0"),
        (VolumeRowInput("2026-05-01", "R1", 1, -3, 1.0), "rows[1]: packages"),
        (VolumeRowInput("2026-05-01", "R1", 1, 1, -0.5), "rows[1]: weight_kg"),
        (VolumeRowInput("2026-05-01", "R1", 1, 1, math.nan), "rows[1]: weight_kg"),
        (VolumeRowInput("2026-05-01", "R1", 1, 1, math.inf), "rows[1]: weight_kg"),
        (VolumeRowInput("2026-04-30", "R1", 5, 1, 1.0), "rows[1]: route R1 on 2026-04-30 is already in rows[0]"),
    ],
)
def test_a_bad_row_refuses_the_whole_import_naming_its_index(uow, store, bad, message):
    before = store.commits
    good = row(date(2026, 4, 30))
    with pytest.raises(InvalidArgument) as caught:
        imported(uow, [good, bad, row(date(2026, 4, 29))])
    assert message in str(caught.value)
    assert store.commits == before and history(uow) == []


def test_routes_the_map_no_longer_has_or_never_had_keep_their_history(uow, store):
    handlers.apply_route_map_changes(uow(), [RouteMapChange(HUB, 2, (), ("R-OLD",))])
    assert imported(uow, [row(YESTERDAY, "R-OLD"), row(YESTERDAY, "R-NEVER-MAPPED")]).imported == 2
    assert {v.route_id for v in history(uow)} == {"R-OLD", "R-NEVER-MAPPED"}


def test_a_row_of_today_in_the_hubs_time_zone_is_accepted_though_utc_is_still_yesterday(uow):
    assert imported(uow, [row(TODAY)]).imported == 1


def test_validate_only_checks_and_writes_nothing(uow, store):
    assert imported(uow, [row(YESTERDAY)], validate_only=True).imported == 1
    assert history(uow) == [] and store.commits == 0
    with pytest.raises(InvalidVolumeRow, match=r"rows\[0\]"):
        imported(uow, [row(TOMORROW)], validate_only=True)


def test_an_unknown_hub_or_no_rows_is_refused(uow):
    with pytest.raises(NotFound, match="hub 'nowhere' does not exist"):
        forecasts.import_volume_history(uow(), "nowhere", [row(YESTERDAY)], now=clock)
    with pytest.raises(InvalidVolumeRow, match="rows must not be empty"):
        imported(uow, [])


# -- observed volume ------------------------------------------------------------------------------


def observed(uow) -> dict[tuple[str, date], tuple[int, int, float]]:
    return {(v.route_id, v.day): (v.pickups, v.packages, v.weight_kg) for v in history(uow) if v.pickups}


def apply(uow, *snapshots):
    handlers.apply_pur_changes(uow(), list(snapshots), now=clock)


def test_a_routed_pur_counts_once_on_its_route_and_day_even_when_its_events_come_again(uow):
    first = pur_snapshot("p1", 2, hub=HUB, day=TODAY, packages=3, weight=4.0)
    apply(uow, first)
    apply(uow, first)  # redelivered
    apply(uow, pur_snapshot("p1", 3, hub=HUB, day=TODAY, packages=3, weight=4.0))  # a newer echo, same place
    apply(uow, pur_snapshot("p2", 2, hub=HUB, day=TODAY, packages=1, weight=0.5))
    assert observed(uow) == {("R1", TODAY): (2, 4, 4.5)}


def test_a_re_routed_pur_moves_and_a_replayed_older_event_does_not_move_it_back(uow):
    apply(uow, pur_snapshot("p1", 2, hub=HUB, day=TODAY))
    apply(uow, pur_snapshot("p1", 4, hub=HUB, day=TODAY, route="R2"))
    apply(uow, pur_snapshot("p1", 2, hub=HUB, day=TODAY))  # the old event replayed
    assert observed(uow) == {("R2", TODAY): (1, 3, 4.0)}
    apply(uow, pur_snapshot("p1", 5, hub=HUB, day=TOMORROW, route="R2"))
    assert observed(uow) == {("R2", TOMORROW): (1, 3, 4.0)}


def test_a_cancelled_or_unroutable_pur_leaves_the_volume_but_a_picked_up_one_stays(uow, store):
    apply(uow, pur_snapshot("p1", 2, hub=HUB, day=TODAY), pur_snapshot("p2", 2, hub=HUB, day=TODAY))
    apply(uow, pur_snapshot("p1", 3, hub=HUB, day=TODAY, status=PickupStatus.CANCELLED))
    assert observed(uow) == {("R1", TODAY): (1, 3, 4.0)}
    apply(uow, pur_snapshot("p2", 3, hub=HUB, day=TODAY, status=PickupStatus.UNROUTABLE))
    assert observed(uow) == {}
    apply(uow, pur_snapshot("p2", 4, hub=HUB, day=TODAY))  # routed again: counts again
    assert observed(uow) == {("R1", TODAY): (1, 3, 4.0)}
    store.pickups["p2"].status = PickupStatus.PICKED_UP
    apply(uow, pur_snapshot("p2", 5, hub=HUB, day=TODAY, status=PickupStatus.CANCELLED))
    assert observed(uow) == {("R1", TODAY): (1, 3, 4.0)}


def test_an_imported_day_takes_the_place_of_the_observed_one(uow):
    apply(uow, pur_snapshot("p1", 2, hub=HUB, day=YESTERDAY))
    assert observed(uow) == {("R1", YESTERDAY): (1, 3, 4.0)}
    imported(uow, [row(YESTERDAY, pickups=40, packages=90, weight=70.0)])
    assert observed(uow) == {("R1", YESTERDAY): (40, 90, 70.0)}


# -- forecasts ------------------------------------------------------------------------------------


def query(route: str = "R1", start: date = TODAY, days: int = 7, **kwargs) -> VolumeForecastQuery:
    return VolumeForecastQuery(HUB, route, start, days, **kwargs)


def forecast(uow, forecaster=None, q: VolumeForecastQuery | None = None, now=clock):
    return forecasts.forecast_pickup_volume(uow(), forecaster or SeasonalNaiveForecaster(), q or query(), now=now)


def test_a_route_is_forecast_from_its_history_up_to_yesterday(uow):
    imported(uow, weeks_of_history("R1") + [row(TODAY, pickups=1, packages=1, weight=1.0)])
    result = forecast(uow)
    days = result.forecast.days
    assert [d.day for d in days] == [TODAY + timedelta(days=i) for i in range(7)]
    # Seasonal naive: each weekday as last week's, packages and kg in the history's ratios.
    assert [d.pickups for d in days] == [WEEKLY[d.day.weekday()] for d in days]
    assert all(d.pickups_low <= d.pickups <= d.pickups_high for d in days)
    assert days[0].packages == pytest.approx(3 * days[0].pickups)
    assert days[0].weight_kg == pytest.approx(2.5 * days[0].pickups)
    assert result.history_end == YESTERDAY and result.history_days == 56
    assert result.forecast.backtest.origins >= 1


def test_the_hubs_total_sums_its_routes(uow):
    imported(uow, weeks_of_history("R1") + weeks_of_history("R2", scale=0.5))
    total = forecast(uow, q=query(HUB_TOTAL, days=1)).forecast.days[0]
    assert total.route_id == HUB_TOTAL
    assert total.pickups == WEEKLY[TODAY.weekday()] + round(WEEKLY[TODAY.weekday()] * 0.5)


@pytest.mark.parametrize(
    ("q", "kind", "message"),
    [
        (query(start=YESTERDAY), InvalidForecastRequest, "start_date 2026-05-10 is in the past (today is 2026-05-11"),
        (query(days=0), InvalidForecastRequest, "days must be between 1 and 28, got 0"),
        (query(days=29), InvalidForecastRequest, "days must be between 1 and 28, got 29"),
        (query(start=TODAY + timedelta(days=29)), InvalidForecastRequest, "more than 28 days ahead"),
        (query(route="R9"), NoVolumeHistory, "no volume history for route R9 at hub hub-1"),
        (VolumeForecastQuery("nowhere", "R1", TODAY, 7), NotFound, "hub 'nowhere' does not exist"),
    ],
)
def test_bad_forecast_requests_are_refused_with_their_kind(uow, q, kind, message):
    imported(uow, weeks_of_history("R1"))
    with pytest.raises(kind) as caught:
        forecast(uow, q=q)
    assert message in str(caught.value)


def test_a_hub_with_only_todays_volume_has_no_history_yet(uow):
    apply(uow, pur_snapshot("p1", 2, hub=HUB, day=TODAY))
    with pytest.raises(NoVolumeHistory, match="no volume history for the hub"):
        forecast(uow, q=query(HUB_TOTAL))


class CountingForecaster(SeasonalNaiveForecaster):
    def __init__(self) -> None:
        super().__init__()
        self.given: list[object] = []

    def forecast(self, series, start, days, events=(), backtest=None):
        self.given.append(backtest)
        return super().forecast(series, start, days, events, backtest=backtest)


def test_a_stored_backtest_is_shown_again_until_the_history_changes(uow, store):
    imported(uow, weeks_of_history("R1"))
    forecaster = CountingForecaster()
    first = forecast(uow, forecaster)
    stored = store.volumes.backtests[(HUB, "R1")]
    assert stored.backtest == first.forecast.backtest and first.backtest_computed_at == NOW
    later = forecast(uow, forecaster, now=lambda: NOW + timedelta(hours=1))
    assert forecaster.given == [None, first.forecast.backtest]
    assert later.backtest_computed_at == NOW and later.forecast.backtest == first.forecast.backtest
    imported(uow, [row(YESTERDAY, pickups=99, packages=99, weight=99.0)])
    changed = forecast(uow, forecaster, now=lambda: NOW + timedelta(hours=2))
    assert forecaster.given[-1] is None and changed.backtest_computed_at == NOW + timedelta(hours=2)


def test_known_events_change_the_forecast_and_the_fingerprint(uow, store):
    imported(uow, weeks_of_history("R1"))
    plain = forecast(uow, q=query(days=1)).forecast.days[0]
    promo = KnownEvent(TODAY, 2.0, "sale")
    boosted = forecast(uow, q=query(days=1, events=(promo,))).forecast.days[0]
    assert boosted.pickups == pytest.approx(2 * plain.pickups)
    past = KnownEvent(YESTERDAY - timedelta(days=7), 0.5, "holiday")
    before = store.volumes.backtests[(HUB, "R1")].fingerprint
    forecast(uow, q=query(days=1, events=(past,)))
    assert store.volumes.backtests[(HUB, "R1")].fingerprint != before


# -- the fleet a day needs ------------------------------------------------------------------------


def roster(store, rider: str, status: Presence = Presence.ROSTERED, day: date = TOMORROW) -> None:
    store.riders[rider] = Rider(rider, HUB, rider.title(), "", True)
    start = datetime.combine(day, time(3, 0), tzinfo=UTC)
    store.rider_days[(rider, day)] = AttendanceChange(
        rider, HUB, day, status, NOW, shift_start=start, shift_end=start + timedelta(hours=9)
    )


def fleet(uow, day: date = TOMORROW):
    return forecasts.forecast_fleet_need(
        uow(),
        SeasonalNaiveForecaster(),
        FleetNeedQuery(HUB, day),
        GreatCircleTravelModel(1.35, SPEEDS),
        PlanningSettings(),
        now=clock,
    )


def test_the_fleet_need_counts_rostered_riders_on_their_routes_and_the_hubs_vehicles(uow, store):
    imported(
        uow, weeks_of_history("R1", scale=4) + weeks_of_history("R2") + weeks_of_history("OLD", end=date(2026, 3, 1))
    )
    store.vehicles["bike-1"] = Vehicle("bike-1", HUB, VehicleType.BIKE, 40, 60.0, "KA-1", True)
    store.vehicles["bike-2"] = Vehicle("bike-2", HUB, VehicleType.BIKE, 40, 60.0, "KA-2", True)
    store.vehicles["van-0"] = Vehicle("van-0", HUB, VehicleType.VAN, 400, 600.0, "KA-3", False)
    roster(store, "asha")
    roster(store, "bala", Presence.ABSENT)
    roster(store, "chitra", day=TODAY)
    store.volumes.profiles[HUB] = RouteProfiles(
        {"R1": [Point(12.95, 77.63), Point(12.96, 77.64)], "R2": [Point(12.90, 77.60)]},
        {"R1": "asha"},
        frozenset(),
    )
    report = fleet(uow)
    need = report.need
    assert [r.route_id for r in need.routes] == ["R1", "R2"]
    assert need.riders_rostered == 1 and need.vehicles_available == {VehicleType.BIKE: 2}
    r1 = need.routes[0]
    assert r1.rostered_riders == ("asha",) and r1.vehicle_type is VehicleType.BIKE
    expected = WEEKLY[TOMORROW.weekday()] * 4
    assert r1.pickups == expected and r1.trips >= math.ceil(3 * expected / 40)
    assert set(report.forecasts) == {"R1", "R2"}
    assert report.notes == ("route OLD: no history in the last 28 days, not forecast",)


def test_deleted_routes_are_left_out_and_a_hub_without_history_or_a_past_day_is_refused(uow, store):
    with pytest.raises(NoVolumeHistory):
        fleet(uow)
    imported(uow, weeks_of_history("R1") + weeks_of_history("R2"))
    store.volumes.profiles[HUB] = RouteProfiles({}, {}, frozenset({"R2"}))
    assert [r.route_id for r in fleet(uow).need.routes] == ["R1"]
    with pytest.raises(InvalidForecastRequest, match="in the past"):
        fleet(uow, YESTERDAY)


# -- the servicer ---------------------------------------------------------------------------------


def served(uow, principal: Principal = ADMIN, forecaster=None) -> ServedAs:
    servicer = DispatchServicer(
        uow,
        FakeAttendance(),
        forecaster=forecaster or SeasonalNaiveForecaster(),
        travel=GreatCircleTravelModel(1.35, SPEEDS),
    )
    return ServedAs(servicer, SERVICE, ACCESS, principal)


def test_the_servicer_imports_and_forecasts(uow):
    server = served(uow)
    rows = [
        volume_history_row(
            date=r.date, route_id=r.route_id, pickups=r.pickups, packages=r.packages, weight_kg=r.weight_kg
        )
        for r in weeks_of_history("R1", end=hub_today() - timedelta(days=1))
    ]
    answer = server.ok("ImportVolumeHistory", import_volume_history_request(hub_id=HUB, rows=rows))
    assert (answer.imported, answer.replaced) == (56, 0)
    start = (hub_today() + timedelta(days=1)).isoformat()
    request = forecast_pickup_volume_request(
        hub_id=HUB, route_id="R1", start_date=start, days=3, events=[volume_event(date=start, multiplier=1.5)]
    )
    response = server.ok("ForecastPickupVolume", request)
    assert [d.date for d in response.days][0] == start and len(response.days) == 3
    assert response.model == "seasonal_naive" and response.route_id == "R1"
    assert response.history_days == 56 and response.backtest_origins >= 1
    assert response.HasField("backtest_computed_at")
    assert all(d.pickups_low <= d.pickups <= d.pickups_high for d in response.days)
    need = server.ok("ForecastFleetNeed", forecast_fleet_need_request(hub_id=HUB, date=start))
    assert [r.route_id for r in need.routes] == ["R1"] and need.routes[0].forecast.date == start
    assert need.notes  # shortfalls (no vehicle, nobody rostered) named


def test_the_servicer_refuses_bad_requests_before_any_work(uow):
    server = served(uow)
    server.refuses("ImportVolumeHistory", dispatch_pb2.ImportVolumeHistoryRequest(), InvalidArgument, "hub_id")
    bad = [volume_history_row(date="2026-01-01", route_id="R1", pickups=1, packages=1, weight_kg=math.nan)]
    server.refuses(
        "ImportVolumeHistory",
        import_volume_history_request(hub_id=HUB, rows=bad),
        InvalidArgument,
        "rows[0]: weight_kg",
    )
    request = forecast_pickup_volume_request(hub_id=HUB, start_date="tomorrow", days=1)
    server.refuses("ForecastPickupVolume", request, InvalidArgument, "start_date")
    event = volume_event(date="2026-06-01", multiplier=0.0)
    request = forecast_fleet_need_request(hub_id=HUB, date="2026-06-01", events=[event])
    server.refuses("ForecastFleetNeed", request, InvalidArgument, "events[0].multiplier")


def test_a_team_lead_of_the_hub_imports_and_forecasts_its_history(uow):
    lead = served(uow, Principal("tl", Role.TEAM_LEAD, hubs=frozenset({HUB})))
    rows = [
        volume_history_row(
            date=r.date, route_id=r.route_id, pickups=r.pickups, packages=r.packages, weight_kg=r.weight_kg
        )
        for r in weeks_of_history("R1", 2, end=hub_today() - timedelta(days=1))
    ]
    assert lead.ok("ImportVolumeHistory", import_volume_history_request(hub_id=HUB, rows=rows)).imported == 14
    request = forecast_pickup_volume_request(hub_id=HUB, start_date=hub_today().isoformat(), days=2)
    assert len(lead.ok("ForecastPickupVolume", request).days) == 2


def test_team_leads_reach_only_their_hubs_and_a_mesh_without_a_forecaster_says_so(uow):
    other = Principal("tl", Role.TEAM_LEAD, hubs=frozenset({"hub-2"}))
    server = served(uow, other)
    request = forecast_pickup_volume_request(hub_id=HUB, start_date=hub_today().isoformat(), days=1)
    assert isinstance(server.raised("ForecastPickupVolume", request), PermissionDenied)
    rows = [volume_history_row(date="2026-01-01", route_id="R1", pickups=1, packages=1, weight_kg=1.0)]
    assert isinstance(
        server.raised("ImportVolumeHistory", import_volume_history_request(hub_id=HUB, rows=rows)), PermissionDenied
    )
    bare = ServedAs(DispatchServicer(uow, FakeAttendance()), SERVICE, ACCESS, ADMIN)
    bare.refuses("ForecastPickupVolume", request, Unavailable, "no volume forecaster")
