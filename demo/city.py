"""The demo hub's route map: a city-scale GeoJSON FeatureCollection, generated deterministically.

    python -m demo.city > demo/data/demo_hub.geojson

The map covers about 15 x 15 km of south-east Bengaluru around the Koramangala hub. It is built
like a TL would draw it, only by a fixed-seed random process:

* the city outline is a smooth irregular blob around the hub;
* rider areas are a Voronoi tessellation of seed points (denser near the hub, where pickups are
  denser), clipped to the outline, then bent by a smooth warp so that edges wander like streets
  do, and simplified as a coverage (neighbours keep sharing their edges exactly);
* the map has gaps on purpose: HAL airport and the Agram army area are not served, and two
  routes have holes (Agara Lake, Lalbagh);
* one route is a MultiPolygon (an area plus a detached pocket of a neighbourhood);
* two premium express routes (priority 10) overlap the ordinary ones and win the shared area.

Routes are named after the real locality nearest to them. Coordinates are [lng, lat], rounded to
6 decimals (about 0.1 m). Nothing here talks to the mesh.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry import LineString, MultiPoint, MultiPolygon, Point, Polygon
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

HUB_ID = "BLR-KORAMANGALA"
ROUTE_ID_PREFIX = "BLR-KOR"
MAP_PATH = Path(__file__).resolve().parent / "data" / "demo_hub.geojson"
SEED = 2024_06_01
COORDINATE_DECIMALS = 6
PREMIUM_PRIORITY = 10

SEED_POINT_COUNT = 50
OUTLINE_RADIUS_KM = 7.3
SEGMENT_KM = 0.12
SIMPLIFY_TOLERANCE_KM = 0.045
SNAP_KM = 1e-6
MIN_AREA_KM2 = 0.4
"""A sliver the airport leaves of a cell is too small for a route: it stays unserved."""


@dataclass(frozen=True)
class Place:
    """A named point in degrees."""

    name: str
    lat: float
    lng: float


@dataclass(frozen=True)
class Market(Place):
    """A cluster of client warehouses; `weight` is its share of the day's pickups."""

    pincode: str = "560034"
    weight: float = 1.0
    spread_km: float = 0.6


HUB = Place("Koramangala hub", 12.9352, 77.6245)

