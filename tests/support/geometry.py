"""Route shapes for tests."""

from __future__ import annotations

import json
from typing import Any

# A patch of the South Atlantic: no real hub map is anywhere near, whatever else shares the database.
OCEAN_LNG, OCEAN_LAT = -30.0, -40.0


def square(lng: float = OCEAN_LNG, lat: float = OCEAN_LAT, size: float = 0.01) -> dict[str, Any]:
    """A GeoJSON Polygon: the square of `size` degrees whose south-west corner is (lng, lat)."""
    ring = [[lng, lat], [lng + size, lat], [lng + size, lat + size], [lng, lat + size], [lng, lat]]
    return {"type": "Polygon", "coordinates": [ring]}


def square_geojson(lng: float = OCEAN_LNG, lat: float = OCEAN_LAT, size: float = 0.01) -> str:
    """`square` as GeoJSON text (what a Route's geometry_geojson holds)."""
    return json.dumps(square(lng, lat, size))
