"""The H3 route index: every answer equals exact polygon containment, with the overlap rule.

Maps are drawn near Bengaluru (12.97N 77.59E). Brute force is shapely's own point-in-polygon
(`intersects_xy`: a point on the boundary is inside) over every route, and for points outside
every route the distance to each route in the point's tangent plane.
"""

from __future__ import annotations

import math

import h3
import numpy as np
import pytest
import shapely
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mesh.errors import InvalidArgument
from routing_svc.adapters.index_codec import FORMAT_VERSION, IndexFormatError, index_from_bytes, index_to_bytes
from routing_svc.domain.coverage import compile_coverage
from routing_svc.domain.errors import InvalidGeometry
from routing_svc.domain.geodesy import metres_per_degree, point_segment_distance_m
from routing_svc.domain.index import HubRouteIndex
from routing_svc.domain.index_set import RouteIndexSet
from routing_svc.domain.model import Route, RouteCellStats, RouteMatch

LAT0, LNG0 = 12.97, 77.59
RES = 10


def route(route_id, geometry, *, hub="BLR-1", priority=0, rider=None, active=True):
    return Route(
        id=route_id,
        hub_id=hub,
        name=f"route {route_id}",
        geometry=geometry,
        default_rider_id=rider if rider is not None else f"rider-{route_id}",
        priority=priority,
        active=active,
    )


def box(lng1, lat1, lng2, lat2):
    return shapely.box(lng1, lat1, lng2, lat2)


def compile_hub(routes, hub="BLR-1", version=7, resolution=RES, max_nearest_m=2000.0):
    return HubRouteIndex.compile(hub, routes, version, resolution, max_nearest_m=max_nearest_m)


# Two boxes side by side sharing the edge lng = 77.60, a box with a hole, an L of two parts.
WEST = box(77.58, 12.96, 77.60, 12.98)
EAST = box(77.60, 12.96, 77.62, 12.98)
RING = box(77.63, 12.96, 77.65, 12.98).difference(box(77.635, 12.965, 77.645, 12.975))
ISLANDS = shapely.MultiPolygon([box(77.58, 12.99, 77.59, 13.00), box(77.61, 12.99, 77.62, 13.00)])


@pytest.fixture(scope="module")
def hub_index():
    return compile_hub([route("W", WEST), route("E", EAST), route("RING", RING), route("ISL", ISLANDS, rider="")])


def vincenty_m(lat1, lng1, lat2, lng2):
    """WGS84 inverse geodesic distance (Vincenty 1975): the reference for distance checks."""
    a, f = 6378137.0, 1 / 298.257223563
    b = (1 - f) * a
    big_l = math.radians(lng2 - lng1)
    u1, u2 = math.atan((1 - f) * math.tan(math.radians(lat1))), math.atan((1 - f) * math.tan(math.radians(lat2)))
    sin_u1, cos_u1, sin_u2, cos_u2 = math.sin(u1), math.cos(u1), math.sin(u2), math.cos(u2)
    lam = big_l
    for _ in range(200):
        sin_lam, cos_lam = math.sin(lam), math.cos(lam)
        sin_sigma = math.hypot(cos_u2 * sin_lam, cos_u1 * sin_u2 - sin_u1 * cos_u2 * cos_lam)
        if sin_sigma == 0:
            return 0.0
        cos_sigma = sin_u1 * sin_u2 + cos_u1 * cos_u2 * cos_lam
        sigma = math.atan2(sin_sigma, cos_sigma)
        sin_alpha = cos_u1 * cos_u2 * sin_lam / sin_sigma
        cos2_alpha = 1 - sin_alpha**2
        cos_2sm = cos_sigma - 2 * sin_u1 * sin_u2 / cos2_alpha if cos2_alpha else 0.0
        c = f / 16 * cos2_alpha * (4 + f * (4 - 3 * cos2_alpha))
        previous = lam
        lam = big_l + (1 - c) * f * sin_alpha * (
            sigma + c * sin_sigma * (cos_2sm + c * cos_sigma * (-1 + 2 * cos_2sm**2))
        )
        if abs(lam - previous) < 1e-13:
            break
    u_sq = cos2_alpha * (a * a - b * b) / (b * b)
    big_a = 1 + u_sq / 16384 * (4096 + u_sq * (-768 + u_sq * (320 - 175 * u_sq)))
    big_b = u_sq / 1024 * (256 + u_sq * (-128 + u_sq * (74 - 47 * u_sq)))
    delta = (
        big_b
        * sin_sigma
        * (
            cos_2sm
            + big_b
            / 4
            * (
                cos_sigma * (-1 + 2 * cos_2sm**2)
                - big_b / 6 * cos_2sm * (-3 + 4 * sin_sigma**2) * (-3 + 4 * cos_2sm**2)
            )
        )
    )
    return b * big_a * (sigma - delta)


