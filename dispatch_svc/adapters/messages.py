"""Translation between the dispatch domain and protobuf: API messages, and the domain events as
outbox rows for Kafka (`to_outbox`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from google.protobuf.duration_pb2 import Duration

from dispatch_svc.domain.events import DispatchEvent
from dispatch_svc.domain.model import (
    ChangeKind,
    Dispatch,
    DispatchStatus,
    PickupStatus,
    ReleaseReason,
    Rider,
    RouteMatch,
    Vehicle,
    VehicleType,
)
from dispatch_svc.domain.ranking import AttendanceSource, AttendanceView, RiderScore, VehicleScore
from dispatch_svc.service_layer.views import RouteGroupView
from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.outbox import OutboxEvent
from mesh.protobuf import enum_to_proto, inverse, timestamp
from mesh.topics import DISPATCH_EVENTS

SOURCE = "dispatch_svc"

DISPATCH_STATUS_TO_PROTO = enum_to_proto(DispatchStatus, dispatch_pb2.DispatchStatus, "DISPATCH_STATUS_")
DISPATCH_STATUS_FROM_PROTO = inverse(DISPATCH_STATUS_TO_PROTO)
VEHICLE_TYPE_TO_PROTO = enum_to_proto(VehicleType, dispatch_pb2.VehicleType, "VEHICLE_TYPE_")
VEHICLE_TYPE_FROM_PROTO = inverse(VEHICLE_TYPE_TO_PROTO)
PICKUP_STATUS_TO_PROTO = enum_to_proto(PickupStatus, pur_pb2.PickupStatus, "PICKUP_STATUS_")
PICKUP_STATUS_FROM_PROTO = inverse(PICKUP_STATUS_TO_PROTO)
ROUTE_MATCH_TO_PROTO = enum_to_proto(RouteMatch, common_pb2.RouteMatch, "ROUTE_MATCH_")
ROUTE_MATCH_FROM_PROTO = inverse(ROUTE_MATCH_TO_PROTO)
RELEASE_REASON_TO_PROTO = enum_to_proto(ReleaseReason, events_pb2.ReleaseReason, "RELEASE_REASON_")
ATTENDANCE_SOURCE_TO_PROTO = enum_to_proto(
    AttendanceSource, attendance_pb2.AttendanceSource, "ATTENDANCE_SOURCE_", UNKNOWN="ATTENDANCE_SOURCE_UNSPECIFIED"
)
ATTENDANCE_SOURCE_FROM_PROTO = inverse(ATTENDANCE_SOURCE_TO_PROTO)


def rider_to_proto(rider: Rider) -> dispatch_pb2.Rider:
    return dispatch_pb2.Rider(id=rider.id, hub_id=rider.hub_id, name=rider.name, phone=rider.phone, active=rider.active)


def vehicle_to_proto(vehicle: Vehicle) -> dispatch_pb2.Vehicle:
    return dispatch_pb2.Vehicle(
        id=vehicle.id,
        hub_id=vehicle.hub_id,
        type=VEHICLE_TYPE_TO_PROTO[vehicle.type],
        capacity_packages=vehicle.capacity_packages,
        capacity_kg=vehicle.capacity_kg,
        registration=vehicle.registration,
        active=vehicle.active,
    )


def dispatch_to_proto(d: Dispatch) -> dispatch_pb2.Dispatch:
    return dispatch_pb2.Dispatch(
        id=d.id,
        hub_id=d.hub_id,
        route_id=d.route_id,
        pickup_date=d.pickup_date.isoformat(),
        rider_id=d.rider_id,
        vehicle_id=d.vehicle_id,
        status=DISPATCH_STATUS_TO_PROTO[d.status],
        pur_ids=d.pur_ids,
        total_packages=d.load.packages,
        total_weight_kg=round(d.load.weight_kg, 6),
        created_at=timestamp(d.created_at),
        started_at=timestamp(d.started_at),
        completed_at=timestamp(d.completed_at),
        cancelled_at=timestamp(d.cancelled_at),
        cancel_reason=d.cancel_reason,
        version=d.version,
        request_id=d.request_id,
        stops=[
            dispatch_pb2.DispatchStop(pur_id=stop.pur_id, sequence=stop.sequence, eta=timestamp(stop.eta))
            for stop in d.current_stops()
        ],
        plan_id=d.plan_id,
    )


_STATUS_VALUE_TO_PROTO = {status.value: value for status, value in PICKUP_STATUS_TO_PROTO.items()}
_MATCH_VALUE_TO_PROTO = {match.value: value for match, value in ROUTE_MATCH_TO_PROTO.items()}


def route_group_to_proto(group: RouteGroupView) -> dispatch_pb2.RouteGroup:
    message = dispatch_pb2.RouteGroup(
        route_id=group.route_id,
        route_name=group.route_name,
        pur_count=group.pur_count,
        expected_packages=group.packages,
        expected_weight_kg=round(group.weight_kg, 6),
        queued_count=group.queued_count,
    )
    # Built in place with add(): passing a list of messages copies each one, which costs several
    # times more when a group holds thousands of pickups.
    add = message.pickups.add
    statuses, matches = _STATUS_VALUE_TO_PROTO, _MATCH_VALUE_TO_PROTO
    for p in group.pickups:
        item = add(
            pur_id=p.pur_id,
            client_id=p.client_id,
            warehouse_name=p.warehouse_name,
            expected_packages=p.packages,
            expected_weight_kg=p.weight_kg,
            status=statuses[p.status],
            dispatch_id=p.dispatch_id or "",
            route_match=matches.get(p.route_match or "", 0),
        )
        location = item.location
        location.lat = p.lat
        location.lng = p.lng
    if group.open_dispatch is not None:
        message.open_dispatch.CopyFrom(dispatch_to_proto(group.open_dispatch))
    return message


def freshness_to_proto(view: AttendanceView, now: datetime) -> attendance_pb2.Freshness:
    freshness = attendance_pb2.Freshness(
        source=ATTENDANCE_SOURCE_TO_PROTO[view.source],
        stale=view.stale or not view.known,
        stale_reason=view.reason if (view.stale or not view.known) else "",
    )
    if view.fetched_at is not None:
        freshness.fetched_at.FromDatetime(view.fetched_at)
        age = Duration()
        age.FromTimedelta(max(now - view.fetched_at, timedelta(0)))
        freshness.age.CopyFrom(age)
    return freshness


def rider_score_to_proto(s: RiderScore) -> dispatch_pb2.RiderRecommendation:
    return dispatch_pb2.RiderRecommendation(
        rider_id=s.rider.id,
        name=s.rider.name,
        score=s.score,
        reasons=list(s.reasons),
        present=s.present,
        on_active_dispatch=s.on_active_dispatch,
        past_dispatches_on_route=s.past_dispatches,
        default_rider=s.default_rider,
    )


def vehicle_score_to_proto(s: VehicleScore) -> dispatch_pb2.VehicleRecommendation:
    return dispatch_pb2.VehicleRecommendation(
        vehicle_id=s.vehicle.id,
        type=VEHICLE_TYPE_TO_PROTO[s.vehicle.type],
        score=s.score,
        reasons=list(s.reasons),
        capacity_packages=s.vehicle.capacity_packages,
        capacity_kg=s.vehicle.capacity_kg,
        past_dispatches_on_route=s.past_dispatches,
        fits_load=s.fits_load,
        on_active_dispatch=s.on_active_dispatch,
    )


def to_outbox(event: object) -> Iterable[OutboxEvent]:
    """The outbox rows of one of dispatch_svc's domain events."""
    if isinstance(event, DispatchEvent):
        return [_dispatch_event(event)]
    raise TypeError(f"dispatch_svc does not publish {type(event).__name__}")


