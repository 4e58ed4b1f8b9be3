"""RoutingServicer's translations between protobuf and the use cases, without a database (calls
through grpc_testing on tests/support/fakes_routing.py), the error kinds a bad request raises
(the server's interceptor maps kinds to status codes; grpc_testing does not), the scope checks,
and the domain events as outbox rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.routing.v1 import routing_pb2 as pb
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument, NotFound, PermissionDenied
from mesh.kafka import MAX_EVENT_BYTES
from routing_svc.adapters.messages import MAX_CHANGED_ROUTE_IDS, to_outbox
from routing_svc.domain.errors import InvalidGeometry, NoRouteMap, RouteNotFound
from routing_svc.domain.events import MapChangeKind, PickupRouted, RouteMapChanged, RouteSummary
from routing_svc.domain.model import LookupResult, RouteMatch
from routing_svc.entrypoints.grpc_api import ACCESS, RoutingServicer
from tests.support.fakes_routing import FakeRouting
from tests.support.geometry import OCEAN_LAT as LAT0
from tests.support.geometry import OCEAN_LNG as LNG0
from tests.support.geometry import square, square_geojson
from tests.support.servicer_calls import ServedAs

SERVICE = pb.DESCRIPTOR.services_by_name["RoutingService"]
HUB = "HUB-1"
ADMIN = Principal("admin", Role.ADMIN)
LEAD = Principal("lead", Role.TEAM_LEAD, hubs=frozenset({HUB}))
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def routing() -> FakeRouting:
    return FakeRouting(max_nearest_m=500.0)


@pytest.fixture
def servicer(routing) -> RoutingServicer:
    return RoutingServicer(routing.uow, routing.registry())


@pytest.fixture
def admin(servicer) -> ServedAs:
    return ServedAs(servicer, SERVICE, ACCESS, ADMIN)


@pytest.fixture
def lead(servicer) -> ServedAs:
    return ServedAs(servicer, SERVICE, ACCESS, LEAD)


def upsert(route_id: str, geometry: str, hub: str = HUB, **fields: Any) -> pb.UpsertRouteRequest:
    return pb.UpsertRouteRequest(route=pb.Route(id=route_id, hub_id=hub, geometry_geojson=geometry, **fields))


def lookup(lat: float, lng: float, hub: str = HUB) -> pb.LookupRouteRequest:
    return pb.LookupRouteRequest(location=common_pb2.LatLng(lat=lat, lng=lng), hub_id=hub)


def collection(*features: tuple[str, dict]) -> str:
    return json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "properties": {"id": i}, "geometry": g} for i, g in features],
        }
    )


@pytest.fixture
def mapped(admin) -> None:
    """HUB with route A (rider-a) and B east of it (priority 1, no rider)."""
    admin.ok("UpsertRoute", upsert("A", square_geojson(), name="Route A", default_rider_id="rider-a"))
    admin.ok("UpsertRoute", upsert("B", square_geojson(LNG0 + 0.01), priority=1))


# -- map changes ----------------------------------------------------------------------------------


def test_upsert_answers_the_stored_route_and_get_route_returns_it(admin, lead):
    response = admin.ok("UpsertRoute", upsert("A", square_geojson(), name="Route A", default_rider_id="rider-a"))
    route = response.route
    assert response.created and response.map_version == 1
    assert (route.id, route.hub_id, route.name, route.default_rider_id, route.priority, route.active) == (
        "A",
        HUB,
        "Route A",
        "rider-a",
        0,
        True,
    )
    assert json.loads(route.geometry_geojson)["type"] == "Polygon"
    assert route.cell_count > 0 and route.map_version == 1 and route.created_at.seconds > 0
    assert lead.ok("GetRoute", pb.GetRouteRequest(id="A")).route == route

    inactive = admin.ok("UpsertRoute", upsert("A", square_geojson(), active=False)).route
    assert not inactive.active and inactive.default_rider_id == "" and inactive.map_version == 2


def test_import_and_delete_answer_counts_and_versions(admin):
    text = collection(("A", square()), ("B", square(LNG0 + 0.01)))
    first = admin.ok("ImportRoutes", pb.ImportRoutesRequest(hub_id=HUB, feature_collection_geojson=text))
    assert (first.created_count, first.updated_count, first.deleted_count, first.unchanged_count) == (2, 0, 0, 0)
    replaced = admin.ok(
        "ImportRoutes",
        pb.ImportRoutesRequest(
            hub_id=HUB, feature_collection_geojson=collection(("A", square())), replace_existing=True
        ),
    )
    assert (replaced.deleted_count, replaced.unchanged_count, replaced.map_version) == (1, 1, 2)
    assert admin.ok("DeleteRoute", pb.DeleteRouteRequest(id="A")).map_version == 3


def test_list_routes_pages_with_a_token_bound_to_the_filters(admin, lead, mapped):
    admin.ok("UpsertRoute", upsert("C", square_geojson(LNG0 + 0.02), active=False))
    first = lead.ok("ListRoutes", pb.ListRoutesRequest(hub_id=HUB, page_size=1, omit_geometry=True))
    assert [r.id for r in first.routes] == ["A"] and first.routes[0].geometry_geojson == ""
    assert first.next_page_token and first.map_version == 3
    rest = lead.ok("ListRoutes", pb.ListRoutesRequest(hub_id=HUB, page_size=5, page_token=first.next_page_token))
    assert [r.id for r in rest.routes] == ["B"] and rest.routes[0].geometry_geojson and not rest.next_page_token
    every = lead.ok("ListRoutes", pb.ListRoutesRequest(hub_id=HUB, include_inactive=True))
    assert [r.id for r in every.routes] == ["A", "B", "C"]

    other_filters = pb.ListRoutesRequest(hub_id=HUB, include_inactive=True, page_token=first.next_page_token)
    lead.refuses("ListRoutes", other_filters, InvalidArgument, "different filters")
    lead.refuses("ListRoutes", pb.ListRoutesRequest(hub_id=HUB, page_size=-1), InvalidArgument, "must not be negative")


# -- lookups --------------------------------------------------------------------------------------


def test_lookup_answers_exact_nearest_and_none(lead, mapped):
    exact = lead.ok("LookupRoute", lookup(LAT0 + 0.005, LNG0 + 0.005))
    assert (exact.route_id, exact.rider_id, exact.hub_id, exact.match, exact.map_version) == (
        "A",
        "rider-a",
        HUB,
        common_pb2.ROUTE_MATCH_EXACT,
        2,
    )
    assert exact.h3_cell and exact.distance_m == 0 and not exact.unroutable_reason

    near = lead.ok("LookupRoute", lookup(LAT0 - 0.0018, LNG0 + 0.005))
    assert near.match == common_pb2.ROUTE_MATCH_NEAREST and near.route_id == "A" and 150 < near.distance_m < 250

    none = lead.ok("LookupRoute", lookup(LAT0 - 0.05, LNG0 + 0.005))
    assert none.match == common_pb2.ROUTE_MATCH_NONE and none.route_id == "" and none.rider_id == ""
    assert none.hub_id == HUB and "limit 500 m" in none.unroutable_reason


def test_batch_lookup_answers_in_request_order(lead, mapped):
    response = lead.ok(
        "BatchLookupRoutes",
        pb.BatchLookupRoutesRequest(
            lookups=[lookup(LAT0 + 0.005, LNG0 + 0.015), lookup(LAT0 - 0.05, LNG0), lookup(LAT0 + 0.005, LNG0 + 0.005)]
        ),
    )
    assert [r.route_id for r in response.results] == ["B", "", "A"]
    assert response.results[1].match == common_pb2.ROUTE_MATCH_NONE and response.results[1].unroutable_reason
    assert response.results[0] == lead.ok("LookupRoute", lookup(LAT0 + 0.005, LNG0 + 0.015))


def test_route_map_reports_coverage_unless_told_to_omit_it(lead, mapped):
    full = lead.ok("GetRouteMap", pb.GetRouteMapRequest(hub_id=HUB))
    assert (full.hub_id, full.map_version, full.route_count, full.resolution) == (HUB, 2, 2, 10)
    assert [r.route_id for r in full.routes] == ["A", "B"] and full.cell_count > 0
    assert len(json.loads(full.coverage_geojson)["features"]) == 2
    assert json.loads(full.gaps_geojson)["type"] == "FeatureCollection"
    bare = lead.ok("GetRouteMap", pb.GetRouteMapRequest(hub_id=HUB, omit_geojson=True))
    assert bare.coverage_geojson == "" and bare.gaps_geojson == "" and bare.cell_count == full.cell_count


# -- errors propagate as their kinds --------------------------------------------------------------


BOWTIE = json.dumps(
    {"type": "Polygon", "coordinates": [[[77.5, 12.9], [77.51, 12.91], [77.51, 12.9], [77.5, 12.91], [77.5, 12.9]]]}
)


@pytest.mark.parametrize(
    ("method", "request_", "kind", "message"),
    [
        ("UpsertRoute", pb.UpsertRouteRequest(), InvalidArgument, "route is required"),
        ("UpsertRoute", upsert("bad id", square_geojson()), InvalidArgument, "route.id must be 1-64 characters"),
        ("UpsertRoute", upsert("A", square_geojson(), hub=""), InvalidArgument, "route.hub_id is required"),
        ("UpsertRoute", upsert("A", ""), InvalidGeometry, "route.geometry_geojson is required"),
        ("UpsertRoute", upsert("A", BOWTIE), InvalidGeometry, "Self-intersection"),
        ("ImportRoutes", pb.ImportRoutesRequest(hub_id=HUB), InvalidArgument, "feature_collection_geojson is required"),
        (
            "ImportRoutes",
            pb.ImportRoutesRequest(hub_id="bad hub", feature_collection_geojson=collection()),
            InvalidArgument,
            "hub_id must be 1-64 characters",
        ),
        (
            "ImportRoutes",
            pb.ImportRoutesRequest(
                hub_id=HUB, feature_collection_geojson=collection(("A", square()), ("B", json.loads(BOWTIE)))
            ),
            InvalidGeometry,
            "feature 1: route 'B': geometry is not valid",
        ),
        ("DeleteRoute", pb.DeleteRouteRequest(id="nope"), RouteNotFound, "route 'nope' does not exist"),
        ("GetRoute", pb.GetRouteRequest(), InvalidArgument, "id is required"),
    ],
)
def test_bad_requests_raise_their_kind(admin, method, request_, kind, message):
    admin.refuses(method, request_, kind, message)


@pytest.mark.parametrize(
    ("method", "request_", "kind", "message"),
    [
        ("GetRoute", pb.GetRouteRequest(id="nope"), NotFound, "route 'nope' does not exist"),
        ("ListRoutes", pb.ListRoutesRequest(hub_id="x" * 65), InvalidArgument, "hub_id must be 1-64 characters"),
        ("LookupRoute", pb.LookupRouteRequest(hub_id=HUB), InvalidArgument, "location is required"),
        ("LookupRoute", lookup(91.0, 1.0), InvalidArgument, "location.lat must be a finite number in [-90, 90]"),
        ("GetRouteMap", pb.GetRouteMapRequest(hub_id=HUB), NoRouteMap, "hub 'HUB-1' has no route map"),
        (
            "BatchLookupRoutes",
            pb.BatchLookupRoutesRequest(lookups=[lookup(1, 1), lookup(1, 1, "bad hub"), pb.LookupRouteRequest()]),
            InvalidArgument,
            "lookups[1].hub_id must be 1-64 characters",
        ),
        (
            "BatchLookupRoutes",
            pb.BatchLookupRoutesRequest(lookups=[lookup(1, 1), lookup(1, float("nan"))]),
            InvalidArgument,
            "lookups[1].location.lng must be a finite number",
        ),
        ("BatchLookupRoutes", pb.BatchLookupRoutesRequest(), InvalidArgument, "send 1 to 10000"),
        (
            "BatchLookupRoutes",
            pb.BatchLookupRoutesRequest(lookups=[lookup(1, 1)]),
            NoRouteMap,
            "lookups[0]: hub 'HUB-1' has no route map",
        ),
    ],
)
def test_bad_reads_raise_their_kind(lead, method, request_, kind, message):
    lead.refuses(method, request_, kind, message)


def test_a_team_lead_reads_only_its_hubs(admin, lead, mapped):
    admin.ok("UpsertRoute", upsert("X", square_geojson(LNG0 + 0.5), hub="HUB-2"))
    denied = "may not access hub 'HUB-2'"
    lead.refuses("GetRoute", pb.GetRouteRequest(id="X"), PermissionDenied, denied)
    lead.refuses("ListRoutes", pb.ListRoutesRequest(hub_id="HUB-2"), PermissionDenied, denied)
    lead.refuses("GetRouteMap", pb.GetRouteMapRequest(hub_id="HUB-2"), PermissionDenied, denied)
    lead.refuses("LookupRoute", lookup(LAT0, LNG0, "HUB-2"), PermissionDenied, denied)
    across = pb.BatchLookupRoutesRequest(lookups=[lookup(LAT0, LNG0), lookup(LAT0, LNG0, "")])
    lead.refuses("BatchLookupRoutes", across, PermissionDenied, "may not act across every hub")


# -- domain events as outbox rows -----------------------------------------------------------------


def test_a_map_change_event_stays_small_whatever_the_import():
    ids = tuple(sorted(f"route-{n:058d}" for n in range(20_000)))
    [row] = to_outbox(RouteMapChanged("HUB-1", 1, 2, MapChangeKind.IMPORT, ids, NOW))
    payload = events_pb2.RouteMapChanged.FromString(row.payload)
    assert (row.topic, row.key, row.event_type) == (
        "routing.map-changes.v1",
        "HUB-1",
        "firstmile.events.v1.RouteMapChanged",
    )
    assert (payload.hub_id, payload.previous_map_version, payload.map_version) == ("HUB-1", 1, 2)
    assert payload.kind == events_pb2.ROUTE_MAP_CHANGE_KIND_IMPORT and payload.changed_at.ToDatetime(UTC) == NOW
    assert list(payload.changed_route_ids) == list(ids[:MAX_CHANGED_ROUTE_IDS])
    assert len(row.payload) < MAX_EVENT_BYTES / 4


def test_a_large_map_change_is_published_in_parts_of_one_version():
    summaries = tuple(RouteSummary(f"route-{n:05d}", f"Route {n}", "rider-1", n % 2 == 0, n) for n in range(1201))
    deleted = tuple(f"gone-{n:05d}" for n in range(700))
    changed = tuple(sorted([*(s.id for s in summaries), *deleted]))
    rows = to_outbox(RouteMapChanged(HUB, 4, 5, MapChangeKind.IMPORT, changed, NOW, summaries, deleted))

    parts = [events_pb2.RouteMapChanged.FromString(row.payload) for row in rows]
    assert {(row.topic, row.key) for row in rows} == {("routing.map-changes.v1", HUB)}
    assert [(p.part, p.parts, p.map_version, p.previous_map_version) for p in parts] == [
        (1, 3, 5, 4),
        (2, 3, 5, 4),
        (3, 3, 5, 4),
    ]
    assert [(len(p.routes), len(p.deleted_route_ids)) for p in parts] == [(500, 500), (500, 200), (201, 0)]
    assert [r.id for p in parts for r in p.routes] == [s.id for s in summaries]
    assert [i for p in parts for i in p.deleted_route_ids] == list(deleted)
    assert parts[2].routes[-1] == events_pb2.RouteSummary(
        id="route-01200", name="Route 1200", default_rider_id="rider-1", active=True, priority=1200
    )
    assert len(parts[0].changed_route_ids) == MAX_CHANGED_ROUTE_IDS and not parts[1].changed_route_ids

    # A small change is one event, part 1 of 1.
    [row] = to_outbox(RouteMapChanged(HUB, 1, 2, MapChangeKind.UPSERT, ("A",), NOW, summaries[:1]))
    single = events_pb2.RouteMapChanged.FromString(row.payload)
    assert (single.part, single.parts, [r.id for r in single.routes]) == (1, 1, ["route-00000"])


def test_route_summaries_with_the_longest_names_keep_every_part_small():
    name = "🚚" * 200  # 200 characters of 4 bytes each
    summaries = tuple(RouteSummary(f"{n:064d}", name, "r" * 64, True, -(2**31)) for n in range(2000))
    deleted = tuple(f"d{n:063d}" for n in range(20_000))
    rows = to_outbox(RouteMapChanged(HUB, 1, 2, MapChangeKind.IMPORT, ("x" * 64,) * 1000, NOW, summaries, deleted))
    assert max(len(row.payload) for row in rows) < MAX_EVENT_BYTES * 3 / 4
    parts = [events_pb2.RouteMapChanged.FromString(row.payload) for row in rows]
    assert sum(len(p.routes) for p in parts) == 2000 and sum(len(p.deleted_route_ids) for p in parts) == 20_000
    assert max(len(p.routes) for p in parts) <= 500 and {p.parts for p in parts} == {len(rows)}


def test_routing_decisions_become_route_assignments():
    routed = LookupResult("A", HUB, "rider-a", RouteMatch.NEAREST, 120.5, "8a2a1072b59ffff", 3)
    [row] = to_outbox(PickupRouted("pur-1", 2, routed, NOW))
    assigned = events_pb2.RouteAssignment.FromString(row.payload).assigned
    assert (row.topic, row.key, row.occurred_at) == ("pur.route-assignments.v1", "pur-1", NOW)
    assert (assigned.pur_id, assigned.route_id, assigned.hub_id, assigned.rider_id, assigned.attempt) == (
        "pur-1",
        "A",
        HUB,
        "rider-a",
        2,
    )
    assert (assigned.match, assigned.distance_m, assigned.map_version) == (common_pb2.ROUTE_MATCH_NEAREST, 120.5, 3)

    none = LookupResult(None, HUB, None, RouteMatch.NONE, 0.0, "8a2a1072b59ffff", 3, "too far", "A", 900.0)
    [row] = to_outbox(PickupRouted("pur-2", 1, none, NOW))
    unroutable = events_pb2.RouteAssignment.FromString(row.payload).unroutable
    assert (unroutable.pur_id, unroutable.hub_id, unroutable.reason, unroutable.map_version) == (
        "pur-2",
        HUB,
        "too far",
        3,
    )
    assert (unroutable.nearest_route_id, unroutable.nearest_distance_m) == ("A", 900.0)

    with pytest.raises(TypeError):
        to_outbox(object())
