"""A picture of the hub: routes, their H3 coverage, overlaps and gaps, and the day's pickups.

Drawn with matplotlib's Agg backend (no display needed) into a PNG.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import h3
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib import patheffects
from matplotlib.collections import PolyCollection
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, PathPatch
from matplotlib.path import Path as MplPath
from shapely.geometry import Point, Polygon, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import polylabel

from demo.stream import DayResult
from firstmile.common.v1 import common_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile.routing.v1 import routing_pb2

PALETTE = (
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf",
    "#bcbd22", "#393b79", "#e6550d", "#31a354", "#756bb1", "#637939", "#843c39", "#3182bd",
)  # fmt: skip
PREMIUM_COLOURS = ("#c2006b", "#00897b", "#5e35b1")
MARGIN_DEG = 0.02
HUB_CLEARANCE_DEG = 0.004
LABEL_HALO = [patheffects.withStroke(linewidth=2.2, foreground="white")]


@dataclass(frozen=True)
class MapRoute:
    """A route as drawn: geometry in degrees and its colour."""

    id: str
    name: str
    priority: int
    geometry: BaseGeometry
    colour: str


def draw(
    path: Path,
    *,
    hub_id: str,
    hub_lng_lat: tuple[float, float],
    collection: dict,
    route_map: routing_pb2.GetRouteMapResponse | None,
    result: DayResult | None,
) -> Path:
    """Draws the picture into `path` (creating its folder) and returns the path."""
    routes = coloured_routes(collection)
    fig, ax = plt.subplots(figsize=(13, 14))
    try:
        frame(ax, routes, hub_lng_lat)
        draw_routes(ax, routes)
        if route_map is not None:
            draw_coverage(ax, route_map)
            draw_gaps(ax, route_map)
            draw_overlaps(ax, route_map, {route.id: route for route in routes})
        unseen = draw_pickups(ax, result, {route.id: route for route in routes}) if result else 0
        draw_labels(ax, routes, hub_lng_lat)
        draw_hub(ax, hub_lng_lat)
        ax.set_title(title(hub_id, routes, route_map, result), fontsize=13, loc="left")
        legend(ax, route_map, result, unseen)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=130, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


# ---------------------------------------------------------------------------------- routes


def coloured_routes(collection: dict) -> list[MapRoute]:
    """The routes with colours: touching ordinary routes always differ, and the colours are spread
    over the palette (the least used free colour first); premium routes get colours of their own."""
    features = sorted(collection["features"], key=lambda f: f["properties"]["id"])
    geometries = [shape(f["geometry"]) for f in features]
    priorities = [int(f["properties"].get("priority", 0) or 0) for f in features]
    colours: list[str] = []
    used = dict.fromkeys(PALETTE, 0)
    premium_count = 0
    for i, geometry in enumerate(geometries):
        if priorities[i] > 0:
            colours.append(PREMIUM_COLOURS[premium_count % len(PREMIUM_COLOURS)])
            premium_count += 1
            continue
        taken = {colours[j] for j in range(i) if priorities[j] == 0 and geometry.distance(geometries[j]) < 2e-3}
        free = [c for c in PALETTE if c not in taken] or list(PALETTE)
        colour = min(free, key=lambda c: used[c])
        used[colour] += 1
        colours.append(colour)
    return [
        MapRoute(
            id=f["properties"]["id"],
            name=f["properties"].get("name", ""),
            priority=priority,
            geometry=geometry,
            colour=colour,
        )  # fmt: skip
        for f, geometry, priority, colour in zip(features, geometries, priorities, colours, strict=True)
    ]


def frame(ax, routes: Sequence[MapRoute], hub_lng_lat: tuple[float, float]) -> None:
    xmin = min(r.geometry.bounds[0] for r in routes) - MARGIN_DEG
    ymin = min(r.geometry.bounds[1] for r in routes) - MARGIN_DEG
    xmax = max(r.geometry.bounds[2] for r in routes) + MARGIN_DEG
    ymax = max(r.geometry.bounds[3] for r in routes) + MARGIN_DEG
    ax.set_xlim(xmin, xmax)
    ax.set_ylim(ymin, ymax)
    ax.set_aspect(1 / math.cos(math.radians(hub_lng_lat[1])))
    ax.set_xlabel("longitude (°E)")
    ax.set_ylabel("latitude (°N)")
    ax.set_facecolor("#fbfbf8")
    ax.grid(color="#e4e4e0", linewidth=0.5, zorder=0)


def polygon_path(geometry: BaseGeometry) -> MplPath:
    """A compound path of a Polygon or MultiPolygon: holes stay holes."""
    vertices, codes = [], []
    for polygon in getattr(geometry, "geoms", [geometry]):
        for ring in (polygon.exterior, *polygon.interiors):
            coords = list(ring.coords)
            vertices += coords
            codes += [MplPath.MOVETO] + [MplPath.LINETO] * (len(coords) - 2) + [MplPath.CLOSEPOLY]
    return MplPath(vertices, codes)


def draw_routes(ax, routes: Sequence[MapRoute]) -> None:
    for route in routes:
        if route.priority > 0:
            ax.add_patch(
                PathPatch(
                    polygon_path(route.geometry),
                    facecolor="none",
                    edgecolor=route.colour,
                    linewidth=2.2,
                    linestyle=(0, (5, 2)),
                    zorder=5,
                )  # fmt: skip
            )
        else:
            ax.add_patch(
                PathPatch(polygon_path(route.geometry), facecolor=route.colour, alpha=0.22, edgecolor="none", zorder=1)
            )
            ax.add_patch(
                PathPatch(polygon_path(route.geometry), facecolor="none", edgecolor="#333333", linewidth=0.8, zorder=4)
            )


def draw_labels(ax, routes: Sequence[MapRoute], hub_lng_lat: tuple[float, float]) -> None:
    """Short id and name of each route (kept clear of the hub's star); premium routes are labelled
    just above their area, and a MultiPolygon's other parts say that they are detached parts."""
    hub = Point(hub_lng_lat)
    for route in routes:
        parts = sorted(getattr(route.geometry, "geoms", [route.geometry]), key=lambda part: part.area, reverse=True)
        short_id = route.id.rsplit("-", 1)[-1]
        if route.priority > 0:
            x, y = parts[0].centroid.x, parts[0].bounds[3] + 0.0008
            _label(ax, x, y, f"{short_id} {route.name}", colour=route.colour, bold=True, va="bottom")
            continue
        point = polylabel(parts[0], tolerance=1e-4)
        if point.distance(hub) < HUB_CLEARANCE_DEG:
            point = Point(point.x, hub.y - HUB_CLEARANCE_DEG)
        _label(ax, point.x, point.y, f"{short_id}\n{route.name}")
        for part in parts[1:]:
            point = polylabel(part, tolerance=1e-4)
            _label(ax, point.x, point.y, f"{short_id}\n(detached part)")


def _label(
    ax, x: float, y: float, text: str, *, colour: str = "#111111", bold: bool = False, va: str = "center"
) -> None:
    ax.text(
        x, y, text, fontsize=6.2, ha="center", va=va, fontweight="bold" if bold else "normal",
        color=colour, path_effects=LABEL_HALO, zorder=9,
    )  # fmt: skip


# --------------------------------------------------------------------------- compiled map


def draw_coverage(ax, route_map: routing_pb2.GetRouteMapResponse) -> None:
    """The H3 cells of every route's coverage, outlined faintly."""
    if not route_map.coverage_geojson:
        return
    outlines = []
    for feature in json.loads(route_map.coverage_geojson).get("features", []):
        for cell in h3.geo_to_cells(feature["geometry"], route_map.resolution):
            outlines.append([(lng, lat) for lat, lng in h3.cell_to_boundary(cell)])
    ax.add_collection(
        PolyCollection(outlines, facecolors="none", edgecolors="#555555", linewidths=0.12, alpha=0.35, zorder=2)
    )


def draw_gaps(ax, route_map: routing_pb2.GetRouteMapResponse) -> None:
    if not route_map.gaps_geojson:
        return
    for feature in json.loads(route_map.gaps_geojson).get("features", []):
        geometry = shape(feature["geometry"])
        if not geometry.is_empty:
            ax.add_patch(
                PathPatch(
                    polygon_path(geometry),
                    facecolor="#f4d0d0",
                    edgecolor="#c44",
                    hatch="xxx",
                    linewidth=0.3,
                    alpha=0.55,
                    zorder=1,
                )
            )


def draw_overlaps(ax, route_map: routing_pb2.GetRouteMapResponse, routes: dict[str, MapRoute]) -> None:
    for overlap in route_map.overlaps:
        a, b = routes.get(overlap.route_id_a), routes.get(overlap.route_id_b)
        if a is None or b is None:
            continue
        shared = a.geometry.intersection(b.geometry)
        parts = [p for p in getattr(shared, "geoms", [shared]) if isinstance(p, Polygon) and not p.is_empty]
        winner = routes.get(overlap.winner_route_id, a)
        for part in parts:
            ax.add_patch(
                PathPatch(
                    polygon_path(part),
                    facecolor="none",
                    edgecolor=winner.colour,
                    hatch="////",
                    linewidth=0,
                    alpha=0.6,
                    zorder=3,
                )
            )


# -------------------------------------------------------------------------------- pickups


def draw_pickups(ax, result: DayResult, routes: dict[str, MapRoute]) -> int:
    """Plots the day's pickups coloured by route; returns how many lie outside the frame."""
    xmin, xmax = ax.get_xlim()
    ymin, ymax = ax.get_ylim()
    exact: dict[str, list[tuple[float, float]]] = {}
    nearest: dict[str, list[tuple[float, float]]] = {}
    unroutable: list[tuple[float, float]] = []
    unseen = 0
    for planned in result.planned:
        if not (xmin <= planned.lng <= xmax and ymin <= planned.lat <= ymax):
            unseen += 1
            continue
        observation = result.observations.get(planned.request_id)
        pickup = observation.pickup if observation else None
        if pickup is None or pickup.status != pur_pb2.PICKUP_STATUS_ROUTED:
            unroutable.append((planned.lng, planned.lat))
        elif pickup.route_match == common_pb2.ROUTE_MATCH_NEAREST:
            nearest.setdefault(pickup.route_id, []).append((planned.lng, planned.lat))
        else:
            exact.setdefault(pickup.route_id, []).append((planned.lng, planned.lat))
    for route_id, points in exact.items():
        colour = routes[route_id].colour if route_id in routes else "#444444"
        ax.scatter(*zip(*points, strict=True), s=7, color=colour, edgecolors="black", linewidths=0.15, zorder=6)
    for route_id, points in nearest.items():
        colour = routes[route_id].colour if route_id in routes else "#444444"
        ax.scatter(
            *zip(*points, strict=True), s=22, marker="^", color=colour, edgecolors="black", linewidths=0.4, zorder=7
        )
    if unroutable:
        ax.scatter(*zip(*unroutable, strict=True), s=30, marker="x", color="black", linewidths=1.0, zorder=7)
    return unseen


def draw_hub(ax, hub_lng_lat: tuple[float, float]) -> None:
    ax.plot(*hub_lng_lat, marker="*", markersize=20, color="#ffd400", markeredgecolor="black", zorder=10)
    ax.annotate(
        "hub", hub_lng_lat, xytext=(9, -9), textcoords="offset points", fontsize=8, fontweight="bold",
        path_effects=LABEL_HALO, zorder=10,
    )  # fmt: skip


# --------------------------------------------------------------------------------- titles


def title(hub_id: str, routes, route_map, result) -> str:
    parts = [f"{hub_id}: {len(routes)} routes"]
    if route_map is not None:
        parts.append(
            f"map version {route_map.map_version}, H3 resolution {route_map.resolution} ({route_map.cell_count:,} cells)"
        )
    if result is not None:
        parts.append(f"{len(result.planned):,} pickup requests")
    return " · ".join(parts)


def legend(ax, route_map, result, unseen: int) -> None:
    handles = [
        Patch(facecolor="#1f77b4", alpha=0.3, edgecolor="#333333", label="route (colour = route)"),
        Line2D(
            [], [], color=PREMIUM_COLOURS[0], linestyle=(0, (5, 2)), linewidth=2.2, label="premium route (priority 10)"
        ),
    ]
    if route_map is not None:
        handles += [
            Patch(
                facecolor="none",
                edgecolor="#555555",
                linewidth=0.5,
                label=f"H3 cells of the coverage (res {route_map.resolution})",
            ),
            Patch(
                facecolor="none", edgecolor="#d62728", hatch="////", label="overlap (hatched in the winner's colour)"
            ),
            Patch(
                facecolor="#f4d0d0",
                edgecolor="#c44",
                hatch="xxx",
                label=f"gap: uncovered cells ({route_map.gap_cell_count:,})",
            ),
        ]
    if result is not None:
        handles += [
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                color="#2ca02c",
                markeredgecolor="black",
                markersize=5,
                label="PUR routed EXACT (route colour)",
            ),
            Line2D(
                [],
                [],
                marker="^",
                linestyle="",
                color="#2ca02c",
                markeredgecolor="black",
                markersize=6,
                label="PUR routed NEAREST",
            ),
            Line2D(
                [],
                [],
                marker="x",
                linestyle="",
                color="black",
                markersize=7,
                label=f"PUR unroutable (+{unseen:,} far away, not shown)",
            ),
        ]
    handles.append(
        Line2D([], [], marker="*", linestyle="", color="#ffd400", markeredgecolor="black", markersize=13, label="hub")
    )
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=3, fontsize=9, frameon=False)
