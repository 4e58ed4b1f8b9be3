"""GeoJSON in and out of route geometry: what is accepted, what is refused and why."""

from __future__ import annotations

import json

import numpy as np
import pytest
import shapely

from mesh.errors import InvalidArgument
from routing_svc.domain.errors import InvalidGeometry
from routing_svc.domain.geometry import (
    geometry_to_geojson,
    make_route,
    parse_geometry,
    parse_route_collection,
)

SQUARE = [[77.50, 12.90], [77.52, 12.90], [77.52, 12.92], [77.50, 12.92], [77.50, 12.90]]
HOLE = [[77.505, 12.905], [77.505, 12.915], [77.515, 12.915], [77.515, 12.905], [77.505, 12.905]]
OTHER = [[77.60, 12.90], [77.62, 12.90], [77.62, 12.92], [77.60, 12.92], [77.60, 12.90]]


def polygon(*rings):
    return {"type": "Polygon", "coordinates": [list(r) for r in rings]}


def feature(route_id, geometry=None, **props):
    properties = {"id": route_id, **props} if route_id is not None else props
    return {"type": "Feature", "geometry": geometry or polygon(SQUARE), "properties": properties}


def collection(*features):
    return json.dumps({"type": "FeatureCollection", "features": list(features)})


def refused(geojson, **kwargs) -> str:
    with pytest.raises(InvalidArgument) as caught:
        parse_geometry(geojson, **kwargs)
    return str(caught.value)


# -- accepted ------------------------------------------------------------------------------------


def test_polygon_from_text_and_from_mapping():
    from_text = parse_geometry(json.dumps(polygon(SQUARE)))
    from_mapping = parse_geometry(polygon(SQUARE))
    assert from_text.geom_type == "Polygon"
    assert from_text.equals(from_mapping)
    assert from_text.bounds == (77.50, 12.90, 77.52, 12.92)


def test_polygon_with_hole_keeps_the_hole():
    geometry = parse_geometry(polygon(SQUARE, HOLE))
    assert len(geometry.interiors) == 1
    assert not geometry.contains(shapely.Point(77.51, 12.91))


def test_multipolygon_and_feature_wrapper():
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            [SQUARE],
            [
                OTHER,
            ],
        ],
    }
    geometry = parse_geometry({"type": "Feature", "geometry": multi, "properties": {}})
    assert geometry.geom_type == "MultiPolygon"
    assert len(geometry.geoms) == 2


def test_altitude_is_accepted_and_dropped():
    ring = [p + [920.0] for p in SQUARE]
    assert parse_geometry(polygon(ring)).equals(parse_geometry(polygon(SQUARE)))


def test_round_trip_through_geojson_text():
    geometry = parse_geometry(polygon(SQUARE, HOLE))
    assert parse_geometry(geometry_to_geojson(geometry)).equals(geometry)


def test_either_ring_orientation_is_accepted():
    assert parse_geometry(polygon(list(reversed(SQUARE)))).area == pytest.approx(0.0004)


# -- refused -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "geojson, words",
    [
        ({"type": "Point", "coordinates": [77.5, 12.9]}, "Polygon or MultiPolygon"),
        ({"type": "LineString", "coordinates": SQUARE}, "Polygon or MultiPolygon"),
        ({"type": "polygon", "coordinates": [SQUARE]}, "Polygon or MultiPolygon"),
        ({"type": "Polygon"}, "no coordinates"),
        ({"type": "Feature", "geometry": None}, "no geometry"),
        ([1, 2], "must be an object"),
        ("{not json", "not valid JSON"),
    ],
)
def test_wrong_kind_of_geojson(geojson, words):
    text = geojson if isinstance(geojson, str) else json.dumps(geojson)
    assert words in refused(text)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_coordinates(bad):
    ring = [list(p) for p in SQUARE]
    ring[2][1] = bad
    reason = refused(json.dumps(polygon(ring)))  # json writes NaN / Infinity, and reads them back
    assert "ring 0 position 2.lat must be a finite number" in reason


@pytest.mark.parametrize(
    "position, index",
    [([181.0, 12.9], 1), ([-180.5, 12.9], 1), ([77.5, 90.5], 1), ([77.5, -91.0], 1)],
)
def test_out_of_range_coordinates(position, index):
    ring = [list(p) for p in SQUARE]
    ring[index] = position
    assert "ring 0 position 1" in refused(polygon(ring))


