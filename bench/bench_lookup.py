"""Route lookup in process, on one core: the H3 route index against a shapely STRtree.

Builds a synthetic city-scale hub map (a Voronoi tessellation of random seeds over a square
around Bengaluru; some routes have holes, some are grown to overlap their neighbours with a
random priority), draws random points (some outside the map), and prints: compile time, cell
counts, serialized size, load time, lookups/s of lookup_many and of lookup, the STRtree baseline
on the same points, and the agreement of the index with exact containment.

    .cache/venv/bin/python -m bench.bench_lookup [--routes N] [--points N] [--resolution R]
    .cache/venv/bin/python -m bench.bench_lookup --sweep 8,9,10,11,12   # one row per resolution

It prints figures and asserts nothing about time.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "RAYON_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import shapely  # noqa: E402

from routing_svc.adapters.index_codec import index_from_bytes, index_to_bytes  # noqa: E402
from routing_svc.domain.coverage import cells_of_points  # noqa: E402
from routing_svc.domain.index import HubRouteIndex  # noqa: E402
from routing_svc.domain.model import Route, RouteMatch  # noqa: E402

CENTRE_LAT, CENTRE_LNG = 12.97, 77.59


def pin_to_one_core() -> str:
    if hasattr(os, "sched_setaffinity"):
        cpu = min(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpu})
        return f"pinned to CPU {cpu}"
    return "not pinned (no sched_setaffinity)"


def synthetic_map(route_count: int, size_km: float, seed: int) -> tuple[list[Route], tuple[float, float, float, float]]:
    """Voronoi routes over a size_km square; ~10% with a hole, ~5% grown by ~120 m to overlap."""
    rng = np.random.default_rng(seed)
    half_lat = size_km / 2 / 110.6
    half_lng = size_km / 2 / (111.32 * math.cos(math.radians(CENTRE_LAT)))
    box = (CENTRE_LNG - half_lng, CENTRE_LAT - half_lat, CENTRE_LNG + half_lng, CENTRE_LAT + half_lat)
    frame = shapely.box(*box)
    seeds = shapely.points(rng.uniform(box[0], box[2], route_count), rng.uniform(box[1], box[3], route_count))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.intersection(cells, frame)
    # Routes follow streets: give every edge vertices every ~60 m, as a traced map would have.
    cells = shapely.segmentize(cells, 60 / 111_320)
    routes = []
    grow_deg = 120 / 111_320
    for i, geometry in enumerate(cells):
        priority = 0
        if rng.random() < 0.10:
            centroid = geometry.centroid
            hole = shapely.affinity.scale(geometry, 0.3, 0.3, origin=centroid)
            geometry = shapely.Polygon(geometry.exterior, [hole.exterior])
        if rng.random() < 0.05:
            geometry = geometry.buffer(grow_deg, quad_segs=2, join_style="mitre")
            priority = int(rng.integers(-2, 3))
        assert geometry.is_valid and geometry.geom_type == "Polygon"
        routes.append(
            Route(
                id=f"R{i:05d}",
                hub_id="BLR-1",
                name=f"route {i}",
                geometry=geometry,
                default_rider_id=f"rider-{i:05d}",
                priority=priority,
            )
        )
    return routes, box


def random_points(count: int, box: tuple[float, float, float, float], seed: int, margin_km: float = 1.0):
    """Uniform over the map's square grown by margin_km on every side (so some fall outside)."""
    rng = np.random.default_rng(seed + 1)
    dlat = margin_km / 110.6
    dlng = margin_km / (111.32 * math.cos(math.radians(CENTRE_LAT)))
    lats = rng.uniform(box[1] - dlat, box[3] + dlat, count)
    lngs = rng.uniform(box[0] - dlng, box[2] + dlng, count)
    return lats, lngs


def best_of(runs: int, fn):
    best, value = math.inf, None
    for _ in range(runs):
        start = time.perf_counter()
        value = fn()
        best = min(best, time.perf_counter() - start)
    return best, value


def strtree_baseline(routes: list[Route], lats: np.ndarray, lngs: np.ndarray):
    """Exact containment with an STRtree over the polygons; overlaps settled by rank."""
    ranked = sorted(routes, key=lambda r: r.rank_key)
    geometries = np.array([r.geometry for r in ranked], dtype=object)
    start = time.perf_counter()
    tree = shapely.STRtree(geometries)
    build = time.perf_counter() - start

    def query():
        points = shapely.points(lngs, lats)
        point_index, route_index = tree.query(points, predicate="intersects")
        best = np.full(len(lats), np.iinfo(np.int32).max, dtype=np.int32)
        np.minimum.at(best, point_index, route_index.astype(np.int32))
        return np.where(best == np.iinfo(np.int32).max, -1, best)

    return build, query


