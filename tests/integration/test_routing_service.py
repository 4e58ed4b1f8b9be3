"""routing_svc against the real `routing` schema, Redis and the gRPC stack: map changes written
as rows, version and outbox event in one transaction (or not at all), the index registry sharing
compiled maps through Redis (and coping without it), assignments written to the outbox, and the
status codes the server's interceptor gives the API's errors. The use cases' rules are unit-tested
on in-memory storage (tests/unit/test_routing_handlers.py).

Every test uses hubs with fresh random ids and removes their rows and outbox events afterwards,
so it neither sees nor leaves data in the shared database.
"""

from __future__ import annotations

import json
import math
import socket
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import grpc
import pytest
import redis
import sqlalchemy as sa

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.errors import AlreadyExists, NotFound
from mesh.kafka import ConsumedMessage, EventHeaders
from routing_svc.adapters import orm
from routing_svc.adapters.index_cache import RedisIndexCache, index_key
from routing_svc.adapters.unit_of_work import SqlAlchemyRoutingUnitOfWork
from routing_svc.domain.model import RouteMatch
from routing_svc.entrypoints.consumers import decode_map_change
from routing_svc.entrypoints.grpc_api import RoutingServicer, registration
from routing_svc.service_layer import handlers
from routing_svc.service_layer.commands import LookupQuery, RoutePickup
from routing_svc.service_layer.index_registry import IndexRegistry
from tests.support.geometry import OCEAN_LAT as LAT0
from tests.support.geometry import OCEAN_LNG as LNG0
from tests.support.geometry import square
from tests.support.in_process_server import admin_channel
from tests.support.routing_inputs import named_route
from tests.support.rpc_status import status_of
from tests.support.sql_servicers import index_registry

pytestmark = pytest.mark.integration

RESOLUTION = 10
MAX_NEAREST_M = 500.0


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def uow_factory(session_factory) -> Callable[[], SqlAlchemyRoutingUnitOfWork]:
    return lambda: SqlAlchemyRoutingUnitOfWork(session_factory)


def make_registry(uow_factory, client: redis.Redis) -> IndexRegistry:
    return index_registry(uow_factory, client, max_nearest_m=MAX_NEAREST_M, resolution=RESOLUTION)


@pytest.fixture
def registry(uow_factory, redis_client) -> IndexRegistry:
    return make_registry(uow_factory, redis_client)


@pytest.fixture
def new_hub(engine, redis_client) -> Iterator[Callable[[], str]]:
    """`new_hub() -> hub id`; the hub's routes, map row, outbox events and cached indexes go
    away after the test (route-assignment events are cleaned by `pur_ids`)."""
    hubs: list[str] = []

    def make() -> str:
        hub_id = f"t-hub-{uuid.uuid4().hex[:10]}"
        hubs.append(hub_id)
        return hub_id

    yield make
    with engine.begin() as conn:
        conn.execute(sa.delete(orm.routes).where(orm.routes.c.hub_id.in_(hubs)))
        conn.execute(sa.delete(orm.hub_maps).where(orm.hub_maps.c.hub_id.in_(hubs)))
        conn.execute(sa.delete(orm.outbox.table).where(orm.outbox.table.c.key.in_([h.encode() for h in hubs])))
    for hub_id in hubs:
        for key in redis_client.scan_iter(f"routing:index:{hub_id}:*"):
            redis_client.delete(key)


@pytest.fixture
def pur_ids(engine) -> Iterator[Callable[[int], list[str]]]:
    made: list[str] = []

    def make(count: int) -> list[str]:
        ids = [f"t-pur-{uuid.uuid4().hex[:12]}" for _ in range(count)]
        made.extend(ids)
        return ids

    yield make
    with engine.begin() as conn:
        conn.execute(sa.delete(orm.outbox.table).where(orm.outbox.table.c.key.in_([p.encode() for p in made])))


def outbox_events(engine, keys: list[str]) -> list:
    table = orm.outbox.table
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(table).where(table.c.key.in_([k.encode() for k in keys])).order_by(table.c.id))
        )


