"""The watch feed fans out status changes and skips poison records the way the consumers do."""

from __future__ import annotations

from datetime import UTC, datetime

from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.kafka import ConsumedMessage, EventHeaders
from pur_svc.entrypoints.watch import StatusFeed


def record(
    value: bytes, event_type: str = events_pb2.PickupStatusChanged.DESCRIPTOR.full_name, offset: int = 0
) -> ConsumedMessage:
    headers = dict(EventHeaders(id=f"e{offset}", type=event_type, source="test", time=datetime.now(UTC)).to_kafka())
    return ConsumedMessage("pur.events.v1", 0, offset, b"pur-1", value, headers, 0)


def change(client: str) -> events_pb2.PickupStatusChanged:
    return events_pb2.PickupStatusChanged(
        hub_id="HUB-1",
        status=pur_pb2.PICKUP_STATUS_ROUTED,
        pickup_request=pur_pb2.PickupRequest(id="pur-1", client_id=client, hub_id="HUB-1"),
    )


def test_poison_records_are_skipped_and_good_ones_reach_only_the_watchers_they_belong_to():
    feed = StatusFeed("localhost:9092")
    with feed.subscribe("HUB-1", set()) as lead, feed.subscribe("HUB-1", set(), client_id="acme") as client:
        feed._dispatch(record(b"\xff garbage", offset=1))
        feed._dispatch(
            record(change("acme").SerializeToString(), event_type="firstmile.events.v1.RouteAssigned", offset=2)
        )
        feed._dispatch(record(change("acme").SerializeToString(), offset=3))
        feed._dispatch(record(change("globex").SerializeToString(), offset=4))
        assert [c.pickup_request.client_id for c in _drain(lead)] == ["acme", "globex"]
        assert [c.pickup_request.client_id for c in _drain(client)] == ["acme"]


def _drain(subscription) -> list[events_pb2.PickupStatusChanged]:
    items = []
    while not subscription.backlog.empty():
        items.append(subscription.backlog.get_nowait())
    return items