def run_one(routes, box, lats, lngs, resolution: int, scalar_points: int, baseline: bool, verbose: bool):
    row = {"resolution": resolution}
    row["compile_s"], index = best_of(1, lambda: HubRouteIndex.compile("BLR-1", routes, 1, resolution))
    stats = index.stats()
    row["cells"] = stats.cell_count
    row["edge_cells"] = stats.edge_cell_count
    row["groups"] = len(index._table.group_fallback)
    row["overlaps"] = len(stats.overlaps)
    row["gap_cells"] = stats.gap_cell_count
    row["to_bytes_s"], data = best_of(3, lambda: index_to_bytes(index))
    row["bytes"] = len(data)
    row["load_s"], loaded = best_of(3, lambda: index_from_bytes(data))
    row["warm_up_s"], _ = best_of(1, loaded.warm_up)

    row["h3_s"], _ = best_of(3, lambda: cells_of_points(lats, lngs, resolution))
    row["many_s"], batch = best_of(5, lambda: loaded.lookup_many(lats, lngs))
    row["many_per_s"] = len(lats) / row["many_s"]
    match = batch.match
    row["exact"] = float(np.mean(match == RouteMatch.EXACT))
    row["nearest"] = float(np.mean(match == RouteMatch.NEAREST))
    row["none"] = float(np.mean(match == RouteMatch.NONE))
    codes_cells = loaded._table
    positions = np.minimum(np.searchsorted(codes_cells.cells, batch.cells), len(codes_cells.cells) - 1)
    in_table = codes_cells.cells[positions] == batch.cells
    row["edge_point_share"] = float(np.mean(in_table & (codes_cells.codes[positions] < 0)))

    sample = np.arange(min(scalar_points, len(lats)))
    start = time.perf_counter()
    scalar = [loaded.lookup(float(lats[i]), float(lngs[i])) for i in sample]
    row["scalar_per_s"] = len(sample) / (time.perf_counter() - start)
    batch_results = [batch.result(int(i)) for i in sample]
    row["scalar_agrees"] = scalar == batch_results

    if baseline:
        build, query = strtree_baseline(routes, lats, lngs)
        row["strtree_build_s"] = build
        row["strtree_s"], truth = best_of(3, query)
        row["strtree_per_s"] = len(lats) / row["strtree_s"]
        index_exact = np.where(match == RouteMatch.EXACT, batch.route, -1)
        row["agreement"] = float(np.mean(index_exact == truth))
        row["disagreements"] = int(np.sum(index_exact != truth))
    return row


def print_report(row, routes, points, box):
    mb = row["bytes"] / 1e6
    print(f"map: {len(routes)} routes over {box_km(box)}, {points:,} random points, H3 resolution {row['resolution']}")
    print(f"  compile                  {row['compile_s']:8.3f} s")
    print(
        f"  cells                    {row['cells']:>10,}  (edge {row['edge_cells']:,}; {row['groups']:,} distinct candidate groups)"
    )
    print(f"  overlaps / gap cells     {row['overlaps']:>10,} / {row['gap_cells']:,}")
    print(f"  serialized               {mb:8.2f} MB  (to_bytes {row['to_bytes_s'] * 1e3:.1f} ms)")
    print(
        f"  load (from_bytes)        {row['load_s'] * 1e3:8.1f} ms  (+ {row['warm_up_s'] * 1e3:.0f} ms warm_up: nearest-boundary search)"
    )
    print(
        f"  answers                  exact {row['exact']:.1%}, nearest {row['nearest']:.1%}, none {row['none']:.1%};"
        f" {row['edge_point_share']:.1%} of points fell in edge cells"
    )
    print(f"  H3 cells alone           {len(range(points)) / row['h3_s']:>12,.0f} points/s")
    print(f"  index lookup_many        {row['many_per_s']:>12,.0f} lookups/s  ({row['many_s']:.3f} s for {points:,})")
    print(
        f"  index lookup (scalar)    {row['scalar_per_s']:>12,.0f} lookups/s  (agrees with lookup_many: {row['scalar_agrees']})"
    )
    if "strtree_per_s" in row:
        print(
            f"  shapely STRtree          {row['strtree_per_s']:>12,.0f} lookups/s  ({row['strtree_s']:.3f} s; "
            f"tree built in {row['strtree_build_s'] * 1e3:.1f} ms; exact containment only, no nearest)"
        )
        print(
            f"  agreement with exact containment: {row['agreement'] * 100:.3f}% ({row['disagreements']} disagreements)"
        )


def box_km(box) -> str:
    height = (box[3] - box[1]) * 110.6
    width = (box[2] - box[0]) * 111.32 * math.cos(math.radians(CENTRE_LAT))
    return f"{width:.0f}x{height:.0f} km"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--routes", type=int, default=2000)
    parser.add_argument("--points", type=int, default=1_000_000)
    parser.add_argument("--resolution", type=int, default=None, help="default: the index default")
    parser.add_argument("--size-km", type=float, default=40.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--scalar-points", type=int, default=100_000)
    parser.add_argument("--sweep", default="", help="comma-separated resolutions: one summary row each")
    args = parser.parse_args()

    print(f"bench_lookup: {pin_to_one_core()}; numpy {np.__version__}, shapely {shapely.__version__}")
    start = time.perf_counter()
    routes, box = synthetic_map(args.routes, args.size_km, args.seed)
    lats, lngs = random_points(args.points, box, args.seed)
    print(f"synthetic map built in {time.perf_counter() - start:.1f} s")

    if args.sweep:
        header = "res    cells  edge_cells  compile_s  MB    load_ms  edge_pts  many/s      scalar/s  agree"
        print(header)
        for resolution in [int(r) for r in args.sweep.split(",")]:
            row = run_one(routes, box, lats, lngs, resolution, min(args.scalar_points, 20_000), True, False)
            print(
                f"{resolution:<4} {row['cells']:>9,} {row['edge_cells']:>10,} {row['compile_s']:>9.2f} "
                f"{row['bytes'] / 1e6:>6.1f} {row['load_s'] * 1e3:>8.1f} {row['edge_point_share']:>8.1%} "
                f"{row['many_per_s']:>10,.0f} {row['scalar_per_s']:>9,.0f}  {row['agreement'] * 100:.3f}%"
            )
        return

    from routing_svc.domain.index import DEFAULT_RESOLUTION

    resolution = args.resolution if args.resolution is not None else DEFAULT_RESOLUTION
    row = run_one(routes, box, lats, lngs, resolution, args.scalar_points, True, True)
    print_report(row, routes, args.points, box)


if __name__ == "__main__":
    main()