LOCALITIES: tuple[Place, ...] = (
    Place("Koramangala 1st Block", 12.9279, 77.6271),
    Place("Koramangala 3rd Block", 12.9265, 77.6190),
    Place("Koramangala 4th Block", 12.9336, 77.6296),
    Place("Koramangala 5th Block", 12.9342, 77.6186),
    Place("Koramangala 6th Block", 12.9390, 77.6238),
    Place("Koramangala 8th Block", 12.9410, 77.6130),
    Place("Koramangala 2nd Block", 12.9240, 77.6240),
    Place("HSR Layout Sector 1", 12.9170, 77.6520),
    Place("HSR Layout Sector 2", 12.9110, 77.6460),
    Place("HSR Layout Sector 3", 12.9110, 77.6380),
    Place("HSR Layout Sector 6", 12.9070, 77.6330),
    Place("BTM Layout 1st Stage", 12.9166, 77.6101),
    Place("BTM Layout 2nd Stage", 12.9120, 77.6010),
    Place("Madiwala", 12.9225, 77.6174),
    Place("Silk Board", 12.9170, 77.6230),
    Place("Jakkasandra", 12.9250, 77.6350),
    Place("Ejipura", 12.9440, 77.6300),
    Place("Viveknagar", 12.9515, 77.6215),
    Place("Neelasandra", 12.9530, 77.6160),
    Place("Austin Town", 12.9590, 77.6130),
    Place("Langford Town", 12.9570, 77.6070),
    Place("Lakkasandra", 12.9460, 77.6000),
    Place("Adugodi", 12.9420, 77.6100),
    Place("Domlur", 12.9610, 77.6387),
    Place("Indiranagar 100ft Rd", 12.9719, 77.6412),
    Place("Indiranagar 1st Stage", 12.9784, 77.6408),
    Place("HAL 2nd Stage", 12.9650, 77.6490),
    Place("Jeevan Bima Nagar", 12.9668, 77.6587),
    Place("Murugeshpalya", 12.9568, 77.6558),
    Place("Challaghatta", 12.9530, 77.6470),
    Place("Vimanapura", 12.9600, 77.6800),
    Place("Ulsoor", 12.9817, 77.6220),
    Place("Ashok Nagar", 12.9680, 77.6100),
    Place("MG Road", 12.9756, 77.6060),
    Place("Richmond Town", 12.9630, 77.6020),
    Place("Shanthinagar", 12.9560, 77.5990),
    Place("Wilson Garden", 12.9480, 77.5980),
    Place("Sudhama Nagar", 12.9560, 77.5890),
    Place("Sampangi Rama Nagar", 12.9700, 77.5930),
    Place("Chickpet", 12.9700, 77.5780),
    Place("KR Market", 12.9650, 77.5770),
    Place("Chamrajpet", 12.9600, 77.5650),
    Place("Basavanagudi", 12.9420, 77.5740),
    Place("Hanumanthanagar", 12.9420, 77.5620),
    Place("Banashankari 2nd Stage", 12.9280, 77.5650),
    Place("Jayanagar 4th Block", 12.9250, 77.5838),
    Place("Jayanagar 9th Block", 12.9220, 77.5950),
    Place("JP Nagar 1st Phase", 12.9130, 77.5920),
    Place("JP Nagar 3rd Phase", 12.9050, 77.5840),
    Place("JP Nagar 6th Phase", 12.8990, 77.5870),
    Place("Bilekahalli", 12.8950, 77.6070),
    Place("Arekere", 12.8860, 77.5990),
    Place("Hulimavu", 12.8780, 77.6040),
    Place("Akshayanagar", 12.8720, 77.6160),
    Place("Bommanahalli", 12.9060, 77.6230),
    Place("Garvebhavipalya", 12.9000, 77.6160),
    Place("Hongasandra", 12.8960, 77.6290),
    Place("Begur", 12.8800, 77.6280),
    Place("Kudlu Gate", 12.8920, 77.6400),
    Place("Singasandra", 12.8810, 77.6420),
    Place("Kudlu", 12.8850, 77.6530),
    Place("Parappana Agrahara", 12.8750, 77.6590),
    Place("Haralur", 12.9040, 77.6600),
    Place("Agara", 12.9230, 77.6480),
    Place("Iblur", 12.9200, 77.6620),
    Place("Bellandur", 12.9300, 77.6780),
    Place("Kaikondrahalli", 12.9120, 77.6760),
    Place("Doddakannelli", 12.9130, 77.6880),
    Place("Kadubeesanahalli", 12.9390, 77.6950),
    Place("CV Raman Nagar", 12.9860, 77.6630),
    Place("Kaggadasapura", 12.9840, 77.6800),
    Place("Byappanahalli", 12.9910, 77.6490),
    Place("Cox Town", 12.9940, 77.6220),
    Place("Frazer Town", 12.9980, 77.6150),
    Place("Shivajinagar", 12.9860, 77.6050),
    Place("Vasanth Nagar", 12.9890, 77.5950),
)