def test_reference_geodesic_is_right():
    assert vincenty_m(0.0, 0.0, 1.0, 0.0) == pytest.approx(110_574.389, abs=0.01)
    assert vincenty_m(0.0, 0.0, 0.0, 1.0) == pytest.approx(111_319.491, abs=0.01)


# -- exact answers -------------------------------------------------------------------------------


def test_interior_point(hub_index):
    result = hub_index.lookup(12.97, 77.59)
    assert (result.route_id, result.hub_id, result.rider_id, result.match) == (
        "W",
        "BLR-1",
        "rider-W",
        RouteMatch.EXACT,
    )
    assert result.distance_m == 0.0 and result.map_version == 7 and result.reason is None
    assert result.h3_cell == h3.latlng_to_cell(12.97, 77.59, RES)


def test_points_just_inside_and_just_outside_an_edge(hub_index):
    north = 12.98
    one_metre = 1 / 110_600
    inside = hub_index.lookup(north - one_metre, 77.59)
    outside = hub_index.lookup(north + one_metre, 77.59)
    assert (inside.route_id, inside.match) == ("W", RouteMatch.EXACT)
    assert (outside.route_id, outside.match) == ("W", RouteMatch.NEAREST)
    assert outside.distance_m == pytest.approx(1.0, rel=0.01)


@pytest.mark.parametrize(
    "lat, lng, expected",
    [
        (12.97, 77.58, "W"),  # on the west edge
        (12.96, 77.59, "W"),  # on the south edge
        (12.96, 77.58, "W"),  # on a vertex
        (12.97, 77.65, "RING"),  # on the outer ring
        (12.97, 77.645, "RING"),  # on the hole's ring
        (12.965, 77.635, "RING"),  # on a vertex of the hole
        (12.995, 77.62, "ISL"),  # on the edge of the second part
    ],
)
def test_exactly_on_the_boundary_counts_as_inside(hub_index, lat, lng, expected):
    result = hub_index.lookup(lat, lng)
    assert (result.route_id, result.match) == (expected, RouteMatch.EXACT)
    assert hub_index.lookup_many([lat], [lng]).result(0) == result


def test_shared_edge_goes_to_the_smaller_id_at_equal_priority(hub_index):
    # E < W, and the point lies on both boundaries.
    for lat in (12.96, 12.965, 12.97, 12.98):
        assert hub_index.lookup(lat, 77.60).route_id == "E"


def test_shared_edge_goes_to_the_higher_priority():
    index = compile_hub([route("W", WEST, priority=1), route("E", EAST)])
    assert index.lookup(12.97, 77.60).route_id == "W"
    assert index.lookup(12.97, 77.61).route_id == "E"


def test_overlap_priority_then_id():
    big = box(77.58, 12.96, 77.62, 12.98)
    small = box(77.59, 12.965, 77.60, 12.975)
    inside_both = (12.97, 77.595)
    same = compile_hub([route("B", big), route("A", small)])
    assert same.lookup(*inside_both).route_id == "A"
    by_priority = compile_hub([route("B", big, priority=5), route("A", small)])
    assert by_priority.lookup(*inside_both).route_id == "B"
    small_wins = compile_hub([route("A", big), route("B", small, priority=1)])
    assert small_wins.lookup(*inside_both).route_id == "B"
    assert small_wins.lookup(12.97, 77.585).route_id == "A"
    negative = compile_hub([route("A", big, priority=-1), route("B", small)])
    assert negative.lookup(*inside_both).route_id == "B"


