"""Kafka entrypoints of pur_svc: decode and validate each event, then apply a whole batch in one
unit of work. An event that fails validation raises InvalidArgument, which the consumer loop
dead-letters like an undecodable one (mesh.kafka.ConsumerLoop: whatever `decode` raises is poison)."""

from __future__ import annotations

import math
from collections.abc import Callable

from firstmile.events.v1 import events_pb2
from mesh.errors import InvalidArgument
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, decode_protobuf
from mesh.kernel import check_id, check_text
from mesh.runtime import Worker
from mesh.topics import DISPATCH_EVENTS, PUR_ROUTE_ASSIGNMENTS, ROUTING_MAP_CHANGES
from pur_svc.adapters.messages import MATCH_FROM_PROTO
from pur_svc.domain.history import DISPATCH_SVC, MAX_ACTOR_SUBJECT, SERVICE_ROLE, Actor
from pur_svc.domain.model import (
    DEFAULT_REVIEW_DISTANCE_M,
    MAX_NAME,
    MAX_REASON,
    DispatchChange,
    DispatchChangeKind,
    KnownRoute,
    MapChange,
    RouteAssignment,
    RouteMatch,
)
from pur_svc.service_layer import handlers
from pur_svc.service_layer.unit_of_work import AbstractPurUnitOfWork

# One consumer group per topic: a rebalance of one loop never pauses the other.
ASSIGNMENTS_GROUP = "pur_svc.route-assignments"
MAP_CHANGES_GROUP = "pur_svc.map-changes"
DISPATCH_GROUP = "pur_svc.dispatch-events"

DISPATCH_KINDS = {
    "dispatched": DispatchChangeKind.DISPATCHED,
    "released": DispatchChangeKind.RELEASED,
    "picked_up": DispatchChangeKind.PICKED_UP,
    "started": DispatchChangeKind.STARTED,
    "rider_changed": DispatchChangeKind.RIDER_CHANGED,
}


def decode_assignment(msg: ConsumedMessage) -> RouteAssignment:
    _, event = decode_protobuf(msg, events_pb2.RouteAssignment)
    kind = event.WhichOneof("result")
    if kind == "assigned":
        a = event.assigned
        check_id("RouteAssigned.pur_id", a.pur_id)
        check_id("RouteAssigned.route_id", a.route_id)
        check_id("RouteAssigned.hub_id", a.hub_id)
        check_id("RouteAssigned.rider_id", a.rider_id, required=False)
        match = MATCH_FROM_PROTO.get(a.match)
        if match not in (RouteMatch.EXACT, RouteMatch.NEAREST):
            raise InvalidArgument(f"RouteAssigned.match must be EXACT or NEAREST, got {a.match}")
        if not (math.isfinite(a.distance_m) and a.distance_m >= 0) or a.map_version < 1:
            raise InvalidArgument("RouteAssigned needs a finite distance_m >= 0 and map_version >= 1")
        return RouteAssignment(
            pur_id=a.pur_id,
            hub_id=a.hub_id,
            route_id=a.route_id,
            rider_id=a.rider_id,
            match=match,
            distance_m=a.distance_m,
            h3_cell=a.h3_cell,
            map_version=a.map_version,
        )
    if kind == "unroutable":
        u = event.unroutable
        check_id("Unroutable.pur_id", u.pur_id)
        check_id("Unroutable.hub_id", u.hub_id, required=False)
        check_id("Unroutable.nearest_route_id", u.nearest_route_id, required=False)
        if u.map_version < 0:
            raise InvalidArgument("Unroutable.map_version must be >= 0")
        if not (math.isfinite(u.nearest_distance_m) and u.nearest_distance_m >= 0):
            raise InvalidArgument("Unroutable.nearest_distance_m must be a finite number >= 0")
        return RouteAssignment(
            pur_id=u.pur_id,
            hub_id=u.hub_id,
            route_id="",
            rider_id="",
            match=RouteMatch.NONE,
            distance_m=0.0,
            h3_cell=u.h3_cell,
            map_version=u.map_version,
            unroutable_reason=u.reason[:500] or "no route covers this location",
            nearest_route_id=u.nearest_route_id,
            nearest_distance_m=u.nearest_distance_m if u.nearest_route_id else 0.0,
        )
    raise InvalidArgument("RouteAssignment carries neither `assigned` nor `unroutable`")


