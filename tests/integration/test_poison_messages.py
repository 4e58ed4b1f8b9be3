"""Poison messages against every Kafka consumer of every service, wired exactly as the service's
`consumer_workers` wires it (its decode and its batch handler on the real database), running in
a real ConsumerLoop on real Kafka: garbage bytes, another event type (by ce_type or by payload),
an oversized payload, no payload, a missing ce_type or ce_id each land in `<topic>.dlq` with the
reason and the original key, bytes and headers, and a valid message sent after them is applied.

Each consumer reads a fresh one-partition topic under a fresh group (the real topics and groups
belong to running services); every valid event uses fresh ids. attendance_adapter consumes
nothing, and pur_svc's WatchPickupRequests feed reads without a group or DLQ (see watch.py).
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
import sqlalchemy as sa
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from dispatch_svc.adapters import orm as dispatch_orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.planning import PlanningSettings
from dispatch_svc.entrypoints import consumers as dispatch_consumers
from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.db import make_session_factory
from mesh.kafka import (
    CE_ID,
    CE_TYPE,
    DLQ_CONSUMER_GROUP,
    DLQ_ERROR_TYPE,
    DLQ_FAILED_AT,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    DLQ_REASON,
    DLQ_VALUE_DROPPED,
    MAX_EVENT_BYTES,
    ConsumerLoop,
    EventHeaders,
    TopicSpec,
    dlq_topic,
    ensure_topics,
    make_producer,
    parse_rfc3339,
)
from mesh.runtime import Worker
from mesh.topics import (
    ATTENDANCE_EVENTS,
    DISPATCH_EVENTS,
    PUR_CREATED,
    PUR_EVENTS,
    PUR_ROUTE_ASSIGNMENTS,
    ROUTING_MAP_CHANGES,
)
from pur_svc.adapters import orm as pur_orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.model import Location, NewPickup, PickupStatus, RouteAssignment, RouteMatch, Warehouse
from pur_svc.entrypoints import consumers as pur_consumers
from pur_svc.service_layer import handlers as pur_handlers
from routing_svc.adapters import orm as routing_orm
from routing_svc.adapters.index_cache import RedisIndexCache
from routing_svc.adapters.unit_of_work import SqlAlchemyRoutingUnitOfWork
from routing_svc.domain.geometry import make_route
from routing_svc.entrypoints import consumers as routing_consumers
from routing_svc.service_layer import handlers as routing_handlers
from routing_svc.service_layer.index_registry import IndexRegistry
from tests.support.geometry import square
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
EVENTS = "firstmile.events.v1."


# -- the services' own wiring ------------------------------------------------------------------


@dataclass(frozen=True)
class Wiring:
    group_id: str
    topic: str
    decode: Callable
    handle_batch: Callable
    options: dict[str, Any]


class WiringRecorder:
    """Stands in for mesh.infrastructure.Infrastructure: `consumer_workers(recorder, ...)` hands
    it every consumer's group, topic, decode, handler and options exactly as the service runs them."""

    def __init__(self) -> None:
        self.by_topic: dict[str, Wiring] = {}

    def consumer(self, group_id: str, topic: str, decode: Callable, handle_batch: Callable, **options: Any) -> Worker:
        self.by_topic[topic] = Wiring(group_id, topic, decode, handle_batch, options)
        return Worker(name=f"consumer:{topic}", run=lambda stop: None)


