"""Kafka entrypoint of dispatch_svc: decode and validate each PickupStatusChanged (a bad one is
poison and goes to the DLQ), then apply a whole batch in one unit of work."""

from __future__ import annotations

import math
from collections.abc import Callable

from dispatch_svc.adapters.messages import PICKUP_STATUS_FROM_PROTO, ROUTE_MATCH_FROM_PROTO
from dispatch_svc.domain.model import (
    ID_PATTERN,
    MAX_PICKUP_PACKAGES,
    MAX_PICKUP_WEIGHT_KG,
    InvalidInput,
    PickupStatus,
    PurSnapshot,
    parse_date,
)
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.unit_of_work import DispatchUnitOfWork
from firstmile.events.v1 import events_pb2
from mesh.infrastructure import Infrastructure
from mesh.kafka import ConsumedMessage, PoisonMessage, decode_protobuf
from mesh.runtime import Worker
from mesh.topics import PUR_EVENTS

PUR_EVENTS_GROUP = "dispatch_svc.pur-events"


def _require_id(name: str, value: str, *, required: bool = True) -> None:
    if (required or value) and not ID_PATTERN.match(value):
        raise PoisonMessage(f"{name} {value[:80]!r} is not a valid id")


def decode_pur_event(msg: ConsumedMessage) -> PurSnapshot:
    _, event = decode_protobuf(msg, events_pb2.PickupStatusChanged)
    _require_id("pur_id", event.pur_id)
    if event.version < 1:
        raise PoisonMessage("PickupStatusChanged.version must be >= 1")
    status = PICKUP_STATUS_FROM_PROTO.get(event.status)
    if status is None:
        raise PoisonMessage(f"PickupStatusChanged.status {event.status} is not a known PickupStatus")
    pur = event.pickup_request
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
    _require_id("hub_id", event.hub_id)
    _require_id("route_id", event.route_id)
    _require_id("pickup_request.rider_id", pur.rider_id, required=False)
    _require_id("client_id", event.client_id, required=False)
    try:
        pickup_date = parse_date("pickup_date", event.pickup_date)
    except InvalidInput as exc:
        raise PoisonMessage(str(exc)) from None
    if not event.HasField("pickup_request") or pur.id != event.pur_id:
        raise PoisonMessage("a ROUTED PickupStatusChanged must carry its pickup_request snapshot")
    if not 0 <= pur.expected_packages <= MAX_PICKUP_PACKAGES:
        raise PoisonMessage(f"expected_packages {pur.expected_packages} is out of range")
    if not (math.isfinite(pur.expected_weight_kg) and 0.0 <= pur.expected_weight_kg <= MAX_PICKUP_WEIGHT_KG):
        raise PoisonMessage(f"expected_weight_kg {pur.expected_weight_kg!r} is out of range")
    location = pur.warehouse.location
    if not (
        math.isfinite(location.lat)
        and math.isfinite(location.lng)
        and abs(location.lat) <= 90
        and abs(location.lng) <= 180
    ):
        raise PoisonMessage("warehouse.location is not a valid coordinate")
    return PurSnapshot(
        pur_id=event.pur_id,
        version=event.version,
        status=status,
        hub_id=event.hub_id,
        route_id=event.route_id,
        pickup_date=pickup_date,
        client_id=event.client_id or pur.client_id,
        warehouse_name=pur.warehouse.name[:200],
        lat=location.lat,
        lng=location.lng,
        packages=pur.expected_packages,
        weight_kg=pur.expected_weight_kg,
        route_match=ROUTE_MATCH_FROM_PROTO.get(pur.route_match),
        rider_id=pur.rider_id,
        previous_route_id=event.previous_route_id,
    )


def consumer_workers(infra: Infrastructure, uow_factory: Callable[[], DispatchUnitOfWork]) -> list[Worker]:
    def pur_changes(items: list[tuple[ConsumedMessage, PurSnapshot]]) -> None:
        handlers.apply_pur_changes(uow_factory(), [snapshot for _, snapshot in items])

    return [infra.consumer(PUR_EVENTS_GROUP, PUR_EVENTS, decode_pur_event, pur_changes)]