def test_point_in_a_hole_is_not_in_the_route(hub_index):
    result = hub_index.lookup(12.97, 77.64)  # centre of the hole, 0.005 deg from each side
    assert (result.route_id, result.match) == ("RING", RouteMatch.NEAREST)
    kx, ky = metres_per_degree(12.97)
    assert result.distance_m == pytest.approx(min(0.005 * kx, 0.005 * ky), rel=1e-5)


def test_a_route_inside_another_routes_hole():
    island = box(77.637, 12.967, 77.643, 12.973)
    index = compile_hub([route("RING", RING), route("IN", island)])
    assert index.lookup(12.97, 77.64).route_id == "IN"
    assert index.lookup(12.966, 77.64).match is RouteMatch.NEAREST


def test_multipolygon_parts(hub_index):
    assert hub_index.lookup(12.995, 77.585).route_id == "ISL"
    assert hub_index.lookup(12.995, 77.615).route_id == "ISL"
    between = hub_index.lookup(12.995, 77.60)
    assert between.match is RouteMatch.NEAREST
    assert hub_index.lookup(12.995, 77.615).rider_id is None  # "" is no rider


# -- outside every route -------------------------------------------------------------------------


@pytest.mark.parametrize("metres", [5.0, 250.0, 1900.0])
def test_nearest_north_matches_the_geodesic(hub_index, metres):
    lat = 12.98 + metres / 110_600 + 0.01  # north of W, beyond the islands' latitude
    lat = 13.00 + metres / 110_600
    result = hub_index.lookup(lat, 77.585)
    truth = vincenty_m(lat, 77.585, 13.00, 77.585)
    assert result.match is RouteMatch.NEAREST and result.route_id == "ISL"
    assert result.distance_m == pytest.approx(truth, rel=1e-5)


@pytest.mark.parametrize("metres", [3.0, 700.0, 1500.0])
def test_nearest_east_matches_the_geodesic(hub_index, metres):
    kx, _ = metres_per_degree(12.97)
    lng = 77.65 + metres / kx
    result = hub_index.lookup(12.97, lng)
    truth = vincenty_m(12.97, lng, 12.97, 77.65)
    assert result.match is RouteMatch.NEAREST and result.route_id == "RING"
    assert result.distance_m == pytest.approx(truth, rel=1e-5)


@pytest.mark.parametrize("lat", [-33.9, 0.0, 28.6, 55.75])
@pytest.mark.parametrize("north_m, east_m", [(1500.0, 1500.0), (-300.0, 1900.0), (4000.0, -15000.0)])
def test_distance_far_from_the_equator_matches_the_geodesic(lat, north_m, east_m):
    kx, ky = metres_per_degree(lat)
    lng = 37.6
    square = box(lng - 0.01, lat - 0.01, lng + 0.01, lat + 0.01)
    corner_lat = lat + 0.01 if north_m > 0 else lat - 0.01
    corner_lng = lng + 0.01 if east_m > 0 else lng - 0.01
    point_lat, point_lng = corner_lat + north_m / ky, corner_lng + east_m / kx
    index = compile_hub([route("SQ", square)], max_nearest_m=50_000.0)
    result = index.lookup(point_lat, point_lng)
    assert (result.route_id, result.match) == ("SQ", RouteMatch.NEAREST)
    truth = vincenty_m(point_lat, point_lng, corner_lat, corner_lng)
    assert result.distance_m == pytest.approx(truth, rel=1e-5)


def test_nearest_diagonal_to_a_corner(hub_index):
    lat, lng = 12.95, 77.57
    truth = vincenty_m(lat, lng, 12.96, 77.58)
    result = hub_index.lookup(lat, lng)
    assert (result.route_id, result.match) == ("W", RouteMatch.NEAREST)
    assert result.distance_m == pytest.approx(truth, rel=1e-5)


def test_outside_too_far_is_none_with_the_reason(hub_index):
    result = hub_index.lookup(12.90, 77.59)
    assert result.match is RouteMatch.NONE
    assert (result.route_id, result.rider_id, result.distance_m) == (None, None, 0.0)
    assert (result.hub_id, result.map_version) == ("BLR-1", 7)
    distance = vincenty_m(12.90, 77.59, 12.96, 77.59)
    assert result.reason == f"nearest route W is {distance:.0f} m away (limit 2000 m)"