def hub_map_version(engine, hub_id: str) -> int | None:
    with engine.connect() as conn:
        return conn.execute(sa.select(orm.hub_maps.c.map_version).where(orm.hub_maps.c.hub_id == hub_id)).scalar()


def route_rows(engine, hub_id: str) -> dict:
    with engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(orm.routes).where(orm.routes.c.hub_id == hub_id))}


def map_changes(engine, hub_id: str) -> list[events_pb2.RouteMapChanged]:
    events = outbox_events(engine, [hub_id])
    assert all(
        e.topic == "routing.map-changes.v1" and e.event_type == "firstmile.events.v1.RouteMapChanged" for e in events
    )
    return [events_pb2.RouteMapChanged.FromString(e.payload) for e in events]


def feature_collection(*features: tuple[str, dict, dict]) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [
                {"type": "Feature", "geometry": geometry, "properties": {"id": route_id, **props}}
                for route_id, geometry, props in features
            ],
        }
    )


# -- map changes ----------------------------------------------------------------------------------


def test_upsert_creates_version_1_and_announces_it(engine, uow_factory, registry, new_hub):
    hub = new_hub()
    outcome = handlers.upsert_route(
        uow_factory(), registry, named_route(f"{hub}-a", square(LNG0, LAT0), hub=hub, rider="rider-a")
    )

    assert outcome.created and outcome.map_version == 1
    assert hub_map_version(engine, hub) == 1
    index = registry.current.hub(hub)
    assert index is not None and index.map_version == 1
    assert outcome.route.cell_count == index.route_cell_count(f"{hub}-a") > 0
    assert route_rows(engine, hub)[f"{hub}-a"].map_version == 1
    [change] = map_changes(engine, hub)
    assert (change.hub_id, change.previous_map_version, change.map_version) == (hub, 0, 1)
    assert change.kind == events_pb2.ROUTE_MAP_CHANGE_KIND_UPSERT
    assert list(change.changed_route_ids) == [f"{hub}-a"]

    stored = handlers.get_route(uow_factory(), f"{hub}-a")
    assert stored.cell_count == outcome.route.cell_count and stored.default_rider_id == "rider-a"


def test_import_with_replace_is_one_version_with_counts(engine, uow_factory, registry, new_hub):
    hub = new_hub()
    r = lambda name: f"{hub}-{name}"  # noqa: E731
    first = handlers.import_routes(
        uow_factory(),
        registry,
        hub,
        [
            named_route(r("r1"), square(LNG0, LAT0), hub=hub),
            named_route(r("r2"), square(LNG0 + 0.01, LAT0), hub=hub),
            named_route(r("r3"), square(LNG0 + 0.02, LAT0), hub=hub),
        ],
        replace_existing=False,
    )
    assert (len(first.created), first.map_version) == (3, 1)

    servicer = RoutingServicer(uow_factory, registry)
    replacement = routing_pb2.ImportRoutesRequest(
        hub_id=hub,
        feature_collection_geojson=feature_collection(
            (r("r2"), square(LNG0 + 0.01, LAT0), {"default_rider_id": "rider-2", "name": "route " + r("r2")}),
            (r("r3"), square(LNG0 + 0.02, LAT0), {"name": "route " + r("r3")}),
            (r("r4"), square(LNG0 + 0.03, LAT0), {"priority": 5}),
        ),
        replace_existing=True,
    )
    response = servicer.ImportRoutes(replacement, None)
    assert (response.created_count, response.updated_count, response.deleted_count, response.unchanged_count) == (
        1,
        1,
        1,
        1,
    )
    assert response.map_version == 2
    rows = route_rows(engine, hub)
    assert set(rows) == {r("r2"), r("r3"), r("r4")}
    assert rows[r("r3")].map_version == 1 and rows[r("r2")].map_version == 2 and rows[r("r4")].priority == 5
    change = map_changes(engine, hub)[-1]
    assert change.kind == events_pb2.ROUTE_MAP_CHANGE_KIND_IMPORT and change.previous_map_version == 1
    assert list(change.changed_route_ids) == sorted([r("r1"), r("r2"), r("r4")])

    # Importing the same collection again changes nothing: no version, no event.
    same = servicer.ImportRoutes(replacement, None)
    assert (same.unchanged_count, same.created_count, same.updated_count, same.deleted_count) == (3, 0, 0, 0)
    assert same.map_version == 2 and len(map_changes(engine, hub)) == 2

    # Without replace_existing, routes missing from the collection stay.
    kept = handlers.import_routes(
        uow_factory(), registry, hub, [named_route(r("r5"), square(LNG0 + 0.04, LAT0), hub=hub)], replace_existing=False
    )
    assert (kept.created, kept.deleted, kept.map_version) == ([r("r5")], [], 3)
    assert set(route_rows(engine, hub)) == {r("r2"), r("r3"), r("r4"), r("r5")}


