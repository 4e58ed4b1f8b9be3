"""routing_svc's routes as its use cases take them (`Route`), built for tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routing_svc.domain.geometry import make_route
from routing_svc.domain.model import Route


def named_route(
    route_id: str, geometry: Mapping[str, Any], *, hub: str, rider: str | None = None, **fields: Any
) -> Route:
    """Route `route_id` of `hub` over `geometry` (GeoJSON), named "route <id>"; `fields` are
    make_route's priority and active."""
    return make_route(
        route_id=route_id,
        hub_id=hub,
        name=f"route {route_id}",
        geometry_geojson=geometry,
        default_rider_id=rider,
        **fields,
    )
