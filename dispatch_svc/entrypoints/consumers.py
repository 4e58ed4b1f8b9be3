"""Kafka entrypoints of dispatch_svc: decode and validate each event (a bad one raises
InvalidArgument, or PoisonMessage for a broken envelope, and goes to the DLQ), then apply a whole
batch in one unit of work.

- `pur.events.v1` (group `dispatch_svc.pur-events`): PickupStatusChanged, the PURs to dispatch.
- `routing.map-changes.v1` (group `dispatch_svc.map-changes`, shared by the replicas): the route
  summaries of each RouteMapChanged part, kept as the route read model (names on the board).
- `attendance.events.v1` (group `dispatch_svc.attendance-events`): AttendanceChanged, kept as the
  attendance read model the planner reads; a rider gone for the day releases their OPEN dispatches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from dispatch_svc.adapters.hub_messages import attendance_change_from_proto
from dispatch_svc.adapters.messages import PICKUP_STATUS_FROM_PROTO, ROUTE_MATCH_FROM_PROTO
from dispatch_svc.domain.hubs import AttendanceChange
from dispatch_svc.domain.model import MAX_PICKUP_PACKAGES, MAX_PICKUP_WEIGHT_KG, PickupStatus, PurSnapshot
from dispatch_svc.domain.planning import PlanningSettings
from dispatch_svc.domain.routes import RouteMapChange, RouteSummary
from dispatch_svc.service_layer import handlers, hubs
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from firstmile.events.v1 import events_pb2
from mesh.errors import InvalidArgument
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, decode_protobuf
from mesh.kernel import check_coordinates, check_id, check_text, parse_date
from mesh.runtime import Worker
from mesh.topics import ATTENDANCE_EVENTS, PUR_EVENTS, ROUTING_MAP_CHANGES

PUR_EVENTS_GROUP = "dispatch_svc.pur-events"
MAP_CHANGES_GROUP = "dispatch_svc.map-changes"
ATTENDANCE_EVENTS_GROUP = "dispatch_svc.attendance-events"
# routing_svc's limit of a route name (routing_svc.domain.model.MAX_ROUTE_NAME_CHARS).
MAX_ROUTE_NAME = 200


def decode_pur_event(msg: ConsumedMessage) -> PurSnapshot:
    _, event = decode_protobuf(msg, events_pb2.PickupStatusChanged)
    check_id("pur_id", event.pur_id)
    if event.version < 1:
        raise InvalidArgument("PickupStatusChanged.version must be >= 1")
    status = PICKUP_STATUS_FROM_PROTO.get(event.status)
    if status is None:
        raise InvalidArgument(f"PickupStatusChanged.status {event.status} is not a known PickupStatus")
    if status is not PickupStatus.ROUTED:
        # Only the id, version and status matter for anything but a routed PUR.
        return PurSnapshot(
            pur_id=event.pur_id,
            version=event.version,
            status=status,
            hub_id=event.hub_id,
            route_id=event.route_id,
            pickup_date=None,
            previous_route_id=event.previous_route_id,
        )
    return _routed_snapshot(event, status)


def _routed_snapshot(event: events_pb2.PickupStatusChanged, status: PickupStatus) -> PurSnapshot:
    pur = event.pickup_request
    check_id("hub_id", event.hub_id)
    check_id("route_id", event.route_id)
    check_id("pickup_request.rider_id", pur.rider_id, required=False)
    check_id("client_id", event.client_id, required=False)
    pickup_date = parse_date("pickup_date", event.pickup_date)
    if not event.HasField("pickup_request") or pur.id != event.pur_id:
        raise InvalidArgument("a ROUTED PickupStatusChanged must carry its pickup_request snapshot")
    if not 0 <= pur.expected_packages <= MAX_PICKUP_PACKAGES:
        raise InvalidArgument(f"expected_packages {pur.expected_packages} is out of range")
    if not (math.isfinite(pur.expected_weight_kg) and 0.0 <= pur.expected_weight_kg <= MAX_PICKUP_WEIGHT_KG):
        raise InvalidArgument(f"expected_weight_kg {pur.expected_weight_kg!r} is out of range")
    lat, lng = check_coordinates("warehouse.location", pur.warehouse.location.lat, pur.warehouse.location.lng)
    return PurSnapshot(
        pur_id=event.pur_id,
        version=event.version,
        status=status,
        hub_id=event.hub_id,
        route_id=event.route_id,
        pickup_date=pickup_date,
        client_id=event.client_id or pur.client_id,
        warehouse_name=pur.warehouse.name[:200],
        lat=lat,
        lng=lng,
        packages=pur.expected_packages,
        weight_kg=pur.expected_weight_kg,
        route_match=ROUTE_MATCH_FROM_PROTO.get(pur.route_match),
        rider_id=pur.rider_id,
        previous_route_id=event.previous_route_id,
    )


def decode_map_change(msg: ConsumedMessage) -> RouteMapChange:
    _, event = decode_protobuf(msg, events_pb2.RouteMapChanged)
    hub_id = check_id("RouteMapChanged.hub_id", event.hub_id)
    if event.map_version < 1:
        raise InvalidArgument(f"RouteMapChanged.map_version must be >= 1, got {event.map_version}")
    # Part 0 is an event from before parts existed: 1 of 1.
    part, parts = event.part or 1, event.parts or 1
    if not 1 <= part <= parts:
        raise InvalidArgument(f"RouteMapChanged.part must be between 1 and parts ({event.parts}), got {event.part}")
    routes = tuple(_route_summary(index, route) for index, route in enumerate(event.routes))
    deleted = tuple(
        check_id(f"RouteMapChanged.deleted_route_ids[{index}]", route_id)
        for index, route_id in enumerate(event.deleted_route_ids)
    )
    named = [r.route_id for r in routes] + list(deleted)
    if len(set(named)) != len(named):
        twice = sorted({route_id for route_id in named if named.count(route_id) > 1})
        raise InvalidArgument(f"RouteMapChanged names routes more than once: {', '.join(twice[:10])}")
    return RouteMapChange(hub_id, event.map_version, routes, deleted, part, parts)


def _route_summary(index: int, route: events_pb2.RouteSummary) -> RouteSummary:
    field = f"RouteMapChanged.routes[{index}]"
    return RouteSummary(
        route_id=check_id(f"{field}.id", route.id),
        name=check_text(f"{field}.name", route.name, MAX_ROUTE_NAME),
        default_rider_id=check_id(f"{field}.default_rider_id", route.default_rider_id, required=False),
        active=route.active,
        priority=route.priority,
    )


def decode_attendance_event(msg: ConsumedMessage) -> AttendanceChange:
    _, event = decode_protobuf(msg, events_pb2.AttendanceChanged)
    return attendance_change_from_proto(event)


def consumer_workers(
    infra: Infrastructure,
    uow_factory: Callable[[], AbstractDispatchUnitOfWork],
    *,
    planning_settings: PlanningSettings,
) -> list[Worker]:
    def pur_changes(items: list[tuple[ConsumedMessage, PurSnapshot]]) -> None:
        handlers.apply_pur_changes(uow_factory(), [snapshot for _, snapshot in items], settings=planning_settings)

    def map_changes(items: list[tuple[ConsumedMessage, RouteMapChange]]) -> None:
        handlers.apply_route_map_changes(uow_factory(), [change for _, change in items])

    def attendance_changes(items: list[tuple[ConsumedMessage, AttendanceChange]]) -> None:
        hubs.apply_attendance_changes(uow_factory(), [change for _, change in items])

    return [
        infra.consumer(PUR_EVENTS_GROUP, PUR_EVENTS, decode_pur_event, pur_changes),
        infra.consumer(MAP_CHANGES_GROUP, ROUTING_MAP_CHANGES, decode_map_change, map_changes, max_batch=50),
        infra.consumer(ATTENDANCE_EVENTS_GROUP, ATTENDANCE_EVENTS, decode_attendance_event, attendance_changes),
    ]
