"""RouteIndexSet: every hub's map at once, for pickups that arrive without a hub."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from routing_svc.domain.coverage import cell_of_point, cells_of_points, check_resolution
from routing_svc.domain.geodesy import metres_per_degree
from routing_svc.domain.index import (
    _EXACT,
    _NEAREST,
    _NONE,
    DEFAULT_MAX_NEAREST_M,
    DEFAULT_RESOLUTION,
    HubRouteIndex,
    LookupBatch,
    _cell_order,
    _check_point,
    _check_points,
    _make_result,
    _unsort,
)
from routing_svc.domain.model import LookupResult, RouteMatch
from routing_svc.domain.nearest import TIE_M

_NO_RANK = np.iinfo(np.int64).max


class RouteIndexSet:
    """The indexes of several hubs, answering as if they were one map.

    A point inside routes of several hubs goes to the best route by the same rule as within a hub
    (higher priority, then smaller route id, then smaller hub id). Outside every route, the
    nearest route of any hub within `max_nearest_m` wins (ties within 1 mm by that rule). When
    none is that near, the reason names the nearest route of the hub whose extent is nearest: an
    estimate, good enough to explain an unroutable pickup.

    Immutable: with_hub / without_hub return a new set, so readers never see a half-swapped map.
    """

    def __init__(
        self,
        indexes: Iterable[HubRouteIndex] = (),
        *,
        resolution: int = DEFAULT_RESOLUTION,
        max_nearest_m: float = DEFAULT_MAX_NEAREST_M,
    ) -> None:
        self.resolution = check_resolution(resolution)
        self.max_nearest_m = float(max_nearest_m)
        self.indexes: tuple[HubRouteIndex, ...] = tuple(sorted(indexes, key=lambda i: i.hub_id))
        hub_ids = [i.hub_id for i in self.indexes]
        if len(set(hub_ids)) != len(hub_ids):
            raise ValueError("a RouteIndexSet holds at most one index per hub")
        for index in self.indexes:
            if index.resolution != resolution:
                raise ValueError(f"hub {index.hub_id!r} is compiled at resolution {index.resolution}, not {resolution}")
        self._by_hub = {index.hub_id: index for index in self.indexes}
        keyed = sorted(
            (route.rank_key + (index.hub_id,), h, r)
            for h, index in enumerate(self.indexes)
            for r, route in enumerate(index.routes)
        )
        self._rank = [np.empty(len(index.routes), dtype=np.int64) for index in self.indexes]
        for global_rank, (_, h, r) in enumerate(keyed):
            self._rank[h][r] = global_rank
        self._live = [h for h, index in enumerate(self.indexes) if index.routes]
        bounds = np.array([self.indexes[h].bounds for h in self._live], dtype=np.float64).reshape(-1, 4)
        self._bounds = bounds

    def hub(self, hub_id: str) -> HubRouteIndex | None:
        return self._by_hub.get(hub_id)

    @property
    def hub_ids(self) -> tuple[str, ...]:
        return tuple(self._by_hub)

    def with_hub(self, index: HubRouteIndex) -> RouteIndexSet:
        """A set with this hub's index added or replaced."""
        others = [i for i in self.indexes if i.hub_id != index.hub_id]
        return RouteIndexSet(others + [index], resolution=self.resolution, max_nearest_m=self.max_nearest_m)

    def without_hub(self, hub_id: str) -> RouteIndexSet:
        others = [i for i in self.indexes if i.hub_id != hub_id]
        return RouteIndexSet(others, resolution=self.resolution, max_nearest_m=self.max_nearest_m)

    def lookup(self, lat: float, lng: float) -> LookupResult:
        _check_point(lat, lng)
        cell = cell_of_point(lat, lng, self.resolution)
        best: tuple[int, int, int] | None = None
        for position, h in enumerate(self._live):
            minx, miny, maxx, maxy = self._bounds[position]
            if not (minx <= lng <= maxx and miny <= lat <= maxy):
                continue
            found = self.indexes[h]._exact_one(lat, lng, cell)
            if found >= 0 and (best is None or self._rank[h][found] < best[0]):
                best = (int(self._rank[h][found]), h, found)
        if best is not None:
            return self._result(best[1], best[2], RouteMatch.EXACT, 0.0, cell)
        hub, route, distance, match = self._nearest(
            np.array([lng], dtype=np.float64), np.array([lat], dtype=np.float64)
        )
        return self._result(int(hub[0]), int(route[0]), RouteMatch(int(match[0])), float(distance[0]), cell)

    def lookup_many(self, lats: Any, lngs: Any) -> LookupBatch:
        lats, lngs = _check_points(lats, lngs)
        cells = cells_of_points(lats, lngs, self.resolution)
        order = _cell_order(cells)
        if order is None:
            hub, route, match, distance = self._resolve(lngs, lats, cells)
        else:
            sorted_arrays = self._resolve(lngs[order], lats[order], cells[order])
            hub, route, match, distance = (_unsort(a, order) for a in sorted_arrays)
        return LookupBatch(
            indexes=self.indexes,
            cells=cells,
            match=match,
            hub=hub,
            route=route,
            distance_m=distance,
            max_nearest_m=self.max_nearest_m,
            asked_hub_id=None,
        )

    def _resolve(
        self, lngs: np.ndarray, lats: np.ndarray, cells: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        count = len(lats)
        rank = np.full(count, _NO_RANK, dtype=np.int64)
        hub = np.full(count, -1, dtype=np.int32)
        route = np.full(count, -1, dtype=np.int32)
        for position, h in enumerate(self._live):
            inside = self._in_bounds(position, lngs, lats, margin_m=0.0)
            if len(inside) == 0:
                continue
            found = self.indexes[h]._exact_many(lngs[inside], lats[inside], cells[inside])
            hit = found >= 0
            points, found = inside[hit], found[hit]
            better = self._rank[h][found] < rank[points]
            points, found = points[better], found[better]
            rank[points] = self._rank[h][found]
            hub[points] = h
            route[points] = found
        match = np.where(hub >= 0, _EXACT, _NONE)
        distance = np.zeros(count)
        misses = np.flatnonzero(hub < 0)
        if len(misses):
            m_hub, m_route, m_distance, m_match = self._nearest(lngs[misses], lats[misses])
            hub[misses], route[misses], distance[misses], match[misses] = m_hub, m_route, m_distance, m_match
        return hub, route, match, distance

    def _nearest(self, lngs: np.ndarray, lats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(hub, route, distance, match) for points inside no route of any hub."""
        count = len(lngs)
        best_distance = np.full(count, np.inf)
        rank = np.full(count, _NO_RANK, dtype=np.int64)
        hub = np.full(count, -1, dtype=np.int32)
        route = np.full(count, -1, dtype=np.int32)
        for position, h in enumerate(self._live):
            near = self._in_bounds(position, lngs, lats, margin_m=self.max_nearest_m)
            if len(near) == 0:
                continue
            found, distance = self.indexes[h]._nearest_of(lngs[near], lats[near], self.max_nearest_m)
            within = distance <= self.max_nearest_m
            points, found, distance = near[within], found[within], distance[within]
            found_rank = self._rank[h][found]
            better = (distance < best_distance[points] - TIE_M) | (
                (distance <= best_distance[points] + TIE_M) & (found_rank < rank[points])
            )
            points, found, distance, found_rank = points[better], found[better], distance[better], found_rank[better]
            best_distance[points], rank[points], hub[points], route[points] = distance, found_rank, h, found
        match = np.where(hub >= 0, _NEAREST, _NONE)
        far = np.flatnonzero(hub < 0)
        if len(far) and len(self._live):
            nearest_hub = np.array(self._live)[np.argmin(self._bounds_distance(lngs[far], lats[far]), axis=1)]
            for h in np.unique(nearest_hub):
                points = far[nearest_hub == h]
                found, distance = self.indexes[h]._nearest_of(lngs[points], lats[points], self.max_nearest_m)
                hub[points], route[points], best_distance[points] = h, found, distance
        return hub, route, np.where(np.isfinite(best_distance), best_distance, np.inf), match

    def _in_bounds(self, position: int, lngs: np.ndarray, lats: np.ndarray, margin_m: float) -> np.ndarray:
        minx, miny, maxx, maxy = self._bounds[position]
        if margin_m > 0.0:
            kx, _ = metres_per_degree(min(max(abs(miny), abs(maxy)) + 1.0, 89.0))
            dlng = margin_m / float(kx) * 1.01
            dlat = margin_m / 110_000.0
            minx, maxx, miny, maxy = minx - dlng, maxx + dlng, miny - dlat, maxy + dlat
        return np.flatnonzero((lngs >= minx) & (lngs <= maxx) & (lats >= miny) & (lats <= maxy))

    def _bounds_distance(self, lngs: np.ndarray, lats: np.ndarray) -> np.ndarray:
        """Approximate metres from each point to each live hub's bounding box, shape (points, hubs)."""
        b = self._bounds
        dx = np.maximum(np.maximum(b[None, :, 0] - lngs[:, None], lngs[:, None] - b[None, :, 2]), 0.0)
        dy = np.maximum(np.maximum(b[None, :, 1] - lats[:, None], lats[:, None] - b[None, :, 3]), 0.0)
        kx, ky = metres_per_degree(lats)
        return np.hypot(dx * kx[:, None], dy * ky[:, None])

    def _result(self, hub: int, route: int, match: RouteMatch, distance: float, cell: int) -> LookupResult:
        return _make_result(
            self.indexes[hub] if hub >= 0 else None,
            route,
            match,
            distance,
            cell,
            self.max_nearest_m,
            asked_hub_id=None,
            hub_scope=False,
        )
