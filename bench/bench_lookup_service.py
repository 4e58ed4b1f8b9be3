"""Route lookup as a service: routing_svc's BatchLookupRoutes over gRPC against PostGIS answering
the same batch with one SQL query against a GiST-indexed routes table, on the same machine, with
the same routes and the same points; the answers must be identical.

Maps (each imported into routing_svc with ImportRoutes replace_existing, under a bench hub of its
own, then read back with ListRoutes and loaded as-is into PostGIS):
  demo       the demo hub's 50 routes (demo/data/demo_hub.geojson), ids prefixed with "BLK-"
  synthetic  --synthetic-routes (default 2,000) Voronoi routes over a ~45 km square, some with
             holes, some grown to overlap their neighbours with another priority

Points (--points per batch, default 10,000 = the RPC's limit): ~70% inside the map, ~15% jittered
around route edges (tens of metres), ~5% exactly on boundary vertices, ~10% outside (near and far).

The PostGIS query implements routing_svc's semantics: ST_Covers containment (a point on the
boundary is inside), overlaps settled by priority desc then id asc, and else the nearest route by
geodesic (`geography`) distance within --limit metres (2,000) -> NEAREST (boundaries within 1 mm
of each other are a tie, settled like an overlap), else NONE. Route ids and match kinds are compared
for every point; mismatches are counted and printed.

PostGIS runs in a database of its own, `firstmile_bench` (owner postgres, created if missing,
CREATE EXTENSION postgis) on the mesh's PostgreSQL server; routing_svc must be running (make up).

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_lookup_service [--maps demo,synthetic] [--reps 7] [--points 10000]

It prints lookups/s (best and median of --reps timed batches after one warm-up each, engines
alternating) and the agreement; it asserts nothing about time (exit 1 if answers differ).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import numpy as np
import shapely

from bench import instruments as c
from demo import city
from firstmile.common.v1 import common_pb2
from firstmile.routing.v1 import routing_pb2
from firstmile_client.channels import ToolError, connect, tool_channel
from firstmile_client.endpoints import pur_endpoint, routing_endpoint
from firstmile_client.stubs import MeshClients

BENCH_DB = "firstmile_bench"
DEMO_HUB = "BENCH-LOOKUP-DEMO"
SYNTHETIC_HUB = "BENCH-LOOKUP-SYN"
TIE_M = 1e-3
LOOKUP_METHOD = "/firstmile.routing.v1.RoutingService/BatchLookupRoutes"
MATCH_NAMES = {
    common_pb2.ROUTE_MATCH_EXACT: "EXACT",
    common_pb2.ROUTE_MATCH_NEAREST: "NEAREST",
    common_pb2.ROUTE_MATCH_NONE: "NONE",
}

LOOKUP_SQL = """
WITH pts AS (
    SELECT i, ST_SetSRID(ST_MakePoint(lng, lat), 4326) AS g
    FROM unnest(%(lats)s::float8[], %(lngs)s::float8[]) WITH ORDINALITY AS t(lat, lng, i)
)
SELECT e.id, n.id, n.d
FROM pts p
LEFT JOIN LATERAL (
    SELECT r.id FROM bench_routes r
    WHERE r.hub_id = %(hub)s AND ST_Covers(r.geom, p.g)
    ORDER BY r.priority DESC, r.id
    LIMIT 1
) e ON true
LEFT JOIN LATERAL (
    SELECT w.id, w.d FROM (
        SELECT r.id, r.priority, ST_Distance(r.geog, p.g::geography) AS d,
               min(ST_Distance(r.geog, p.g::geography)) OVER () AS best
        FROM bench_routes r
        WHERE e.id IS NULL AND r.hub_id = %(hub)s AND ST_DWithin(r.geog, p.g::geography, %(limit)s)
    ) w
    WHERE w.d <= w.best + %(tie)s
    ORDER BY w.priority DESC, w.id
    LIMIT 1
) n ON true
ORDER BY p.i
"""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--maps", default="demo,synthetic", help="comma-separated: demo, synthetic (default both)")
    p.add_argument("--points", type=int, default=10_000, help="points per batch (default 10000, the RPC limit)")
    p.add_argument("--reps", type=int, default=7, help="timed batches per engine (default 7)")
    p.add_argument("--synthetic-routes", type=int, default=2000)
    p.add_argument(
        "--limit", type=float, default=2000.0, help="NEAREST limit in metres; must equal routing_svc's (default 2000)"
    )
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--show", type=int, default=10, help="mismatches to print per map (default 10)")
    p.add_argument("--routing-address", default="localhost:50052")
    p.add_argument(
        "--pg-dsn", default=None, help=f"libpq DSN of the PostGIS database (default: postgres@<mesh server>/{BENCH_DB})"
    )
    args = p.parse_args(argv)
    if not 1 <= args.points <= 10_000:
        p.error("--points must be 1..10000")
    return args


# ----------------------------------------------------------------------------- maps


def demo_map() -> dict:
    """The demo hub's routes with ids of their own (route ids are unique across hubs)."""
    collection = city.load_route_map(city.MAP_PATH)
    features = []
    for feature in collection["features"]:
        properties = dict(feature["properties"], id="BLK-" + feature["properties"]["id"])
        features.append({"type": "Feature", "properties": properties, "geometry": feature["geometry"]})
    return {"type": "FeatureCollection", "features": features}