class Services:
    """The three services' consumers over the shared database (and, for routing_svc, Redis)."""

    def __init__(self, engine: sa.Engine, redis_client: redis.Redis) -> None:
        self.engine = engine
        sessions = make_session_factory(engine)
        self.pur_uow = lambda: SqlAlchemyPurUnitOfWork(sessions)
        self.routing_uow = lambda: SqlAlchemyRoutingUnitOfWork(sessions)
        self.dispatch_uow = lambda: SqlAlchemyDispatchUnitOfWork(sessions)
        cache = RedisIndexCache(redis_client, resolution=10, max_nearest_m=500.0, ttl_seconds=600)
        # The consumers' replica, and the one that writes map changes (as another replica would).
        self.routing_registry = IndexRegistry(self.routing_uow, cache, resolution=10, max_nearest_m=500.0)
        self.routing_writer = IndexRegistry(self.routing_uow, cache, resolution=10, max_nearest_m=500.0)

        pur, routing, dispatch = WiringRecorder(), WiringRecorder(), WiringRecorder()
        pur_consumers.consumer_workers(pur, self.pur_uow)
        routing_consumers.consumer_workers(routing, self.routing_uow, self.routing_registry, replica_id="poison-tests")
        dispatch_consumers.consumer_workers(dispatch, self.dispatch_uow, planning_settings=PlanningSettings())
        self.wirings = {
            "pur_svc": pur.by_topic,
            "routing_svc": routing.by_topic,
            "dispatch_svc": dispatch.by_topic,
        }
        self.routing_hubs: list[str] = []
        self.routing_keys: list[bytes] = []

    def cleanup(self, redis_client: redis.Redis) -> None:
        """Remove what the routing consumers wrote (pur_svc and dispatch_svc tests leave their
        uniquely named rows, as their own tests do)."""
        with self.engine.begin() as conn:
            conn.execute(sa.delete(routing_orm.routes).where(routing_orm.routes.c.hub_id.in_(self.routing_hubs)))
            conn.execute(sa.delete(routing_orm.hub_maps).where(routing_orm.hub_maps.c.hub_id.in_(self.routing_hubs)))
            keys = self.routing_keys + [hub.encode() for hub in self.routing_hubs]
            conn.execute(sa.delete(routing_orm.outbox.table).where(routing_orm.outbox.table.c.key.in_(keys)))
        for hub in self.routing_hubs:
            for key in redis_client.scan_iter(f"routing:index:{hub}:*"):
                redis_client.delete(key)


def fresh(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- one valid event per consumer, and how to tell it was applied --------------------------------


@dataclass(frozen=True)
class Valid:
    key: str
    event: Message
    applied: Callable[[], bool]


def _pur_hub(services: Services, version: int = 1) -> str:
    hub = fresh("hub")
    with services.pur_uow() as uow:
        uow.pickups.record_hub_map(hub, version, datetime.now(UTC))
        uow.commit()
    return hub


def _pur_created(services: Services, hub: str) -> str:
    warehouse = Warehouse("wh-1", "Seller One", "1 MG Road", "560001", Location(12.97, 77.59))
    new = NewPickup(fresh("req"), fresh("client"), hub, warehouse, TODAY, 3, 2.5)
    [created] = pur_handlers.create_pickups(services.pur_uow(), [new])
    return created.pickup.id


def _pur_status(services: Services, pur_id: str) -> PickupStatus:
    return pur_handlers.get_pickup(services.pur_uow(), pur_id).status


def valid_route_assignment(services: Services) -> Valid:
    hub = _pur_hub(services)
    pur_id = _pur_created(services, hub)
    event = events_pb2.RouteAssignment(
        assigned=events_pb2.RouteAssigned(
            pur_id=pur_id,
            route_id="R1",
            hub_id=hub,
            rider_id="rider-1",
            match=common_pb2.ROUTE_MATCH_EXACT,
            distance_m=0.0,
            h3_cell="8a618928caeffff",
            map_version=1,
        )
    )
    return Valid(pur_id, event, lambda: _pur_status(services, pur_id) is PickupStatus.ROUTED)


def valid_dispatch_event(services: Services) -> Valid:
    hub = _pur_hub(services)
    pur_id = _pur_created(services, hub)
    routed = RouteAssignment(pur_id, hub, "R1", "rider-1", RouteMatch.EXACT, 0.0, "8a618928caeffff", 1)
    pur_handlers.apply_route_assignments(services.pur_uow(), [routed])
    event = events_pb2.DispatchEvent(
        pur_id=pur_id,
        dispatch_id=fresh("dsp"),
        hub_id=hub,
        route_id="R1",
        version=1,
        dispatched=events_pb2.PickupDispatched(),
    )
    return Valid(pur_id, event, lambda: _pur_status(services, pur_id) is PickupStatus.DISPATCHED)


def valid_pur_map_change(services: Services) -> Valid:
    hub = _pur_hub(services, version=1)

    def applied() -> bool:
        with services.engine.connect() as conn:
            hubs = pur_orm.hubs
            return conn.execute(sa.select(hubs.c.map_version).where(hubs.c.hub_id == hub)).scalar() == 2

    return Valid(hub, events_pb2.RouteMapChanged(hub_id=hub, map_version=2, previous_map_version=1), applied)


def valid_pickup_requested(services: Services) -> Valid:
    pur_id = fresh("t-pur")
    services.routing_keys.append(pur_id.encode())
    # A hub without a map: routing answers Unroutable, which is all this needs.
    event = events_pb2.PickupRequested(
        pur_id=pur_id,
        hub_id=fresh("t-hub"),
        location=common_pb2.LatLng(lat=-40.0, lng=-30.0),
        attempt=1,
    )

    def applied() -> bool:
        table = routing_orm.outbox.table
        with services.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(table.c.key == pur_id.encode())).scalar() == 1

    return Valid(pur_id, event, applied)


