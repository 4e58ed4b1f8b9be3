"""The requests the demo, the benchmarks and the fault suite send, built in one place."""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile.routing.v1 import routing_pb2


def create_pickup_request(
    *,
    request_id: str,
    client_id: str,
    hub_id: str,
    pickup_date: str,
    lat: float,
    lng: float,
    packages: int,
    weight_kg: float,
    warehouse_id: str = "",
    warehouse_name: str = "",
    address: str = "",
    pincode: str = "",
) -> pur_pb2.CreatePickupRequestRequest:
    """A pickup request from a client's warehouse at (lat, lng) on `pickup_date` (YYYY-MM-DD)."""
    return pur_pb2.CreatePickupRequestRequest(
        request_id=request_id,
        client_id=client_id,
        hub_id=hub_id,
        warehouse=common_pb2.Warehouse(
            id=warehouse_id,
            name=warehouse_name,
            address=address,
            pincode=pincode,
            location=common_pb2.LatLng(lat=lat, lng=lng),
        ),
        pickup_date=pickup_date,
        expected_packages=packages,
        expected_weight_kg=weight_kg,
    )


def import_routes_request(
    hub_id: str, collection: dict, *, replace_existing: bool = True
) -> routing_pb2.ImportRoutesRequest:
    """The hub's route map from a GeoJSON FeatureCollection; with `replace_existing` the map
    becomes exactly `collection` (routes missing from it are deleted), so a re-run changes nothing."""
    return routing_pb2.ImportRoutesRequest(
        hub_id=hub_id, feature_collection_geojson=json.dumps(collection), replace_existing=replace_existing
    )


def upsert_rider_request(*, rider_id: str, hub_id: str, name: str, phone: str = "") -> dispatch_pb2.UpsertRiderRequest:
    """An active rider of the hub, created or replaced."""
    return dispatch_pb2.UpsertRiderRequest(
        rider=dispatch_pb2.Rider(id=rider_id, hub_id=hub_id, name=name, phone=phone, active=True)
    )


def upsert_vehicle_request(
    *,
    vehicle_id: str,
    hub_id: str,
    vehicle_type: dispatch_pb2.VehicleType,
    capacity_packages: int,
    capacity_kg: float,
    registration: str,
) -> dispatch_pb2.UpsertVehicleRequest:
    """An active vehicle of the hub, created or replaced."""
    return dispatch_pb2.UpsertVehicleRequest(
        vehicle=dispatch_pb2.Vehicle(
            id=vehicle_id,
            hub_id=hub_id,
            type=vehicle_type,
            capacity_packages=capacity_packages,
            capacity_kg=capacity_kg,
            registration=registration,
            active=True,
        )
    )


def record_attendance_request(
    *,
    rider_id: str,
    hub_id: str,
    day: str,
    status: attendance_pb2.AttendanceStatus,
    shift: str = "",
    check_in: datetime | None = None,
    shift_window: tuple[datetime, datetime] | None = None,
) -> attendance_pb2.RecordAttendanceRequest:
    """A rider's attendance on `day` (YYYY-MM-DD), created or replaced; `shift_window` is the
    working window (start, end), which a ROSTERED record needs."""
    request = attendance_pb2.RecordAttendanceRequest(
        rider_id=rider_id, hub_id=hub_id, date=day, status=status, shift=shift
    )
    if check_in is not None:
        request.check_in_time.FromDatetime(check_in)
    if shift_window is not None:
        request.shift_start.FromDatetime(shift_window[0])
        request.shift_end.FromDatetime(shift_window[1])
    return request


def create_dispatch_request(
    *,
    request_id: str,
    hub_id: str,
    route_id: str,
    pickup_date: str,
    rider_id: str = "",
    vehicle_id: str = "",
    pur_ids: Iterable[str] = (),
) -> dispatch_pb2.CreateDispatchRequest:
    """A dispatch of the route's pickups; an empty rider or vehicle is the top recommendation, no
    `pur_ids` the route's queue as far as the vehicle's capacity allows."""
    return dispatch_pb2.CreateDispatchRequest(
        request_id=request_id,
        hub_id=hub_id,
        route_id=route_id,
        pickup_date=pickup_date,
        rider_id=rider_id,
        vehicle_id=vehicle_id,
        pur_ids=list(pur_ids),
    )


def list_manual_queue_request(
    *,
    hub_id: str = "",
    hubless: bool = False,
    pickup_date: str = "",
    review: pur_pb2.ReviewReason = pur_pb2.REVIEW_REASON_UNSPECIFIED,
    page_size: int = 0,
    page_token: str = "",
) -> pur_pb2.ListManualQueueRequest:
    """One page of a hub's manual queue (or, with `hubless`, of the queue of PURs created without
    a hub), optionally of one day and one review reason."""
    return pur_pb2.ListManualQueueRequest(
        hub_id=hub_id,
        hubless=hubless,
        pickup_date=pickup_date,
        review=review,
        page_size=page_size,
        page_token=page_token,
    )


def assign_pickup_route_request(*, pur_id: str, route_id: str, reason: str) -> pur_pb2.AssignPickupRouteRequest:
    """A route assigned by hand to a PUR (route_match MANUAL); `reason` goes to its history."""
    return pur_pb2.AssignPickupRouteRequest(id=pur_id, route_id=route_id, reason=reason)


def batch_assign_pickup_routes_request(
    assignments: Iterable[pur_pb2.AssignPickupRouteRequest],
) -> pur_pb2.BatchAssignPickupRoutesRequest:
    """Several manual assignments (each from `assign_pickup_route_request`), all or nothing."""
    return pur_pb2.BatchAssignPickupRoutesRequest(assignments=list(assignments))


