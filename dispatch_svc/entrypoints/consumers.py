"""Kafka entrypoint of dispatch_svc: decode and validate each PickupStatusChanged (a bad one raises
InvalidArgument, or PoisonMessage for a broken envelope, and goes to the DLQ), then apply a whole
batch in one unit of work."""

from __future__ import annotations

import math
from collections.abc import Callable

from dispatch_svc.adapters.messages import PICKUP_STATUS_FROM_PROTO, ROUTE_MATCH_FROM_PROTO
from dispatch_svc.domain.model import MAX_PICKUP_PACKAGES, MAX_PICKUP_WEIGHT_KG, PickupStatus, PurSnapshot
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from firstmile.events.v1 import events_pb2
from mesh.errors import InvalidArgument
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, decode_protobuf
from mesh.kernel import check_coordinates, check_id, parse_date
from mesh.runtime import Worker
from mesh.topics import PUR_EVENTS

PUR_EVENTS_GROUP = "dispatch_svc.pur-events"


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


def consumer_workers(infra: Infrastructure, uow_factory: Callable[[], AbstractDispatchUnitOfWork]) -> list[Worker]:
    def pur_changes(items: list[tuple[ConsumedMessage, PurSnapshot]]) -> None:
        handlers.apply_pur_changes(uow_factory(), [snapshot for _, snapshot in items])

    return [infra.consumer(PUR_EVENTS_GROUP, PUR_EVENTS, decode_pur_event, pur_changes)]
