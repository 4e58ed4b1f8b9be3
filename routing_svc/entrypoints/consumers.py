"""Kafka entrypoints of routing_svc: decode and validate each event (an invalid one raises
InvalidArgument and goes to the DLQ), then handle the whole batch at once.

- `pur.created.v1` (group `routing_svc`, shared by the replicas): route a batch of pickups with
  vectorized lookups and queue their assignments in one transaction.
- `routing.map-changes.v1` (a group of its own per replica, so EVERY replica sees every change):
  load the hub's new map version, once per version whatever the number of parts the change was
  published in. Start-up loads every map, so a new replica reads only changes made from then on.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from firstmile.events.v1 import events_pb2
from mesh.errors import InvalidArgument
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, decode_protobuf
from mesh.kernel import check_coordinates, check_id
from mesh.runtime import Worker
from mesh.topics import PUR_CREATED, ROUTING_MAP_CHANGES
from routing_svc.service_layer import handlers
from routing_svc.service_layer.commands import LoadHubMap, RoutePickup
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork

GROUP = "routing_svc"
INDEX_GROUP_PREFIX = "routing_svc-index-"
PICKUP_BATCH = 1000


def decode_pickup_requested(msg: ConsumedMessage) -> RoutePickup:
    _, event = decode_protobuf(msg, events_pb2.PickupRequested)
    pur_id = check_id("PickupRequested.pur_id", event.pur_id)
    hub_id = check_id("PickupRequested.hub_id", event.hub_id, required=False)
    if not event.HasField("location"):
        raise InvalidArgument("PickupRequested.location is required")
    lat, lng = check_coordinates("PickupRequested.location", event.location.lat, event.location.lng)
    if event.min_map_version < 0:
        raise InvalidArgument(f"PickupRequested.min_map_version must not be negative, got {event.min_map_version}")
    return RoutePickup(
        pur_id=pur_id, hub_id=hub_id, lat=lat, lng=lng, min_map_version=event.min_map_version, attempt=event.attempt
    )


def decode_map_change(msg: ConsumedMessage) -> LoadHubMap:
    _, event = decode_protobuf(msg, events_pb2.RouteMapChanged)
    hub_id = check_id("RouteMapChanged.hub_id", event.hub_id)
    if event.map_version < 1:
        raise InvalidArgument(f"RouteMapChanged.map_version must be >= 1, got {event.map_version}")
    # Part 0 is an event from before parts existed: 1 of 1.
    part, parts = event.part or 1, event.parts or 1
    if not 1 <= part <= parts:
        raise InvalidArgument(f"RouteMapChanged.part must be between 1 and parts ({event.parts}), got {event.part}")
    return LoadHubMap(hub_id=hub_id, map_version=event.map_version)


def load_map_changes(registry: IndexRegistry, changes: list[LoadHubMap]) -> None:
    """Bring each hub named to the newest version named. Every part of a change names the same
    version: one load per hub and batch, and a later part (or this replica's own change) finds
    the version installed and does nothing."""
    newest: dict[str, int] = {}
    for change in changes:
        newest[change.hub_id] = max(newest.get(change.hub_id, 0), change.map_version)
    for hub_id, version in sorted(newest.items()):
        handlers.apply_map_change(registry, hub_id, version)


def consumer_workers(
    infra: Infrastructure,
    uow_factory: Callable[[], AbstractRoutingUnitOfWork],
    registry: IndexRegistry,
    *,
    replica_id: str | None = None,
    route_pickups: bool = True,
) -> list[Worker]:
    """The map-change consumer every process with a registry needs, and (`route_pickups`) the
    pur.created.v1 consumer of the workers."""

    def pickups(items: list[tuple[ConsumedMessage, RoutePickup]]) -> None:
        handlers.route_pickups(uow_factory(), registry, [request for _, request in items])

    def map_changes(items: list[tuple[ConsumedMessage, LoadHubMap]]) -> None:
        load_map_changes(registry, [change for _, change in items])

    index_group = INDEX_GROUP_PREFIX + (replica_id or uuid.uuid4().hex[:12])
    workers = [
        infra.consumer(
            index_group, ROUTING_MAP_CHANGES, decode_map_change, map_changes, max_batch=100, auto_offset_reset="latest"
        )
    ]
    if route_pickups:
        workers.insert(0, infra.consumer(GROUP, PUR_CREATED, decode_pickup_requested, pickups, max_batch=PICKUP_BATCH))
    return workers
