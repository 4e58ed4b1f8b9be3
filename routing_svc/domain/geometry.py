"""Route geometry from GeoJSON: parsing and validation, and back.

Everything that reaches the index has been through here, so the index can rely on valid,
non-empty, bounded polygons in [lng, lat] degrees. Every refusal is an InvalidArgument whose
message a person can act on: an InvalidGeometry, or the shared kernel's for ids, text and
coordinates.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon

from mesh.errors import InvalidArgument
from mesh.kernel import check_coordinates, check_id, check_text, quoted
from routing_svc.domain.errors import FeatureProblem, InvalidGeometry
from routing_svc.domain.model import (
    INT32_MAX,
    INT32_MIN,
    MAX_ROUTE_NAME_CHARS,
    Route,
    RouteGeometry,
    RouteRecord,
)

MAX_VERTICES = 100_000
"""A hand-drawn route has tens to hundreds of vertices; an OSM-traced one a few thousand."""
MAX_AREA_KM2 = 10_000.0
"""Larger than any area one rider can cover (a whole metro is ~1,500 km²): beyond it, input is wrong."""
MAX_GEOMETRY_BYTES = 1024 * 1024
MAX_FEATURES = 20_000
MAX_PROBLEMS_KEPT = 100

_GEOMETRY_TYPES = ("Polygon", "MultiPolygon")
_KM_PER_DEGREE = 111.32


def parse_geometry(
    geojson: str | bytes | Mapping[str, Any],
    *,
    max_vertices: int = MAX_VERTICES,
    max_area_km2: float = MAX_AREA_KM2,
) -> RouteGeometry:
    """Parses a GeoJSON Polygon or MultiPolygon (or a Feature wrapping one) into a valid geometry.

    Raises InvalidArgument with the reason when it is not one, or not a usable route area.
    """
    obj = _load(geojson)
    if obj.get("type") == "Feature":
        geometry = obj.get("geometry")
        if not isinstance(geometry, Mapping):
            raise InvalidGeometry("the feature has no geometry")
        obj = geometry
    return _geometry_from_mapping(obj, max_vertices=max_vertices, max_area_km2=max_area_km2)


def geometry_to_geojson(geometry: RouteGeometry) -> str:
    """The geometry as compact GeoJSON text ([lng, lat] positions)."""
    return shapely.to_geojson(geometry)


def validate_route_properties(
    route_id: Any,
    name: Any = "",
    default_rider_id: Any = None,
    priority: Any = 0,
    active: Any = True,
    *,
    field: str = "",
) -> tuple[str, str, str | None, int, bool]:
    """Checks the non-geometric fields of a route and returns them normalized; `field` prefixes
    the names in errors (e.g. "route." or "properties.").

    name None becomes ""; rider "" or None becomes None; active None becomes True.
    """
    route_id = check_id(f"{field}id", route_id)
    name = check_text(f"{field}name", "" if name is None else name, MAX_ROUTE_NAME_CHARS)
    rider = "" if default_rider_id is None else default_rider_id
    default_rider_id = check_id(f"{field}default_rider_id", rider, required=False) or None
    if priority is None:
        priority = 0
    if isinstance(priority, bool) or not isinstance(priority, numbers.Integral):
        raise InvalidGeometry(f"{field}priority must be an integer, not {quoted(priority)}")
    if not INT32_MIN <= int(priority) <= INT32_MAX:
        raise InvalidGeometry(f"{field}priority {quoted(priority)} is out of the 32-bit integer range")
    if active is None:
        active = True
    if not isinstance(active, bool):
        raise InvalidGeometry(f"{field}active must be true or false, not {quoted(active)}")
    return route_id, name, default_rider_id, int(priority), active


def make_route(
    *,
    route_id: Any,
    hub_id: str,
    name: Any,
    geometry_geojson: str | bytes | Mapping[str, Any],
    default_rider_id: Any = None,
    priority: Any = 0,
    active: Any = True,
    field: str = "route.",
) -> Route:
    """A validated Route from the fields of an upsert (the geometry as GeoJSON text or mapping)."""
    route_id, name, default_rider_id, priority, active = validate_route_properties(
        route_id, name, default_rider_id, priority, active, field=field
    )
    hub_id = check_id(f"{field}hub_id", hub_id)
    if not geometry_geojson:
        raise InvalidGeometry(f"{field}geometry_geojson is required")
    if isinstance(geometry_geojson, (str, bytes)):
        size = len(geometry_geojson.encode() if isinstance(geometry_geojson, str) else geometry_geojson)
        if size > MAX_GEOMETRY_BYTES:
            raise InvalidGeometry(f"{field}geometry_geojson is {size} bytes; at most {MAX_GEOMETRY_BYTES} are allowed")
    return Route(
        id=route_id,
        hub_id=hub_id,
        name=name,
        geometry=parse_geometry(geometry_geojson),
        default_rider_id=default_rider_id,
        priority=priority,
        active=active,
    )


def to_routes(records: Sequence[RouteRecord]) -> list[Route]:
    """Routes of stored records, geometries parsed in one vectorized call.

    Stored geometry was validated here when it was written (and is this module's own normalized
    GeoJSON), so it is not validated again; compiling checks validity anyway.
    """
    if not records:
        return []
    geometries = shapely.from_geojson(np.array([r.geometry_geojson for r in records], dtype=object))
    return [
        Route(
            id=r.id,
            hub_id=r.hub_id,
            name=r.name,
            geometry=g,
            default_rider_id=r.default_rider_id,
            priority=r.priority,
            active=r.active,
        )
        for r, g in zip(records, geometries, strict=True)
    ]


def parse_route_collection(
    geojson: str | bytes | Mapping[str, Any],
    hub_id: str,
    *,
    max_features: int = MAX_FEATURES,
    max_vertices: int = MAX_VERTICES,
    max_area_km2: float = MAX_AREA_KM2,
) -> list[Route]:
    """Parses an ImportRoutes FeatureCollection into the hub's routes, all or nothing.

    Each feature's properties carry "id" (required; a string top-level feature "id" is accepted
    too), "name", "default_rider_id", "priority" (integer, default 0) and "active" (boolean,
    default true). Every invalid feature is reported with its index (InvalidGeometry.problems);
    a repeated id is invalid at its second occurrence. A bad `hub_id` is the kernel's InvalidArgument.
    """
    hub_id = check_id("hub_id", hub_id)
    obj = _load(geojson)
    if obj.get("type") != "FeatureCollection":
        raise InvalidGeometry(f"expected a GeoJSON FeatureCollection, got type {quoted(obj.get('type'))}")
    features = obj.get("features")
    if not isinstance(features, list):
        raise InvalidGeometry("the FeatureCollection has no 'features' array")
    if len(features) > max_features:
        raise InvalidGeometry(f"too many features: {len(features)} (at most {max_features})")

    routes: list[Route] = []
    problems: list[FeatureProblem] = []
    problem_count = 0
    first_index_of: dict[str, int] = {}
    for index, feature in enumerate(features):
        try:
            route = _route_from_feature(feature, hub_id, max_vertices, max_area_km2)
            if route.id in first_index_of:
                raise InvalidGeometry(
                    f"duplicate route id {route.id!r} (first used by feature {first_index_of[route.id]})"
                )
            first_index_of[route.id] = index
            routes.append(route)
        except InvalidArgument as exc:
            problem_count += 1
            if len(problems) < MAX_PROBLEMS_KEPT:
                problems.append(FeatureProblem(index, str(exc)))
    if problems:
        raise InvalidGeometry.for_features(problems, problem_count)
    return routes


def _route_from_feature(feature: Any, hub_id: str, max_vertices: int, max_area_km2: float) -> Route:
    if not isinstance(feature, Mapping) or feature.get("type") != "Feature":
        raise InvalidGeometry("not a GeoJSON Feature")
    props = feature.get("properties")
    if props is None:
        props = {}
    if not isinstance(props, Mapping):
        raise InvalidGeometry("properties must be an object")
    route_id, name, rider, priority, active = validate_route_properties(
        props.get("id", feature.get("id")),
        props.get("name", ""),
        props.get("default_rider_id"),
        props.get("priority", 0),
        props.get("active", True),
        field="properties.",
    )
    geometry = feature.get("geometry")
    if not isinstance(geometry, Mapping):
        raise InvalidGeometry(f"route {route_id!r}: the feature has no geometry")
    try:
        shape = _geometry_from_mapping(geometry, max_vertices=max_vertices, max_area_km2=max_area_km2)
    except InvalidArgument as exc:
        raise InvalidGeometry(f"route {route_id!r}: {exc}") from None
    return Route(
        id=route_id,
        hub_id=hub_id,
        name=name,
        geometry=shape,
        default_rider_id=rider,
        priority=priority,
        active=active,
    )


def _load(geojson: str | bytes | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(geojson, (str, bytes, bytearray)):
        try:
            geojson = json.loads(geojson)
        except (ValueError, RecursionError) as exc:
            raise InvalidGeometry(f"not valid JSON: {exc}") from None
    if not isinstance(geojson, Mapping):
        raise InvalidGeometry("GeoJSON must be an object")
    return geojson


def _geometry_from_mapping(obj: Mapping[str, Any], *, max_vertices: int, max_area_km2: float) -> RouteGeometry:
    kind = obj.get("type")
    if kind not in _GEOMETRY_TYPES:
        raise InvalidGeometry(f"geometry type must be Polygon or MultiPolygon, not {quoted(kind)}")
    coordinates = obj.get("coordinates")
    if not isinstance(coordinates, Sequence) or isinstance(coordinates, (str, bytes)):
        raise InvalidGeometry("geometry has no coordinates array")
    raw_polygons = [coordinates] if kind == "Polygon" else list(coordinates)
    if not raw_polygons:
        raise InvalidGeometry("MultiPolygon is empty")

    vertices = 0
    for p, raw in enumerate(raw_polygons):
        where = "polygon" if kind == "Polygon" else f"polygon {p}"
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
            raise InvalidGeometry(f"{where} is not an array of rings")
        if not raw:
            raise InvalidGeometry(f"{where} is empty")
        for ring in raw:
            if isinstance(ring, Sequence) and not isinstance(ring, (str, bytes)):
                vertices += len(ring)
    if vertices > max_vertices:
        raise InvalidGeometry(f"too many vertices: {vertices} (at most {max_vertices})")

    polygons: list[Polygon] = []
    for p, raw in enumerate(raw_polygons):
        prefix = "" if kind == "Polygon" else f"polygon {p} "
        rings = [_ring(ring, f"{prefix}ring {r}") for r, ring in enumerate(raw)]
        polygons.append(Polygon(rings[0], rings[1:]))
    geometry: RouteGeometry = polygons[0] if kind == "Polygon" else MultiPolygon(polygons)

    if not geometry.is_valid:
        reason = _explain(geometry)
        if not reason.startswith("Too few points"):
            raise InvalidGeometry(f"geometry is not valid: {reason}")
    if geometry.is_empty or not geometry.is_valid or geometry.area == 0.0:
        raise InvalidGeometry("geometry is empty (it encloses no area)")
    area = _approx_area_km2(geometry)
    if area > max_area_km2:
        raise InvalidGeometry(f"area of {area:,.0f} km² is too large for a route (at most {max_area_km2:,.0f} km²)")
    return geometry


def _ring(raw: Any, where: str) -> np.ndarray:
    if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
        raise InvalidGeometry(f"{where} is not an array of positions")
    if len(raw) < 4:
        raise InvalidGeometry(f"{where} has {len(raw)} positions; a closed ring needs at least 4")
    ring = np.empty((len(raw), 2), dtype=np.float64)
    for i, position in enumerate(raw):
        if (
            not isinstance(position, Sequence)
            or isinstance(position, (str, bytes))
            or not 2 <= len(position) <= 3
            or not all(_is_number(v) for v in position)
        ):
            raise InvalidGeometry(f"{where} position {i} is not [lng, lat] numbers: {quoted(position)}")
        ring[i, 0] = _as_float(position[0])
        ring[i, 1] = _as_float(position[1])
    # Vectorized screening; the kernel's coordinate rule judges (and names) the first bad position.
    valid = np.isfinite(ring).all(axis=1) & (np.abs(ring[:, 0]) <= 180.0) & (np.abs(ring[:, 1]) <= 90.0)
    if not valid.all():
        i = int(np.argmin(valid))
        check_coordinates(f"{where} position {i}", float(ring[i, 1]), float(ring[i, 0]))
    if not np.array_equal(ring[0], ring[-1]):
        raise InvalidGeometry(f"{where} is not closed: the first and last positions differ")
    return ring


def _as_float(value: numbers.Real) -> float:
    try:
        return float(value)
    except OverflowError:  # an integer beyond any float
        return math.inf


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _explain(geometry: RouteGeometry) -> str:
    """GEOS's reason, e.g. "Self-intersection[77.5 12.9]", as "Self-intersection at [77.5, 12.9]"."""
    reason = shapely.is_valid_reason(geometry)
    head, sep, tail = reason.partition("[")
    if sep and tail.endswith("]"):
        coords = tail[:-1].split()
        return f"{head} at [{', '.join(coords)}] ([lng, lat])"
    return reason


def _approx_area_km2(geometry: RouteGeometry) -> float:
    """Area from the degree-space area scaled at the centroid latitude: within ~1% for a route."""
    lat = geometry.centroid.y
    return geometry.area * _KM_PER_DEGREE**2 * math.cos(math.radians(lat))