def synthetic_map(count: int, seed: int, centre: tuple[float, float] = (77.45, 13.15)) -> dict:
    """`count` Voronoi routes of ~1 km² over a square; ~10% with a hole, ~5% grown by ~120 m so
    they overlap their neighbours, with a priority in -2..2; edges have a vertex every ~60 m."""
    rng = np.random.default_rng(seed)
    lng0, lat0 = centre
    size_km = math.sqrt(count)  # ~1 km² per route
    half_lat = size_km / 2 / 110.6
    half_lng = size_km / 2 / (111.32 * math.cos(math.radians(lat0)))
    box = (lng0 - half_lng, lat0 - half_lat, lng0 + half_lng, lat0 + half_lat)
    frame = shapely.box(*box)
    seeds = shapely.points(rng.uniform(box[0], box[2], count), rng.uniform(box[1], box[3], count))
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=frame))
    cells = shapely.segmentize(shapely.intersection(cells, frame), 60 / 111_320)
    features = []
    for i, geometry in enumerate(cells):
        priority = 0
        if rng.random() < 0.10:
            hole = shapely.affinity.scale(geometry, 0.3, 0.3, origin=geometry.centroid)
            geometry = shapely.Polygon(geometry.exterior, [hole.exterior])
        if rng.random() < 0.05:
            geometry = geometry.buffer(120 / 111_320, quad_segs=2, join_style="mitre")
            priority = int(rng.integers(-2, 3))
        geometry = shapely.set_precision(geometry, 1e-7)
        if not geometry.is_valid or geometry.geom_type != "Polygon" or geometry.is_empty:
            continue
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "id": f"SYN-{i:05d}",
                    "name": f"synthetic {i}",
                    "default_rider_id": f"rider-s{i:05d}",
                    "priority": priority,
                },
                "geometry": json.loads(shapely.to_geojson(geometry)),
            }
        )
    return {"type": "FeatureCollection", "features": features}


@dataclass
class StoredRoute:
    id: str
    priority: int
    rider: str
    geometry_geojson: str


def routes_of(clients: MeshClients, hub_id: str) -> list[StoredRoute]:
    """The hub's active routes exactly as routing_svc stored them (ListRoutes, paged)."""
    routes, token = [], ""
    while True:
        page = clients.routing.ListRoutes(
            routing_pb2.ListRoutesRequest(hub_id=hub_id, page_size=1000, page_token=token), timeout=60
        )
        routes += [
            StoredRoute(r.id, r.priority, r.default_rider_id, r.geometry_geojson) for r in page.routes if r.active
        ]
        token = page.next_page_token
        if not token:
            return routes


# ----------------------------------------------------------------------------- points


