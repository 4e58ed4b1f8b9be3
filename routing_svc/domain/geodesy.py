"""Distances on the WGS84 ellipsoid at the scale of a city, vectorized.

Distances here are from a point to a route boundary, at most a few kilometres when they decide
anything. At that scale the ellipsoid is a plane to within parts per million: degree differences
are scaled by the prime-vertical and meridional radii of curvature at the mid-latitude of the two
points (the point and the nearest point of the segment) and the distance is Euclidean there.
Against the true WGS84 geodesic the error is of order (d/R)², below 0.001% up to tens of
kilometres away from the poles. See docs/routing-index.md.
"""

from __future__ import annotations

import numpy as np

WGS84_A = 6_378_137.0
WGS84_F = 1 / 298.257223563
WGS84_E2 = WGS84_F * (2 - WGS84_F)
_DEG = np.pi / 180.0
_TINY = 1e-300


def metres_per_degree(lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of longitude and of latitude at a latitude (WGS84 radii of curvature)."""
    phi = np.radians(lat)
    sin2 = np.sin(phi) ** 2
    w = np.sqrt(1.0 - WGS84_E2 * sin2)
    prime_vertical = WGS84_A / w
    meridional = WGS84_A * (1.0 - WGS84_E2) / (w * w * w)
    return prime_vertical * np.cos(phi) * _DEG, meridional * _DEG


def point_segment_distance_m(
    lng: np.ndarray,
    lat: np.ndarray,
    lng1: np.ndarray,
    lat1: np.ndarray,
    lng2: np.ndarray,
    lat2: np.ndarray,
) -> np.ndarray:
    """Distance in metres from each point to the segment beside it.

    Two passes: the nearest point of the segment is found in the point's tangent plane, then
    the plane is re-centred at the mid-latitude of the point and that nearest point (the
    "mid-latitude" flat-earth rule, accurate to second order).
    """
    _, nearest_lat = _nearest_on_segment(lng, lat, lng1, lat1, lng2, lat2, lat)
    distance, _ = _nearest_on_segment(lng, lat, lng1, lat1, lng2, lat2, (lat + nearest_lat) / 2.0)
    return distance


def _nearest_on_segment(lng, lat, lng1, lat1, lng2, lat2, scale_lat):
    kx, ky = metres_per_degree(scale_lat)
    ax = (lng1 - lng) * kx
    ay = (lat1 - lat) * ky
    dx = (lng2 - lng1) * kx
    dy = (lat2 - lat1) * ky
    # A zero-length segment has a zero numerator: t = 0 (its start) without a division warning.
    t = -(ax * dx + ay * dy) / np.maximum(dx * dx + dy * dy, _TINY)
    t = np.minimum(np.maximum(t, 0.0), 1.0)
    return np.hypot(ax + t * dx, ay + t * dy), lat1 + t * (lat2 - lat1)


class LocalFrame:
    """An equirectangular frame in metres around a hub's centre, for spatial search only.

    A distance measured by point_segment_distance_m uses the scale factors of a latitude
    between the point's and the hub's extremes, not the centre's; `min_scale` bounds the ratio
    of the two per point, so a search radius r / min_scale in this frame never misses what lies
    within r.
    """

    def __init__(self, lng0: float, lat0: float, lat_min: float, lat_max: float) -> None:
        self.lng0 = float(lng0)
        self.lat0 = float(lat0)
        self.lat_min = float(lat_min)
        self.lat_max = float(lat_max)
        kx, ky = metres_per_degree(self.lat0)
        self.kx = float(kx)
        self.ky = float(ky)

    def project(self, lng: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return (np.asarray(lng) - self.lng0) * self.kx, (np.asarray(lat) - self.lat0) * self.ky

    def project_coords(self, coords: np.ndarray) -> np.ndarray:
        out = np.empty_like(coords)
        out[:, 0], out[:, 1] = self.project(coords[:, 0], coords[:, 1])
        return out

    def min_scale(self, lat: np.ndarray) -> np.ndarray:
        """Lower bound, per point, of (measured distance to any hub segment) / (frame distance).

        Both scale factors are monotonic in |latitude|, so over the latitudes between the
        point and any segment of the hub the extremes are at the point, lat_min or lat_max.
        """
        ratios = []
        for at in (lat, self.lat_min, self.lat_max):
            kx, ky = metres_per_degree(at)
            ratios.append(np.minimum(kx / self.kx, ky / self.ky))
        return np.minimum(np.minimum(ratios[0], ratios[1]), ratios[2])
