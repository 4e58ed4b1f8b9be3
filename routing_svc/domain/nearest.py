"""The nearest route boundary to points that lie outside every route."""

from __future__ import annotations

from typing import cast

import numpy as np
import shapely

from routing_svc.domain.geodesy import LocalFrame, point_segment_distance_m

TIE_M = 1e-3
"""Boundaries closer than this to the same point are equally near: the better-ranked route wins."""


class NearestBoundary:
    """Boundary segments of a hub's routes, searchable by distance.

    Candidate segments are found in an R-tree in the hub's metric frame; the distance that decides
    is then computed for each candidate with the mid-latitude rule (see geodesy). The frame's
    distortion is bounded per point (LocalFrame.min_scale), so the search radius is widened by it
    and never misses the true nearest segment.

    Route indexes are ranks (0 = highest priority, then smallest id): ties go to the smaller one.
    """

    def __init__(self, geometries: np.ndarray, frame: LocalFrame) -> None:
        self.frame = frame
        geometries = np.asarray(geometries, dtype=object)
        rings, ring_route = shapely.get_parts(shapely.boundary(geometries), return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        same_ring = coord_ring[:-1] == coord_ring[1:]
        self.start = coords[:-1][same_ring]
        self.end = coords[1:][same_ring]
        self.route = ring_route[coord_ring[:-1][same_ring]].astype(np.int32)
        segments = np.stack([frame.project_coords(self.start), frame.project_coords(self.end)], axis=1)
        self.tree = shapely.STRtree(cast(np.ndarray, shapely.linestrings(segments)))

    def __len__(self) -> int:
        return len(self.route)

    def nearest(self, lngs: np.ndarray, lats: np.ndarray, limit_m: float) -> tuple[np.ndarray, np.ndarray]:
        """(route, distance in metres) of the nearest boundary for each point; (-1, inf) if none.

        Exact (by geodesy's measure) whenever the nearest boundary may be within `limit_m`;
        beyond the limit the route is the nearest in the hub frame and its distance is exact.
        """
        count = len(lngs)
        route = np.full(count, -1, dtype=np.int32)
        distance = np.full(count, np.inf)
        if count == 0 or len(self) == 0:
            return route, distance
        x, y = self.frame.project(lngs, lats)
        points = cast(np.ndarray, shapely.points(x, y))
        (point_index, segment_index), frame_distance = self.tree.query_nearest(
            points, return_distance=True, all_matches=False
        )
        segment = np.empty(count, dtype=np.int64)
        segment[point_index] = segment_index
        lower_bound_frame = np.empty(count)
        lower_bound_frame[point_index] = frame_distance

        distance[:] = self._distance(lngs, lats, segment)
        route[:] = self.route[segment]

        scale = self.frame.min_scale(lats)
        maybe_within = np.flatnonzero(lower_bound_frame * scale <= limit_m + TIE_M)
        if len(maybe_within) == 0:
            return route, distance
        radius = (distance[maybe_within] + TIE_M) / scale[maybe_within] * (1 + 1e-9)
        which, candidates = self.tree.query(points[maybe_within], predicate="dwithin", distance=radius)
        point = maybe_within[which]
        candidate_distance = self._distance(lngs[point], lats[point], candidates)
        candidate_route = self.route[candidates]

        best = np.full(count, np.inf)
        np.minimum.at(best, point, candidate_distance)
        tied = candidate_distance <= best[point] + TIE_M
        order = np.lexsort((candidate_distance[tied], candidate_route[tied], point[tied]))
        tied_point = point[tied][order]
        first = np.r_[True, tied_point[1:] != tied_point[:-1]]
        winners = tied_point[first]
        route[winners] = candidate_route[tied][order][first]
        distance[winners] = candidate_distance[tied][order][first]
        return route, distance

    def _distance(self, lngs: np.ndarray, lats: np.ndarray, segment: np.ndarray) -> np.ndarray:
        start, end = self.start[segment], self.end[segment]
        return point_segment_distance_m(lngs, lats, start[:, 0], start[:, 1], end[:, 0], end[:, 1])
