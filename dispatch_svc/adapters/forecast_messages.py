"""Volume history and forecasts between protobuf (firstmile.dispatch.v1) and the domain."""

from __future__ import annotations

import math
from collections.abc import Sequence

from dispatch_svc.adapters.messages import VEHICLE_TYPE_TO_PROTO
from dispatch_svc.domain.fleet_need import RouteFleetNeed
from dispatch_svc.domain.forecasting import (
    HUB_TOTAL,
    MAX_EVENT_MULTIPLIER,
    DayForecast,
    KnownEvent,
    VolumeForecast,
)
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.volumes import VolumeRowInput
from dispatch_svc.service_layer.forecasts import FleetNeedReport, PickupVolumeForecast
from firstmile.dispatch.v1 import dispatch_pb2
from mesh.errors import InvalidArgument
from mesh.kernel import check_id, check_text, parse_date
from mesh.protobuf import timestamp

MAX_EVENTS = 100
MAX_EVENT_NAME = 200


def volume_rows_from_proto(rows: Sequence[dispatch_pb2.VolumeHistoryRow]) -> list[VolumeRowInput]:
    """As they came: domain.volumes.import_rows checks them, naming the row."""
    return [VolumeRowInput(r.date, r.route_id, r.pickups, r.packages, r.weight_kg) for r in rows]


def events_from_proto(events: Sequence[dispatch_pb2.VolumeEvent]) -> tuple[KnownEvent, ...]:
    if len(events) > MAX_EVENTS:
        raise InvalidArgument(f"events holds {len(events)} events; the limit is {MAX_EVENTS}")
    return tuple(_event(i, e) for i, e in enumerate(events))


def _event(index: int, event: dispatch_pb2.VolumeEvent) -> KnownEvent:
    where = f"events[{index}]"
    if not (math.isfinite(event.multiplier) and 0.0 < event.multiplier <= MAX_EVENT_MULTIPLIER):
        raise InvalidArgument(
            f"{where}.multiplier must be finite, above 0 and at most {MAX_EVENT_MULTIPLIER:g}, got {event.multiplier!r}"
        )
    return KnownEvent(
        day=parse_date(f"{where}.date", event.date),
        multiplier=event.multiplier,
        name=check_text(f"{where}.name", event.name, MAX_EVENT_NAME),
        route_id=check_id(f"{where}.route_id", event.route_id, required=False),
    )


def _optional(value: float) -> float | None:
    return value if math.isfinite(value) else None


def day_forecast_to_proto(day: DayForecast) -> dispatch_pb2.DayVolumeForecast:
    return dispatch_pb2.DayVolumeForecast(
        date=day.day.isoformat(),
        route_id=day.route_id,
        pickups=round(day.pickups, 3),
        pickups_low=round(day.pickups_low, 3),
        pickups_high=round(day.pickups_high, 3),
        packages=round(day.packages, 3),
        weight_kg=round(day.weight_kg, 3),
    )


def volume_forecast_to_proto(result: PickupVolumeForecast) -> dispatch_pb2.ForecastPickupVolumeResponse:
    forecast, backtest = result.forecast, result.forecast.backtest
    return dispatch_pb2.ForecastPickupVolumeResponse(
        days=[day_forecast_to_proto(d) for d in forecast.days],
        model=forecast.model,
        backtest_mase=_optional(backtest.mase),
        interval_coverage=_optional(backtest.coverage_80),
        backtest_origins=backtest.origins,
        backtest_horizon=backtest.horizon,
        history_days=result.history_days,
        history_start=result.history_start.isoformat(),
        history_end=result.history_end.isoformat(),
        backtest_computed_at=timestamp(result.backtest_computed_at),
        route_id=forecast.route_id if forecast.route_id != HUB_TOTAL else "",
    )


def _route_to_proto(route: RouteFleetNeed, forecast: VolumeForecast | None, name: str) -> dispatch_pb2.RouteFleetNeed:
    message = dispatch_pb2.RouteFleetNeed(
        route_id=route.route_id,
        route_name=name,
        vehicle_type=(
            VEHICLE_TYPE_TO_PROTO[route.vehicle_type]
            if route.vehicle_type is not None
            else dispatch_pb2.VEHICLE_TYPE_UNSPECIFIED
        ),
        trips=route.trips,
        trip_minutes=round(route.trip_minutes, 1),
        trips_per_rider=route.trips_per_rider,
        riders_needed=route.riders_needed,
        riders_needed_high=route.riders_needed_high,
        rostered_rider_ids=route.rostered_riders,
        rider_shortfall=route.rider_shortfall,
        idle_rider_ids=route.idle_riders,
        notes=route.notes,
    )
    if forecast is not None:
        message.forecast.CopyFrom(day_forecast_to_proto(forecast.days[0]))
        message.model = forecast.model
        mase = _optional(forecast.backtest.mase)
        if mase is not None:
            message.backtest_mase = mase
    return message


def fleet_need_to_proto(report: FleetNeedReport) -> dispatch_pb2.ForecastFleetNeedResponse:
    need = report.need
    types: list[VehicleType] = sorted(
        set(need.vehicles_needed) | set(need.vehicles_available), key=lambda t: VEHICLE_TYPE_TO_PROTO[t]
    )
    return dispatch_pb2.ForecastFleetNeedResponse(
        hub_id=need.hub_id,
        date=need.day.isoformat(),
        routes=[
            _route_to_proto(r, report.forecasts.get(r.route_id), report.route_names.get(r.route_id, ""))
            for r in need.routes
        ],
        riders_needed=need.riders_needed,
        riders_needed_high=need.riders_needed_high,
        riders_rostered=need.riders_rostered,
        floating_rider_ids=need.floating_riders,
        rider_shortfall=need.rider_shortfall,
        vehicles=[
            dispatch_pb2.VehicleTypeNeed(
                type=VEHICLE_TYPE_TO_PROTO[t],
                needed=need.vehicles_needed.get(t, 0),
                available=need.vehicles_available.get(t, 0),
                shortfall=need.vehicle_shortfall.get(t, 0),
                idle=need.idle_vehicles.get(t, 0),
            )
            for t in types
        ],
        notes=[*need.notes, *report.notes],
    )