def test_limit_is_configurable():
    index = compile_hub([route("W", WEST)], max_nearest_m=100.0)
    assert index.lookup(12.9595, 77.59).match is RouteMatch.NEAREST
    assert index.lookup(12.958, 77.59).match is RouteMatch.NONE
    assert (
        index_from_bytes(index_to_bytes(index), max_nearest_m=500.0).lookup(12.958, 77.59).match is RouteMatch.NEAREST
    )


def test_equidistant_routes_go_to_the_better_rank(hub_index):
    result = hub_index.lookup(12.95, 77.60)  # south of the shared edge of W and E
    assert (result.route_id, result.match) == ("E", RouteMatch.NEAREST)


def test_empty_hub_and_inactive_routes():
    for index in (compile_hub([]), compile_hub([route("W", WEST, active=False)])):
        result = index.lookup(12.97, 77.59)
        assert result.match is RouteMatch.NONE
        assert result.reason == "hub BLR-1 has no active routes"
        assert result.h3_cell == h3.latlng_to_cell(12.97, 77.59, RES)
        assert index.lookup_many([12.97, 12.0], [77.59, 77.0]).results() == [result, index.lookup(12.0, 77.0)]
        assert index.stats().route_count == 0 and index.stats().cell_count == 0
        assert index_from_bytes(index_to_bytes(index)).lookup(12.97, 77.59) == result


def test_a_route_smaller_than_a_cell_inside_a_big_one():
    big = route("BIG", box(77.40, 12.80, 77.70, 13.10))
    tiny = route("TINY", box(77.5, 12.9, 77.5001, 12.9001), priority=3)
    index = compile_hub([big, tiny])
    assert index.lookup(12.90005, 77.50005).route_id == "TINY"
    assert index.lookup(12.9002, 77.50005).route_id == "BIG"
    assert index.stats().routes[1] == RouteCellStats("TINY", 1, 1)


# -- inputs --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "lat, lng",
    [(float("nan"), 77.5), (12.9, float("inf")), (90.5, 77.5), (12.9, -180.1), (None, 77.5), (True, 77.5)],
)
def test_invalid_locations(hub_index, lat, lng):
    with pytest.raises(InvalidArgument, match="location"):
        hub_index.lookup(lat, lng)
    if lat is not None and not isinstance(lat, bool):  # arrays are numbers: True is 1.0 there
        with pytest.raises(InvalidArgument, match=r"locations\[1\]"):
            hub_index.lookup_many([12.97, lat], [77.59, lng])


def test_extreme_but_valid_locations(hub_index):
    for lat, lng in ((90.0, 180.0), (-90.0, -180.0), (0.0, 0.0)):
        assert hub_index.lookup(lat, lng).match is RouteMatch.NONE
    assert len(hub_index.lookup_many([], [])) == 0


def test_compile_refuses_inconsistent_input():
    with pytest.raises(ValueError, match="belongs to hub"):
        compile_hub([route("W", WEST, hub="OTHER")])
    with pytest.raises(ValueError, match="twice"):
        compile_hub([route("W", WEST), route("W", EAST)])
    with pytest.raises(ValueError, match="resolution"):
        compile_hub([route("W", WEST)], resolution=3)
    bowtie = shapely.Polygon([(77.58, 12.96), (77.60, 12.98), (77.60, 12.96), (77.58, 12.98)])
    with pytest.raises(InvalidGeometry):
        compile_hub([route("W", bowtie)])


# -- serialization -------------------------------------------------------------------------------


def test_round_trip_gives_equal_answers(hub_index):
    rng = np.random.default_rng(3)
    lats = rng.uniform(12.94, 13.02, 20_000)
    lngs = rng.uniform(77.56, 77.67, 20_000)
    data = index_to_bytes(hub_index)
    loaded = index_from_bytes(data)
    assert loaded.lookup_many(lats, lngs).results() == hub_index.lookup_many(lats, lngs).results()
    assert loaded.stats() == hub_index.stats()
    assert (loaded.hub_id, loaded.map_version, loaded.resolution) == ("BLR-1", 7, RES)
    assert [r.id for r in loaded.routes] == [r.id for r in hub_index.routes]
    assert all(a.geometry.equals_exact(b.geometry, 0) for a, b in zip(loaded.routes, hub_index.routes, strict=True))
    assert index_to_bytes(loaded) == data


