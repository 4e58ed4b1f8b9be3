"""routing_svc's use cases on in-memory storage (tests/support/fakes_routing.py): map changes and
the versions and events they produce, lookups, the index registry's loading rules and the PUR
routing batch. What only PostgreSQL or Redis can show is in tests/integration/test_routing_service.py."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import shapely

from routing_svc.domain.errors import InvalidGeometry, NoRouteMap, RouteIdTaken, RouteNotFound
from routing_svc.domain.events import MapChangeKind, PickupRouted, RouteMapChanged, RouteSummary
from routing_svc.domain.model import Route, RouteMatch
from routing_svc.entrypoints.consumers import load_map_changes
from routing_svc.service_layer import handlers
from routing_svc.service_layer.commands import LoadHubMap, LookupQuery, RoutePickup
from routing_svc.service_layer.index_registry import IndexRegistry
from tests.support.fakes_routing import FakeIndexCache, FakeRouting
from tests.support.geometry import OCEAN_LAT as LAT0
from tests.support.geometry import OCEAN_LNG as LNG0
from tests.support.geometry import square
from tests.support.routing_inputs import named_route

HUB = "HUB-1"
MAX_NEAREST_M = 500.0


@pytest.fixture
def routing() -> FakeRouting:
    return FakeRouting(max_nearest_m=MAX_NEAREST_M)


@pytest.fixture
def registry(routing) -> IndexRegistry:
    return routing.registry()


route = partial(named_route, hub=HUB)


def map_changes(routing: FakeRouting) -> list[RouteMapChanged]:
    return [e for e in routing.store.events if isinstance(e, RouteMapChanged)]


def routed(routing: FakeRouting) -> dict[str, PickupRouted]:
    return {e.pur_id: e for e in routing.store.events if isinstance(e, PickupRouted)}


@pytest.fixture
def mapped_hub(routing, registry) -> str:
    """A hub with two adjacent routes (A west, B east, B higher priority) and a far one (C)."""
    handlers.import_routes(
        routing.uow(),
        registry,
        HUB,
        [
            route("A", square(LNG0, LAT0), rider="rider-a"),
            route("B", square(LNG0 + 0.01, LAT0), rider="rider-b", priority=1),
            route("C", square(LNG0 + 0.10, LAT0)),
        ],
        replace_existing=True,
    )
    return HUB


# -- map changes --------------------------------------------------------------------------------


def test_upsert_creates_version_1_and_announces_it(routing, registry):
    outcome = handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-a"))

    assert outcome.created and outcome.map_version == 1
    assert routing.store.hub_maps[HUB] == 1
    index = registry.current.hub(HUB)
    assert index is not None and index.map_version == 1
    assert outcome.route.cell_count == index.route_cell_count("A") > 0
    [change] = map_changes(routing)
    assert (change.hub_id, change.previous_map_version, change.map_version) == (HUB, 0, 1)
    assert change.kind is MapChangeKind.UPSERT and change.changed_route_ids == ("A",)
    assert (change.routes, change.deleted_route_ids) == ((RouteSummary("A", "route A", "rider-a", True, 0),), ())
    assert handlers.get_route(routing.uow(), "A") == outcome.route


def test_identical_upsert_changes_nothing_and_a_real_change_bumps_the_version(routing, registry):
    handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-a"))

    again = handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-a"))
    assert not again.created and again.map_version == 1
    assert len(map_changes(routing)) == 1

    changed = handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-b"))
    assert not changed.created and changed.map_version == 2
    assert changed.route.map_version == 2 and changed.route.default_rider_id == "rider-b"
    assert [c.map_version for c in map_changes(routing)] == [1, 2]
    assert registry.current.hub(HUB).lookup(LAT0 + 0.005, LNG0 + 0.005).rider_id == "rider-b"


def test_inactive_route_is_stored_with_its_cell_count_but_never_matches(routing, registry):
    outcome = handlers.upsert_route(routing.uow(), registry, route("A", square(), active=False))
    assert outcome.route.cell_count > 0 and not outcome.route.active
    result = handlers.lookup_route(registry, LookupQuery(LAT0 + 0.005, LNG0 + 0.005, HUB))
    assert result.match is RouteMatch.NONE and "no active routes" in result.reason


def test_a_map_that_does_not_compile_is_refused_and_nothing_is_written(routing, registry):
    handlers.upsert_route(routing.uow(), registry, route("A", square()))
    bowtie = shapely.Polygon([(LNG0, LAT0), (LNG0 + 0.01, LAT0 + 0.01), (LNG0 + 0.01, LAT0), (LNG0, LAT0 + 0.01)])
    broken = Route(id="B", hub_id=HUB, name="bowtie", geometry=bowtie)
    with pytest.raises(InvalidGeometry, match="no valid polygonal geometry"):
        handlers.upsert_route(routing.uow(), registry, broken)
    with pytest.raises(InvalidGeometry):
        handlers.upsert_route(routing.uow(), registry, Route(id="X", hub_id="HUB-NEW", name="", geometry=bowtie))
    assert set(routing.store.routes) == {"A"} and routing.store.hub_maps == {HUB: 1}
    assert len(map_changes(routing)) == 1 and registry.current.hub(HUB).map_version == 1


def test_import_with_replace_is_one_version_with_counts(routing, registry):
    first = handlers.import_routes(
        routing.uow(),
        registry,
        HUB,
        [route("r1", square(LNG0, LAT0)), route("r2", square(LNG0 + 0.01, LAT0)), route("r3", square(LNG0 + 0.02))],
        replace_existing=False,
    )
    assert (sorted(first.created), first.map_version) == (["r1", "r2", "r3"], 1)

    collection = [
        route("r2", square(LNG0 + 0.01, LAT0), rider="rider-2"),
        route("r3", square(LNG0 + 0.02)),
        route("r4", square(LNG0 + 0.03), priority=5),
    ]
    change = handlers.import_routes(routing.uow(), registry, HUB, collection, replace_existing=True)
    assert (change.created, change.updated, change.deleted, change.unchanged) == (["r4"], ["r2"], ["r1"], ["r3"])
    assert change.map_version == 2 and set(routing.store.routes) == {"r2", "r3", "r4"}
    assert routing.store.routes["r3"].map_version == 1 and routing.store.routes["r2"].map_version == 2
    event = map_changes(routing)[-1]
    assert event.kind is MapChangeKind.IMPORT and event.previous_map_version == 1
    assert event.changed_route_ids == ("r1", "r2", "r4")
    # What other services keep of the routes: the created and replaced ones, and the deleted ids.
    assert event.routes == (
        RouteSummary("r2", "route r2", "rider-2", True, 0),
        RouteSummary("r4", "route r4", "", True, 5),
    )
    assert event.deleted_route_ids == ("r1",)

    same = handlers.import_routes(routing.uow(), registry, HUB, collection, replace_existing=True)
    assert (len(same.unchanged), same.created, same.updated, same.deleted) == (3, [], [], [])
    assert same.map_version == 2 and len(map_changes(routing)) == 2

    kept = handlers.import_routes(
        routing.uow(), registry, HUB, [route("r5", square(LNG0 + 0.04))], replace_existing=False
    )
    assert (kept.created, kept.deleted, kept.map_version) == (["r5"], [], 3)
    assert set(routing.store.routes) == {"r2", "r3", "r4", "r5"}


def test_stored_cell_counts_follow_the_compiled_map(routing, registry):
    handlers.import_routes(
        routing.uow(), registry, HUB, [route("A", square()), route("B", square(LNG0 + 0.01))], replace_existing=True
    )
    index = registry.current.hub(HUB)
    assert {i: r.cell_count for i, r in routing.store.routes.items()} == {
        "A": index.route_cell_count("A"),
        "B": index.route_cell_count("B"),
    }


def test_delete_unknown_is_not_found_and_deleting_the_last_route_leaves_an_empty_map(routing, registry):
    with pytest.raises(RouteNotFound, match="'nope' does not exist"):
        handlers.delete_route(routing.uow(), registry, "nope")

    handlers.upsert_route(routing.uow(), registry, route("A", square()))
    assert handlers.delete_route(routing.uow(), registry, "A") == 2
    assert routing.store.routes == {} and routing.store.hub_maps[HUB] == 2
    change = map_changes(routing)[-1]
    assert change.kind is MapChangeKind.DELETE and change.changed_route_ids == ("A",)
    assert (change.routes, change.deleted_route_ids) == ((), ("A",))

    result = handlers.lookup_route(registry, LookupQuery(LAT0 + 0.005, LNG0 + 0.005, HUB))
    assert result.match is RouteMatch.NONE and result.map_version == 2 and "no active routes" in result.reason
    with pytest.raises(RouteNotFound):
        handlers.delete_route(routing.uow(), registry, "A")


def test_a_route_id_of_another_hub_is_already_exists(routing, registry):
    handlers.upsert_route(routing.uow(), registry, route("A", square()))
    with pytest.raises(RouteIdTaken, match="unique across hubs"):
        handlers.upsert_route(routing.uow(), registry, route("A", square(), hub="HUB-2"))
    with pytest.raises(RouteIdTaken):
        handlers.import_routes(
            routing.uow(),
            registry,
            "HUB-2",
            [route("X", square(), hub="HUB-2"), route("A", square(), hub="HUB-2")],
            replace_existing=True,
        )
    assert "HUB-2" not in routing.store.hub_maps and routing.store.routes["A"].hub_id == HUB


# -- reading routes -------------------------------------------------------------------------------


def test_list_routes_pages_by_id(routing, registry):
    handlers.import_routes(
        routing.uow(),
        registry,
        HUB,
        [route(f"r{i}", square(LNG0 + 0.01 * i), active=i != 4) for i in range(5)],
        replace_existing=True,
    )
    first = handlers.list_routes(routing.uow(), HUB, include_inactive=False, page_size=2, after_id=None)
    assert [r.id for r in first.routes] == ["r0", "r1"] and first.next_after_id == "r1" and first.map_version == 1
    last = handlers.list_routes(
        routing.uow(), HUB, include_inactive=False, page_size=2, after_id="r1", with_geometry=False
    )
    assert [r.id for r in last.routes] == ["r2", "r3"] and last.next_after_id is None
    assert all(r.geometry_geojson == "" for r in last.routes)
    everything = handlers.list_routes(routing.uow(), HUB, include_inactive=True, page_size=10, after_id=None)
    assert len(everything.routes) == 5
    with pytest.raises(NoRouteMap, match="'HUB-X' has no route map"):
        handlers.list_routes(routing.uow(), "HUB-X", include_inactive=False, page_size=2, after_id=None)
    with pytest.raises(RouteNotFound):
        handlers.get_route(routing.uow(), "r9")


# -- lookups --------------------------------------------------------------------------------------


def test_lookup_exact_nearest_and_none(registry, mapped_hub):
    exact = handlers.lookup_route(registry, LookupQuery(LAT0 + 0.005, LNG0 + 0.005, HUB))
    assert (exact.route_id, exact.rider_id, exact.match, exact.map_version) == ("A", "rider-a", RouteMatch.EXACT, 1)

    # On the shared edge of A and B: B has the higher priority.
    edge = handlers.lookup_route(registry, LookupQuery(LAT0 + 0.005, LNG0 + 0.01, HUB))
    assert (edge.route_id, edge.match) == ("B", RouteMatch.EXACT)

    # ~200 m south of A: nearest, within the 500 m limit.
    nearest = handlers.lookup_route(registry, LookupQuery(LAT0 - 0.0018, LNG0 + 0.005, HUB))
    assert nearest.route_id == "A" and nearest.match is RouteMatch.NEAREST and 150 < nearest.distance_m < 250

    none = handlers.lookup_route(registry, LookupQuery(LAT0 - 0.05, LNG0 + 0.005, HUB))
    assert none.match is RouteMatch.NONE and none.route_id is None and none.hub_id == HUB
    assert "A" in none.reason and "limit 500 m" in none.reason

    hubless = handlers.lookup_route(registry, LookupQuery(LAT0 + 0.005, LNG0 + 0.105))
    assert (hubless.route_id, hubless.hub_id) == ("C", HUB)

    with pytest.raises(NoRouteMap, match="has no route map"):
        handlers.lookup_route(registry, LookupQuery(LAT0, LNG0, "HUB-UNKNOWN"))


def test_batch_lookup_answers_in_request_order(registry, mapped_hub):
    queries = [
        LookupQuery(LAT0 + 0.005, LNG0 + 0.015, HUB),
        LookupQuery(LAT0 + 0.005, LNG0 + 0.105),
        LookupQuery(LAT0 + 0.005, LNG0 + 0.005, HUB),
        LookupQuery(LAT0 - 0.05, LNG0, HUB),
    ]
    lats, lngs = np.array([q.lat for q in queries]), np.array([q.lng for q in queries])
    results = handlers.batch_lookup(registry, lats, lngs, [q.hub_id for q in queries])
    assert [r.route_id for r in results] == ["B", "C", "A", None]
    assert results[3].nearest_route_id == "A" and results[3].nearest_distance_m > MAX_NEAREST_M
    singles = [handlers.lookup_route(registry, q) for q in queries]
    assert [r[:8] for r in results] == [r[:8] for r in singles]  # singles do not report the nearest beyond the limit

    with pytest.raises(NoRouteMap, match=r"lookups\[1\]: hub 'HUB-UNKNOWN'"):
        handlers.batch_lookup(registry, np.array([LAT0, LAT0]), np.array([LNG0, LNG0]), [HUB, "HUB-UNKNOWN"])


def test_route_map_describes_the_hub(registry, mapped_hub):
    stats = handlers.route_map(registry, mapped_hub).stats()
    assert stats.map_version == 1 and stats.route_count == 3 and stats.cell_count > 0
    assert [r.route_id for r in stats.routes] == ["A", "B", "C"]
    assert stats.gap_cell_count > 0  # between B and C
    with pytest.raises(NoRouteMap):
        handlers.route_map(registry, "HUB-UNKNOWN")


# -- the index registry ---------------------------------------------------------------------------


def test_a_second_replica_loads_a_shared_map_without_compiling(routing, registry, mapped_hub):
    other = routing.registry()
    index = other.ensure(mapped_hub)
    assert index is not None and index.map_version == 1
    assert (other.compiled_count, other.cache_hit_count) == (0, 1) and other.last_source[mapped_hub] == "redis"


def test_without_the_cache_a_replica_compiles_from_storage(routing, registry, mapped_hub):
    down = FakeIndexCache()
    down.available = False
    offline = routing.registry(down)
    index = offline.ensure(mapped_hub)
    assert index is not None and index.map_version == 1
    assert (offline.compiled_count, offline.cache_hit_count) == (1, 0) and offline.last_source[mapped_hub] == "compiled"
    point = LookupQuery(LAT0 + 0.005, LNG0 + 0.005, mapped_hub)
    assert handlers.lookup_route(offline, point) == handlers.lookup_route(registry, point)
    # Map changes still work: the cache is only a cache.
    assert handlers.upsert_route(routing.uow(), offline, route("N", square(), hub="HUB-2")).map_version == 1
    assert offline.current.hub("HUB-2").map_version == 1


def test_warm_up_loads_every_hub_including_an_empty_map(routing, registry, mapped_hub):
    handlers.upsert_route(routing.uow(), registry, route("E", square(LNG0, LAT0 + 1), hub="HUB-EMPTY"))
    handlers.delete_route(routing.uow(), registry, "E")

    fresh = routing.registry()
    report = fresh.warm_up()
    assert (report.hubs, report.from_cache, report.compiled) == (2, 2, 0)
    assert fresh.current.hub(mapped_hub).map_version == 1
    # A hub whose routes were all deleted still has a map: lookups there answer NONE, not NOT_FOUND.
    assert fresh.current.hub("HUB-EMPTY").map_version == 2
    empty = LookupQuery(LAT0 + 1.005, LNG0 + 0.005, "HUB-EMPTY")
    assert handlers.lookup_route(fresh, empty).match is RouteMatch.NONE


def test_a_map_change_brings_a_stale_replica_up_to_date(routing, registry, mapped_hub):
    other = routing.registry()
    assert other.ensure(mapped_hub).map_version == 1
    handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-z"))

    handlers.apply_map_change(other, mapped_hub, 2)
    assert other.current.hub(mapped_hub).map_version == 2 and other.compiled_count == 0
    assert handlers.lookup_route(other, LookupQuery(LAT0 + 0.005, LNG0 + 0.005, mapped_hub)).rider_id == "rider-z"


def test_the_parts_of_a_map_change_load_the_hub_once(routing, registry, mapped_hub):
    other = routing.registry()
    assert other.ensure(mapped_hub).map_version == 1
    handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-z"))
    loads = other.compiled_count + other.cache_hit_count

    load_map_changes(other, [LoadHubMap(mapped_hub, 2)] * 3)  # parts 1..3 in one batch
    load_map_changes(other, [LoadHubMap(mapped_hub, 2)])  # a part in a later batch
    assert other.current.hub(mapped_hub).map_version == 2
    assert other.compiled_count + other.cache_hit_count == loads + 1
    # The writer's own event finds the version installed.
    before = registry.compiled_count + registry.cache_hit_count
    load_map_changes(registry, [LoadHubMap(mapped_hub, 2)] * 2)
    assert registry.compiled_count + registry.cache_hit_count == before


def test_sync_with_storage_loads_hubs_changed_elsewhere(routing, registry):
    other = routing.registry()
    handlers.upsert_route(routing.uow(), registry, route("A", square()))
    assert other.current.hub(HUB) is None
    assert other.sync_with_database() == [HUB] and other.current.hub(HUB).map_version == 1
    assert other.sync_with_database() == []


# -- the PUR routing batch ------------------------------------------------------------------------


def test_route_pickups_publishes_one_decision_per_pur(routing, registry, mapped_hub):
    requests = [
        RoutePickup("a", HUB, LAT0 + 0.005, LNG0 + 0.005, attempt=1),
        RoutePickup("b", HUB, LAT0 + 0.005, LNG0 + 0.015, attempt=3),
        RoutePickup("hubless", "", LAT0 + 0.005, LNG0 + 0.005),
        RoutePickup("near", HUB, LAT0 - 0.0018, LNG0 + 0.005),
        RoutePickup("far", HUB, LAT0 - 0.05, LNG0 + 0.005),
        RoutePickup("lost", "HUB-UNKNOWN", LAT0, LNG0),
    ]
    assert handlers.route_pickups(routing.uow(), registry, requests) == 6
    got = routed(routing)
    assert list(got) == [r.pur_id for r in requests]

    a = got["a"].result
    assert (a.route_id, a.hub_id, a.rider_id, a.match, a.map_version, got["a"].attempt) == (
        "A",
        HUB,
        "rider-a",
        RouteMatch.EXACT,
        1,
        1,
    )
    assert a.h3_cell and a.distance_m == 0
    assert (got["b"].result.route_id, got["b"].attempt) == ("B", 3)
    assert (got["hubless"].result.route_id, got["hubless"].result.hub_id) == ("A", HUB)
    assert got["near"].result.match is RouteMatch.NEAREST and got["near"].result.distance_m > 100

    far = got["far"].result
    assert far.match is RouteMatch.NONE and far.hub_id == HUB and far.map_version == 1
    assert far.nearest_route_id == "A" and far.nearest_distance_m > MAX_NEAREST_M and "limit 500 m" in far.reason
    lost = got["lost"].result
    assert lost.hub_id == "HUB-UNKNOWN" and lost.map_version == 0 and "unknown hub" in lost.reason and lost.h3_cell


def test_route_pickups_honours_min_map_version_on_a_stale_replica(routing, registry, mapped_hub):
    stale = routing.registry()
    assert stale.ensure(mapped_hub).map_version == 1
    handlers.upsert_route(routing.uow(), registry, route("A", square(), rider="rider-new"))

    request = RoutePickup("p", mapped_hub, LAT0 + 0.005, LNG0 + 0.005, min_map_version=2, attempt=2)
    handlers.route_pickups(routing.uow(), stale, [request])
    decision = routed(routing)["p"]
    assert (decision.result.map_version, decision.result.rider_id, decision.attempt) == (2, "rider-new", 2)


def test_many_pickups_are_routed_like_single_lookups(routing, registry, mapped_hub):
    rng = np.random.default_rng(7)
    lats = LAT0 + rng.uniform(0, 0.01, 1000)
    lngs = LNG0 + rng.uniform(0, 0.02, 1000)
    requests = [
        RoutePickup(f"p{i}", mapped_hub if i % 2 else "", float(la), float(ln))
        for i, (la, ln) in enumerate(zip(lats, lngs, strict=True))
    ]
    assert handlers.route_pickups(routing.uow(), registry, requests) == 1000
    got = routed(routing)
    index = registry.current.hub(mapped_hub)
    for request in requests:
        assert got[request.pur_id].result.route_id == index.lookup(request.lat, request.lng).route_id
