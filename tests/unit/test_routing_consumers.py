"""What routing_svc's consumers accept from Kafka: a valid event becomes a command; an invalid one
raises InvalidArgument, which the consumer loop dead-letters (tests/integration/test_poison_messages.py
sends them through a real broker)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf.message import Message

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from mesh.errors import InvalidArgument
from mesh.kafka import ConsumedMessage, EventHeaders
from routing_svc.entrypoints.consumers import decode_map_change, decode_pickup_requested
from routing_svc.service_layer.commands import LoadHubMap, RoutePickup


def message(topic: str, event: Message) -> ConsumedMessage:
    headers = EventHeaders(
        id=str(uuid.uuid4()), type=event.DESCRIPTOR.full_name, source="tests", time=datetime.now(UTC)
    )
    return ConsumedMessage(topic, 0, 0, b"k", event.SerializeToString(), dict(headers.to_kafka()), 0)


def pickup(**fields) -> ConsumedMessage:
    return message("pur.created.v1", events_pb2.PickupRequested(**fields))


def test_a_pickup_request_becomes_a_route_pickup():
    where = common_pb2.LatLng(lat=12.9, lng=77.5)
    decoded = decode_pickup_requested(pickup(pur_id="p1", hub_id="H", location=where, min_map_version=3, attempt=2))
    assert decoded == RoutePickup("p1", "H", 12.9, 77.5, min_map_version=3, attempt=2)
    assert decode_pickup_requested(pickup(pur_id="p1", location=where)).hub_id == ""


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"pur_id": "", "location": common_pb2.LatLng(lat=1, lng=1)}, "PickupRequested.pur_id is required"),
        ({"pur_id": "p 1", "location": common_pb2.LatLng(lat=1, lng=1)}, "PickupRequested.pur_id must be 1-64"),
        (
            {"pur_id": "p1", "hub_id": "x" * 65, "location": common_pb2.LatLng(lat=1, lng=1)},
            "PickupRequested.hub_id must be 1-64",
        ),
        ({"pur_id": "p1"}, "PickupRequested.location is required"),
        ({"pur_id": "p1", "location": common_pb2.LatLng(lat=math.nan, lng=1)}, "location.lat must be a finite"),
        ({"pur_id": "p1", "location": common_pb2.LatLng(lat=1, lng=math.inf)}, "location.lng must be a finite"),
        ({"pur_id": "p1", "location": common_pb2.LatLng(lat=91, lng=1)}, "location.lat must be a finite"),
        (
            {"pur_id": "p1", "location": common_pb2.LatLng(lat=1, lng=1), "min_map_version": -1},
            "min_map_version must not be negative",
        ),
    ],
)
def test_an_invalid_pickup_request_is_invalid_argument(fields, problem):
    with pytest.raises(InvalidArgument) as caught:
        decode_pickup_requested(pickup(**fields))
    assert problem in str(caught.value)


def test_a_map_change_names_a_hub_and_a_version():
    changed = events_pb2.RouteMapChanged(hub_id="H", map_version=4, previous_map_version=3)
    assert decode_map_change(message("routing.map-changes.v1", changed)) == LoadHubMap("H", 4)
    with pytest.raises(InvalidArgument, match="RouteMapChanged.hub_id is required"):
        decode_map_change(message("routing.map-changes.v1", events_pb2.RouteMapChanged(map_version=1)))
    with pytest.raises(InvalidArgument, match="map_version must be >= 1"):
        decode_map_change(message("routing.map-changes.v1", events_pb2.RouteMapChanged(hub_id="H")))


def test_every_part_of_a_map_change_names_the_same_version():
    for part in (1, 2, 3):
        changed = events_pb2.RouteMapChanged(hub_id="H", map_version=4, part=part, parts=3)
        assert decode_map_change(message("routing.map-changes.v1", changed)) == LoadHubMap("H", 4)
    for part, parts in ((4, 3), (-1, 3), (2, 0)):
        bad = events_pb2.RouteMapChanged(hub_id="H", map_version=4, part=part, parts=parts)
        with pytest.raises(InvalidArgument, match="RouteMapChanged.part must be between 1 and parts"):
            decode_map_change(message("routing.map-changes.v1", bad))
