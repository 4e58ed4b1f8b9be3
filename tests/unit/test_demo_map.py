"""The demo hub's shipped route map: valid for routing_svc, city-sized, and what its generator makes."""

from __future__ import annotations

import json
from collections import Counter

import pytest
import shapely
from shapely.geometry import Point, shape

from demo import city
from routing_svc.domain.geometry import parse_route_collection


@pytest.fixture(scope="module")
def shipped() -> dict:
    return city.load_route_map()


@pytest.fixture(scope="module")
def routes(shipped):
    return parse_route_collection(json.dumps(shipped), city.HUB_ID)


def test_routing_svc_accepts_the_shipped_map(routes):
    assert 40 <= len(routes) <= 60
    assert all(route.hub_id == city.HUB_ID for route in routes)


def test_route_ids_and_riders_are_unique_and_every_route_is_named(shipped, routes):
    ids = [route.id for route in routes]
    riders = [route.default_rider_id for route in routes]
    assert len(set(ids)) == len(ids)
    assert all(rider and rider.startswith("rider-") for rider in riders)
    assert len(set(riders)) == len(riders)
    assert all(route.name for route in routes)
    assert all(route.id.startswith(city.ROUTE_ID_PREFIX + "-") for route in routes)


def test_the_map_is_city_sized_around_the_hub(routes):
    everything = shapely.union_all([route.geometry for route in routes])
    assert everything.contains(Point(city.HUB.lng, city.HUB.lat))
    xmin, ymin, xmax, ymax = city.PROJECTION.to_km_geometry(everything).bounds
    assert 12 <= xmax - xmin <= 18
    assert 12 <= ymax - ymin <= 18
    for route in routes:
        vertices = shapely.get_num_coordinates(route.geometry)
        assert 8 <= vertices <= 60, f"{route.id} has {vertices} vertices"


def test_the_map_has_holes_a_multipolygon_and_gaps(routes):
    kinds = Counter(route.geometry.geom_type for route in routes)
    assert kinds["MultiPolygon"] == 1
    with_holes = [r for r in routes if r.geometry.geom_type == "Polygon" and r.geometry.interiors]
    assert len(with_holes) >= 2
    everything = shapely.union_all([route.geometry for route in routes])
    filled = shapely.Polygon(max(getattr(everything, "geoms", [everything]), key=lambda g: g.area).exterior)
    uncovered_km2 = city.PROJECTION.to_km_geometry(filled.difference(everything)).area
    assert uncovered_km2 > 2.0, "the airport, the army area and the lakes should leave gaps"


def test_ordinary_routes_tile_without_overlap_and_premium_routes_overlap_them(routes):
    ordinary = [route for route in routes if route.priority == 0]
    premium = [route for route in routes if route.priority > 0]
    assert shapely.coverage_is_valid([route.geometry for route in ordinary])
    assert 1 <= len(premium) <= 3
    for route in premium:
        assert route.priority == city.PREMIUM_PRIORITY
        overlapped = [o.id for o in ordinary if route.geometry.intersection(o.geometry).area > 0]
        assert len(overlapped) >= 2, f"{route.id} overlaps {overlapped}"
    premium_area = shapely.union_all([route.geometry for route in premium])
    for route in ordinary:
        kept = route.geometry.difference(premium_area).area / route.geometry.area
        assert kept > 0.4, f"{route.id} is mostly hidden under premium routes"


def test_coordinates_have_at_most_six_decimals(shipped):
    def positions(coordinates):
        if isinstance(coordinates[0], (int, float)):
            yield coordinates
        else:
            for item in coordinates:
                yield from positions(item)

    for feature in shipped["features"]:
        for lng, lat in positions(feature["geometry"]["coordinates"]):
            assert round(lng, 6) == lng and round(lat, 6) == lat


def test_the_generator_reproduces_the_shipped_map(shipped):
    """`python -m demo.city` is deterministic; the shipped file is its output (regenerate it with
    `python -m demo.city > demo/data/demo_hub.geojson` after changing the generator)."""
    generated = city.build_route_map()
    assert [f["properties"] for f in generated["features"]] == [f["properties"] for f in shipped["features"]]
    for new, old in zip(generated["features"], shipped["features"], strict=True):
        assert shape(new["geometry"]).equals_exact(shape(old["geometry"]), tolerance=1e-5), new["properties"]["id"]