def valid_routing_map_change(services: Services) -> Valid:
    hub = fresh("t-hub")
    services.routing_hubs.append(hub)
    route = make_route(route_id=f"{hub}-a", hub_id=hub, name="route a", geometry_geojson=square())
    routing_handlers.upsert_route(services.routing_uow(), services.routing_writer, route)

    def applied() -> bool:
        index = services.routing_registry.current.hub(hub)
        return index is not None and index.map_version == 1

    return Valid(hub, events_pb2.RouteMapChanged(hub_id=hub, map_version=1), applied)


def valid_pur_status_changed(services: Services) -> Valid:
    pur_id, hub = fresh("pur"), fresh("hub")
    snapshot = pur_pb2.PickupRequest(
        id=pur_id,
        client_id="client-1",
        hub_id=hub,
        pickup_date=TODAY.isoformat(),
        expected_packages=3,
        expected_weight_kg=4.0,
        status=pur_pb2.PICKUP_STATUS_ROUTED,
        route_id="R1",
        route_match=common_pb2.ROUTE_MATCH_EXACT,
        warehouse=common_pb2.Warehouse(name="Seller One", location=common_pb2.LatLng(lat=12.97, lng=77.59)),
    )
    event = events_pb2.PickupStatusChanged(
        pur_id=pur_id,
        hub_id=hub,
        client_id="client-1",
        route_id="R1",
        pickup_date=TODAY.isoformat(),
        previous_status=pur_pb2.PICKUP_STATUS_PENDING_ROUTE,
        status=pur_pb2.PICKUP_STATUS_ROUTED,
        version=2,
        pickup_request=snapshot,
    )

    def applied() -> bool:
        table = dispatch_orm.open_pickups
        with services.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).where(table.c.pur_id == pur_id)).scalar() == 1

    return Valid(pur_id, event, applied)


def valid_dispatch_map_change(services: Services) -> Valid:
    hub = fresh("hub")
    event = events_pb2.RouteMapChanged(
        hub_id=hub, map_version=1, routes=[events_pb2.RouteSummary(id="R1", name="Route one")], part=1, parts=1
    )

    def applied() -> bool:
        table = dispatch_orm.routes
        with services.engine.connect() as conn:
            return conn.execute(sa.select(table.c.name).where(table.c.hub_id == hub)).scalar() == "Route one"

    return Valid(hub, event, applied)


def valid_dispatch_attendance_change(services: Services) -> Valid:
    rider, hub = fresh("rider"), fresh("hub")
    changed_at = Timestamp()
    changed_at.GetCurrentTime()
    event = events_pb2.AttendanceChanged(
        rider_id=rider,
        hub_id=hub,
        date=TODAY.isoformat(),
        status=attendance_pb2.ATTENDANCE_STATUS_PRESENT,
        changed_at=changed_at,
    )

    def applied() -> bool:
        table = dispatch_orm.rider_days
        with services.engine.connect() as conn:
            return conn.execute(sa.select(table.c.status).where(table.c.rider_id == rider)).scalar() == "PRESENT"

    return Valid(rider, event, applied)