def make_points(routes: list[StoredRoute], count: int, seed: int) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    rng = np.random.default_rng(seed)
    geometries = shapely.from_geojson([r.geometry_geojson for r in routes])
    union = shapely.union_all(geometries)
    shapely.prepare(union)
    xmin, ymin, xmax, ymax = union.bounds
    n_edge, n_vertex, n_out = int(count * 0.15), int(count * 0.05), int(count * 0.10)
    n_in = count - n_edge - n_vertex - n_out
    xs, ys = [], []
    while sum(len(x) for x in xs) < n_in:  # inside: uniform over the map
        x, y = rng.uniform(xmin, xmax, count), rng.uniform(ymin, ymax, count)
        keep = shapely.contains_xy(union, x, y)
        xs.append(x[keep]), ys.append(y[keep])
    inside_x, inside_y = np.concatenate(xs)[:n_in], np.concatenate(ys)[:n_in]
    coords = shapely.get_coordinates(shapely.boundary(geometries))
    # near edges: a random spot between two consecutive boundary vertices, jittered by ~15 m
    k = rng.integers(0, len(coords) - 1, n_edge)
    t = rng.uniform(0, 1, n_edge)
    jitter_deg = rng.normal(0, 15, (n_edge, 2)) / 111_320
    edge = coords[k] + (coords[k + 1] - coords[k]) * t[:, None] + jitter_deg
    vertex = coords[rng.integers(0, len(coords), n_vertex)]  # exactly on a boundary vertex
    # outside: around the map, 0-4 km beyond its bounding box (some near, some beyond the limit)
    pad_lat, pad_lng = 4 / 110.6, 4 / (111.32 * math.cos(math.radians((ymin + ymax) / 2)))
    ox, oy = [], []
    while sum(len(x) for x in ox) < n_out:
        x = rng.uniform(xmin - pad_lng, xmax + pad_lng, count)
        y = rng.uniform(ymin - pad_lat, ymax + pad_lat, count)
        keep = ~shapely.contains_xy(union, x, y)
        ox.append(x[keep]), oy.append(y[keep])
    out_x, out_y = np.concatenate(ox)[:n_out], np.concatenate(oy)[:n_out]
    lngs = np.concatenate([inside_x, edge[:, 0], vertex[:, 0], out_x])
    lats = np.concatenate([inside_y, edge[:, 1], vertex[:, 1], out_y])
    order = rng.permutation(count)
    kinds = {"inside": n_in, "near an edge": n_edge, "on a vertex": n_vertex, "outside": n_out}
    return lats[order], lngs[order], kinds


# ----------------------------------------------------------------------------- PostGIS


def postgis_dsn(args: argparse.Namespace) -> str:
    return args.pg_dsn or c.pg_dsn(user="postgres", dbname=BENCH_DB)


def prepare_postgis(args: argparse.Namespace):
    """The bench database (created if missing, owned by postgres) with PostGIS and the routes table."""
    admin = c.pg_connect(c.pg_dsn(user="postgres", dbname="postgres"))
    with admin.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (BENCH_DB,))
        if cur.fetchone() is None:
            cur.execute(f"CREATE DATABASE {BENCH_DB} OWNER postgres")
    admin.close()
    pg = c.pg_connect(postgis_dsn(args))
    with pg.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS postgis")
        cur.execute("SELECT postgis_lib_version(), postgis_geos_version(), version()")
        lib, geos, server = cur.fetchone()
        version = f"PostGIS {lib} (GEOS {geos}) on {' '.join(server.split()[:2])}"
        cur.execute(
            """CREATE TABLE IF NOT EXISTS bench_routes (
                   hub_id text NOT NULL, id text NOT NULL, priority int NOT NULL, rider_id text NOT NULL,
                   geom geometry(Geometry, 4326) NOT NULL, geog geography(Geometry, 4326) NOT NULL,
                   PRIMARY KEY (hub_id, id))"""
        )
        cur.execute("CREATE INDEX IF NOT EXISTS bench_routes_geom_gist ON bench_routes USING gist (geom)")
        cur.execute("CREATE INDEX IF NOT EXISTS bench_routes_geog_gist ON bench_routes USING gist (geog)")
    return pg, version


