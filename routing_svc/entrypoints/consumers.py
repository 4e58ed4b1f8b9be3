"""Kafka entrypoints of routing_svc: decode and validate each event (a bad one is poison and goes
to the DLQ), then handle the whole batch at once.

- `pur.created.v1` (group `routing_svc`, shared by the replicas): route a batch of pickups with
  vectorized lookups and queue their assignments in one transaction.
- `routing.map-changes.v1` (a group of its own per replica, so EVERY replica sees every change):
  load the hub's new map version. Start-up loads every map, so a new replica reads only changes
  made from then on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from firstmile.events.v1 import events_pb2
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, PoisonMessage, decode_protobuf
from mesh.runtime import Worker
from mesh.topics import PUR_CREATED, ROUTING_MAP_CHANGES
from routing_svc.entrypoints.validation import id_problem, location_problem
from routing_svc.service_layer import handlers
from routing_svc.service_layer.commands import RoutePickup
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import RoutingUnitOfWork

GROUP = "routing_svc"
INDEX_GROUP_PREFIX = "routing_svc-index-"
PICKUP_BATCH = 1000


def decode_pickup_requested(msg: ConsumedMessage) -> RoutePickup:
    _, event = decode_protobuf(msg, events_pb2.PickupRequested)
    problem = id_problem("pur_id", event.pur_id) or id_problem("hub_id", event.hub_id, required=False)
    if problem is None and not event.HasField("location"):
        problem = "location is required"
    if problem is None:
        problem = location_problem("location", event.location.lat, event.location.lng)
    if problem is None and event.min_map_version < 0:
        problem = f"min_map_version must not be negative, got {event.min_map_version}"
    if problem:
        raise PoisonMessage(f"PickupRequested: {problem}")
    return RoutePickup(
        pur_id=event.pur_id,
        hub_id=event.hub_id,
        lat=event.location.lat,
        lng=event.location.lng,
        min_map_version=event.min_map_version,
        attempt=event.attempt,
    )


def decode_map_change(msg: ConsumedMessage) -> events_pb2.RouteMapChanged:
    _, event = decode_protobuf(msg, events_pb2.RouteMapChanged)
    problem = id_problem("hub_id", event.hub_id)
    if problem:
        raise PoisonMessage(f"RouteMapChanged: {problem}")
    if event.map_version < 1:
        raise PoisonMessage("RouteMapChanged.map_version must be >= 1")
    return event


def consumer_workers(
    infra: Infrastructure,
    uow_factory: Callable[[], RoutingUnitOfWork],
    registry: IndexRegistry,
    *,
    replica_id: str | None = None,
) -> list[Worker]:
    def pickups(items: list[tuple[ConsumedMessage, RoutePickup]]) -> None:
        handlers.route_pickups(uow_factory(), registry, [request for _, request in items])

    def map_changes(items: list[tuple[ConsumedMessage, events_pb2.RouteMapChanged]]) -> None:
        newest: dict[str, int] = {}
        for _, change in items:
            newest[change.hub_id] = max(newest.get(change.hub_id, 0), change.map_version)
        for hub_id, version in sorted(newest.items()):
            handlers.apply_map_change(registry, hub_id, version)

    index_group = INDEX_GROUP_PREFIX + (replica_id or uuid.uuid4().hex[:12])
    return [
        infra.consumer(GROUP, PUR_CREATED, decode_pickup_requested, pickups, max_batch=PICKUP_BATCH),
        infra.consumer(
            index_group, ROUTING_MAP_CHANGES, decode_map_change, map_changes, max_batch=100, auto_offset_reset="latest"
        ),
    ]
