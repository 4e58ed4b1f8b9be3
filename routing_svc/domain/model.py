"""Value objects of the routing domain: routes, lookup answers and map statistics."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from shapely.geometry import MultiPolygon, Polygon

RouteGeometry = Polygon | MultiPolygon

MAX_ROUTE_NAME_CHARS = 200
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1


class RouteMatch(enum.IntEnum):
    """How a point was matched to a route.

    The values are also the codes in LookupBatch.match arrays (they happen to equal the protobuf
    enum numbers, but the entrypoint maps them by name).
    """

    EXACT = 1
    NEAREST = 2
    NONE = 3


@dataclass(frozen=True, slots=True)
class Route:
    """A rider route: the area of a hub one rider covers.

    A point on the boundary counts as inside. Where routes overlap, `rank_key` decides. Ids follow
    the mesh id rule (mesh.kernel), plain ASCII, so "the smaller id" means the same in Python,
    PostgreSQL's "C" collation and any client.
    """

    id: str
    hub_id: str
    name: str
    geometry: RouteGeometry = field(repr=False)
    default_rider_id: str | None = None
    priority: int = 0
    active: bool = True

    @property
    def rank_key(self) -> tuple[int, str]:
        """Sort key of the overlap rule: higher priority first, then the smaller id."""
        return (-self.priority, self.id)


class LookupResult(NamedTuple):
    """The routing decision for one point (what an assignment records); a tuple, because a batch
    builds thousands.

    `route_id`, `rider_id` are None for NONE; `distance_m` is the distance to the route boundary
    for NEAREST and 0 otherwise; `reason` says why for NONE. `hub_id` and `map_version` are the
    matched route's hub and map (for NONE: the hub asked about, or None when every hub was
    searched). For NONE in a batch, `nearest_route_id` / `nearest_distance_m` name the nearest
    route beyond the distance limit, if any (for the manual queue).
    """

    route_id: str | None
    hub_id: str | None
    rider_id: str | None
    match: RouteMatch
    distance_m: float
    h3_cell: str
    map_version: int | None
    reason: str | None = None
    nearest_route_id: str = ""
    nearest_distance_m: float = 0.0


@dataclass(frozen=True, slots=True)
class RouteCellStats:
    """Coverage of one route: cells that intersect it, and how many of those are on its boundary."""

    route_id: str
    cell_count: int
    edge_cell_count: int


@dataclass(frozen=True, slots=True)
class RouteOverlap:
    """Two routes whose areas overlap (their interiors share area), ordered a < b by id."""

    route_id_a: str
    route_id_b: str
    shared_cell_count: int
    winner_route_id: str


@dataclass(frozen=True, slots=True)
class RouteMapStats:
    """What GetRouteMap reports about a compiled hub map (see docs/routing-index.md for definitions)."""

    hub_id: str
    map_version: int
    resolution: int
    route_count: int
    cell_count: int
    edge_cell_count: int
    gap_cell_count: int
    routes: tuple[RouteCellStats, ...]
    overlaps: tuple[RouteOverlap, ...]


@dataclass(frozen=True, slots=True)
class RouteRecord:
    """A stored route: the route's fields as stored, plus what storage adds.

    The geometry stays GeoJSON text (what the API returns) and is parsed only when a map is
    compiled (`geometry.to_routes`).
    """

    id: str
    hub_id: str
    name: str
    geometry_geojson: str
    default_rider_id: str | None
    priority: int
    active: bool
    cell_count: int
    map_version: int
    created_at: datetime
    updated_at: datetime

    def same_content(self, route: Route, geometry_geojson: str) -> bool:
        """True when storing `route` would change nothing the map depends on or shows."""
        return (
            self.name == route.name
            and self.geometry_geojson == geometry_geojson
            and self.default_rider_id == route.default_rider_id
            and self.priority == route.priority
            and self.active == route.active
        )


@dataclass(frozen=True, slots=True)
class HubMapSnapshot:
    """A hub's map version and its active routes, read consistently (nothing committed between)."""

    hub_id: str
    map_version: int
    routes: list[RouteRecord]