def test_delete_unknown_is_not_found_and_deleting_the_last_route_leaves_an_empty_map(
    engine, uow_factory, registry, new_hub
):
    with pytest.raises(NotFound, match="does not exist"):
        handlers.delete_route(uow_factory(), registry, f"nope-{uuid.uuid4().hex[:8]}")

    hub = new_hub()
    handlers.upsert_route(uow_factory(), registry, named_route(f"{hub}-a", square(LNG0, LAT0), hub=hub))
    assert handlers.delete_route(uow_factory(), registry, f"{hub}-a") == 2
    assert route_rows(engine, hub) == {} and hub_map_version(engine, hub) == 2
    change = map_changes(engine, hub)[-1]
    assert change.kind == events_pb2.ROUTE_MAP_CHANGE_KIND_DELETE and list(change.changed_route_ids) == [f"{hub}-a"]

    result = handlers.lookup_route(registry, LookupQuery(LAT0 + 0.005, LNG0 + 0.005, hub))
    assert result.match is RouteMatch.NONE and result.map_version == 2 and "no active routes" in result.reason
    with pytest.raises(NotFound):
        handlers.delete_route(uow_factory(), registry, f"{hub}-a")


def test_a_route_id_of_another_hub_is_already_exists(engine, uow_factory, registry, new_hub):
    hub, other = new_hub(), new_hub()
    handlers.upsert_route(uow_factory(), registry, named_route(f"{hub}-a", square(LNG0, LAT0), hub=hub))
    with pytest.raises(AlreadyExists, match="unique across hubs"):
        handlers.upsert_route(uow_factory(), registry, named_route(f"{hub}-a", square(LNG0, LAT0), hub=other))
    with pytest.raises(AlreadyExists):
        handlers.import_routes(
            uow_factory(),
            registry,
            other,
            [
                named_route(f"{other}-x", square(LNG0, LAT0), hub=other),
                named_route(f"{hub}-a", square(LNG0, LAT0), hub=other),
            ],
            replace_existing=True,
        )
    assert hub_map_version(engine, other) is None and route_rows(engine, other) == {}
    assert route_rows(engine, hub)[f"{hub}-a"].hub_id == hub


# -- lookups ----------------------------------------------------------------------------------------


@pytest.fixture
def mapped_hub(uow_factory, registry, new_hub) -> str:
    """A hub with two adjacent routes (A west, B east, B higher priority) and a far one (C)."""
    hub = new_hub()
    handlers.import_routes(
        uow_factory(),
        registry,
        hub,
        [
            named_route(f"{hub}-A", square(LNG0, LAT0), hub=hub, rider="rider-a"),
            named_route(f"{hub}-B", square(LNG0 + 0.01, LAT0), hub=hub, rider="rider-b", priority=1),
            named_route(f"{hub}-C", square(LNG0 + 0.10, LAT0), hub=hub),
        ],
        replace_existing=True,
    )
    return hub


# -- the index registry ------------------------------------------------------------------------------