def load_postgis(pg, hub_id: str, routes: list[StoredRoute]) -> float:
    started = time.perf_counter()
    with pg.cursor() as cur:
        cur.execute("BEGIN")
        cur.execute("DELETE FROM bench_routes WHERE hub_id = %s", (hub_id,))
        for r in routes:
            cur.execute(
                "INSERT INTO bench_routes (hub_id, id, priority, rider_id, geom, geog) "
                "SELECT %s, %s, %s, %s, g, g::geography FROM (SELECT ST_SetSRID(ST_GeomFromGeoJSON(%s), 4326) AS g) s",
                (hub_id, r.id, r.priority, r.rider, r.geometry_geojson),
            )
        cur.execute("COMMIT")
        cur.execute("ANALYZE bench_routes")
    return time.perf_counter() - started


def postgis_lookup(pg, hub_id: str, lats: np.ndarray, lngs: np.ndarray, limit: float) -> list[tuple[str, str, float]]:
    with pg.cursor() as cur:
        cur.execute(
            LOOKUP_SQL, {"lats": lats.tolist(), "lngs": lngs.tolist(), "hub": hub_id, "limit": limit, "tie": TIE_M}
        )
        rows = cur.fetchall()
    answers = []
    for exact, nearest, distance in rows:
        if exact is not None:
            answers.append((exact, "EXACT", 0.0))
        elif nearest is not None:
            answers.append((nearest, "NEAREST", float(distance)))
        else:
            answers.append(("", "NONE", 0.0))
    return answers


# ----------------------------------------------------------------------------- gRPC


def grpc_request(hub_id: str, lats: np.ndarray, lngs: np.ndarray) -> routing_pb2.BatchLookupRoutesRequest:
    return routing_pb2.BatchLookupRoutesRequest(
        lookups=[
            routing_pb2.LookupRouteRequest(hub_id=hub_id, location=common_pb2.LatLng(lat=lat, lng=lng))
            for lat, lng in zip(lats.tolist(), lngs.tolist(), strict=True)
        ]
    )


def grpc_lookup(clients: MeshClients, request: routing_pb2.BatchLookupRoutesRequest) -> list[tuple[str, str, float]]:
    response = clients.routing.BatchLookupRoutes(request, timeout=120)
    return [(r.route_id, MATCH_NAMES.get(r.match, str(r.match)), r.distance_m) for r in response.results]


# ----------------------------------------------------------------------------- run


