"""Which H3 cells a route touches, and which of those lie on its boundary.

For a route P at resolution R we need two sets, and only their correctness matters for exact
answers:

* edge cells E(P) ⊇ every cell whose area comes within `eps` of P's boundary. A superset only
  costs lookup speed, never correctness: its points are settled by an exact test.
* interior cells I(P) = cells whose centre lies in P, minus E(P). A cell that does not touch the
  boundary is connected and lies wholly on one side of it, so its centre decides. Every point of
  such a cell is in P.

E(P) is built without trusting any polyfill "mode": the boundary is sampled every half average
cell edge (so every boundary point is within a quarter edge of a sample), the sampled cells are
edge cells outright (they hold a boundary point), and their ring-1 neighbours are edge cells if
their hexagon comes within `eps` of the boundary (GEOS). Two non-adjacent cells are at least one
edge apart and the shortest H3 edges are ~0.74 of the average, so a cell the boundary touches
between two samples is a neighbour of a sampled one, with a threefold margin. `eps` (≥ 1 cm)
absorbs the difference between the planar hexagon we test against and the true cell, whose edges
are great-circle arcs, and any last-bit disagreement between H3 implementations (h3ronpy's h3o
and the H3 C library behind `h3`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import arro3.core as arrow
import h3
import h3ronpy
import numpy as np
import shapely
from h3ronpy import ContainmentMode
from h3ronpy import vector as h3vector
from shapely.geometry.base import BaseGeometry

MIN_RESOLUTION = 6
MAX_RESOLUTION = 13
EARTH_RADIUS_M = 6_371_008.8
_MIN_EPS_M = 0.01
_METRES_PER_DEGREE_LOWER_BOUND = 110_000.0


def check_resolution(resolution: int) -> int:
    if not isinstance(resolution, int) or not MIN_RESOLUTION <= resolution <= MAX_RESOLUTION:
        raise ValueError(
            f"H3 resolution must be an integer in [{MIN_RESOLUTION}, {MAX_RESOLUTION}], not {resolution!r}"
        )
    return resolution


def cells_of_points(lats: np.ndarray, lngs: np.ndarray, resolution: int) -> np.ndarray:
    """H3 cells (uint64) of many points in one vectorized call. Inputs must be valid coordinates."""
    if len(lats) == 0:
        return np.empty(0, dtype=np.uint64)
    return np.asarray(h3vector.coordinates_to_cells(lats, lngs, resolution)).astype(np.uint64, copy=False)


def cell_of_point(lat: float, lng: float, resolution: int) -> int:
    """The H3 cell of one point, as an integer (the scalar path; same H3 algorithm)."""
    return h3.api.basic_int.latlng_to_cell(lat, lng, resolution)


def cell_to_str(cell: int) -> str:
    return h3.int_to_str(int(cell))


def cells_to_multipolygon_geojson(cells: np.ndarray) -> dict:
    """The union of cells as a GeoJSON MultiPolygon mapping ([lng, lat], holes kept)."""
    if len(cells) == 0:
        return {"type": "MultiPolygon", "coordinates": []}
    shape = h3.cells_to_h3shape([h3.int_to_str(int(c)) for c in cells], tight=True)
    geo = shape.__geo_interface__
    coordinates = geo["coordinates"]
    if geo["type"] == "Polygon":
        coordinates = (coordinates,)
    return {"type": "MultiPolygon", "coordinates": _as_lists(coordinates)}


def _as_lists(value):
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    return value


class CellKeys:
    """Packs (cell, route index) into one sortable uint64, so set operations on pairs are numpy sorts.

    At resolution R an H3 cell has 7 + 3R meaningful bits (base cell and R digits); the mode,
    resolution and unused-digit bits are the same for every cell. The route index takes the bits
    below those, keeping the key under 2**63.
    """

    def __init__(self, resolution: int) -> None:
        self.resolution = check_resolution(resolution)
        self.cell_bits = 7 + 3 * resolution
        self.route_bits = 63 - self.cell_bits
        self.max_routes = 1 << self.route_bits
        self._unused = np.uint64(3 * (15 - resolution))
        self._cell_mask = np.uint64((1 << self.cell_bits) - 1)
        self._route_mask = np.uint64((1 << self.route_bits) - 1)
        self._route_shift = np.uint64(self.route_bits)
        self._fixed = np.uint64((1 << 59) | (resolution << 52) | ((1 << (3 * (15 - resolution))) - 1))

    def pack(self, cells: np.ndarray, routes: np.ndarray) -> np.ndarray:
        compact = (cells.astype(np.uint64, copy=False) >> self._unused) & self._cell_mask
        return (compact << self._route_shift) | routes.astype(np.uint64)

    def cells(self, keys: np.ndarray) -> np.ndarray:
        return ((keys >> self._route_shift) << self._unused) | self._fixed

    def routes(self, keys: np.ndarray) -> np.ndarray:
        return (keys & self._route_mask).astype(np.int32)


@dataclass(frozen=True)
class Coverage:
    """The (cell, route) pairs of a set of routes, sorted by cell then route, with edge flags."""

    cells: np.ndarray  # uint64
    routes: np.ndarray  # int32, index into the geometries compiled
    edge: np.ndarray  # bool: the cell touches the route's boundary

    @property
    def size(self) -> int:
        return len(self.cells)


def boundary_eps_degrees(geometries: Iterable[BaseGeometry], resolution: int) -> float:
    """The tolerance of "touches the boundary", in degrees, for geometries at this resolution.

    A great-circle edge of length L bows away from the straight [lng, lat] segment by about
    L² tan(lat) / 8R; we allow twice that for edges twice the average length, at least 1 cm.
    """
    max_abs_lat = 0.0
    for geometry in geometries:
        minx, miny, maxx, maxy = geometry.bounds
        max_abs_lat = max(max_abs_lat, abs(miny), abs(maxy))
    max_abs_lat = min(max_abs_lat, 85.0)
    edge = 2.0 * h3.average_hexagon_edge_length(resolution, "m")
    bow = edge * edge * math.tan(math.radians(max_abs_lat)) / (8.0 * EARTH_RADIUS_M)
    eps_m = max(_MIN_EPS_M, 2.0 * bow)
    return eps_m / (_METRES_PER_DEGREE_LOWER_BOUND * math.cos(math.radians(max_abs_lat)))


def compile_coverage(geometries: np.ndarray | Sequence[BaseGeometry], resolution: int) -> Coverage:
    """Every cell that intersects each geometry, flagged edge or interior (see the module docstring)."""
    keys_of = CellKeys(resolution)
    shapes = np.asarray(geometries, dtype=object)
    count = len(shapes)
    if count == 0:
        return Coverage(np.empty(0, np.uint64), np.empty(0, np.int32), np.empty(0, bool))
    if count > keys_of.max_routes:
        raise ValueError(f"too many routes for one index at resolution {resolution}: {count}")

    centre_keys = _centre_keys(shapes, resolution, keys_of)
    edge_keys = _edge_keys(shapes, resolution, keys_of)
    keys = sorted_unique(np.concatenate([centre_keys, edge_keys]))
    edge = sorted_member(keys, edge_keys)
    return Coverage(keys_of.cells(keys), keys_of.routes(keys), edge)


def cells_with_centre_in(geometry, resolution: int) -> np.ndarray:
    """The cells whose centre lies in a polygonal geometry (sorted uint64)."""
    lists = h3vector.wkb_to_cells(
        shapely.to_wkb(np.array([geometry], dtype=object)),
        resolution,
        containment_mode=ContainmentMode.ContainsCentroid,
    )
    return sorted_unique(np.asarray(arrow.list_flatten(lists)).astype(np.uint64, copy=False))


def _centre_keys(geometries: np.ndarray, resolution: int, keys_of: CellKeys) -> np.ndarray:
    lists = h3vector.wkb_to_cells(
        shapely.to_wkb(geometries), resolution, containment_mode=ContainmentMode.ContainsCentroid
    )
    offsets = np.asarray(arrow.list_offsets(lists))
    cells = np.asarray(arrow.list_flatten(lists)).astype(np.uint64, copy=False)
    routes = np.repeat(np.arange(len(geometries), dtype=np.int64), np.diff(offsets))
    return sorted_unique(keys_of.pack(cells, routes))


def _edge_keys(geometries: np.ndarray, resolution: int, keys_of: CellKeys) -> np.ndarray:
    boundaries = shapely.boundary(geometries)
    spacing_deg = h3.average_hexagon_edge_length(resolution, "m") / 2.0 / 111_320.0
    samples, sample_routes = shapely.get_coordinates(shapely.segmentize(boundaries, spacing_deg), return_index=True)
    sampled = sorted_unique(keys_of.pack(cells_of_points(samples[:, 1], samples[:, 0], resolution), sample_routes))

    unique_cells, inverse = unique_inverse(keys_of.cells(sampled))
    disks = h3ronpy.grid_disk(unique_cells, 1)
    disk_offsets = np.asarray(arrow.list_offsets(disks))
    disk_cells = np.asarray(arrow.list_flatten(disks)).astype(np.uint64, copy=False)
    counts = np.diff(disk_offsets)[inverse]
    starts = disk_offsets[:-1][inverse]
    positions = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    neighbours = sorted_unique(keys_of.pack(disk_cells[positions], np.repeat(keys_of.routes(sampled), counts)))
    candidates = neighbours[~sorted_member_of(neighbours, sampled)]
    if len(candidates) == 0:
        return sampled

    hex_cells, hex_index = unique_inverse(keys_of.cells(candidates))
    hexagons = shapely.from_wkb(h3vector.cells_to_wkb_polygons(hex_cells).to_numpy())
    shapely.prepare(boundaries)
    eps = boundary_eps_degrees(geometries, resolution)
    touching = shapely.dwithin(boundaries[keys_of.routes(candidates)], hexagons[hex_index], eps)
    return sorted_unique(np.concatenate([sampled, candidates[touching]]))


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique by sorting (numpy 2.3+'s hash-based unique is ~100x slower on millions of uint64)."""
    values = np.sort(values)
    if len(values) < 2:
        return values
    return values[np.r_[True, values[1:] != values[:-1]]]


def unique_inverse(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sorted unique values, index of each input value among them)."""
    order = np.argsort(values)
    ordered = values[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]] if len(values) else np.empty(0, bool)
    inverse = np.empty(len(values), dtype=np.int64)
    inverse[order] = np.cumsum(first) - 1
    return ordered[first], inverse


def sorted_member(sorted_all: np.ndarray, sorted_subset: np.ndarray) -> np.ndarray:
    """Flags of sorted_all's elements that are in sorted_subset (sorted_subset ⊆ sorted_all, unique)."""
    flags = np.zeros(len(sorted_all), dtype=bool)
    if len(sorted_subset):
        flags[np.searchsorted(sorted_all, sorted_subset)] = True
    return flags


def sorted_member_of(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """Flags of the values (any order) that are in sorted_set (sorted, unique); np.isin without its cost."""
    if len(sorted_set) == 0 or len(values) == 0:
        return np.zeros(len(values), dtype=bool)
    position = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[position] == values