def test_a_second_registry_loads_the_map_from_redis_without_compiling(uow_factory, redis_client, registry, mapped_hub):
    assert redis_client.exists(index_key(mapped_hub, 1, RESOLUTION))
    fresh = make_registry(uow_factory, redis_client)
    index = fresh.ensure(mapped_hub)
    assert index is not None and index.map_version == 1
    assert (fresh.compiled_count, fresh.cache_hit_count) == (0, 1) and fresh.last_source[mapped_hub] == "redis"
    point = LookupQuery(LAT0 + 0.005, LNG0 + 0.015, mapped_hub)
    assert handlers.lookup_route(fresh, point) == handlers.lookup_route(registry, point)


def test_warm_up_loads_every_hub_and_takes_shared_maps_from_redis(uow_factory, redis_client, mapped_hub, new_hub):
    empty_hub = new_hub()
    handlers.upsert_route(
        uow_factory(),
        make_registry(uow_factory, redis_client),
        named_route(f"{empty_hub}-a", square(LNG0, LAT0 + 1), hub=empty_hub),
    )
    handlers.delete_route(uow_factory(), make_registry(uow_factory, redis_client), f"{empty_hub}-a")

    fresh = make_registry(uow_factory, redis_client)
    report = fresh.warm_up()
    assert report.hubs >= 2 and report.from_cache >= 2
    assert fresh.current.hub(mapped_hub).map_version == 1 and fresh.last_source[mapped_hub] == "redis"
    # A hub whose routes were all deleted still has a map: lookups there answer NONE, not NOT_FOUND.
    assert fresh.current.hub(empty_hub).map_version == 2 and fresh.last_source[empty_hub] == "redis"
    assert handlers.lookup_route(fresh, LookupQuery(LAT0 + 1.005, LNG0 + 0.005, empty_hub)).match is RouteMatch.NONE


def test_a_registry_compiles_from_the_database_when_redis_is_unreachable(uow_factory, registry, mapped_hub, new_hub):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    dead = redis.Redis(host="127.0.0.1", port=closed_port, socket_timeout=0.5, socket_connect_timeout=0.5)
    cache = RedisIndexCache(dead, resolution=RESOLUTION, max_nearest_m=MAX_NEAREST_M, ttl_seconds=600)
    offline = IndexRegistry(uow_factory, cache, resolution=RESOLUTION, max_nearest_m=MAX_NEAREST_M)

    index = offline.ensure(mapped_hub)
    assert index is not None and index.map_version == 1
    assert (offline.compiled_count, offline.cache_hit_count) == (1, 0) and offline.last_source[mapped_hub] == "compiled"
    point = LookupQuery(LAT0 + 0.005, LNG0 + 0.005, mapped_hub)
    assert handlers.lookup_route(offline, point) == handlers.lookup_route(registry, point)

    # Map changes still work (Redis is only a cache).
    hub = new_hub()
    assert (
        handlers.upsert_route(uow_factory(), offline, named_route(f"{hub}-a", square(LNG0, LAT0), hub=hub)).map_version
        == 1
    )
    assert offline.current.hub(hub).map_version == 1


def test_map_change_event_brings_a_stale_replica_up_to_date(uow_factory, redis_client, registry, mapped_hub):
    other_replica = make_registry(uow_factory, redis_client)
    assert other_replica.ensure(mapped_hub).map_version == 1
    handlers.upsert_route(
        uow_factory(), registry, named_route(f"{mapped_hub}-A", square(LNG0, LAT0), hub=mapped_hub, rider="rider-z")
    )

    # The event as the relay publishes it, through the consumer's decoder.
    payload = events_pb2.RouteMapChanged(hub_id=mapped_hub, map_version=2, previous_map_version=1).SerializeToString()
    headers = EventHeaders(
        id=str(uuid.uuid4()), type="firstmile.events.v1.RouteMapChanged", source="routing_svc", time=datetime.now(UTC)
    )
    message = ConsumedMessage("routing.map-changes.v1", 0, 0, mapped_hub.encode(), payload, dict(headers.to_kafka()), 0)
    change = decode_map_change(message)
    handlers.apply_map_change(other_replica, change.hub_id, change.map_version)

    assert other_replica.current.hub(mapped_hub).map_version == 2
    assert other_replica.compiled_count == 0  # the writer shared version 2 through Redis
    assert (
        handlers.lookup_route(other_replica, LookupQuery(LAT0 + 0.005, LNG0 + 0.005, mapped_hub)).rider_id == "rider-z"
    )