MARKETS: tuple[Market, ...] = (
    Market("Koramangala 80ft Rd", 12.9350, 77.6290, "560034", weight=3),
    Market("HSR 27th Main", 12.9120, 77.6460, "560102", weight=3),
    Market("Bommanahalli industrial area", 12.9030, 77.6240, "560068", weight=3, spread_km=0.8),
    Market("Indiranagar 100ft Rd", 12.9719, 77.6412, "560038", weight=3),
    Market("BTM 2nd Stage", 12.9130, 77.6080, "560076", weight=2),
    Market("Jayanagar 4th Block complex", 12.9260, 77.5830, "560011", weight=2),
    Market("Hosur Rd, Garvebhavipalya", 12.8990, 77.6190, "560068", weight=2),
    Market("Russell Market, Shivajinagar", 12.9850, 77.6040, "560051", weight=2),
    Market("KR Market", 12.9650, 77.5770, "560002", weight=2),
    Market("Outer Ring Rd, Bellandur", 12.9280, 77.6760, "560103", weight=2, spread_km=0.9),
    Market("Ejipura", 12.9440, 77.6300, "560047", weight=1),
    Market("Domlur", 12.9610, 77.6387, "560071", weight=1),
    Market("Bannerghatta Rd, Arekere", 12.8880, 77.6000, "560076", weight=1),
    Market("Kudlu Gate", 12.8920, 77.6400, "560068", weight=1),
)

FAR_AWAY_TOWNS: tuple[Market, ...] = (
    Market("Hosur", 12.7409, 77.8253, "635109"),
    Market("Tumakuru", 13.3409, 77.1010, "572101"),
    Market("Hoskote", 13.0707, 77.7982, "562114"),
    Market("Ramanagara", 12.7217, 77.2812, "562159"),
    Market("Devanahalli", 13.2473, 77.7117, "562110"),
)
"""Clients outside this hub's reach (tens of km away): their pickups are unroutable here."""

AIRPORT = Place("HAL airport", 12.9500, 77.6680)
ARMY_AREA = Place("Agram army area", 12.9560, 77.6240)
HOLES: tuple[tuple[Place, float], ...] = (
    (Place("Agara Lake", 12.9230, 77.6410), 0.38),
    (Place("Lalbagh", 12.9507, 77.5848), 0.55),
)
POCKET_OF = Place("Domlur", 12.9610, 77.6387)
PREMIUM_ZONE = Place("Koramangala 80ft Rd", 12.9335, 77.6300)


@dataclass(frozen=True)
class LocalProjection:
    """An equirectangular projection in km around a point: exact enough for a 15 km city."""

    lat0: float
    lng0: float

    @property
    def km_per_deg_lat(self) -> float:
        return 110.574

    @property
    def km_per_deg_lng(self) -> float:
        return 111.320 * math.cos(math.radians(self.lat0))

    def to_km(self, lat: float, lng: float) -> tuple[float, float]:
        return ((lng - self.lng0) * self.km_per_deg_lng, (lat - self.lat0) * self.km_per_deg_lat)

    def point(self, place: Place) -> Point:
        return Point(self.to_km(place.lat, place.lng))

    def to_degrees(self, geometry: BaseGeometry) -> BaseGeometry:
        """The geometry in [lng, lat] degrees, rounded to COORDINATE_DECIMALS."""

        def convert(xy: np.ndarray) -> np.ndarray:
            lng = self.lng0 + xy[:, 0] / self.km_per_deg_lng
            lat = self.lat0 + xy[:, 1] / self.km_per_deg_lat
            return np.round(np.column_stack([lng, lat]), COORDINATE_DECIMALS)

        return shapely.transform(geometry, convert)

    def to_km_geometry(self, geometry: BaseGeometry) -> BaseGeometry:
        def convert(lnglat: np.ndarray) -> np.ndarray:
            x = (lnglat[:, 0] - self.lng0) * self.km_per_deg_lng
            y = (lnglat[:, 1] - self.lat0) * self.km_per_deg_lat
            return np.column_stack([x, y])

        return shapely.transform(geometry, convert)


PROJECTION = LocalProjection(HUB.lat, HUB.lng)


@dataclass
class Area:
    """One rider area while the map is being built (km coordinates until the end)."""

    geometry: BaseGeometry
    name: str = ""
    note: str = ""
    priority: int = 0


# ------------------------------------------------------------------------------------ outline