def test_bytes_that_are_not_an_index(hub_index):
    data = index_to_bytes(hub_index)
    middle = len(data) // 2
    flipped = data[:middle] + bytes(b ^ 0xFF for b in data[middle : middle + 16]) + data[middle + 16 :]
    other_version = b"FMRIDX" + (FORMAT_VERSION + 1).to_bytes(2, "little") + data[8:]
    for bad in (b"", b"hello", other_version, data[:-40], data[:8] + data[9:], flipped):
        with pytest.raises(IndexFormatError):
            index_from_bytes(bad)


# -- map statistics ------------------------------------------------------------------------------


def test_stats_cells_overlaps_and_gaps():
    a = box(77.58, 12.96, 77.60, 12.98)
    b = box(77.595, 12.96, 77.62, 12.98)  # overlaps a on a strip ~540 m wide
    c = box(77.62, 12.96, 77.64, 12.98)  # touches b along an edge: not an overlap
    d = box(77.58, 12.99, 77.64, 13.00)  # leaves a gap between itself and a, b, c
    index = compile_hub([route("A", a), route("B", b, priority=1), route("C", c), route("D", d)])
    stats = index.stats()
    assert [r.route_id for r in stats.routes] == ["A", "B", "C", "D"]
    for entry in stats.routes:
        assert entry.cell_count == len(index.route_cells(entry.route_id)) == index.route_cell_count(entry.route_id)
        assert 0 < entry.edge_cell_count < entry.cell_count
    assert [(o.route_id_a, o.route_id_b, o.winner_route_id) for o in stats.overlaps] == [("A", "B", "B")]
    strip_cells = 0.005 * 0.02 * 108_500 * 110_600 / h3.average_hexagon_area(RES, "m^2")
    assert 0.9 * strip_cells < stats.overlaps[0].shared_cell_count < 1.5 * strip_cells
    gap_cells = 0.06 * 0.01 * 108_500 * 110_600 / h3.average_hexagon_area(RES, "m^2")
    assert 0.7 * gap_cells < stats.gap_cell_count < gap_cells
    assert stats.cell_count == len(np.unique(np.concatenate([index.route_cells(r) for r in "ABCD"])))
    assert stats.edge_cell_count < stats.cell_count
    gaps = index.gaps_geojson()
    assert gaps["features"][0]["geometry"]["type"] == "MultiPolygon"
    assert gaps["features"][0]["properties"]["cell_count"] == stats.gap_cell_count
    gap_shape = shapely.geometry.shape(gaps["features"][0]["geometry"])
    assert gap_shape.intersects(shapely.Point(77.61, 12.985)) and not gap_shape.intersects(shapely.Point(77.61, 12.97))
    coverage = index.coverage_geojson()
    assert [f["properties"]["route_id"] for f in coverage["features"]] == ["A", "B", "C", "D"]
    covered = shapely.geometry.shape(coverage["features"][0]["geometry"])
    assert covered.contains(a.buffer(-0.002)) and covered.area > a.area


def test_a_map_without_gaps():
    index = compile_hub([route("W", WEST), route("E", EAST)])
    assert index.stats().gap_cell_count == 0
    assert index.gaps_geojson() == {"type": "FeatureCollection", "features": []}


# -- several hubs --------------------------------------------------------------------------------


