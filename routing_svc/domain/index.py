"""HubRouteIndex: a hub's active routes compiled to H3 cells, answering "which route covers this point?".

How it answers (docs/routing-index.md has the full design and the measurements):

* The point's H3 cell at the map's resolution is looked up in a sorted array of the cells the
  hub's routes touch.
* A cell that touches no route boundary resolves at once to the best-ranked route containing it.
* A cell on some route's boundary holds a group: the candidate routes ranked above the best route
  that contains the whole cell (the fallback, if any). The point is tested against candidates in
  rank order with an exact point-in-polygon test (GEOS, boundary counts as inside) and the
  first that covers it wins, else the fallback.
* A point inside no route gets the nearest route boundary within `max_nearest_m` (NEAREST), or
  NONE with the reason.

So every answer equals exact polygon containment with the overlap rule (higher priority, then
smaller id), which is what the property tests check against brute force.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import shapely

from mesh.kernel import check_coordinates
from routing_svc.domain.coverage import (
    Coverage,
    cell_of_point,
    cell_to_str,
    cells_of_points,
    cells_to_multipolygon_geojson,
    cells_with_centre_in,
    check_resolution,
    compile_coverage,
    sorted_member_of,
)
from routing_svc.domain.errors import InvalidGeometry
from routing_svc.domain.geodesy import LocalFrame
from routing_svc.domain.model import (
    LookupResult,
    Route,
    RouteCellStats,
    RouteMapStats,
    RouteMatch,
    RouteOverlap,
)
from routing_svc.domain.nearest import NearestBoundary

DEFAULT_RESOLUTION = 10
DEFAULT_MAX_NEAREST_M = 2000.0

_EXACT = np.int8(RouteMatch.EXACT)
_NEAREST = np.int8(RouteMatch.NEAREST)
_NONE = np.int8(RouteMatch.NONE)
_SORTED_SEARCH_MIN = 2048
_NOT_FOUND = np.int32(-(2**31))


@dataclass(frozen=True)
class CellTable:
    """cell → code: code >= 0 is a route; code < 0 is edge group -code-1 (candidates, fallback)."""

    cells: np.ndarray  # uint64, sorted
    codes: np.ndarray  # int32
    group_offsets: np.ndarray  # int32, len = groups + 1
    group_candidates: np.ndarray  # int32, route ranks ascending within a group
    group_fallback: np.ndarray  # int32, -1 = none

    def check(self, route_count: int) -> None:
        """ValueError unless the arrays fit together and name only routes below `route_count`
        (a table read back from storage is checked before any lookup trusts its codes)."""
        n = len(self.cells)
        groups = len(self.group_fallback)
        if len(self.codes) != n or len(self.group_offsets) != groups + 1:
            raise ValueError("table arrays disagree in length")
        if n and (self.codes.max(initial=-1) >= route_count or self.codes.min(initial=0) < -groups):
            raise ValueError("codes out of range")
        if self.group_offsets[-1] != len(self.group_candidates) or (
            len(self.group_candidates) and self.group_candidates.max() >= route_count
        ):
            raise ValueError("groups out of range")


@dataclass(frozen=True)
class CoverageStats:
    route_cells: np.ndarray  # int32 per route
    route_edge_cells: np.ndarray  # int32 per route
    edge_cell_count: int
    overlap_a: np.ndarray  # int32 route ranks, a < b
    overlap_b: np.ndarray
    overlap_cells: np.ndarray  # int32
    gap_cells: np.ndarray  # uint64


class HubRouteIndex:
    """The compiled, immutable route map of one hub at one map version. Thread-safe for lookups."""

    def __init__(
        self,
        *,
        hub_id: str,
        map_version: int,
        resolution: int,
        routes: tuple[Route, ...],
        table: CellTable,
        stats: CoverageStats,
        max_nearest_m: float,
        compiled_at: datetime | None,
    ) -> None:
        self.hub_id = hub_id
        self.map_version = map_version
        self.resolution = resolution
        self.routes = routes
        """Active routes in rank order (higher priority, then smaller id): route indexes are ranks."""
        self.max_nearest_m = float(max_nearest_m)
        self.compiled_at = compiled_at
        self._table = table
        self._stats = stats
        self._geometries = np.array([r.geometry for r in routes] or [], dtype=object)
        shapely.prepare(self._geometries)
        if routes:
            # GEOS builds a prepared polygon's point locator lazily and not thread-safely
            # (libgeos/geos#825); building them all now leaves concurrent lookups only reading.
            inside = shapely.point_on_surface(self._geometries)
            shapely.intersects_xy(self._geometries, shapely.get_x(inside), shapely.get_y(inside))
        self._route_by_id = {r.id: i for i, r in enumerate(routes)}
        self.bounds: tuple[float, float, float, float] | None = None
        if routes:
            bounds = shapely.bounds(self._geometries)
            self.bounds = (
                float(bounds[:, 0].min()),
                float(bounds[:, 1].min()),
                float(bounds[:, 2].max()),
                float(bounds[:, 3].max()),
            )
        self._nearest: NearestBoundary | None = None
        self._nearest_lock = threading.Lock()

    @property
    def table(self) -> CellTable:
        return self._table

    @property
    def coverage_stats(self) -> CoverageStats:
        return self._stats

    # -- building -----------------------------------------------------------------------------

    @classmethod
    def compile(
        cls,
        hub_id: str,
        routes: Iterable[Route],
        map_version: int,
        resolution: int = DEFAULT_RESOLUTION,
        *,
        max_nearest_m: float = DEFAULT_MAX_NEAREST_M,
        compiled_at: datetime | None = None,
    ) -> HubRouteIndex:
        """Compiles the hub's active routes (inactive ones are ignored; ids must be unique)."""
        check_resolution(resolution)
        active = sorted((r for r in routes if r.active), key=lambda r: r.rank_key)
        seen: set[str] = set()
        for route in active:
            if route.hub_id != hub_id:
                raise ValueError(f"route {route.id!r} belongs to hub {route.hub_id!r}, not {hub_id!r}")
            if route.id in seen:
                raise ValueError(f"route id {route.id!r} appears twice in hub {hub_id!r}")
            seen.add(route.id)
            if route.geometry.geom_type not in ("Polygon", "MultiPolygon") or not route.geometry.is_valid:
                raise InvalidGeometry(f"route {route.id!r} has no valid polygonal geometry")
        geometries = np.array([r.geometry for r in active] or [], dtype=object)
        coverage = compile_coverage(geometries, resolution)
        table = _build_table(coverage, len(active))
        stats = _build_stats(coverage, geometries, table.cells, resolution)
        return cls(
            hub_id=hub_id,
            map_version=map_version,
            resolution=resolution,
            routes=tuple(active),
            table=table,
            stats=stats,
            max_nearest_m=max_nearest_m,
            compiled_at=compiled_at,
        )

    # -- lookups ------------------------------------------------------------------------------

    def lookup(self, lat: float, lng: float) -> LookupResult:
        """The route of one point (same answers as lookup_many, on a path tuned for one point)."""
        _check_point(lat, lng)
        cell = cell_of_point(lat, lng, self.resolution)
        route = self._exact_one(lat, lng, cell)
        if route >= 0:
            return self._result(route, RouteMatch.EXACT, 0.0, cell)
        nearest, distance = self._nearest_of(np.array([lng], dtype=np.float64), np.array([lat], dtype=np.float64))
        match = RouteMatch.NEAREST if distance[0] <= self.max_nearest_m else RouteMatch.NONE
        return self._result(int(nearest[0]), match, float(distance[0]), cell)

    def lookup_many(self, lats: Any, lngs: Any) -> LookupBatch:
        """The routes of many points, vectorized (see the module docstring)."""
        lats, lngs = _check_points(lats, lngs)
        cells = cells_of_points(lats, lngs, self.resolution)
        order = _cell_order(cells)
        if order is None:
            route, match, distance = self._resolve(lngs, lats, cells)
        else:
            sorted_route, sorted_match, sorted_distance = self._resolve(lngs[order], lats[order], cells[order])
            route, match, distance = (_unsort(a, order) for a in (sorted_route, sorted_match, sorted_distance))
        return LookupBatch(
            indexes=(self,),
            cells=cells,
            match=match,
            hub=np.zeros(len(route), dtype=np.int32),
            route=route,
            distance_m=distance,
            max_nearest_m=self.max_nearest_m,
            asked_hub_id=self.hub_id,
        )

    def _resolve(
        self, lngs: np.ndarray, lats: np.ndarray, cells: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        route = self._exact_many(lngs, lats, cells)
        match = np.where(route >= 0, _EXACT, _NONE)
        distance = np.zeros(len(route))
        misses = np.flatnonzero(route < 0)
        if len(misses):
            nearest, nearest_distance = self._nearest_of(lngs[misses], lats[misses])
            route[misses] = nearest
            distance[misses] = nearest_distance
            match[misses[nearest_distance <= self.max_nearest_m]] = _NEAREST
        return route, match, distance

    def warm_up(self) -> HubRouteIndex:
        """Builds the nearest-boundary search now instead of at the first point outside every route."""
        self._nearest_of(np.empty(0), np.empty(0))
        return self

    def route(self, route_id: str) -> Route | None:
        index = self._route_by_id.get(route_id)
        return None if index is None else self.routes[index]

    def _exact_one(self, lat: float, lng: float, cell: int) -> int:
        table = self._table
        position = int(np.searchsorted(table.cells, np.uint64(cell)))
        if position == len(table.cells) or int(table.cells[position]) != cell:
            return -1
        code = int(table.codes[position])
        if code >= 0:
            return code
        group = -code - 1
        start, end = table.group_offsets[group], table.group_offsets[group + 1]
        for candidate in table.group_candidates[start:end]:
            if shapely.intersects_xy(self._geometries[candidate], lng, lat):
                return int(candidate)
        return int(table.group_fallback[group])

    def _exact_many(self, lngs: np.ndarray, lats: np.ndarray, cells: np.ndarray) -> np.ndarray:
        """Route rank covering each point, or -1. Fastest with the points in cell order (_cell_order)."""
        table = self._table
        count = len(cells)
        route = np.full(count, -1, dtype=np.int32)
        if count == 0 or len(table.cells) == 0:
            return route
        position = np.searchsorted(table.cells, cells)
        np.minimum(position, len(table.cells) - 1, out=position)
        codes = np.where(table.cells[position] == cells, table.codes[position], _NOT_FOUND)
        direct = codes >= 0
        route[direct] = codes[direct]
        edge = np.flatnonzero((codes < 0) & (codes != _NOT_FOUND))
        if len(edge):
            route[edge] = self._settle_edges(lngs[edge], lats[edge], -codes[edge] - 1)
        return route

    def _settle_edges(self, lngs: np.ndarray, lats: np.ndarray, groups: np.ndarray) -> np.ndarray:
        """Exact point-in-polygon over each point's candidates; the best-ranked covering one wins."""
        table = self._table
        starts = table.group_offsets[groups]
        counts = table.group_offsets[groups + 1] - starts
        total = int(counts.sum())
        pair_start = np.cumsum(counts) - counts
        pair_point = np.repeat(np.arange(len(groups)), counts)
        positions = np.repeat(starts - pair_start, counts) + np.arange(total)
        candidates = table.group_candidates[positions]
        covered = shapely.intersects_xy(self._geometries[candidates], lngs[pair_point], lats[pair_point])
        ranked = np.where(covered, candidates, np.int32(np.iinfo(np.int32).max))
        best = np.minimum.reduceat(ranked, pair_start)
        return np.where(best != np.iinfo(np.int32).max, best, table.group_fallback[groups]).astype(np.int32)

    def _nearest_of(
        self, lngs: np.ndarray, lats: np.ndarray, limit_m: float | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(route rank, metres) of the nearest boundary of points inside no route; (-1, inf) if none."""
        if not self.routes:
            return np.full(len(lngs), -1, dtype=np.int32), np.full(len(lngs), np.inf)
        if self._nearest is None:
            with self._nearest_lock:
                if self._nearest is None:
                    assert self.bounds is not None  # there are routes
                    minx, miny, maxx, maxy = self.bounds
                    frame = LocalFrame((minx + maxx) / 2, (miny + maxy) / 2, miny, maxy)
                    self._nearest = NearestBoundary(self._geometries, frame)
        return self._nearest.nearest(lngs, lats, self.max_nearest_m if limit_m is None else limit_m)

    def _result(self, route: int, match: RouteMatch, distance: float, cell: int) -> LookupResult:
        return _make_result(
            self, route, match, distance, cell, self.max_nearest_m, asked_hub_id=self.hub_id, hub_scope=True
        )

    # -- map statistics -----------------------------------------------------------------------

    def stats(self) -> RouteMapStats:
        """Cell counts, overlaps and gaps of the map, for GetRouteMap (definitions in the docs)."""
        s = self._stats
        ids = [r.id for r in self.routes]
        per_route = sorted(
            (RouteCellStats(ids[i], int(s.route_cells[i]), int(s.route_edge_cells[i])) for i in range(len(ids))),
            key=lambda r: r.route_id,
        )
        overlaps = sorted(
            (
                RouteOverlap(min(ids[a], ids[b]), max(ids[a], ids[b]), int(n), ids[min(a, b)])
                for a, b, n in zip(s.overlap_a.tolist(), s.overlap_b.tolist(), s.overlap_cells.tolist(), strict=True)
            ),
            key=lambda o: (o.route_id_a, o.route_id_b),
        )
        return RouteMapStats(
            hub_id=self.hub_id,
            map_version=self.map_version,
            resolution=self.resolution,
            route_count=len(self.routes),
            cell_count=len(self._table.cells),
            edge_cell_count=s.edge_cell_count,
            gap_cell_count=len(s.gap_cells),
            routes=tuple(per_route),
            overlaps=tuple(overlaps),
        )

    def route_cell_count(self, route_id: str) -> int:
        """Cells that intersect the route (0 for a route that is not in this map)."""
        index = self._route_by_id.get(route_id)
        return 0 if index is None else int(self._stats.route_cells[index])

    def gap_cells(self) -> np.ndarray:
        """Cells whose centre is in the convex hull of the routes and that touch no route (uint64)."""
        return self._stats.gap_cells.copy()

    def gaps_geojson(self) -> dict:
        """The gaps as a FeatureCollection with one MultiPolygon feature (none if there are no gaps)."""
        cells = self._stats.gap_cells
        features = []
        if len(cells):
            features.append(
                {
                    "type": "Feature",
                    "geometry": cells_to_multipolygon_geojson(cells),
                    "properties": {"hub_id": self.hub_id, "cell_count": int(len(cells))},
                }
            )
        return {"type": "FeatureCollection", "features": features}

    def route_cells(self, route_id: str) -> np.ndarray:
        """The cells that intersect one route (recomputed from its geometry; uint64, sorted)."""
        index = self._route_by_id.get(route_id)
        if index is None:
            return np.empty(0, dtype=np.uint64)
        return compile_coverage(self._geometries[index : index + 1], self.resolution).cells

    def coverage_geojson(self) -> dict:
        """One feature per route (ordered by id): the union of the cells that intersect it."""
        features = []
        for route in sorted(self.routes, key=lambda r: r.id):
            cells = self.route_cells(route.id)
            features.append(
                {
                    "type": "Feature",
                    "geometry": cells_to_multipolygon_geojson(cells),
                    "properties": {"route_id": route.id, "cell_count": int(len(cells))},
                }
            )
        return {"type": "FeatureCollection", "features": features}


@dataclass(frozen=True)
class LookupBatch:
    """Answers for many points as arrays, turned into LookupResults only where needed.

    `hub` indexes `indexes`; `route` is the route's rank within that hub. For NONE rows, `route`
    and `distance_m` describe the nearest route beyond the limit (-1 and inf if there is none).
    """

    indexes: tuple[HubRouteIndex, ...]
    cells: np.ndarray  # uint64
    match: np.ndarray  # int8 RouteMatch values
    hub: np.ndarray  # int32
    route: np.ndarray  # int32
    distance_m: np.ndarray  # float64
    max_nearest_m: float
    asked_hub_id: str | None

    def __len__(self) -> int:
        return len(self.match)

    def result(self, i: int) -> LookupResult:
        hub = int(self.hub[i])
        index = self.indexes[hub] if hub >= 0 else None
        return _make_result(
            index,
            int(self.route[i]),
            RouteMatch(int(self.match[i])),
            float(self.distance_m[i]),
            int(self.cells[i]),
            self.max_nearest_m,
            asked_hub_id=self.asked_hub_id,
            hub_scope=self.asked_hub_id is not None,
        )

    def results(self) -> list[LookupResult]:
        return [self.result(i) for i in range(len(self))]

    def route_ids(self) -> list[str | None]:
        """The matched route id of every point (None for NONE)."""
        ids: list[str | None] = []
        for hub, route, match in zip(self.hub.tolist(), self.route.tolist(), self.match.tolist(), strict=True):
            ids.append(None if match == _NONE else self.indexes[hub].routes[route].id)
        return ids


def _make_result(
    index: HubRouteIndex | None,
    route: int,
    match: RouteMatch,
    distance: float,
    cell: int,
    max_nearest_m: float,
    *,
    asked_hub_id: str | None,
    hub_scope: bool,
) -> LookupResult:
    cell_text = cell_to_str(cell)
    if match is not RouteMatch.NONE:
        assert index is not None  # a match names its hub
        chosen = index.routes[route]
        return LookupResult(
            route_id=chosen.id,
            hub_id=index.hub_id,
            rider_id=chosen.default_rider_id or None,
            match=match,
            distance_m=distance if match is RouteMatch.NEAREST else 0.0,
            h3_cell=cell_text,
            map_version=index.map_version,
        )
    if index is None or route < 0:
        reason = f"hub {asked_hub_id} has no active routes" if hub_scope else "no hub has active routes"
    else:
        where = "" if hub_scope else f" of hub {index.hub_id}"
        reason = f"nearest route {index.routes[route].id}{where} is {distance:.0f} m away (limit {max_nearest_m:.0f} m)"
    return LookupResult(
        route_id=None,
        hub_id=asked_hub_id,
        rider_id=None,
        match=RouteMatch.NONE,
        distance_m=0.0,
        h3_cell=cell_text,
        map_version=index.map_version if hub_scope and index is not None else None,
        reason=reason,
    )


def _cell_order(cells: np.ndarray) -> np.ndarray | None:
    """The permutation that sorts a large batch by cell, or None for a small one.

    In cell order, points close together are processed together: the table search walks memory
    once and the polygon tests and nearest-boundary searches hit the same geometries in a row,
    which is worth several times the cost of the sort.
    """
    return np.argsort(cells) if len(cells) >= _SORTED_SEARCH_MIN else None


def _unsort(values: np.ndarray, order: np.ndarray) -> np.ndarray:
    out = np.empty_like(values)
    out[order] = values
    return out


def _check_point(lat: float, lng: float) -> None:
    check_coordinates("location", lat, lng)


def _check_points(lats: Any, lngs: Any) -> tuple[np.ndarray, np.ndarray]:
    lats = np.ascontiguousarray(lats, dtype=np.float64)
    lngs = np.ascontiguousarray(lngs, dtype=np.float64)
    if lats.ndim != 1 or lats.shape != lngs.shape:
        raise ValueError("lats and lngs must be 1-d arrays of the same length")
    ok = (np.abs(lats) <= 90.0) & (np.abs(lngs) <= 180.0)
    if not ok.all():
        # Vectorized screening; the kernel's rule judges and names the first bad point.
        i = int(np.argmin(ok))
        check_coordinates(f"locations[{i}]", float(lats[i]), float(lngs[i]))
    return lats, lngs


def _build_table(coverage: Coverage, route_count: int) -> CellTable:
    """Collapses (cell, route, edge) pairs into the lookup table (see CellTable)."""
    size = coverage.size
    if size == 0:
        empty = np.empty(0, dtype=np.int32)
        return CellTable(np.empty(0, np.uint64), empty, np.zeros(1, np.int32), empty, empty)
    cells, routes, edge = coverage.cells, coverage.routes, coverage.edge
    starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
    counts = np.diff(np.r_[starts, size])
    cell_of_pair = np.repeat(np.arange(len(starts)), counts)

    no_route = np.int32(route_count)
    best_interior = np.minimum.reduceat(np.where(edge, no_route, routes), starts)
    keep = edge & (routes < best_interior[cell_of_pair])
    kept_per_cell = np.add.reduceat(keep.astype(np.int32), starts)
    codes = best_interior.astype(np.int32)

    group_cells = np.flatnonzero(kept_per_cell)
    if len(group_cells) == 0:
        empty = np.empty(0, dtype=np.int32)
        return CellTable(cells[starts], codes, np.zeros(1, np.int32), empty, empty)
    kept = np.flatnonzero(keep)
    kept_cell = cell_of_pair[kept]
    slot = np.arange(len(kept)) - np.searchsorted(kept_cell, kept_cell)
    row_of_cell = np.full(len(starts), -1, dtype=np.int64)
    row_of_cell[group_cells] = np.arange(len(group_cells))
    width = int(kept_per_cell.max())
    rows = np.full((len(group_cells), width + 1), -1, dtype=np.int32)
    fallback = best_interior[group_cells]
    rows[:, 0] = np.where(fallback < no_route, fallback, -1)
    rows[row_of_cell[kept_cell], slot + 1] = routes[kept]
    groups, group_of_row = np.unique(rows, axis=0, return_inverse=True)
    candidate_matrix = groups[:, 1:]
    present = candidate_matrix >= 0
    group_offsets = np.zeros(len(groups) + 1, dtype=np.int32)
    group_offsets[1:] = np.cumsum(present.sum(axis=1))
    codes[group_cells] = -(group_of_row.reshape(-1).astype(np.int32) + 1)
    return CellTable(
        cells=cells[starts],
        codes=codes,
        group_offsets=group_offsets,
        group_candidates=candidate_matrix[present].astype(np.int32),
        group_fallback=groups[:, 0].astype(np.int32),
    )


def _build_stats(coverage: Coverage, geometries: np.ndarray, table_cells: np.ndarray, resolution: int) -> CoverageStats:
    route_count = len(geometries)
    route_cells = np.bincount(coverage.routes, minlength=route_count).astype(np.int32)
    route_edge_cells = np.bincount(coverage.routes[coverage.edge], minlength=route_count).astype(np.int32)
    if coverage.size:
        starts = np.flatnonzero(np.r_[True, coverage.cells[1:] != coverage.cells[:-1]])
        edge_cell_count = int(np.logical_or.reduceat(coverage.edge, starts).sum())
    else:
        edge_cell_count = 0
    overlap_a, overlap_b, overlap_cells = _overlaps(geometries, resolution)
    return CoverageStats(
        route_cells=route_cells,
        route_edge_cells=route_edge_cells,
        edge_cell_count=edge_cell_count,
        overlap_a=overlap_a,
        overlap_b=overlap_b,
        overlap_cells=overlap_cells,
        gap_cells=_gap_cells(geometries, table_cells, resolution),
    )


def _polygonal(geometry):
    """The areal part of a set-operation result (dropping shared edges and points), or None."""
    if geometry.geom_type in ("Polygon", "MultiPolygon"):
        return None if geometry.is_empty else geometry
    parts = [p for p in shapely.get_parts(geometry) if p.geom_type in ("Polygon", "MultiPolygon") and not p.is_empty]
    return shapely.union_all(parts) if parts else None


def _overlaps(geometries: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of routes whose interiors share area, and the cells that intersect the shared area."""
    empty = np.empty(0, dtype=np.int32)
    if len(geometries) < 2:
        return empty, empty, empty
    left, right = shapely.STRtree(geometries).query(geometries, predicate="intersects")
    pairs = left < right
    left, right = left[pairs], right[pairs]
    if len(left) == 0:
        return empty, empty, empty
    overlapping = shapely.relate_pattern(geometries[left], geometries[right], "T********")
    left, right = left[overlapping], right[overlapping]
    if len(left) == 0:
        return empty, empty, empty
    shared = [_polygonal(g) for g in shapely.intersection(geometries[left], geometries[right])]
    keep = np.array([g is not None for g in shared])
    left, right = left[keep], right[keep]
    shared_geometries = np.array([g for g in shared if g is not None], dtype=object)
    counts = np.bincount(compile_coverage(shared_geometries, resolution).routes, minlength=len(left))
    return left.astype(np.int32), right.astype(np.int32), counts.astype(np.int32)


def _gap_cells(geometries: np.ndarray, table_cells: np.ndarray, resolution: int) -> np.ndarray:
    """Cells with their centre in the convex hull of all routes that intersect no route.

    The table holds every cell that intersects a route, so these are the hull's centre cells
    that are not in it: no polygon union needed.
    """
    if len(geometries) == 0:
        return np.empty(0, dtype=np.uint64)
    hull = shapely.convex_hull(shapely.GeometryCollection(list(geometries)))
    if hull.geom_type != "Polygon":
        return np.empty(0, dtype=np.uint64)
    centre_cells = cells_with_centre_in(hull, resolution)
    return centre_cells[~sorted_member_of(centre_cells, table_cells)]