def test_sync_with_database_loads_hubs_changed_elsewhere(uow_factory, redis_client, registry, new_hub):
    hub = new_hub()
    other_replica = make_registry(uow_factory, redis_client)
    handlers.upsert_route(uow_factory(), registry, named_route(f"{hub}-a", square(LNG0, LAT0), hub=hub))
    assert other_replica.current.hub(hub) is None
    assert hub in other_replica.sync_with_database()
    assert other_replica.current.hub(hub).map_version == 1


# -- the pur.created batch handler ---------------------------------------------------------------------


def assignments(engine, ids: list[str]) -> dict[str, events_pb2.RouteAssignment]:
    events = outbox_events(engine, ids)
    assert all(
        e.topic == "pur.route-assignments.v1" and e.event_type == "firstmile.events.v1.RouteAssignment" for e in events
    )
    return {e.key.decode(): events_pb2.RouteAssignment.FromString(e.payload) for e in events}


def test_route_pickups_writes_one_assignment_per_pur(engine, uow_factory, registry, mapped_hub, pur_ids):
    hub = mapped_hub
    unknown_hub = f"t-hub-unknown-{uuid.uuid4().hex[:6]}"
    a, b, hubless, near, far, lost = pur_ids(6)
    requests = [
        RoutePickup(a, hub, LAT0 + 0.005, LNG0 + 0.005, attempt=1),
        RoutePickup(b, hub, LAT0 + 0.005, LNG0 + 0.015, attempt=3),
        RoutePickup(hubless, "", LAT0 + 0.005, LNG0 + 0.005),
        RoutePickup(near, hub, LAT0 - 0.0018, LNG0 + 0.005),
        RoutePickup(far, hub, LAT0 - 0.05, LNG0 + 0.005),
        RoutePickup(lost, unknown_hub, LAT0, LNG0),
    ]
    assert handlers.route_pickups(uow_factory(), registry, requests) == 6
    got = assignments(engine, [a, b, hubless, near, far, lost])
    assert len(got) == 6

    assigned_a = got[a].assigned
    assert (assigned_a.route_id, assigned_a.hub_id, assigned_a.rider_id) == (f"{hub}-A", hub, "rider-a")
    assert assigned_a.match == common_pb2.ROUTE_MATCH_EXACT and assigned_a.map_version == 1 and assigned_a.attempt == 1
    assert assigned_a.h3_cell and assigned_a.distance_m == 0
    assert (got[b].assigned.route_id, got[b].assigned.rider_id, got[b].assigned.attempt) == (f"{hub}-B", "rider-b", 3)
    assert (got[hubless].assigned.route_id, got[hubless].assigned.hub_id) == (f"{hub}-A", hub)
    assert got[near].assigned.match == common_pb2.ROUTE_MATCH_NEAREST and got[near].assigned.distance_m > 100

    unroutable = got[far].unroutable
    assert unroutable.hub_id == hub and unroutable.map_version == 1 and unroutable.nearest_route_id == f"{hub}-A"
    assert unroutable.nearest_distance_m > MAX_NEAREST_M and "limit 500 m" in unroutable.reason
    lost_decision = got[lost].unroutable
    assert lost_decision.hub_id == unknown_hub and lost_decision.map_version == 0
    assert "unknown hub" in lost_decision.reason and lost_decision.h3_cell


# -- the gRPC API -------------------------------------------------------------------------------------------


@pytest.fixture
def stub(uow_factory, registry) -> Iterator[routing_pb2_grpc.RoutingServiceStub]:
    with admin_channel(registration(RoutingServicer(uow_factory, registry))) as channel:
        yield routing_pb2_grpc.RoutingServiceStub(channel)


def lookup(lat: float, lng: float, hub_id: str = "") -> routing_pb2.LookupRouteRequest:
    return routing_pb2.LookupRouteRequest(location=common_pb2.LatLng(lat=lat, lng=lng), hub_id=hub_id)