def city_outline(rng: np.random.Generator) -> Polygon:
    """A smooth irregular blob around the hub: a radius modulated by a few low harmonics."""
    angles = np.linspace(0.0, 2 * math.pi, 180, endpoint=False)
    radius = np.full_like(angles, OUTLINE_RADIUS_KM)
    for harmonic, amplitude in ((2, 0.09), (3, 0.07), (5, 0.04), (7, 0.02)):
        phase = rng.uniform(0, 2 * math.pi)
        radius *= 1 + amplitude * np.sin(harmonic * angles + phase)
    return Polygon(np.column_stack([radius * np.cos(angles), radius * np.sin(angles)]))


def seed_points(rng: np.random.Generator, outline: Polygon, count: int) -> list[Point]:
    """Poisson-disc seeds inside the outline, closer together near the hub; the first is the hub."""
    seeds = [Point(0.0, 0.0)]
    xmin, ymin, xmax, ymax = outline.bounds
    for _ in range(50_000):
        if len(seeds) == count:
            break
        candidate = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
        if not outline.contains(candidate):
            continue
        spacing = 0.95 + 0.09 * candidate.distance(seeds[0])
        if all(candidate.distance(s) >= spacing for s in seeds):
            seeds.append(candidate)
    if len(seeds) != count:
        raise RuntimeError(f"placed only {len(seeds)} of {count} seed points")
    return seeds


def voronoi_cells(seeds: Sequence[Point], outline: Polygon) -> list[BaseGeometry]:
    """The Voronoi cell of each seed (in seed order), clipped to the outline."""
    cells = shapely.voronoi_polygons(MultiPoint(seeds), extend_to=outline, ordered=True)
    return [cell.intersection(outline) for cell in cells.geoms]


# --------------------------------------------------------------------------------------- warp


def street_warp(rng: np.random.Generator) -> Callable[[np.ndarray], np.ndarray]:
    """A smooth displacement of the plane (a few hundred metres at most, Jacobian near 1, so it
    maps a tessellation to a tessellation) that makes straight Voronoi edges wander."""
    waves = [
        (amplitude, wavelength, rng.uniform(0, 2 * math.pi, size=4))
        for amplitude, wavelength in ((0.15, 3.6), (0.06, 1.7))
    ]

    def warp(xy: np.ndarray) -> np.ndarray:
        x, y = xy[:, 0], xy[:, 1]
        dx = np.zeros_like(x)
        dy = np.zeros_like(y)
        for amplitude, wavelength, phase in waves:
            k = 2 * math.pi / wavelength
            dx += amplitude * (np.sin(k * y + phase[0]) + 0.5 * np.sin(k * (x + y) / 1.4 + phase[1]))
            dy += amplitude * (np.sin(k * x + phase[2]) + 0.5 * np.sin(k * (x - y) / 1.4 + phase[3]))
        return np.column_stack([x + dx, y + dy])

    return warp


def snap(geometry: BaseGeometry) -> BaseGeometry:
    """Rounds km coordinates to a millimetre so that shared edges computed twice become identical."""
    return shapely.set_precision(geometry, SNAP_KM)


# ----------------------------------------------------------------------------- special areas


def blob(rng: np.random.Generator, centre: Point, radius_km: float, *, roughness: float = 0.12) -> Polygon:
    """An irregular round shape (a lake, a park, a premium zone)."""
    angles = np.linspace(0.0, 2 * math.pi, 36, endpoint=False)
    radius = radius_km * (1 + roughness * np.sin(2 * angles + rng.uniform(0, 6.3)))
    radius *= 1 + roughness / 2 * np.sin(3 * angles + rng.uniform(0, 6.3))
    return Polygon(np.column_stack([centre.x + radius * np.cos(angles), centre.y + radius * np.sin(angles)]))


def airport_area() -> Polygon:
    """HAL airport's runway strip and apron: a 3.2 x 0.9 km rectangle, slightly rotated."""
    rectangle = shapely.box(-1.6, -0.45, 1.6, 0.45)
    rotated = affinity.rotate(rectangle, 12, origin=(0, 0))
    centre = PROJECTION.point(AIRPORT)
    return affinity.translate(rotated, centre.x, centre.y)