def test_index_set_searches_every_hub():
    north = compile_hub([route("N1", box(77.58, 13.00, 77.60, 13.02), hub="NORTH")], hub="NORTH", version=3)
    south = compile_hub(
        [
            route("S1", box(77.58, 12.90, 77.60, 12.92), hub="SOUTH"),
            route("S2", box(77.59, 13.01, 77.61, 13.03), hub="SOUTH", priority=2),
        ],
        hub="SOUTH",
        version=9,
    )
    indexes = RouteIndexSet([north, south], resolution=RES)
    assert indexes.hub_ids == ("NORTH", "SOUTH")
    inside_north = indexes.lookup(13.005, 77.585)
    assert (inside_north.route_id, inside_north.hub_id, inside_north.map_version) == ("N1", "NORTH", 3)
    overlap = indexes.lookup(13.015, 77.595)  # N1 and S2 (priority 2) of another hub
    assert (overlap.route_id, overlap.hub_id, overlap.map_version) == ("S2", "SOUTH", 9)
    near_south = indexes.lookup(12.925, 77.59)
    assert (near_south.route_id, near_south.match, near_south.hub_id) == ("S1", RouteMatch.NEAREST, "SOUTH")
    assert near_south.distance_m == pytest.approx(vincenty_m(12.925, 77.59, 12.92, 77.59), rel=1e-5)
    far = indexes.lookup(12.80, 77.59)
    assert far.match is RouteMatch.NONE and (far.hub_id, far.map_version) == (None, None)
    assert far.reason.startswith("nearest route S1 of hub SOUTH is ") and far.reason.endswith("(limit 2000 m)")
    points = [(13.005, 77.585), (13.015, 77.595), (12.925, 77.59), (12.80, 77.59), (12.96, 77.59)]
    batch = indexes.lookup_many([p[0] for p in points], [p[1] for p in points])
    assert batch.results() == [indexes.lookup(*p) for p in points]
    assert batch.route_ids() == ["N1", "S2", "S1", None, None]

    without = indexes.without_hub("SOUTH")
    assert without.lookup(13.015, 77.595).route_id == "N1"
    replaced = without.with_hub(compile_hub([route("S9", box(77.58, 13.00, 77.60, 13.02), hub="SOUTH")], hub="SOUTH"))
    assert replaced.lookup(13.005, 77.585).route_id == "N1"  # N1 < S9 at equal priority
    empty = RouteIndexSet([], resolution=RES).lookup(12.97, 77.59)
    assert empty.match is RouteMatch.NONE and empty.reason == "no hub has active routes"
    with pytest.raises(ValueError, match="resolution"):
        RouteIndexSet([north], resolution=9)


# -- property: the index equals brute force ------------------------------------------------------


class BruteForce:
    """Exact containment over every route; else distance to every boundary segment of every route."""

    def __init__(self, routes):
        self.routes = list(routes)
        starts, ends, owners = [], [], []
        for i, r in enumerate(self.routes):
            for ring in shapely.get_parts(shapely.boundary(r.geometry)):
                c = shapely.get_coordinates(ring)
                starts.append(c[:-1])
                ends.append(c[1:])
                owners.append(np.full(len(c) - 1, i))
        self.start = np.concatenate(starts) if starts else np.empty((0, 2))
        self.end = np.concatenate(ends) if ends else np.empty((0, 2))
        self.owner = np.concatenate(owners) if owners else np.empty(0, int)

    def answer(self, lat, lng, max_nearest_m):
        covering = [r for r in self.routes if shapely.intersects_xy(r.geometry, lng, lat)]
        if covering:
            return min(covering, key=lambda r: r.rank_key).id, RouteMatch.EXACT, 0.0
        if not self.routes:
            return None, RouteMatch.NONE, math.inf
        n = len(self.owner)
        d = point_segment_distance_m(
            np.full(n, lng), np.full(n, lat), self.start[:, 0], self.start[:, 1], self.end[:, 0], self.end[:, 1]
        )
        per_route = np.full(len(self.routes), np.inf)
        np.minimum.at(per_route, self.owner, d)
        nearest = per_route.min()
        tied = [r for i, r in enumerate(self.routes) if per_route[i] <= nearest + 1e-3]
        winner = min(tied, key=lambda r: r.rank_key)
        distance = float(per_route[self.routes.index(winner)])
        return winner.id, RouteMatch.NEAREST if distance <= max_nearest_m else RouteMatch.NONE, distance


DEG_LAT = 1 / 110_600
DEG_LNG = 1 / 108_500