@pytest.mark.parametrize(
    ("lat", "lng", "details"),
    [
        (math.nan, 77.5, "location.lat must be a finite number in [-90, 90]"),
        (12.9, math.inf, "location.lng must be a finite number in [-180, 180]"),
        (-math.inf, 77.5, "location.lat must be"),
        (90.5, 77.5, "location.lat must be"),
        (12.9, -180.01, "location.lng must be"),
    ],
)
def test_grpc_bad_coordinates_are_invalid_argument(stub, lat, lng, details):
    code, message = status_of(stub.LookupRoute, lookup(lat, lng))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and details in message
    code, message = status_of(
        stub.BatchLookupRoutes, routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(1, 1), lookup(lat, lng)])
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT and message.startswith("lookups[1].location.")


def test_grpc_missing_empty_and_oversized_fields_are_invalid_argument(stub):
    too_long = "r" * 65
    cases = [
        (stub.LookupRoute, routing_pb2.LookupRouteRequest(), "location is required"),
        (stub.GetRoute, routing_pb2.GetRouteRequest(), "id is required"),
        (stub.GetRoute, routing_pb2.GetRouteRequest(id=too_long), "id must be 1-64 characters"),
        (stub.DeleteRoute, routing_pb2.DeleteRouteRequest(id="bad id"), "id must be 1-64 characters"),
        (stub.ListRoutes, routing_pb2.ListRoutesRequest(), "hub_id is required"),
        (stub.GetRouteMap, routing_pb2.GetRouteMapRequest(hub_id=too_long), "hub_id must be 1-64 characters"),
        (stub.UpsertRoute, routing_pb2.UpsertRouteRequest(), "route is required"),
        (
            stub.UpsertRoute,
            routing_pb2.UpsertRouteRequest(route=routing_pb2.Route(id="r", hub_id="h")),
            "geometry_geojson is required",
        ),
        (
            stub.UpsertRoute,
            routing_pb2.UpsertRouteRequest(
                route=routing_pb2.Route(
                    id="r", hub_id="h", name="n" * 201, geometry_geojson=json.dumps(square(LNG0, LAT0))
                )
            ),
            "name must be",
        ),
        (
            stub.UpsertRoute,
            routing_pb2.UpsertRouteRequest(
                route=routing_pb2.Route(id="r", hub_id="h", geometry_geojson=" " * (1024 * 1024 + 1))
            ),
            "at most 1048576",
        ),
        (stub.ImportRoutes, routing_pb2.ImportRoutesRequest(hub_id="h"), "feature_collection_geojson is required"),
        (
            stub.ImportRoutes,
            routing_pb2.ImportRoutesRequest(hub_id="h", feature_collection_geojson="{"),
            "not valid JSON",
        ),
        (stub.BatchLookupRoutes, routing_pb2.BatchLookupRoutesRequest(), "send 1 to 10000"),
        (
            stub.BatchLookupRoutes,
            routing_pb2.BatchLookupRoutesRequest(
                lookups=[lookup(1, 1), lookup(1, 1, "bad hub"), routing_pb2.LookupRouteRequest()]
            ),
            "lookups[1].hub_id must be 1-64 characters",
        ),
        (
            stub.BatchLookupRoutes,
            routing_pb2.BatchLookupRoutesRequest(
                lookups=[lookup(1, 1), routing_pb2.LookupRouteRequest(), lookup(1, 1, "bad hub")]
            ),
            "lookups[1].location is required",
        ),
        (
            stub.BatchLookupRoutes,
            routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(1, 1)] * 10_001),
            "send 1 to 10000",
        ),
    ]
    for call, request, details in cases:
        code, message = status_of(call, request)
        assert (code, details in message) == (grpc.StatusCode.INVALID_ARGUMENT, True), (request, message)