def bench_map(args, clients, raw_channel, pg, name: str, hub_id: str, collection: dict) -> bool:
    print(f"\n== {name}: hub {hub_id}")
    c.import_hub(clients, hub_id, collection)
    routes = routes_of(clients, hub_id)
    load_s = load_postgis(pg, hub_id, routes)
    vertices = int(shapely.get_num_coordinates(shapely.from_geojson([r.geometry_geojson for r in routes])).sum())
    print(
        f"  {len(routes):,} active routes ({vertices:,} vertices) read back with ListRoutes and loaded into PostGIS "
        f"in {load_s:.1f} s (GiST on geometry and on geography)"
    )
    lats, lngs, kinds = make_points(routes, args.points, args.seed)
    print(f"  {len(lats):,} points: " + ", ".join(f"{n:,} {k}" for k, n in kinds.items()))
    request = grpc_request(hub_id, lats, lngs)
    # The same call with the request serialized beforehand and the response left as bytes: what
    # the server and the transport take, without the client's protobuf work.
    body = request.SerializeToString()
    raw_call = raw_channel.unary_unary(LOOKUP_METHOD, request_serializer=None, response_deserializer=None)

    # one warm-up each (index load, caches, plan), then alternate timed runs
    answers_grpc = grpc_lookup(clients, request)
    answers_pg = postgis_lookup(pg, hub_id, lats, lngs, args.limit)
    raw_call(body, timeout=120)
    times: dict[str, list[float]] = {"grpc": [], "postgis": [], "raw": []}
    for _ in range(args.reps):
        started = time.perf_counter()
        grpc_lookup(clients, request)
        times["grpc"].append(time.perf_counter() - started)
        started = time.perf_counter()
        postgis_lookup(pg, hub_id, lats, lngs, args.limit)
        times["postgis"].append(time.perf_counter() - started)
        started = time.perf_counter()
        raw_call(body, timeout=120)
        times["raw"].append(time.perf_counter() - started)

    n = len(lats)
    print(
        f"  {'engine (client call to answers in hand)':<44} {'best/s':>10} {'median/s':>10} {'worst/s':>10} {'median batch':>13}"
    )
    for engine, label in (
        ("grpc", "routing_svc BatchLookupRoutes (gRPC)"),
        ("postgis", "PostGIS, one query (psycopg2)"),
        ("raw", "  gRPC call alone (no client protobuf work)"),
    ):
        t = np.array(times[engine])
        print(
            f"  {label:<44} {n / t.min():>10,.0f} {n / np.median(t):>10,.0f} {n / t.max():>10,.0f} "
            f"{np.median(t) * 1000:>10.1f} ms"
        )
    speedup = np.median(times["postgis"]) / np.median(times["grpc"])
    print(f"  routing_svc is {speedup:.1f}x {'faster' if speedup >= 1 else 'slower'} than PostGIS (median batch time)")

    mismatches = [
        (i, g, p) for i, (g, p) in enumerate(zip(answers_grpc, answers_pg, strict=True)) if (g[0], g[1]) != (p[0], p[1])
    ]
    by_kind = {}
    for g in answers_grpc:
        by_kind[g[1]] = by_kind.get(g[1], 0) + 1
    diff = np.array(
        [
            abs(g[2] - p[2])
            for g, p in zip(answers_grpc, answers_pg, strict=True)
            if g[1] == p[1] == "NEAREST" and g[0] == p[0]
        ]
    )
    print(
        f"  answers: {', '.join(f'{v:,} {k}' for k, v in sorted(by_kind.items()))}; "
        f"agreement on route id and match: {100 * (n - len(mismatches)) / n:.3f}% ({len(mismatches)} mismatches)"
    )
    if diff.size:
        print(
            f"  NEAREST distance_m, |routing_svc - PostGIS geography|: p50 {np.median(diff) * 1000:.1f} mm, "
            f"p99 {np.percentile(diff, 99) * 1000:.1f} mm, max {diff.max() * 1000:.1f} mm (informational: PostGIS "
            "finds the nearest point of an edge on the sphere)"
        )
    for i, g, p in mismatches[: args.show]:
        print(
            f"    point {i} (lat {lats[i]:.7f}, lng {lngs[i]:.7f}): routing_svc {g[1]} {g[0] or '-'} {g[2]:.3f} m, "
            f"PostGIS {p[1]} {p[0] or '-'} {p[2]:.3f} m"
        )
    return not mismatches


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    maps = [m.strip() for m in args.maps.split(",") if m.strip()]
    pg, version = prepare_postgis(args)
    ok = True
    try:
        with connect(pur_endpoint("localhost:50051"), routing_endpoint(args.routing_address)) as clients:
            print(
                f"bench_lookup_service {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {args.points:,} points per batch, "
                f"{args.reps} timed batches per engine after a warm-up"
            )
            print(f"{version}, database {BENCH_DB}; routing_svc at {args.routing_address}")
            raw_channel = tool_channel(args.routing_address)
            for name in maps:
                if name == "demo":
                    ok &= bench_map(args, clients, raw_channel, pg, "demo map (50 routes)", DEMO_HUB, demo_map())
                elif name == "synthetic":
                    collection = synthetic_map(args.synthetic_routes, args.seed)
                    size_mb = len(json.dumps(collection)) / 1e6
                    print(f"\n(synthetic map: {len(collection['features']):,} routes, {size_mb:.1f} MB of GeoJSON)")
                    ok &= bench_map(
                        args,
                        clients,
                        raw_channel,
                        pg,
                        f"synthetic map ({args.synthetic_routes:,} routes)",
                        SYNTHETIC_HUB,
                        collection,
                    )
                else:
                    print(f"unknown map {name!r}", file=sys.stderr)
                    return 2
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except grpc.RpcError as exc:
        print(f"error: {c.rpc_error_text(exc)}", file=sys.stderr)
        return 1
    finally:
        pg.close()
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
