"""Value objects of the routing domain: routes, lookup answers and map statistics."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Union

from shapely.geometry import MultiPolygon, Polygon

RouteGeometry = Union[Polygon, MultiPolygon]

ROUTE_ID_PATTERN = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
"""Route ids are plain ASCII so that "lexicographically smaller" means the same everywhere
(Python, PostgreSQL's "C" collation, any client)."""

RIDER_ID_PATTERN = ROUTE_ID_PATTERN
"""Rider ids are ids of the mesh (common.proto): the same alphabet and length."""

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

    A point on the boundary counts as inside. Where routes overlap, `rank_key` decides.
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


@dataclass(frozen=True, slots=True)
class LookupResult:
    """The routing decision for one point (what an assignment records).

    `route_id`, `rider_id` are None for NONE; `distance_m` is the distance to the route boundary
    for NEAREST and 0 otherwise; `reason` says why for NONE. `hub_id` and `map_version` are the
    matched route's hub and map (for NONE: the hub asked about, or None when every hub was
    searched).
    """

    route_id: str | None
    hub_id: str | None
    rider_id: str | None
    match: RouteMatch
    distance_m: float
    h3_cell: str
    map_version: int | None
    reason: str | None = None


Assignment = LookupResult


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