def test_grpc_unknown_hub_and_route_are_not_found(stub):
    unknown = f"t-hub-unknown-{uuid.uuid4().hex[:6]}"
    for call, request in [
        (stub.LookupRoute, lookup(12.9, 77.5, unknown)),
        (stub.BatchLookupRoutes, routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(12.9, 77.5, unknown)])),
        (stub.GetRouteMap, routing_pb2.GetRouteMapRequest(hub_id=unknown)),
        (stub.ListRoutes, routing_pb2.ListRoutesRequest(hub_id=unknown)),
        (stub.GetRoute, routing_pb2.GetRouteRequest(id=unknown)),
        (stub.DeleteRoute, routing_pb2.DeleteRouteRequest(id=unknown)),
    ]:
        code, _ = status_of(call, request)
        assert code is grpc.StatusCode.NOT_FOUND, request


def test_grpc_upsert_list_pages_and_route_map(stub, new_hub):
    hub = new_hub()
    for i in range(5):
        response = stub.UpsertRoute(
            routing_pb2.UpsertRouteRequest(
                route=routing_pb2.Route(
                    id=f"{hub}-{i}",
                    hub_id=hub,
                    name=f"R{i}",
                    geometry_geojson=json.dumps(square(LNG0 + 0.01 * i, LAT0)),
                    default_rider_id=f"rider-{i}",
                    active=i != 4,
                )
            ),
            timeout=10,
        )
        assert response.created and response.map_version == i + 1 and response.route.cell_count > 0

    seen, token = [], ""
    while True:
        page = stub.ListRoutes(
            routing_pb2.ListRoutesRequest(hub_id=hub, page_size=2, page_token=token, omit_geometry=True), timeout=10
        )
        assert page.map_version == 5 and all(not r.geometry_geojson and r.cell_count > 0 for r in page.routes)
        seen += [r.id for r in page.routes]
        token = page.next_page_token
        if not token:
            break
    assert seen == [f"{hub}-{i}" for i in range(4)]  # the inactive one only with include_inactive
    everything = stub.ListRoutes(
        routing_pb2.ListRoutesRequest(hub_id=hub, include_inactive=True, page_size=5000), timeout=10
    )
    assert len(everything.routes) == 5 and everything.routes[4].active is False

    first = stub.ListRoutes(routing_pb2.ListRoutesRequest(hub_id=hub, page_size=2), timeout=10)
    code, message = status_of(
        stub.ListRoutes,
        routing_pb2.ListRoutesRequest(hub_id=hub, include_inactive=True, page_token=first.next_page_token),
    )
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "different filters" in message
    code, message = status_of(stub.ListRoutes, routing_pb2.ListRoutesRequest(hub_id=hub, page_token="not-a-token"))
    assert code is grpc.StatusCode.INVALID_ARGUMENT and "page_token" in message

    found = stub.LookupRoute(lookup(LAT0 + 0.005, LNG0 + 0.015, hub), timeout=10)
    assert (found.route_id, found.rider_id, found.match, found.map_version) == (
        f"{hub}-1",
        "rider-1",
        common_pb2.ROUTE_MATCH_EXACT,
        5,
    )
    nothing = stub.LookupRoute(lookup(LAT0 - 0.05, LNG0, hub), timeout=10)
    assert nothing.match == common_pb2.ROUTE_MATCH_NONE and nothing.unroutable_reason and nothing.hub_id == hub

    route_map = stub.GetRouteMap(routing_pb2.GetRouteMapRequest(hub_id=hub), timeout=30)
    assert route_map.map_version == 5 and route_map.route_count == 4 and route_map.resolution == RESOLUTION
    assert len(json.loads(route_map.coverage_geojson)["features"]) == 4
    assert json.loads(route_map.gaps_geojson)["type"] == "FeatureCollection"

    code, _ = status_of(
        stub.UpsertRoute,
        routing_pb2.UpsertRouteRequest(
            route=routing_pb2.Route(id=f"{hub}-0", hub_id=new_hub(), geometry_geojson=json.dumps(square(LNG0, LAT0)))
        ),
    )
    assert code is grpc.StatusCode.ALREADY_EXISTS
    assert stub.DeleteRoute(routing_pb2.DeleteRouteRequest(id=f"{hub}-0"), timeout=10).map_version == 6
