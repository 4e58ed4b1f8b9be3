"""dispatch_svc's Kafka boundary without Kafka: PickupStatusChanged decoding (bad messages are
InvalidArgument or PoisonMessage, both dead-lettered), domain events as outbox rows (one
DispatchEvent per PUR, the change and version pur_svc needs), and the settings that switch
auto-dispatch on."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from dispatch_svc.adapters.messages import to_outbox
from dispatch_svc.config import Settings
from dispatch_svc.domain.events import dispatch_events
from dispatch_svc.domain.model import (
    SERVICE_ACTOR,
    Actor,
    ChangeKind,
    Dispatch,
    DispatchStatus,
    NewDispatch,
    PickupChange,
    PickupStatus,
    ReleaseReason,
    Rider,
    RouteMatch,
    Vehicle,
    VehicleType,
)
from dispatch_svc.entrypoints.consumers import decode_pur_event
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.errors import InvalidArgument
from mesh.kafka import ConsumedMessage, EventHeaders, PoisonMessage

NOW = datetime(2026, 5, 11, 8, 0, tzinfo=UTC)
LEAD = Actor("tl-priya", "team-lead")
TYPE = "firstmile.events.v1.PickupStatusChanged"


def message(event: events_pb2.PickupStatusChanged, event_type: str = TYPE) -> ConsumedMessage:
    headers = EventHeaders(id="e1", type=event_type, source="pur_svc", time=NOW).to_kafka()
    return ConsumedMessage("pur.events.v1", 0, 1, event.pur_id.encode(), event.SerializeToString(), dict(headers), 0)


def routed_event(**changes) -> events_pb2.PickupStatusChanged:
    pur = pur_pb2.PickupRequest(
        id="pur_1",
        client_id="c1",
        hub_id="hub-1",
        pickup_date="2026-05-11",
        expected_packages=4,
        expected_weight_kg=2.5,
        status=pur_pb2.PICKUP_STATUS_ROUTED,
        route_id="R1",
        rider_id="rider-9",
        route_match=common_pb2.ROUTE_MATCH_NEAREST,
        warehouse=common_pb2.Warehouse(name="Seller One", location=common_pb2.LatLng(lat=12.9, lng=77.6)),
        version=3,
    )
    fields = {
        "pur_id": "pur_1",
        "hub_id": "hub-1",
        "client_id": "c1",
        "route_id": "R1",
        "pickup_date": "2026-05-11",
        "status": pur_pb2.PICKUP_STATUS_ROUTED,
        "pickup_request": pur,
        "version": 3,
    } | changes
    return events_pb2.PickupStatusChanged(**fields)


def test_a_routed_event_becomes_a_snapshot():
    snapshot = decode_pur_event(message(routed_event(previous_route_id="R0")))
    assert (snapshot.pur_id, snapshot.version, snapshot.status) == ("pur_1", 3, PickupStatus.ROUTED)
    assert (snapshot.hub_id, snapshot.route_id, snapshot.pickup_date) == ("hub-1", "R1", date(2026, 5, 11))
    assert (snapshot.packages, snapshot.weight_kg, snapshot.rider_id) == (4, 2.5, "rider-9")
    assert snapshot.route_match is RouteMatch.NEAREST and snapshot.warehouse_name == "Seller One"
    assert snapshot.previous_route_id == "R0"


def test_a_cancellation_needs_only_id_version_and_status():
    event = events_pb2.PickupStatusChanged(pur_id="pur_1", status=pur_pb2.PICKUP_STATUS_CANCELLED, version=7)
    snapshot = decode_pur_event(message(event))
    assert (snapshot.status, snapshot.version, snapshot.pickup_date) == (PickupStatus.CANCELLED, 7, None)


def test_an_event_of_another_type_is_poison():
    with pytest.raises(PoisonMessage, match="ce_type"):
        decode_pur_event(message(routed_event(), "firstmile.events.v1.PickupRequested"))


@pytest.mark.parametrize(
    "event, reason",
    [
        (routed_event(version=0), "version"),
        (routed_event(status=42), "not a known PickupStatus"),
        (routed_event(pur_id="bad id"), "pur_id"),
        (routed_event(pur_id="pur_1\n"), "pur_id"),
        (routed_event(route_id=""), "route_id is required"),
        (routed_event(pickup_date="11/05/2026"), "YYYY-MM-DD"),
        (routed_event(pickup_request=pur_pb2.PickupRequest(id="other")), "snapshot"),
        (
            routed_event(
                pickup_request=pur_pb2.PickupRequest(
                    id="pur_1", warehouse=common_pb2.Warehouse(location=common_pb2.LatLng(lat=91.0, lng=0.0))
                )
            ),
            "warehouse.location.lat",
        ),
    ],
)
def test_invalid_events_are_invalid_arguments(event, reason):
    with pytest.raises(InvalidArgument, match=reason):
        decode_pur_event(message(event))


def test_garbage_bytes_are_poison():
    msg = message(routed_event())
    broken = ConsumedMessage(msg.topic, 0, 2, msg.key, b"\xff\xff\xff", msg.headers, 0)
    with pytest.raises(PoisonMessage, match="payload"):
        decode_pur_event(broken)


def _dispatch() -> Dispatch:
    return Dispatch.create(
        "dsp_1",
        NewDispatch("req", "hub-1", "R1", date(2026, 5, 11)),
        Rider("rider-1", "hub-1"),
        Vehicle("bike-1", "hub-1", VehicleType.BIKE, 10, 20.0),
        NOW,
    )


@pytest.mark.parametrize(
    "change, field",
    [
        (PickupChange("pur_1", ChangeKind.DISPATCHED, 1, automatic=True), "dispatched"),
        (
            PickupChange(
                "pur_1", ChangeKind.RELEASED, 2, release_reason=ReleaseReason.DISPATCH_CANCELLED, detail="rain"
            ),
            "released",
        ),
        (PickupChange("pur_1", ChangeKind.STARTED, 3), "started"),
        (PickupChange("pur_1", ChangeKind.PICKED_UP, 4), "picked_up"),
        (
            PickupChange("pur_1", ChangeKind.RIDER_CHANGED, 5, previous_rider_id="r0", previous_vehicle_id="v0"),
            "rider_changed",
        ),
        (PickupChange("pur_1", ChangeKind.DISPATCHED, 6, moved_from_dispatch_id="dsp_0"), "dispatched"),
    ],
)
def test_one_dispatch_event_per_pur_keyed_by_pur_id(change, field):
    [domain_event] = dispatch_events(_dispatch(), [change], NOW, actor=LEAD, reason="rider fell ill")
    [out] = to_outbox(domain_event)
    assert out.topic == "dispatch.events.v1" and out.key == "pur_1"
    assert out.event_type == "firstmile.events.v1.DispatchEvent" and out.source == "dispatch_svc"
    event = events_pb2.DispatchEvent.FromString(out.payload)
    assert event.WhichOneof("change") == field and event.version == change.version
    assert (event.dispatch_id, event.hub_id, event.route_id, event.pickup_date) == (
        "dsp_1",
        "hub-1",
        "R1",
        "2026-05-11",
    )
    assert (event.rider_id, event.vehicle_id, event.dispatch_status) == (
        "rider-1",
        "bike-1",
        dispatch_pb2.DISPATCH_STATUS_OPEN,
    )
    assert (event.actor.subject, event.actor.role, event.reason) == ("tl-priya", "team-lead", "rider fell ill")
    if field == "dispatched":
        assert event.dispatched.automatic == change.automatic
        assert event.dispatched.moved_from_dispatch_id == change.moved_from_dispatch_id
    if field == "rider_changed":
        assert (event.rider_changed.previous_rider_id, event.rider_changed.previous_vehicle_id) == ("r0", "v0")
    if field == "released":
        assert event.released.reason == events_pb2.RELEASE_REASON_DISPATCH_CANCELLED and event.released.detail == "rain"


def test_an_event_keeps_the_dispatch_as_it_was_when_published():
    dispatch = _dispatch()
    [event] = dispatch_events(
        dispatch, [PickupChange("pur_1", ChangeKind.DISPATCHED, 1)], NOW, actor=SERVICE_ACTOR, reason="joined"
    )
    dispatch.status = DispatchStatus.CANCELLED
    [out] = to_outbox(event)
    assert events_pb2.DispatchEvent.FromString(out.payload).dispatch_status == dispatch_pb2.DISPATCH_STATUS_OPEN


def test_only_dispatch_events_have_outbox_rows():
    with pytest.raises(TypeError, match="does not publish"):
        to_outbox(object())


def test_auto_dispatch_settings(monkeypatch):
    monkeypatch.setenv("DISPATCH_SVC_AUTO_DISPATCH_HUBS", " hub-1, hub-2 ,")
    monkeypatch.setenv("DISPATCH_SVC_AUTO_DISPATCH_CUTOFF", "15:30")
    settings = Settings()
    assert settings.auto_dispatch_hub_ids == {"hub-1", "hub-2"}
    assert settings.auto_dispatch_cutoff_time.hour == 15 and settings.auto_dispatch_cutoff_time.minute == 30
    assert Settings.model_fields["auto_dispatch_hubs"].default == ""  # off by default
    for name, value in (
        ("AUTO_DISPATCH_CUTOFF", "25:00"),
        ("AUTO_DISPATCH_TIMEZONE", "Mars/Olympus"),
        ("AUTO_DISPATCH_HUBS", "bad hub"),
    ):
        monkeypatch.setenv(f"DISPATCH_SVC_{name}", value)
        with pytest.raises(ValueError):
            Settings()
        monkeypatch.delenv(f"DISPATCH_SVC_{name}")
