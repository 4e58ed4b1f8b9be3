"""The hub's route map in two versions, and the exact routing answer computed independently of
routing_svc (no H3, no index): polygon containment with the overlap rule, else the nearest route
boundary within the limit, measured in the point's own tangent plane on the WGS84 ellipsoid."""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry import shape

from demo.city import load_route_map

HUB = "BLR-FAULTS"
MAX_NEAREST_M = 2000.0  # ROUTING_SVC_MAX_NEAREST_M's default, which the suite does not override
# routing_svc measures with a mid-latitude rule, this module in the point's tangent plane: at a
# few km the two agree to centimetres, so answers closer than this to a tie or to the limit may
# go either way.
DISTANCE_TOLERANCE_M = 0.5

WGS84_A = 6_378_137.0
WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563)

# Version 2 deletes a route (its area becomes a gap: NEAREST), adds a premium route over others
# (higher priority wins) and gives one route another rider.
DELETED_ROUTE = "BLR-KOR-R10"
NEW_PREMIUM_ROUTE = "BLR-KOR-X01"
PREMIUM_CENTRE_ROUTE = "BLR-KOR-R21"
RIDER_CHANGED_ROUTE = "BLR-KOR-R05"


def map_version_1() -> dict:
    return load_route_map()


def map_version_2(v1: dict) -> dict:
    collection = copy.deepcopy(v1)
    collection["features"] = [f for f in collection["features"] if f["properties"]["id"] != DELETED_ROUTE]
    for feature in collection["features"]:
        if feature["properties"]["id"] == RIDER_CHANGED_ROUTE:
            feature["properties"]["default_rider_id"] = "rider-105"
    centre = next(
        shape(f["geometry"]) for f in v1["features"] if f["properties"]["id"] == PREMIUM_CENTRE_ROUTE
    ).centroid
    radius_lat = 700.0 / 110_574.0
    radius_lng = 700.0 / (111_320.0 * math.cos(math.radians(centre.y)))
    ring = [
        [round(centre.x + radius_lng * math.cos(a), 6), round(centre.y + radius_lat * math.sin(a), 6)]
        for a in np.linspace(0, 2 * math.pi, 24, endpoint=False)
    ]
    collection["features"].append(
        {
            "type": "Feature",
            "properties": {
                "id": NEW_PREMIUM_ROUTE,
                "name": "Fault Express",
                "default_rider_id": "rider-x01",
                "priority": 20,
            },
            "geometry": {"type": "Polygon", "coordinates": [ring + [ring[0]]]},
        }
    )
    return collection


@dataclass(frozen=True)
class RouteSpec:
    id: str
    rider_id: str
    priority: int
    geometry: shapely.Geometry


def routes_of(collection: dict) -> list[RouteSpec]:
    specs = []
    for feature in collection["features"]:
        props = feature["properties"]
        if props.get("active", True):
            specs.append(
                RouteSpec(
                    props["id"],
                    props.get("default_rider_id") or "",
                    int(props.get("priority", 0)),
                    shape(feature["geometry"]),
                )
            )
    # The overlap rule: higher priority first, then the smaller id.
    return sorted(specs, key=lambda r: (-r.priority, r.id))


@dataclass(frozen=True)
class Expected:
    """What exact routing says about points: `covering` is the winning route's rank or -1;
    `distance[i, r]` the metres from point i to route r's boundary (only for uncovered points)."""

    routes: list[RouteSpec]
    rank: dict[str, int]
    covering: np.ndarray
    distance: np.ndarray


class ExactRouter:
    def __init__(self, collection: dict) -> None:
        self.routes = routes_of(collection)
        self.rank = {r.id: i for i, r in enumerate(self.routes)}
        self._segments = []
        for route in self.routes:
            rings = shapely.get_parts(shapely.boundary(route.geometry))
            starts, ends = [], []
            for ring in rings:
                coords = shapely.get_coordinates(ring)
                starts.append(coords[:-1])
                ends.append(coords[1:])
            self._segments.append((np.concatenate(starts), np.concatenate(ends)))

    def expected(self, lats: np.ndarray, lngs: np.ndarray) -> Expected:
        covering = np.full(len(lats), -1, dtype=np.int64)
        # Routes in rank order: the first that covers a point (boundary included) is its answer.
        for rank, route in reversed(list(enumerate(self.routes))):
            covering[shapely.intersects_xy(route.geometry, lngs, lats)] = rank
        distance = np.full((len(lats), len(self.routes)), np.inf)
        outside = np.flatnonzero(covering < 0)
        for rank, (start, end) in enumerate(self._segments):
            distance[outside, rank] = _boundary_distance_m(lats[outside], lngs[outside], start, end)
        return Expected(self.routes, self.rank, covering, distance)


def _boundary_distance_m(lats: np.ndarray, lngs: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Metres from each point to the nearest of the segments, in the point's tangent plane."""
    phi = np.radians(lats)[:, None]
    w2 = 1.0 - WGS84_E2 * np.sin(phi) ** 2
    kx = WGS84_A / np.sqrt(w2) * np.cos(phi) * math.pi / 180.0
    ky = WGS84_A * (1.0 - WGS84_E2) / w2**1.5 * math.pi / 180.0
    ax = (start[None, :, 0] - lngs[:, None]) * kx
    ay = (start[None, :, 1] - lats[:, None]) * ky
    dx = (end[None, :, 0] - start[None, :, 0]) * kx
    dy = (end[None, :, 1] - start[None, :, 1]) * ky
    t = np.clip(-(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, 1e-300), 0.0, 1.0)
    return np.hypot(ax + t * dx, ay + t * dy).min(axis=1)


def judge(
    expected: Expected, i: int, routed: bool, route_id: str, match: str | None, distance_m: float, rider_id: str | None
) -> str | None:
    """None when the decision stored for point i is the exact answer, else what is wrong.
    `routed` is False for UNROUTABLE; `rider_id` is checked when given (a dispatched PUR carries
    its dispatch's rider instead)."""
    routes, rank = expected.routes, expected.rank
    got = f"{match} {route_id or '-'} at {distance_m:.3f} m" if routed else "UNROUTABLE"
    best = int(expected.covering[i])
    if best >= 0:
        want = routes[best]
        if not routed or (match, route_id, distance_m) != ("EXACT", want.id, 0.0):
            return f"want EXACT {want.id}, got {got}"
    else:
        distances = expected.distance[i]
        nearest = float(distances.min())
        want = routes[int(distances.argmin())]
        if not routed:
            return (
                None
                if nearest >= MAX_NEAREST_M - DISTANCE_TOLERANCE_M
                else f"want NEAREST {want.id} at {nearest:.3f} m, got {got}"
            )
        wanted = f"NEAREST {want.id} at {nearest:.3f} m" if nearest <= MAX_NEAREST_M else "UNROUTABLE"
        if match != "NEAREST" or route_id not in rank:
            return f"want {wanted}, got {got}"
        mine = float(distances[rank[route_id]])
        if (
            mine > nearest + DISTANCE_TOLERANCE_M
            or mine > MAX_NEAREST_M + DISTANCE_TOLERANCE_M
            or abs(mine - distance_m) > DISTANCE_TOLERANCE_M
        ):
            return f"want {wanted} ({route_id} is {mine:.3f} m away), got {got}"
        want = routes[rank[route_id]]
    if rider_id is not None and rider_id != want.rider_id:
        return f"want rider {want.rider_id or '-'} of {want.id}, got {rider_id or '-'}"
    return None