@dataclass(frozen=True)
class Scenario:
    service: str
    topic: str
    valid: Callable[[Services], Valid]

    @property
    def id(self) -> str:
        return f"{self.service}:{self.topic}"


SCENARIOS = [
    Scenario("pur_svc", PUR_ROUTE_ASSIGNMENTS, valid_route_assignment),
    Scenario("pur_svc", DISPATCH_EVENTS, valid_dispatch_event),
    Scenario("pur_svc", ROUTING_MAP_CHANGES, valid_pur_map_change),
    Scenario("routing_svc", PUR_CREATED, valid_pickup_requested),
    Scenario("routing_svc", ROUTING_MAP_CHANGES, valid_routing_map_change),
    Scenario("dispatch_svc", ROUTING_MAP_CHANGES, valid_dispatch_map_change),
    Scenario("dispatch_svc", ATTENDANCE_EVENTS, valid_dispatch_attendance_change),
    Scenario("dispatch_svc", PUR_EVENTS, valid_pur_status_changed),
]


# -- poison ------------------------------------------------------------------------------------


def ce_headers(event: Message) -> list[tuple[str, bytes]]:
    return EventHeaders(
        id=str(uuid.uuid4()), type=event.DESCRIPTOR.full_name, source="poison-tests", time=datetime.now(UTC)
    ).to_kafka()


def without(headers: list[tuple[str, bytes]], name: str) -> list[tuple[str, bytes]]:
    return [(k, v) for k, v in headers if k != name]


def padded_to(event: Message, size: int) -> bytes:
    """`event` plus an unknown length-delimited field (number 1000) making it exactly `size` bytes:
    still a valid message of its type, so only its size is wrong."""
    base = event.SerializeToString()
    tag = bytes([0xC2, 0x3E])  # field 1000, wire type 2, as a varint
    padding = size - len(base) - len(tag) - 3  # a 3-byte varint length covers 16 KiB..2 MiB
    length = bytes([padding & 0x7F | 0x80, padding >> 7 & 0x7F | 0x80, padding >> 14])
    value = base + tag + length + b"x" * padding
    assert len(value) == size and type(event).FromString(value).SerializeToString().startswith(base)
    return value


ANOTHER_EVENT = events_pb2.AttendanceChanged(rider_id="rider-1", hub_id="hub-1", date="2026-01-01", status=1)
GARBAGE = b"\xff\xfe\xfd not protobuf \x00\x01"


@dataclass(frozen=True)
class Poison:
    value: bytes | None
    headers: list[tuple[str, bytes]]
    error_types: tuple[str, ...]  # acceptable dlq_error_type values
    reason: str  # a part of dlq_reason


def garbage(event: Message) -> Poison:
    return Poison(GARBAGE, ce_headers(event), ("UndecodablePayload",), f"payload is not a {event.DESCRIPTOR.full_name}")


def wrong_ce_type(event: Message) -> Poison:
    # dispatch_svc reads AttendanceChanged itself: another type is wrong there.
    other = ANOTHER_EVENT if not isinstance(event, events_pb2.AttendanceChanged) else events_pb2.RouteMapChanged()
    return Poison(
        other.SerializeToString(),
        ce_headers(other),
        ("WrongEventType",),
        f"ce_type is '{other.DESCRIPTOR.full_name}', expected '{event.DESCRIPTOR.full_name}'",
    )


def wrong_payload(event: Message) -> Poison:
    # Announced as the right type: the bytes either do not parse as it or fail its validation
    # (InvalidArgument where a consumer validates with the kernel and the domain).
    return Poison(
        ANOTHER_EVENT.SerializeToString(),
        ce_headers(event),
        ("UndecodablePayload", "PoisonMessage", "InvalidArgument"),
        "",
    )


def oversized(event: Message) -> Poison:
    return Poison(
        padded_to(event, MAX_EVENT_BYTES + 1),
        ce_headers(event),
        ("OversizedMessage",),
        f"payload of {MAX_EVENT_BYTES + 1} bytes exceeds the limit of {MAX_EVENT_BYTES}",
    )