def decode_map_change(msg: ConsumedMessage) -> MapChange:
    _, event = decode_protobuf(msg, events_pb2.RouteMapChanged)
    check_id("RouteMapChanged.hub_id", event.hub_id)
    if event.map_version < 1:
        raise InvalidArgument("RouteMapChanged.map_version must be >= 1")
    # Part 0 is an event from before parts existed: 1 of 1.
    part, parts = event.part or 1, event.parts or 1
    if not 1 <= part <= parts:
        raise InvalidArgument(f"RouteMapChanged.part must be between 1 and parts ({event.parts}), got {event.part}")
    routes = []
    for index, route in enumerate(event.routes):
        field = f"RouteMapChanged.routes[{index}]"
        check_id(f"{field}.id", route.id)
        check_id(f"{field}.default_rider_id", route.default_rider_id, required=False)
        check_text(f"{field}.name", route.name, MAX_NAME)
        routes.append(
            KnownRoute(route.id, event.hub_id, route.name, route.default_rider_id, route.active, route.priority)
        )
    for index, route_id in enumerate(event.deleted_route_ids):
        check_id(f"RouteMapChanged.deleted_route_ids[{index}]", route_id)
    return MapChange(event.hub_id, event.map_version, tuple(routes), tuple(event.deleted_route_ids), part, parts)


def decode_dispatch_event(msg: ConsumedMessage) -> DispatchChange:
    _, event = decode_protobuf(msg, events_pb2.DispatchEvent)
    check_id("DispatchEvent.pur_id", event.pur_id)
    check_id("DispatchEvent.dispatch_id", event.dispatch_id)
    kind = DISPATCH_KINDS.get(event.WhichOneof("change") or "")
    if kind is None:
        raise InvalidArgument("DispatchEvent carries no known change")
    if event.version < 1:
        raise InvalidArgument("DispatchEvent.version must be >= 1")
    check_id("DispatchEvent.rider_id", event.rider_id, required=False)
    moved_from = event.dispatched.moved_from_dispatch_id if kind is DispatchChangeKind.DISPATCHED else ""
    check_id("DispatchEvent.dispatched.moved_from_dispatch_id", moved_from, required=False)
    return DispatchChange(
        pur_id=event.pur_id,
        dispatch_id=event.dispatch_id,
        kind=kind,
        version=event.version,
        rider_id=event.rider_id,
        actor=_actor(event),
        reason=_dispatch_reason(event),
        moved_from=moved_from,
    )


def _actor(event: events_pb2.DispatchEvent) -> Actor:
    """Who made the change: the event's actor, or dispatch_svc for events published before
    events carried one."""
    if not event.actor.subject:
        return DISPATCH_SVC
    return Actor(_printable(event.actor.subject, MAX_ACTOR_SUBJECT), _printable(event.actor.role, 20) or SERVICE_ROLE)


def _dispatch_reason(event: events_pb2.DispatchEvent) -> str:
    """Why, in words: the event's reason, or a release's detail for events without one."""
    text = event.reason or (event.released.detail if event.WhichOneof("change") == "released" else "")
    return _printable(text, MAX_REASON)


def _printable(text: str, max_length: int) -> str:
    # Words for the history only: a dispatch change is never dead-lettered for them, so they are
    # cleaned (control characters dropped, cut to length) rather than refused.
    return "".join(c for c in text if c.isprintable())[:max_length]


def consumer_workers(
    infra: Infrastructure,
    uow_factory: Callable[[], AbstractPurUnitOfWork],
    *,
    review_distance_m: float = DEFAULT_REVIEW_DISTANCE_M,
    reroute_batch_size: int = handlers.DEFAULT_REROUTE_BATCH_SIZE,
) -> list[Worker]:
    def assignments(items: list[tuple[ConsumedMessage, RouteAssignment]]) -> None:
        handlers.apply_route_assignments(
            uow_factory(), [assignment for _, assignment in items], review_distance_m=review_distance_m
        )

    def map_changes(items: list[tuple[ConsumedMessage, MapChange]]) -> None:
        for _, change in items:
            handlers.apply_map_change(uow_factory(), change, batch_size=reroute_batch_size)

    def dispatch_changes(items: list[tuple[ConsumedMessage, DispatchChange]]) -> None:
        handlers.apply_dispatch_changes(uow_factory(), [change for _, change in items])

    return [
        infra.consumer(DISPATCH_GROUP, DISPATCH_EVENTS, decode_dispatch_event, dispatch_changes),
        infra.consumer(ASSIGNMENTS_GROUP, PUR_ROUTE_ASSIGNMENTS, decode_assignment, assignments),
        infra.consumer(MAP_CHANGES_GROUP, ROUTING_MAP_CHANGES, decode_map_change, map_changes, max_batch=50),
    ]