@st.composite
def shapes(draw):
    """A route area within ~3 km of the centre: box, convex blob or disc, maybe holed, maybe 2 parts."""

    def one_part():
        kind = draw(st.sampled_from(["box", "blob", "disc"]))
        cx = LNG0 + draw(st.integers(-30, 30)) * 100 * DEG_LNG
        cy = LAT0 + draw(st.integers(-30, 30)) * 100 * DEG_LAT
        w = draw(st.integers(1, 20)) * 50 * DEG_LNG
        h = draw(st.integers(1, 20)) * 50 * DEG_LAT
        if kind == "box":
            return shapely.box(cx, cy, cx + w, cy + h)
        if kind == "disc":
            return shapely.Point(cx, cy).buffer(max(w, h) / 2, quad_segs=draw(st.integers(1, 6)))
        seed = draw(st.integers(0, 2**31))
        rng = np.random.default_rng(seed)
        points = np.column_stack([cx + rng.uniform(0, w, 8), cy + rng.uniform(0, h, 8)])
        return shapely.MultiPoint(points).convex_hull

    geometry = one_part()
    assume(geometry.geom_type == "Polygon" and geometry.area > 0)
    if draw(st.booleans()) and draw(st.booleans()):
        hole = shapely.affinity.scale(geometry, 0.4, 0.4, origin=geometry.centroid)
        geometry = shapely.Polygon(geometry.exterior, [hole.exterior])
    if draw(st.integers(0, 5)) == 0:
        other = one_part()
        if other.geom_type == "Polygon" and other.area > 0 and other.disjoint(geometry):
            geometry = shapely.MultiPolygon([geometry, other])
    assume(geometry.is_valid)
    return geometry


@st.composite
def route_maps(draw, max_routes=6):
    count = draw(st.integers(0, max_routes))
    ids = draw(st.lists(st.text("ABCab0.-", min_size=1, max_size=3), min_size=count, max_size=count, unique=True))
    tiles = draw(st.booleans())
    routes = []
    for route_id in ids:
        if tiles:
            # Boxes on a 600 m grid: they share edges and vertices exactly.
            gx, gy = draw(st.integers(0, 3)), draw(st.integers(0, 3))
            gw, gh = draw(st.integers(1, 2)), draw(st.integers(1, 2))
            x0, y0 = LNG0 + gx * 600 * DEG_LNG, LAT0 + gy * 600 * DEG_LAT
            geometry = shapely.box(x0, y0, x0 + gw * 600 * DEG_LNG, y0 + gh * 600 * DEG_LAT)
        else:
            geometry = draw(shapes())
        routes.append(route(route_id, geometry, priority=draw(st.integers(-1, 1))))
    return routes


def probe_points(routes, draw_seed):
    """Random points around the map, plus every vertex, edge midpoints and points on box edges."""
    rng = np.random.default_rng(draw_seed)
    lats = list(LAT0 + rng.uniform(-3500, 3500, 150) * DEG_LAT)
    lngs = list(LNG0 + rng.uniform(-3500, 3500, 150) * DEG_LNG)
    for r in routes:
        coords = shapely.get_coordinates(shapely.boundary(r.geometry))
        pick = rng.choice(len(coords), size=min(len(coords), 12), replace=False)
        for x, y in coords[pick]:
            lngs.append(x)
            lats.append(y)
        for (x1, y1), (x2, y2) in zip(coords[pick], coords[(pick + 1) % len(coords)], strict=True):
            lngs.append((x1 + x2) / 2)
            lats.append((y1 + y2) / 2)
        boundary = shapely.boundary(r.geometry)
        near = shapely.line_interpolate_point(boundary, rng.uniform(0, 1, 20), normalized=True)
        offsets = rng.normal(0, 15, (20, 2))
        lngs += list(shapely.get_x(near) + offsets[:, 0] * DEG_LNG)
        lats += list(shapely.get_y(near) + offsets[:, 1] * DEG_LAT)
        minx, miny, maxx, maxy = r.geometry.bounds
        for _ in range(4):
            lngs += [minx, maxx, rng.uniform(minx, maxx), rng.uniform(minx, maxx)]
            lats += [rng.uniform(miny, maxy), rng.uniform(miny, maxy), miny, maxy]
    return np.array(lats), np.array(lngs)