def no_value(event: Message) -> Poison:
    return Poison(None, ce_headers(event), ("UndecodablePayload",), "message has no value")


def missing_ce_type(event: Message) -> Poison:
    return Poison(
        event.SerializeToString(),
        without(ce_headers(event), CE_TYPE),
        ("BadHeaders",),
        "missing CloudEvents header 'ce_type'",
    )


def missing_ce_id(event: Message) -> Poison:
    return Poison(
        event.SerializeToString(),
        without(ce_headers(event), CE_ID),
        ("BadHeaders",),
        "missing CloudEvents header 'ce_id'",
    )


POISON_KINDS = [garbage, wrong_ce_type, wrong_payload, oversized, no_value, missing_ce_type, missing_ce_id]


# -- a consumer running in a thread, and its DLQ ---------------------------------------------------


class DlqReader:
    """Reads a DLQ from the beginning and keeps everything read, so each test finds its record."""

    def __init__(self, bootstrap_servers: str, topic: str) -> None:
        self.consumer = KafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        self.consumer.assign([TopicPartition(topic, 0)])
        self.consumer.seek_to_beginning()
        self.records: list = []

    def wait_for(self, key: bytes, *, timeout: float = 20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.records if r.key == key]
            if found:
                assert len(found) == 1, f"dead-lettered {len(found)} times"
                return found[0]
            for batch in self.consumer.poll(timeout_ms=200).values():
                self.records.extend(batch)
        raise AssertionError(f"no DLQ record with key {key!r} after {timeout}s")

    def close(self) -> None:
        self.consumer.close(autocommit=False)


@dataclass
class RunningConsumer:
    scenario: Scenario
    topic: str
    group: str
    loop: ConsumerLoop
    dlq: DlqReader

    def __post_init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name=f"poison-{self.scenario.id}")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run(self.stop)
        except BaseException as exc:  # noqa: BLE001 - the tests check it is still running
            self.error = exc

    def assert_alive(self) -> None:
        assert self.error is None and self.thread.is_alive(), f"the consumer loop died: {self.error!r}"

    def wait_applied(self, valid: Valid, what: str) -> None:
        """Until `valid` was applied; fails at once if the loop died meanwhile."""
        wait_until(lambda: self.assert_alive() or valid.applied(), timeout=20, message=f"{what} to be applied")

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        self.loop.close()
        self.dlq.close()


@pytest.fixture(scope="module")
def services(engine, redis_client) -> Iterator[Services]:
    services = Services(engine, redis_client)
    yield services
    services.cleanup(redis_client)


@pytest.fixture(scope="module")
def dlq_producer(kafka_bootstrap_servers):
    producer = make_producer(kafka_bootstrap_servers, client_id="poison-tests-dlq")
    yield producer
    producer.close(timeout=5)


def start(
    scenario: Scenario, services: Services, topic: str, bootstrap_servers: str, dlq_producer, group: str
) -> RunningConsumer:
    wiring = services.wirings[scenario.service][scenario.topic]
    # A fresh topic: "earliest" starts where "latest" would, minus the race of a message written
    # before the group's first assignment (the routing index group reads from "latest").
    options = wiring.options | {"auto_offset_reset": "earliest", "poll_timeout_ms": 200}
    loop = ConsumerLoop(
        bootstrap_servers,
        group,
        [topic],
        decode=wiring.decode,
        handle_batch=wiring.handle_batch,
        dlq_producer=dlq_producer,
        client_id=f"{group}:{topic}",
        **options,
    )
    return RunningConsumer(scenario, topic, group, loop, DlqReader(bootstrap_servers, dlq_topic(topic)))


@pytest.fixture(scope="module", params=SCENARIOS, ids=lambda scenario: scenario.id)
def consumer(
    request, services, kafka_admin, kafka_bootstrap_servers, dlq_producer, unique_name
) -> Iterator[RunningConsumer]:
    scenario: Scenario = request.param
    topic = kafka_admin.create_topic(unique_name(f"test.poison.{scenario.topic}", separator="-"), partitions=1)
    group = unique_name(services.wirings[scenario.service][scenario.topic].group_id, separator="-")
    running = start(scenario, services, topic, kafka_bootstrap_servers, dlq_producer, group)
    yield running
    running.halt()
    kafka_admin.delete_topics([topic, dlq_topic(topic)])