def list_pickup_history_request(pur_id: str) -> pur_pb2.ListPickupHistoryRequest:
    """Every change of one PUR, oldest first."""
    return pur_pb2.ListPickupHistoryRequest(id=pur_id)


def reassign_dispatch_request(
    *, dispatch_id: str, reason: str, rider_id: str = "", vehicle_id: str = ""
) -> dispatch_pb2.ReassignDispatchRequest:
    """Another rider or vehicle (empty keeps it) for an OPEN dispatch; `reason` goes to its
    pickups' history."""
    return dispatch_pb2.ReassignDispatchRequest(id=dispatch_id, rider_id=rider_id, vehicle_id=vehicle_id, reason=reason)


def move_pickups_request(
    *, from_dispatch_id: str, to_dispatch_id: str, pur_ids: Iterable[str], reason: str
) -> dispatch_pb2.MovePickupsRequest:
    """Pickups moved between two OPEN dispatches of one route and day, all or nothing."""
    return dispatch_pb2.MovePickupsRequest(
        from_dispatch_id=from_dispatch_id, to_dispatch_id=to_dispatch_id, pur_ids=list(pur_ids), reason=reason
    )


def watch_open_pickups_by_route_request(
    *, hub_id: str, pickup_date: str
) -> dispatch_pb2.WatchOpenPickupsByRouteRequest:
    """The live board of a hub's day: a snapshot, then the route groups that change."""
    return dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=hub_id, pickup_date=pickup_date)


def upsert_hub_request(
    *, hub_id: str, lat: float, lng: float, timezone: str, name: str = ""
) -> dispatch_pb2.UpsertHubRequest:
    """A hub with its depot at (lat, lng), where every trip starts and ends, created or replaced."""
    return dispatch_pb2.UpsertHubRequest(
        hub=dispatch_pb2.Hub(id=hub_id, name=name, location=common_pb2.LatLng(lat=lat, lng=lng), timezone=timezone)
    )


def plan_dispatches_request(
    *, hub_id: str, pickup_date: str, route_ids: Iterable[str] = ()
) -> dispatch_pb2.PlanDispatchesRequest:
    """Proposed trips for the hub's queued pickups of `pickup_date` (every route when `route_ids`
    is empty); nothing is dispatched until the plan is committed."""
    return dispatch_pb2.PlanDispatchesRequest(hub_id=hub_id, pickup_date=pickup_date, route_ids=list(route_ids))


def trip_change(
    *, trip_id: str, drop: bool = False, rider_id: str = "", vehicle_id: str = ""
) -> dispatch_pb2.TripChange:
    """A team lead's change to one planned trip: drop it, or swap its rider or vehicle (empty keeps it)."""
    return dispatch_pb2.TripChange(trip_id=trip_id, drop=drop, rider_id=rider_id, vehicle_id=vehicle_id)


def commit_dispatch_plan_request(
    *, plan_id: str, only_valid_trips: bool = False, changes: Iterable[dispatch_pb2.TripChange] = ()
) -> dispatch_pb2.CommitDispatchPlanRequest:
    """Every trip of a stored plan made a dispatch, in one transaction (with `only_valid_trips`,
    the trips the world did not invalidate since planning); `changes` from `trip_change`."""
    return dispatch_pb2.CommitDispatchPlanRequest(
        plan_id=plan_id, only_valid_trips=only_valid_trips, changes=list(changes)
    )


def volume_history_row(
    *, date: str, route_id: str, pickups: int, packages: int, weight_kg: float
) -> dispatch_pb2.VolumeHistoryRow:
    """What one route saw on one day ("YYYY-MM-DD", today or earlier in the hub's time zone)."""
    return dispatch_pb2.VolumeHistoryRow(
        date=date, route_id=route_id, pickups=pickups, packages=packages, weight_kg=weight_kg
    )


def import_volume_history_request(
    *, hub_id: str, rows: Iterable[dispatch_pb2.VolumeHistoryRow], validate_only: bool = False
) -> dispatch_pb2.ImportVolumeHistoryRequest:
    """Daily volume rows (from `volume_history_row`, at most 10000 a call) imported for a hub, all or
    none; importing a route's day again replaces it. `validate_only` checks and writes nothing."""
    return dispatch_pb2.ImportVolumeHistoryRequest(hub_id=hub_id, rows=list(rows), validate_only=validate_only)


def volume_event(*, date: str, multiplier: float, name: str = "", route_id: str = "") -> dispatch_pb2.VolumeEvent:
    """A holiday (multiplier < 1) or promotion (> 1) on `date`, for one route or (empty) the whole hub."""
    return dispatch_pb2.VolumeEvent(date=date, multiplier=multiplier, name=name, route_id=route_id)


def forecast_pickup_volume_request(
    *,
    hub_id: str,
    start_date: str,
    days: int,
    route_id: str = "",
    events: Iterable[dispatch_pb2.VolumeEvent] = (),
) -> dispatch_pb2.ForecastPickupVolumeRequest:
    """`days` days of a route's expected pickups, packages and kg from `start_date` (the hub's total
    when `route_id` is empty), with 80% intervals and the model's backtest error."""
    return dispatch_pb2.ForecastPickupVolumeRequest(
        hub_id=hub_id, route_id=route_id, start_date=start_date, days=days, events=list(events)
    )


def forecast_fleet_need_request(
    *, hub_id: str, date: str, events: Iterable[dispatch_pb2.VolumeEvent] = ()
) -> dispatch_pb2.ForecastFleetNeedRequest:
    """The riders and vehicles each route needs on `date` (today or later) by forecast, against who
    is rostered that day; shortfalls and idle capacity named."""
    return dispatch_pb2.ForecastFleetNeedRequest(hub_id=hub_id, date=date, events=list(events))