def check_against_brute_force(lookup_results, routes, lats, lngs, max_nearest_m):
    brute_force = BruteForce(routes)
    for result, lat, lng in zip(lookup_results, lats, lngs, strict=True):
        expected_id, expected_match, expected_distance = brute_force.answer(lat, lng, max_nearest_m)
        where = f"point ({lat!r}, {lng!r})"
        assert result.match is expected_match, where
        if expected_match is RouteMatch.NONE:
            assert result.route_id is None, where
            continue
        assert result.route_id == expected_id, where
        if expected_match is RouteMatch.NEAREST:
            assert result.distance_m == pytest.approx(expected_distance, rel=1e-12, abs=1e-9), where


@settings(max_examples=60, deadline=None)
@given(geometry=shapes(), resolution=st.sampled_from([9, 10, 11]))
def test_every_cell_the_boundary_crosses_is_an_edge_cell(geometry, resolution):
    coverage = compile_coverage([geometry], resolution)
    edge_cells = set(coverage.cells[coverage.edge].tolist())
    around = h3.h3shape_to_cells_experimental(
        h3.geo_to_h3shape(shapely.box(*geometry.buffer(0.003).bounds).__geo_interface__), resolution, "overlap"
    )
    cells = np.array([h3.str_to_int(c) for c in around], dtype=np.uint64)
    hexagons = shapely.polygons([[(lng, lat) for lat, lng in h3.cell_to_boundary(c)] for c in around])
    crossed = cells[shapely.intersects(shapely.boundary(geometry), hexagons)]
    assert set(crossed.tolist()) <= edge_cells
    clear_of_boundary = ~shapely.dwithin(shapely.boundary(geometry), hexagons, 1e-6)  # eps is < 1e-6 deg
    inside = cells[shapely.within(hexagons, geometry) & clear_of_boundary]
    assert set(inside.tolist()) <= set(coverage.cells[~coverage.edge].tolist())


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routes=route_maps(), resolution=st.sampled_from([8, 9, 10, 11]), seed=st.integers(0, 2**32 - 1))
def test_index_equals_brute_force(routes, resolution, seed):
    index = compile_hub(routes, resolution=resolution, max_nearest_m=1500.0)
    lats, lngs = probe_points(routes, seed)
    batch = index.lookup_many(lats, lngs).results()
    check_against_brute_force(batch, routes, lats, lngs, 1500.0)
    assert [index.lookup(lat, lng) for lat, lng in zip(lats, lngs, strict=True)] == batch
    assert all(
        r.h3_cell == h3.latlng_to_cell(lat, lng, resolution) for r, lat, lng in zip(batch, lats, lngs, strict=True)
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(routes=route_maps(max_routes=8), split=st.integers(0, 8), seed=st.integers(0, 2**32 - 1))
def test_index_set_equals_brute_force_over_all_hubs(routes, split, seed):
    hubs = {"H1": [], "H2": []}
    for i, r in enumerate(routes):
        hub = "H1" if i < split else "H2"
        hubs[hub].append(Route(r.id, hub, r.name, r.geometry, r.default_rider_id, r.priority))
    indexes = RouteIndexSet(
        [compile_hub(rs, hub=h, resolution=9, max_nearest_m=1500.0) for h, rs in hubs.items()],
        resolution=9,
        max_nearest_m=1500.0,
    )
    lats, lngs = probe_points(routes, seed)
    batch = indexes.lookup_many(lats, lngs).results()
    # Route ids are unique across both hubs here, so hub ids never decide a tie.
    check_against_brute_force(batch, routes, lats, lngs, 1500.0)
    assert [indexes.lookup(lat, lng) for lat, lng in zip(lats, lngs, strict=True)] == batch


def test_large_batch_uses_the_same_answers_as_small_ones(hub_index):
    rng = np.random.default_rng(11)
    lats = rng.uniform(12.94, 13.02, 5000)
    lngs = rng.uniform(77.56, 77.67, 5000)
    big = hub_index.lookup_many(lats, lngs).results()
    small = [
        r for i in range(0, 5000, 500) for r in hub_index.lookup_many(lats[i : i + 500], lngs[i : i + 500]).results()
    ]
    assert big == small
    check_against_brute_force(big[:1000], list(hub_index.routes), lats[:1000], lngs[:1000], 2000.0)
