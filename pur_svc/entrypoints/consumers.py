"""Kafka entrypoints of pur_svc: decode and validate each event (a bad one is poison and goes to
the DLQ), then apply a whole batch in one unit of work."""

from __future__ import annotations

import math
from collections.abc import Callable

from firstmile.events.v1 import events_pb2
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, PoisonMessage, decode_protobuf
from mesh.runtime import Worker
from mesh.topics import DISPATCH_EVENTS, PUR_ROUTE_ASSIGNMENTS, ROUTING_MAP_CHANGES
from pur_svc.adapters.messages import MATCH_FROM_PROTO
from pur_svc.domain.model import ID_PATTERN, DispatchChange, DispatchChangeKind, RouteAssignment, RouteMatch
from pur_svc.service_layer import handlers
from pur_svc.service_layer.unit_of_work import PurUnitOfWork

# One consumer group per topic: a rebalance of one loop never pauses the other.
ASSIGNMENTS_GROUP = "pur_svc.route-assignments"
MAP_CHANGES_GROUP = "pur_svc.map-changes"
DISPATCH_GROUP = "pur_svc.dispatch-events"

DISPATCH_KINDS = {
    "dispatched": DispatchChangeKind.DISPATCHED,
    "released": DispatchChangeKind.RELEASED,
    "picked_up": DispatchChangeKind.PICKED_UP,
    "started": DispatchChangeKind.STARTED,
}


def _require_id(name: str, value: str, *, required: bool = True) -> None:
    if (required or value) and not ID_PATTERN.match(value):
        raise PoisonMessage(f"{name} {value!r} is not a valid id")


def decode_assignment(msg: ConsumedMessage) -> RouteAssignment:
    _, event = decode_protobuf(msg, events_pb2.RouteAssignment)
    kind = event.WhichOneof("result")
    if kind == "assigned":
        a = event.assigned
        _require_id("pur_id", a.pur_id)
        _require_id("route_id", a.route_id)
        _require_id("hub_id", a.hub_id)
        _require_id("rider_id", a.rider_id, required=False)
        match = MATCH_FROM_PROTO.get(a.match)
        if match not in (RouteMatch.EXACT, RouteMatch.NEAREST):
            raise PoisonMessage(f"RouteAssigned.match must be EXACT or NEAREST, got {a.match}")
        if not (math.isfinite(a.distance_m) and a.distance_m >= 0) or a.map_version < 1:
            raise PoisonMessage("RouteAssigned needs a finite distance_m >= 0 and map_version >= 1")
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
        _require_id("pur_id", u.pur_id)
        _require_id("hub_id", u.hub_id, required=False)
        if u.map_version < 0:
            raise PoisonMessage("Unroutable.map_version must be >= 0")
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
        )
    raise PoisonMessage("RouteAssignment carries neither `assigned` nor `unroutable`")


def decode_map_change(msg: ConsumedMessage) -> events_pb2.RouteMapChanged:
    _, event = decode_protobuf(msg, events_pb2.RouteMapChanged)
    _require_id("hub_id", event.hub_id)
    if event.map_version < 1:
        raise PoisonMessage("RouteMapChanged.map_version must be >= 1")
    return event


def decode_dispatch_event(msg: ConsumedMessage) -> DispatchChange:
    _, event = decode_protobuf(msg, events_pb2.DispatchEvent)
    _require_id("pur_id", event.pur_id)
    _require_id("dispatch_id", event.dispatch_id)
    kind = DISPATCH_KINDS.get(event.WhichOneof("change") or "")
    if kind is None:
        raise PoisonMessage("DispatchEvent carries no known change")
    if event.version < 1:
        raise PoisonMessage("DispatchEvent.version must be >= 1")
    return DispatchChange(pur_id=event.pur_id, dispatch_id=event.dispatch_id, kind=kind, version=event.version)


def consumer_workers(infra: Infrastructure, uow_factory: Callable[[], PurUnitOfWork]) -> list[Worker]:
    def assignments(items: list[tuple[ConsumedMessage, RouteAssignment]]) -> None:
        handlers.apply_route_assignments(uow_factory(), [assignment for _, assignment in items])

    def map_changes(items: list[tuple[ConsumedMessage, events_pb2.RouteMapChanged]]) -> None:
        for _, change in items:
            handlers.apply_map_change(uow_factory(), change.hub_id, change.map_version)

    def dispatch_changes(items: list[tuple[ConsumedMessage, DispatchChange]]) -> None:
        handlers.apply_dispatch_changes(uow_factory(), [change for _, change in items])

    return [
        infra.consumer(DISPATCH_GROUP, DISPATCH_EVENTS, decode_dispatch_event, dispatch_changes),
        infra.consumer(ASSIGNMENTS_GROUP, PUR_ROUTE_ASSIGNMENTS, decode_assignment, assignments),
        infra.consumer(MAP_CHANGES_GROUP, ROUTING_MAP_CHANGES, decode_map_change, map_changes, max_batch=50),
    ]
