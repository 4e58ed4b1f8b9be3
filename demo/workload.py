"""A simulated day of pickup requests for the demo hub.

Most warehouses sit inside the map, clustered around markets and industrial areas (some of those
fall into the map's gaps: the airport, the army area, a lake); about 5% lie just beyond the map's
edge, up to 2.5 km out (routing_svc assigns the nearest route within its 2 km limit; those more
than pur_svc's review distance away, and the few beyond the limit, wait in the manual queue) and
about 2% are far away in other towns (unroutable). Locations come from a seeded generator; request ids are unique per run so every run
creates new pickups.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import shapely
from shapely.geometry import Point, Polygon, shape

from demo.city import FAR_AWAY_TOWNS, MARKETS, PROJECTION, Market
from firstmile.pur.v1 import pur_pb2
from firstmile_client.requests import create_pickup_request

IST = timezone(timedelta(hours=5, minutes=30), "IST")
EDGE_SHARE = 0.05
FAR_SHARE = 0.02
CLUSTERED_SHARE_INSIDE = 0.7
# Beyond pur_svc's 1 km review distance for some, routing's 2 km limit for a few: the manual
# queue's two kinds of exceptions, close enough to the map that a person would route them by hand.
EDGE_DISTANCE_KM = (0.1, 2.5)

CLIENTS = (
    "spice-route-foods",
    "handloom-house",
    "gadget-garage",
    "book-nook",
    "urban-threads",
    "kirana-express",
    "home-and-hearth",
    "tiny-toes-kids",
)


@dataclass(frozen=True)
class PlannedPickup:
    """One pickup request to create: what a client's system would send."""

    request_id: str
    client_id: str
    warehouse_id: str
    warehouse_name: str
    address: str
    pincode: str
    lat: float
    lng: float
    kind: str
    """Where it was drawn: "market", "spread", "edge" (just outside the map) or "far"."""
    expected_packages: int
    expected_weight_kg: float

    def request(self, hub_id: str, pickup_date: str) -> pur_pb2.CreatePickupRequestRequest:
        return create_pickup_request(
            request_id=self.request_id,
            client_id=self.client_id,
            hub_id=hub_id,
            pickup_date=pickup_date,
            lat=self.lat,
            lng=self.lng,
            packages=self.expected_packages,
            weight_kg=self.expected_weight_kg,
            warehouse_id=self.warehouse_id,
            warehouse_name=self.warehouse_name,
            address=self.address,
            pincode=self.pincode,
        )


def hub_today() -> str:
    """Today in the hub's time zone (Bengaluru), as YYYY-MM-DD."""
    return datetime.now(UTC).astimezone(IST).date().isoformat()


def new_run_id() -> str:
    """A short id unique to this run: a prefix for its request ids."""
    return f"demo-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


def map_outline(collection: dict) -> Polygon:
    """The area the map spans, in km around the hub, with its inner gaps filled in."""
    union = shapely.union_all([shape(feature["geometry"]) for feature in collection["features"]])
    largest = max(getattr(union, "geoms", [union]), key=lambda part: part.area)
    return PROJECTION.to_km_geometry(Polygon(largest.exterior))


def plan_day(collection: dict, count: int, *, seed: int, run_id: str) -> list[PlannedPickup]:
    """`count` pickups in a shuffled order (batch uploads mix markets and clients)."""
    rng = np.random.default_rng(seed)
    outline = map_outline(collection)
    far = int(round(count * FAR_SHARE))
    edge = int(round(count * EDGE_SHARE))
    inside = count - far - edge
    clustered = int(round(inside * CLUSTERED_SHARE_INSIDE))
    points = (
        [_market_point(rng, outline) for _ in range(clustered)]
        + [_spread_point(rng, outline) for _ in range(inside - clustered)]
        + [_edge_point(rng, outline) for _ in range(edge)]
        + [_far_point(rng) for _ in range(far)]
    )
    order = rng.permutation(len(points))
    return [_pickup(rng, run_id, n, *points[i]) for n, i in enumerate(order)]


# ----------------------------------------------------------------------------- locations (km)


def _weighted_market(rng: np.random.Generator) -> Market:
    weights = np.array([market.weight for market in MARKETS], dtype=float)
    return MARKETS[int(rng.choice(len(MARKETS), p=weights / weights.sum()))]


def _market_point(rng: np.random.Generator, outline: Polygon) -> tuple[Point, str, Market]:
    while True:
        market = _weighted_market(rng)
        centre = PROJECTION.point(market)
        point = Point(centre.x + rng.normal(0, market.spread_km), centre.y + rng.normal(0, market.spread_km))
        if outline.contains(point):
            return point, "market", market


def _spread_point(rng: np.random.Generator, outline: Polygon) -> tuple[Point, str, Market]:
    xmin, ymin, xmax, ymax = outline.bounds
    while True:
        point = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        if outline.contains(point):
            return point, "spread", _nearest_market(point)


def _edge_point(rng: np.random.Generator, outline: Polygon) -> tuple[Point, str, Market]:
    """A point pushed outwards (away from the hub) from a random spot on the map's edge."""
    ring = outline.exterior
    while True:
        on_edge = ring.interpolate(rng.uniform(0, ring.length))
        norm = math.hypot(on_edge.x, on_edge.y)
        push = rng.uniform(*EDGE_DISTANCE_KM)
        point = Point(on_edge.x * (1 + push / norm), on_edge.y * (1 + push / norm))
        if not outline.contains(point):
            return point, "edge", _nearest_market(point)


def _far_point(rng: np.random.Generator) -> tuple[Point, str, Market]:
    town = FAR_AWAY_TOWNS[int(rng.integers(len(FAR_AWAY_TOWNS)))]
    centre = PROJECTION.point(town)
    return Point(centre.x + rng.normal(0, 1.0), centre.y + rng.normal(0, 1.0)), "far", town


def _nearest_market(point: Point) -> Market:
    return min(MARKETS, key=lambda market: PROJECTION.point(market).distance(point))


# ------------------------------------------------------------------------------- the pickup


def _pickup(rng: np.random.Generator, run_id: str, n: int, point: Point, kind: str, near: Market) -> PlannedPickup:
    lat, lng = _to_lat_lng(point)
    client = CLIENTS[int(rng.integers(len(CLIENTS)))]
    packages = int(min(5000, max(1, round(rng.lognormal(mean=2.3, sigma=1.0)))))
    return PlannedPickup(
        request_id=f"{run_id}-{n:06d}",
        client_id=client,
        warehouse_id=f"WH-{n:06d}",
        warehouse_name=f"{client} warehouse, {near.name}",
        address=f"{int(rng.integers(1, 400))}, {near.name}" + ("" if kind == "far" else ", Bengaluru"),
        pincode=near.pincode,
        lat=lat,
        lng=lng,
        kind=kind,
        expected_packages=packages,
        expected_weight_kg=round(packages * float(rng.uniform(0.3, 2.5)), 1),
    )


def _to_lat_lng(point: Point) -> tuple[float, float]:
    lng = PROJECTION.lng0 + point.x / PROJECTION.km_per_deg_lng
    lat = PROJECTION.lat0 + point.y / PROJECTION.km_per_deg_lat
    return round(lat, 6), round(lng, 6)


def kinds_of(pickups: Sequence[PlannedPickup]) -> dict[str, int]:
    """How many pickups of each kind were planned."""
    counts: dict[str, int] = {}
    for pickup in pickups:
        counts[pickup.kind] = counts.get(pickup.kind, 0) + 1
    return counts