def test_an_integer_beyond_any_float_is_not_finite():
    text = json.dumps(polygon(SQUARE)).replace("77.5", "1" + "0" * 400, 1)
    assert "position 0.lng must be a finite number" in refused(text)


@pytest.mark.parametrize("value", ["77.5", True, None, [77.5]])
def test_coordinates_that_are_not_numbers(value):
    ring = [list(p) for p in SQUARE]
    ring[1] = [value, 12.9]
    assert "not [lng, lat] numbers" in refused(polygon(ring))


def test_open_ring():
    assert "not closed" in refused(polygon(SQUARE[:-1] + [[77.5, 12.91]]))


def test_ring_with_too_few_positions():
    assert "at least 4" in refused(polygon([[77.5, 12.9], [77.52, 12.9], [77.5, 12.9]]))


def test_self_intersection_names_the_place():
    bowtie = [[77.50, 12.90], [77.52, 12.92], [77.52, 12.90], [77.50, 12.92], [77.50, 12.90]]
    reason = refused(polygon(bowtie))
    assert "not valid" in reason and "Self-intersection" in reason and "77.51" in reason


def test_hole_outside_its_shell():
    assert "not valid" in refused(polygon(SQUARE, OTHER))


def test_overlapping_parts_of_a_multipolygon():
    shifted = [[x + 0.01, y] for x, y in SQUARE]
    assert "not valid" in refused({"type": "MultiPolygon", "coordinates": [[SQUARE], [shifted]]})


@pytest.mark.parametrize(
    "geojson, words",
    [
        ({"type": "Polygon", "coordinates": []}, "empty"),
        ({"type": "MultiPolygon", "coordinates": []}, "empty"),
        (polygon([[77.5, 12.9]] * 4), "empty"),
        (polygon([[77.5, 12.9], [77.51, 12.9], [77.52, 12.9], [77.5, 12.9]]), "not valid: Self-intersection"),
    ],
)
def test_empty_geometry(geojson, words):
    assert words in refused(geojson)


def test_too_many_vertices():
    ring = shapely.Point(77.5, 12.9).buffer(0.01, quad_segs=30).exterior.coords
    assert "too many vertices" in refused(polygon([list(p) for p in ring]), max_vertices=100)
    assert parse_geometry(polygon([list(p) for p in ring]), max_vertices=200).is_valid


def test_too_many_vertices_by_default():
    angles = np.linspace(0.0, 2 * np.pi, 100_001)[:-1]
    ring = np.column_stack([77.5 + 0.01 * np.cos(angles), 12.9 + 0.01 * np.sin(angles)]).tolist()
    assert "too many vertices: 100001" in refused(polygon(ring + ring[:1]))
    assert parse_geometry(polygon(ring[::2] + ring[:1])).is_valid


def test_area_too_large_for_a_route():
    country = [[70.0, 10.0], [80.0, 10.0], [80.0, 20.0], [70.0, 20.0], [70.0, 10.0]]
    assert "too large" in refused(polygon(country))


# -- routes and collections ----------------------------------------------------------------------


def test_collection_of_routes_with_defaults():
    routes = parse_route_collection(
        collection(
            feature("R1", name="Koramangala", default_rider_id="rider-7", priority=2, active=False),
            feature("R2", polygon(OTHER)),
        ),
        hub_id="BLR-1",
    )
    first, second = routes
    assert (first.id, first.hub_id, first.name, first.default_rider_id, first.priority, first.active) == (
        "R1",
        "BLR-1",
        "Koramangala",
        "rider-7",
        2,
        False,
    )
    assert (second.name, second.default_rider_id, second.priority, second.active) == ("", None, 0, True)
    assert second.geometry.bounds == (77.60, 12.90, 77.62, 12.92)


def test_top_level_feature_id_is_accepted():
    data = {
        "type": "FeatureCollection",
        "features": [{"type": "Feature", "id": "R9", "geometry": polygon(SQUARE), "properties": {}}],
    }
    assert parse_route_collection(data, "H")[0].id == "R9"


def test_duplicate_route_ids_are_refused_at_the_second_one():
    with pytest.raises(InvalidGeometry) as caught:
        parse_route_collection(collection(feature("R1"), feature("R2"), feature("R1")), "H")
    assert caught.value.feature_index == 2
    assert "duplicate route id 'R1' (first used by feature 0)" in str(caught.value)