def send(producer, topic: str, key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]):
    return producer.send(topic, key=key, value=value, headers=headers).get(timeout=10)


# -- tests ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("make_poison", POISON_KINDS, ids=lambda kind: kind.__name__)
def test_poison_goes_to_the_dlq_and_the_next_message_is_applied(consumer, services, producer, make_poison):
    valid = consumer.scenario.valid(services)
    poison = make_poison(valid.event)
    poison_key = fresh(f"poison-{make_poison.__name__}").encode()

    written = send(producer, consumer.topic, poison_key, poison.value, poison.headers)
    send(producer, consumer.topic, valid.key.encode(), valid.event.SerializeToString(), ce_headers(valid.event))

    consumer.wait_applied(valid, "the valid message after the poison")
    dead = consumer.dlq.wait_for(poison_key)
    headers = dict(dead.headers)
    assert (dead.key, dead.value) == (poison_key, poison.value)
    assert headers[DLQ_ERROR_TYPE].decode() in poison.error_types
    assert poison.reason in headers[DLQ_REASON].decode() and headers[DLQ_REASON]
    assert headers[DLQ_ORIGINAL_TOPIC] == consumer.topic.encode()
    assert headers[DLQ_ORIGINAL_PARTITION] == str(written.partition).encode()
    assert headers[DLQ_ORIGINAL_OFFSET] == str(written.offset).encode()
    assert headers[DLQ_CONSUMER_GROUP] == consumer.group.encode()
    assert parse_rfc3339(headers[DLQ_FAILED_AT].decode()).tzinfo is not None
    assert {name: headers.get(name) for name, _ in poison.headers} == dict(poison.headers)


def test_a_valid_message_without_a_key_is_applied(consumer, services, producer):
    """Keys only spread an entity's events over partitions; handlers do not need them (they
    are idempotent and version-guarded), so a keyless event is not poison."""
    valid = consumer.scenario.valid(services)
    send(producer, consumer.topic, None, valid.event.SerializeToString(), ce_headers(valid.event))
    consumer.wait_applied(valid, "the keyless message")


def test_a_message_too_large_for_the_dlq_is_dead_lettered_without_its_bytes(
    services, kafka_admin, kafka_bootstrap_servers, dlq_producer, unique_name
):
    """The DLQ copy is the original plus the dlq_* headers, so an original at the producer's size
    limit cannot be copied whole; it must still not block the partition."""
    scenario = SCENARIOS[-1]
    topic = unique_name("test.poison.too-large-for-the-dlq", separator="-")
    limit = str(2 * 1024 * 1024)
    ensure_topics(kafka_bootstrap_servers, [TopicSpec(topic, partitions=1, configs={"max.message.bytes": limit})])
    big_producer = make_producer(kafka_bootstrap_servers, client_id="poison-tests-big", max_request_size=int(limit))
    running = start(
        scenario, services, topic, kafka_bootstrap_servers, dlq_producer, unique_name("test-too-large", separator="-")
    )
    try:
        valid = scenario.valid(services)
        huge = padded_to(valid.event, dlq_producer.config["max_request_size"] + 1024)
        written = send(big_producer, topic, b"poison-huge", huge, ce_headers(valid.event))
        send(big_producer, topic, valid.key.encode(), valid.event.SerializeToString(), ce_headers(valid.event))

        running.wait_applied(valid, "the valid message after the huge one")
        dead = running.dlq.wait_for(b"poison-huge")
        headers = dict(dead.headers)
        assert dead.value == b"" and headers[DLQ_VALUE_DROPPED] == str(len(huge)).encode()
        assert headers[DLQ_ERROR_TYPE] == b"OversizedMessage"
        assert headers[DLQ_ORIGINAL_OFFSET] == str(written.offset).encode()
    finally:
        running.halt()
        big_producer.close(timeout=5)
        kafka_admin.delete_topics([topic, dlq_topic(topic)])
