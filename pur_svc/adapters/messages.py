"""Translation between the PUR domain and protobuf: API messages, and domain events as outbox rows."""

from __future__ import annotations

from collections.abc import Iterable

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.outbox import OutboxEvent
from mesh.protobuf import enum_to_proto, inverse, timestamp
from mesh.topics import PUR_CREATED, PUR_EVENTS
from pur_svc.domain.events import RoutingReason, RoutingRequested, StatusChanged
from pur_svc.domain.history import HistoryEntry
from pur_svc.domain.model import PickupRequest, PickupStatus, ReviewReason, RouteMatch

SOURCE = "pur_svc"

STATUS_TO_PROTO = enum_to_proto(PickupStatus, pur_pb2.PickupStatus, "PICKUP_STATUS_")
STATUS_FROM_PROTO = inverse(STATUS_TO_PROTO)
MATCH_TO_PROTO = enum_to_proto(RouteMatch, common_pb2.RouteMatch, "ROUTE_MATCH_")
MATCH_FROM_PROTO = inverse(MATCH_TO_PROTO)
REVIEW_TO_PROTO = enum_to_proto(ReviewReason, pur_pb2.ReviewReason, "REVIEW_REASON_")
REVIEW_FROM_PROTO = inverse(REVIEW_TO_PROTO)


def pickup_to_proto(pur: PickupRequest) -> pur_pb2.PickupRequest:
    location = pur.warehouse.location
    return pur_pb2.PickupRequest(
        id=pur.id,
        request_id=pur.request_id,
        client_id=pur.client_id,
        hub_id=pur.hub_id,
        warehouse=common_pb2.Warehouse(
            id=pur.warehouse.id,
            name=pur.warehouse.name,
            address=pur.warehouse.address,
            pincode=pur.warehouse.pincode,
            location=common_pb2.LatLng(lat=location.lat, lng=location.lng),
        ),
        pickup_date=pur.pickup_date.isoformat(),
        expected_packages=pur.expected_packages,
        expected_weight_kg=pur.expected_weight_kg,
        status=STATUS_TO_PROTO[pur.status],
        route_id=pur.route_id,
        rider_id=pur.rider_id,
        dispatch_id=pur.dispatch_id,
        route_match=MATCH_TO_PROTO[pur.route_match] if pur.route_match else common_pb2.ROUTE_MATCH_UNSPECIFIED,
        distance_m=pur.distance_m,
        map_version=pur.map_version,
        unroutable_reason=pur.unroutable_reason,
        created_at=timestamp(pur.created_at),
        updated_at=timestamp(pur.updated_at),
        routed_at=timestamp(pur.routed_at),
        version=pur.version,
        cancel_reason=pur.cancel_reason,
        review=REVIEW_TO_PROTO[pur.review] if pur.review else pur_pb2.REVIEW_REASON_UNSPECIFIED,
        nearest_route_id=pur.nearest_route_id,
        nearest_distance_m=pur.nearest_distance_m,
        manual_reason=pur.manual_reason,
    )


def history_entry_to_proto(entry: HistoryEntry) -> pur_pb2.PickupHistoryEntry:
    return pur_pb2.PickupHistoryEntry(
        time=timestamp(entry.time),
        status=STATUS_TO_PROTO[entry.status],
        route_id=entry.route_id,
        rider_id=entry.rider_id,
        dispatch_id=entry.dispatch_id,
        route_match=MATCH_TO_PROTO[entry.route_match] if entry.route_match else common_pb2.ROUTE_MATCH_UNSPECIFIED,
        map_version=entry.map_version,
        actor=common_pb2.Actor(subject=entry.actor.subject, role=entry.actor.role),
        reason=entry.reason,
        version=entry.version,
    )


ROUTING_REASON_TO_PROTO = enum_to_proto(RoutingReason, events_pb2.RoutingReason, "ROUTING_REASON_")


def to_outbox(event: object) -> Iterable[OutboxEvent]:
    """The outbox rows of one domain event (the unit of work writes them at commit)."""
    if isinstance(event, StatusChanged):
        return (_status_changed(event),)
    if isinstance(event, RoutingRequested):
        return (_routing_requested(event),)
    raise TypeError(f"pur_svc publishes no {type(event).__name__}")


def _routing_requested(event: RoutingRequested) -> OutboxEvent:
    """A request to routing_svc to route this PUR (again), on `pur.created.v1`."""
    pur = event.pickup
    location = pur.warehouse.location
    payload = events_pb2.PickupRequested(
        pur_id=pur.id,
        hub_id=pur.hub_id,
        client_id=pur.client_id,
        location=common_pb2.LatLng(lat=location.lat, lng=location.lng),
        pickup_date=pur.pickup_date.isoformat(),
        expected_packages=pur.expected_packages,
        expected_weight_kg=pur.expected_weight_kg,
        min_map_version=event.min_map_version,
        reason=ROUTING_REASON_TO_PROTO[event.reason],
        attempt=1,
        requested_at=timestamp(event.requested_at),
        warehouse_id=pur.warehouse.id,
    )
    return OutboxEvent.of(PUR_CREATED, pur.id, payload, source=SOURCE, occurred_at=event.requested_at)


def _status_changed(event: StatusChanged) -> OutboxEvent:
    """The PUR's new state on `pur.events.v1`; `version` orders a PUR's changes."""
    pur, previous = event.pickup, event.previous_status
    payload = events_pb2.PickupStatusChanged(
        pur_id=pur.id,
        hub_id=pur.hub_id,
        client_id=pur.client_id,
        route_id=pur.route_id,
        pickup_date=pur.pickup_date.isoformat(),
        previous_status=STATUS_TO_PROTO[previous] if previous else pur_pb2.PICKUP_STATUS_UNSPECIFIED,
        status=STATUS_TO_PROTO[pur.status],
        pickup_request=pickup_to_proto(pur),
        version=pur.version,
        changed_at=timestamp(event.changed_at),
        previous_route_id=event.previous_route_id,
    )
    return OutboxEvent.of(PUR_EVENTS, pur.id, payload, source=SOURCE, occurred_at=event.changed_at)