def index_of_area_at(areas: Sequence[Area], point: Point) -> int:
    distances = [area.geometry.distance(point) for area in areas]
    return int(np.argmin(distances))


def punch_hole(rng: np.random.Generator, area: Area, place: Place, radius_km: float) -> None:
    """Cuts a lake or park out of the inside of an area (a hole, never touching its edge)."""
    polygon = area.geometry
    centre = PROJECTION.point(place)
    room = polygon.exterior.distance(centre) if polygon.contains(centre) else 0.0
    if room < radius_km * 1.5:
        centre = polylabel(polygon, tolerance=0.01)
        room = polygon.exterior.distance(centre)
    radius_km = min(radius_km, room / 1.6)
    hole = blob(rng, centre, radius_km)
    area.geometry = Polygon(polygon.exterior.coords, [*(r.coords for r in polygon.interiors), hole.exterior.coords])
    area.note = f"hole: {place.name}"


def premium_routes(rng: np.random.Generator) -> list[Area]:
    """Two express routes for premium clients, drawn over the ordinary ones (priority wins)."""
    koramangala = blob(rng, PROJECTION.point(PREMIUM_ZONE), 0.85, roughness=0.08)
    road = LineString(
        [PROJECTION.to_km(12.9795, 77.6405), PROJECTION.to_km(12.9700, 77.6410), PROJECTION.to_km(12.9600, 77.6385)]
    )
    indiranagar = road.buffer(0.35, quad_segs=4)
    return [
        Area(koramangala, "Koramangala Premium Express", "premium: overlaps ordinary routes", PREMIUM_PRIORITY),
        Area(indiranagar, "Indiranagar 100ft Rd Premium", "premium: overlaps ordinary routes", PREMIUM_PRIORITY),
    ]


# ------------------------------------------------------------------------------------ names


def assign_names(areas: Sequence[Area]) -> None:
    """Names each area after a distinct nearby locality (closest pairs first)."""
    points = [PROJECTION.point(place) for place in LOCALITIES]
    pairs = sorted(
        (area.geometry.distance(point) + 0.3 * area.geometry.centroid.distance(point), a, p)
        for a, area in enumerate(areas)
        for p, point in enumerate(points)
    )
    named: set[int] = set()
    used: set[int] = set()
    for _, a, p in pairs:
        if a in named or p in used:
            continue
        areas[a].name = LOCALITIES[p].name
        named.add(a)
        used.add(p)
    if len(named) != len(areas):
        raise RuntimeError("not enough locality names for the areas")


def distance_from_hub_order(areas: Sequence[Area]) -> list[Area]:
    """Areas ordered by how far their centre is from the hub (R01 is the hub's own area)."""
    return sorted(areas, key=lambda area: (round(area.geometry.centroid.distance(Point(0, 0)), 6), area.name))


# -------------------------------------------------------------------------------- the map


def ordinary_areas(rng: np.random.Generator) -> list[Area]:
    """The tessellated rider areas with their gaps, holes and one two-part area (km)."""
    outline = city_outline(rng)
    cells = voronoi_cells(seed_points(rng, outline, SEED_POINT_COUNT), outline)
    warp = street_warp(rng)
    airport = airport_area()
    areas = []
    for cell in cells:
        bent = shapely.transform(shapely.segmentize(cell, SEGMENT_KM), warp)
        carved = snap(bent.difference(airport))
        if not carved.is_empty:
            areas.extend(Area(part) for part in getattr(carved, "geoms", [carved]) if part.area > MIN_AREA_KM2)

    del areas[index_of_area_at(areas, PROJECTION.point(ARMY_AREA))]
    for place, radius in HOLES:
        punch_hole(rng, areas[index_of_area_at(areas, PROJECTION.point(place))], place, radius)
    for area in areas:
        area.geometry = snap(area.geometry)

    if not shapely.coverage_is_valid([a.geometry for a in areas]):
        raise RuntimeError("the tessellation is not a valid coverage (overlapping cells)")
    simplified = shapely.coverage_simplify([a.geometry for a in areas], SIMPLIFY_TOLERANCE_KM)
    for area, geometry in zip(areas, simplified, strict=True):
        area.geometry = geometry

    merge_pocket(areas)
    return areas