def test_every_invalid_feature_is_reported_with_its_index():
    bowtie = polygon([[77.50, 12.90], [77.52, 12.92], [77.52, 12.90], [77.50, 12.92], [77.50, 12.90]])
    with pytest.raises(InvalidGeometry) as caught:
        parse_route_collection(
            collection(
                feature("ok"),
                feature(None),
                feature("bad id!"),
                feature("R3", bowtie),
                feature("R4", priority=1.5),
                feature("R5", active="yes"),
                feature("R6", priority=True),
                feature("R7", {"type": "Point", "coordinates": [77.5, 12.9]}),
            ),
            "H",
        )
    problems = caught.value.problems
    assert [p.feature_index for p in problems] == [1, 2, 3, 4, 5, 6, 7]
    assert caught.value.feature_index == 1
    assert "id is required" in problems[0].reason
    assert "properties.id must be 1-64 characters" in problems[1].reason and "'bad id!'" in problems[1].reason
    assert "route 'R3'" in problems[2].reason and "Self-intersection" in problems[2].reason
    assert "priority must be an integer" in problems[3].reason
    assert "active must be true or false" in problems[4].reason
    assert "priority must be an integer" in problems[5].reason
    assert "Polygon or MultiPolygon" in problems[6].reason
    message = str(caught.value)
    assert message.startswith("feature 1: properties.id is required")
    assert "and 2 more invalid feature(s)" in message


@pytest.mark.parametrize(
    "geojson, words",
    [
        ({"type": "Feature", "geometry": polygon(SQUARE)}, "expected a GeoJSON FeatureCollection"),
        ({"type": "FeatureCollection"}, "no 'features' array"),
        ({"type": "FeatureCollection", "features": [42]}, "feature 0: not a GeoJSON Feature"),
    ],
)
def test_malformed_collections(geojson, words):
    with pytest.raises(InvalidGeometry) as caught:
        parse_route_collection(geojson, "H")
    assert words in str(caught.value)


def test_refused_values_are_quoted_short():
    with pytest.raises(InvalidGeometry) as caught:
        parse_route_collection(collection(feature("R1", priority="9" * 100_000)), "H")
    assert "priority must be an integer" in str(caught.value) and len(str(caught.value)) < 200


def test_too_many_features():
    with pytest.raises(InvalidGeometry, match="too many features"):
        parse_route_collection(collection(feature("A"), feature("B")), "H", max_features=1)


def test_empty_collection_is_an_empty_map():
    assert parse_route_collection(collection(), "H") == []


def test_make_route_validates_every_field():
    route = make_route(route_id="R1", hub_id="H", name=None, geometry_geojson=polygon(SQUARE), default_rider_id="")
    assert (route.name, route.default_rider_id, route.priority, route.active) == ("", None, 0, True)
    with pytest.raises(InvalidArgument, match=r"route\.id must be"):
        make_route(route_id="x" * 65, hub_id="H", name="", geometry_geojson=polygon(SQUARE))
    with pytest.raises(InvalidArgument, match=r"route\.hub_id is required"):
        make_route(route_id="R1", hub_id="", name="", geometry_geojson=polygon(SQUARE))
    with pytest.raises(InvalidArgument, match=r"route\.name must be at most 200"):
        make_route(route_id="R1", hub_id="H", name="n" * 201, geometry_geojson=polygon(SQUARE))
    with pytest.raises(InvalidArgument, match="must not contain control characters"):
        make_route(route_id="R1", hub_id="H", name="n\x00", geometry_geojson=polygon(SQUARE))
    with pytest.raises(InvalidArgument, match=r"route\.default_rider_id must be"):
        make_route(route_id="R1", hub_id="H", name="", geometry_geojson=polygon(SQUARE), default_rider_id="rider 1")
    with pytest.raises(InvalidGeometry, match="32-bit"):
        make_route(route_id="R1", hub_id="H", name="", geometry_geojson=polygon(SQUARE), priority=2**31)
    with pytest.raises(InvalidGeometry, match="not closed"):
        make_route(route_id="R1", hub_id="H", name="", geometry_geojson=polygon(SQUARE[:-1] + [[77.5, 12.91]]))
    with pytest.raises(InvalidGeometry, match=r"route\.geometry_geojson is required"):
        make_route(route_id="R1", hub_id="H", name="", geometry_geojson="")
    with pytest.raises(InvalidGeometry, match="at most 1048576"):
        make_route(route_id="R1", hub_id="H", name="", geometry_geojson=" " * (1024 * 1024 + 1))