def _dispatch_event(event: DispatchEvent) -> OutboxEvent:
    """One pickup's change on `dispatch.events.v1`, keyed by the PUR id."""
    payload = events_pb2.DispatchEvent(
        pur_id=event.pur_id,
        dispatch_id=event.dispatch_id,
        hub_id=event.hub_id,
        route_id=event.route_id,
        pickup_date=event.pickup_date.isoformat(),
        rider_id=event.rider_id,
        vehicle_id=event.vehicle_id,
        dispatch_status=DISPATCH_STATUS_TO_PROTO[event.dispatch_status],
        version=event.version,
        occurred_at=timestamp(event.occurred_at),
        actor=common_pb2.Actor(subject=event.actor.subject, role=event.actor.role),
        reason=event.reason[:500],
    )
    if event.kind is ChangeKind.DISPATCHED:
        payload.dispatched.automatic = event.automatic
        payload.dispatched.moved_from_dispatch_id = event.moved_from_dispatch_id
    elif event.kind is ChangeKind.RIDER_CHANGED:
        payload.rider_changed.previous_rider_id = event.previous_rider_id
        payload.rider_changed.previous_vehicle_id = event.previous_vehicle_id
    elif event.kind is ChangeKind.RELEASED:
        payload.released.reason = RELEASE_REASON_TO_PROTO[event.release_reason or ReleaseReason.REMOVED]
        payload.released.detail = event.detail[:500]
    elif event.kind is ChangeKind.PICKED_UP:
        payload.picked_up.SetInParent()
    else:
        payload.started.SetInParent()
    return OutboxEvent.of(DISPATCH_EVENTS, event.pur_id, payload, source=SOURCE, occurred_at=event.occurred_at)