def merge_pocket(areas: list[Area]) -> None:
    """Gives one area a detached pocket: the nearest area that does not touch it becomes part of
    it, making a two-part MultiPolygon route (its former neighbours keep their own routes)."""
    home_index = index_of_area_at(areas, PROJECTION.point(POCKET_OF))
    home = areas[home_index]
    candidates = [
        (home.geometry.distance(area.geometry), i)
        for i, area in enumerate(areas)
        if i != home_index and home.geometry.distance(area.geometry) > 0.3
    ]
    _, pocket_index = min(candidates)
    pocket = areas[pocket_index]
    home.geometry = MultiPolygon([home.geometry, pocket.geometry])
    home.note = "multipolygon: a detached pocket"
    del areas[pocket_index]


def build_route_map(seed: int = SEED) -> dict:
    """The demo hub's FeatureCollection (deterministic for a seed)."""
    rng = np.random.default_rng(seed)
    areas = ordinary_areas(rng)
    assign_names(areas)
    for area in areas:
        if area.note.startswith("multipolygon"):
            area.note = f"multipolygon: {area.name} with a detached pocket"
    ordered = distance_from_hub_order(areas)
    features = [
        route_feature(f"{ROUTE_ID_PREFIX}-R{n:02d}", area, rider_number=n) for n, area in enumerate(ordered, start=1)
    ]
    for n, area in enumerate(premium_routes(rng), start=1):
        rider_number = len(ordered) + n
        features.append(route_feature(f"{ROUTE_ID_PREFIX}-P{n:02d}", area, rider_number=rider_number))
    return {
        "type": "FeatureCollection",
        "name": f"{HUB_ID} demo route map",
        # The depot every trip starts and ends at (the demo stores it with UpsertHub).
        "hub": {"id": HUB_ID, "name": HUB.name, "location": [HUB.lng, HUB.lat], "timezone": "Asia/Kolkata"},
        "features": features,
    }


def route_feature(route_id: str, area: Area, *, rider_number: int) -> dict:
    geometry = PROJECTION.to_degrees(area.geometry)
    if not geometry.is_valid:
        raise RuntimeError(f"{route_id}: geometry became invalid: {shapely.is_valid_reason(geometry)}")
    properties = {
        "id": route_id,
        "name": area.name,
        "default_rider_id": f"rider-{rider_number:03d}",
        "priority": area.priority,
    }
    if area.note:
        properties["note"] = area.note
    return {"type": "Feature", "properties": properties, "geometry": geojson_geometry(geometry)}


def geojson_geometry(geometry: BaseGeometry) -> dict:
    """A GeoJSON geometry mapping whose coordinates print in their shortest form (77.6245, not
    77.62450000000001)."""

    def rounded(value):
        if isinstance(value, float):
            return round(value, COORDINATE_DECIMALS)
        return [rounded(item) for item in value]

    mapping = shapely.geometry.mapping(geometry)
    return {"type": mapping["type"], "coordinates": rounded(mapping["coordinates"])}


def dumps(collection: dict) -> str:
    """GeoJSON text with one feature per line: compact, yet diffs stay readable."""
    head = {key: value for key, value in collection.items() if key != "features"}
    lines = [json.dumps(feature, separators=(",", ":")) for feature in collection["features"]]
    opening = json.dumps(head, separators=(",", ":"))[:-1] + ',"features":[\n'
    return opening + ",\n".join(lines) + "\n]}\n"


def load_route_map(path: Path = MAP_PATH) -> dict:
    """The shipped map as a mapping."""
    return json.loads(path.read_text(encoding="utf-8"))


def main() -> int:
    sys.stdout.write(dumps(build_route_map()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
