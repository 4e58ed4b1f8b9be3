"""`python -m demo`: the main job, run against a mesh that `make up` started.

Imports the demo hub's route map into routing_svc, stores its depot (UpsertHub), loads the hub's fleet into dispatch_svc and
attendance_adapter (riders, vehicles, today's attendance, yesterday's dispatch history), streams a
simulated day of pickup requests through pur_svc, follows each until it is routed, prints a
per-route summary with latency and throughput, then the dispatch board (open pickups per route and
the recommended rider and vehicle), draws the hub into a PNG, plans the day's dispatches
(PlanDispatches: trips per route, unplanned pickups, the comparison with arrival-order first fit)
and draws the trips beside the hub's picture (with --commit, commits that plan); then, as the hub's team lead, shows
the manual queue (how many, why, the nearest routes), resolves one exception by a manual
assignment and prints that PUR's history; then looks ahead to tomorrow (eight weeks of volume
history imported, tomorrow's roster recorded, the forecast of the busiest routes with 80%
intervals and backtest MASE, the fleet tomorrow needs against who is rostered, a picture of history
and forecast); and leaves the mesh running for grpcurl.
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import grpc

from demo import city, exceptions, fleet, forecast, picture, planning, report
from demo.stream import DayResult, stream_day
from demo.workload import hub_today, kinds_of, new_run_id, plan_day
from firstmile.routing.v1 import routing_pb2
from firstmile_client.channels import ToolError, connect, explain
from firstmile_client.endpoints import attendance_endpoint, dispatch_endpoint, pur_endpoint, routing_endpoint
from firstmile_client.requests import import_routes_request
from firstmile_client.stubs import MeshClients

IMPORT_TIMEOUT_S = 120.0
ROUTE_MAP_TIMEOUT_S = 60.0
DEFAULT_PICTURE = Path("out/demo_hub.png")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo",
        description="Import the demo hub's route map, stream a day of pickup requests through the running mesh "
        "and report how they were routed.",
    )
    parser.add_argument("--purs", type=_positive_int, default=3000, help="pickup requests to create (default 3000)")
    parser.add_argument("--rate", type=_positive_float, default=300.0, help="pickup requests per second (default 300)")
    parser.add_argument(
        "--batch", type=_batch_size, default=100, help="requests per BatchCreatePickupRequests call (default 100)"
    )
    parser.add_argument("--hub", default=city.HUB_ID, help=f"hub id to import the map into (default {city.HUB_ID})")
    parser.add_argument(
        "--map", type=Path, default=city.MAP_PATH, help="route map GeoJSON (default: the shipped demo map)"
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the warehouse locations (default 1)")
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        default=60.0,
        help="seconds to wait for routing after the last create (default 60)",
    )
    parser.add_argument(
        "--picture", type=Path, default=DEFAULT_PICTURE, help=f"where to write the PNG (default {DEFAULT_PICTURE})"
    )
    parser.add_argument(
        "--pur-address", default="localhost:50051", help="pur_svc gRPC address (default localhost:50051)"
    )
    parser.add_argument(
        "--routing-address", default="localhost:50052", help="routing_svc gRPC address (default localhost:50052)"
    )
    parser.add_argument(
        "--dispatch-address", default="localhost:50053", help="dispatch_svc gRPC address (default localhost:50053)"
    )
    parser.add_argument(
        "--attendance-address",
        default="localhost:50054",
        help="attendance_adapter gRPC address (default localhost:50054)",
    )
    parser.add_argument(
        "--busiest", type=_positive_int, default=15, help="routes shown on the dispatch board (default 15)"
    )
    parser.add_argument(
        "--commit",
        action="store_true",
        help="commit the day's plan (CommitDispatchPlan); without it the plan is shown for review only, so a "
        "re-run the same day plans the whole queue again",
    )
    return parser.parse_args(argv)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be a positive number")
    return value


def _batch_size(text: str) -> int:
    value = _positive_int(text)
    if value > 1000:
        raise argparse.ArgumentTypeError("at most 1000 (the BatchCreatePickupRequests limit)")
    return value


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        return run(args)
    except ToolError as exc:
        print(f"\nerror: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted; the mesh keeps running (`make down` stops it)", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    collection = load_map(args.map)
    with connect(
        pur_endpoint(args.pur_address),
        routing_endpoint(args.routing_address),
        dispatch_endpoint(args.dispatch_address),
        attendance_endpoint(args.attendance_address),
    ) as clients:
        print(
            f"First Mile mesh demo: hub {args.hub}, pur_svc {args.pur_address}, routing_svc {args.routing_address}, "
            f"dispatch_svc {args.dispatch_address}, attendance_adapter {args.attendance_address}\n"
        )
        imported = import_map(clients, args.hub, collection, args.map)

        run_id, today = new_run_id(), hub_today()
        depot = planning.depot_of(collection, args.hub)
        print(planning.upsert_hub(clients, depot))
        load_fleet(clients, args, collection, date.fromisoformat(today))
        open_before = fleet.open_pur_total(clients, args.hub, date.fromisoformat(today))
        pickups = plan_day(collection, args.purs, seed=args.seed, run_id=run_id)
        kinds = kinds_of(pickups)
        print(
            f"\nStreaming {len(pickups):,} pickup requests for {today} at {args.rate:,.0f}/s in batches of {args.batch} "
            f"(run {run_id}): {kinds.get('market', 0) + kinds.get('spread', 0):,} inside the map, "
            f"{kinds.get('edge', 0):,} just outside it, {kinds.get('far', 0):,} far away"
        )
        result = stream_day(
            clients, args.hub, pickups, run_id=run_id, pickup_date=today,
            rate=args.rate, batch_size=args.batch, settle_timeout_s=args.timeout,
        )  # fmt: skip

        route_map = fetch_route_map(clients, args.hub)
        map_version = route_map.map_version if route_map is not None else imported.map_version
        print()
        print(report.render(result, report.routes_of(collection), hub_id=args.hub, map_version=map_version))
        print()
        print(dispatch_board(clients, args, result, date.fromisoformat(today), open_before))

        png = picture.draw(
            args.picture, hub_id=args.hub, hub_lng_lat=hub_location(collection),
            collection=collection, route_map=route_map, result=result,
        )  # fmt: skip
        print(f"\nPicture of the hub: {png}")
        print()
        print(plan_the_day(clients, args, collection, depot, result, today))
        this_run = {o.pickup.id for o in result.observations.values()}
        names = {r.id: r.name for r in report.routes_of(collection)}
        worked = exceptions.work_the_queue(clients, args.hub, today, this_run, names)
        print(worked.text)
        print()
        print(look_ahead(clients, args, collection, depot, date.fromisoformat(today)))
        print(explore_hints(args, worked.resolved_id))
    return finish(result, args.timeout)


def look_ahead(
    clients: MeshClients, args: argparse.Namespace, collection: dict, depot: planning.Depot, today: date
) -> str:
    """Tomorrow: eight weeks of history imported, the roster recorded, the forecast and the fleet
    it needs against who is rostered, and their picture."""
    print("Looking ahead: importing the hub's volume history and recording tomorrow's roster ...")
    return forecast.look_ahead(
        clients, args.hub, collection, timezone=depot.timezone, today=today, pickups_per_day=args.purs,
        riders=[(r.id, r.name, r.spare) for r in fleet.riders(args.hub, seed=args.seed)],
        hub_picture=args.picture, seed=args.seed,
    )  # fmt: skip


def load_fleet(clients: MeshClients, args: argparse.Namespace, collection: dict, today: date) -> fleet.LoadSummary:
    started = time.monotonic()
    print("\nLoading the hub's fleet: riders, vehicles, attendance, yesterday's dispatch history ...")
    loaded = fleet.load(clients, args.hub, collection, today, seed=args.seed)
    for line in loaded.lines(today):
        print(line)
    print(f"(fleet loaded in {time.monotonic() - started:.1f} s)")
    return loaded


def dispatch_board(
    clients: MeshClients,
    args: argparse.Namespace,
    result: DayResult,
    today: date,
    open_before: int,
) -> str:
    """Waits for dispatch_svc to queue this run's routed PURs, then renders the board."""
    routed = sum(1 for o in result.observations.values() if o.pickup.route_id)
    reached = fleet.wait_for_queue(clients, args.hub, today, open_before + routed)
    this_run = report.routed_load(result)
    busiest = sorted(this_run, key=lambda r: (-this_run[r].count, r))[: args.busiest]
    groups, boards = fleet.board(clients, args.hub, today, busiest)
    text = report.dispatch_section(
        groups, boards, this_run, hub_id=args.hub, pickup_date=today.isoformat(),
        rider_names={r.id: r.name for r in fleet.riders(args.hub, seed=args.seed)},
    )  # fmt: skip
    if reached < open_before + routed:
        text += (
            f"\n  note: dispatch_svc had queued {reached - open_before:,} of this run's {routed:,} routed PURs when the "
            "wait ended (it follows pur.events.v1; see .cache/logs/dispatch_svc.log)"
        )
    return text


def plan_the_day(
    clients: MeshClients, args: argparse.Namespace, collection: dict, depot: planning.Depot, result: DayResult, day: str
) -> str:
    """PlanDispatches for the hub's day, printed per route, the trips drawn beside the hub's picture,
    then, with --commit, the reviewed plan committed (CommitDispatchPlan)."""
    started = time.monotonic()
    plan, why_not = planning.plan_day(clients, args.hub, day)
    if plan is None:
        return why_not
    vehicles = fleet.vehicles(args.hub, seed=args.seed)
    text = planning.render(
        plan, timezone=depot.timezone,
        route_names={r.id: r.name for r in report.routes_of(collection)},
        rider_names={r.id: r.name for r in fleet.riders(args.hub, seed=args.seed)},
        capacities={v.id: (v.capacity_packages, v.capacity_kg) for v in vehicles},
    )  # fmt: skip
    known = {
        o.pickup.id: (o.pickup.warehouse.location.lng, o.pickup.warehouse.location.lat)
        for o in result.observations.values()
    }
    wanted = [s.pur_id for t in plan.trips for s in t.stops] + [u.pur_id for u in plan.unplanned]
    locations = planning.stop_locations(clients, args.hub, day, known, wanted)
    png = planning.draw_trips(
        planning.trips_picture_path(args.picture), collection=collection, depot=depot, plan=plan, locations=locations
    )
    planned = f"{text}\n(planned in {time.monotonic() - started:.1f} s)\nPicture of the trips: {png}"
    if not args.commit:
        return (
            f"{planned}\n\nThe plan is a proposal for review (it expires unless committed; `--commit` commits it, "
            "auto-dispatch plans and commits the hub's queues at its cut-off)"
        )
    return f"{planned}\n\n{planning.commit(clients, plan)}"


def load_map(path: Path) -> dict:
    try:
        return city.load_route_map(path)
    except (OSError, ValueError) as exc:
        raise ToolError(f"cannot read the route map {path}: {exc}") from None


def import_map(clients: MeshClients, hub_id: str, collection: dict, path: Path) -> routing_pb2.ImportRoutesResponse:
    """ImportRoutes with replace_existing, so the hub's map becomes exactly the file (re-runs change nothing)."""
    started = time.monotonic()
    try:
        response = clients.routing.ImportRoutes(import_routes_request(hub_id, collection), timeout=IMPORT_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise explain(exc, clients.routing_endpoint, "ImportRoutes") from None
    print(
        f"Imported {len(collection['features'])} routes from {path.name} into {hub_id} in "
        f"{time.monotonic() - started:.2f} s: {response.created_count} created, {response.updated_count} updated, "
        f"{response.deleted_count} deleted, {response.unchanged_count} unchanged; map version {response.map_version}"
    )
    return response


def fetch_route_map(clients: MeshClients, hub_id: str) -> routing_pb2.GetRouteMapResponse | None:
    """The compiled map (coverage, overlaps, gaps) for the picture, or None if routing_svc cannot
    give it (the picture is then drawn without it)."""
    try:
        route_map = clients.routing.GetRouteMap(
            routing_pb2.GetRouteMapRequest(hub_id=hub_id), timeout=ROUTE_MAP_TIMEOUT_S
        )
    except grpc.RpcError as exc:
        print(f"\nnote: the picture has no H3 coverage: {explain(exc, clients.routing_endpoint, 'GetRouteMap')}")
        return None
    print(
        f"\nCompiled map: version {route_map.map_version}, {route_map.route_count} active routes, "
        f"{route_map.cell_count:,} H3 cells at resolution {route_map.resolution} ({route_map.edge_cell_count:,} on route "
        f"edges), {len(route_map.overlaps)} overlapping route pairs, {route_map.gap_cell_count:,} gap cells"
    )
    return route_map


def hub_location(collection: dict) -> tuple[float, float]:
    location = collection.get("hub", {}).get("location")
    return (float(location[0]), float(location[1])) if location else (city.HUB.lng, city.HUB.lat)


def explore_hints(args: argparse.Namespace, pur_id: str = "") -> str:
    grpcurl = '.cache/bin/grpcurl -plaintext -H "authorization: Bearer $TOKEN"'
    pur, routing = args.pur_address, args.routing_address
    hub = args.hub
    return "\n".join(
        [
            "",
            "The mesh keeps running (`make down` stops it; `make logs` follows the services' logs). Explore it",
            "as the hub's team lead (every call but health and reflection needs a token; see docs/security.md):",
            f'  eval "$(bash infra/infra.sh env)"; TOKEN="$(python -m mesh.commands.tokens --role team-lead --hub {hub} '
            f'--subject {exceptions.LEAD})"',
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","page_size":3}}\' {pur} firstmile.pur.v1.PickupService/ListPickupRequests',
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","status":"PICKUP_STATUS_UNROUTABLE","page_size":3}}\' {pur} '
            "firstmile.pur.v1.PickupService/ListPickupRequests",
            f'  {grpcurl} -d \'{{"hub_id":"{hub}"}}\' {pur} firstmile.pur.v1.PickupService/WatchPickupRequests   (live; Ctrl-C stops)',
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","location":{{"lat":12.9352,"lng":77.6245}}}}\' {routing} '
            "firstmile.routing.v1.RoutingService/LookupRoute",
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","omit_geojson":true}}\' {routing} firstmile.routing.v1.RoutingService/GetRouteMap',
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","pickup_date":"{hub_today()}","pickups_per_route_limit":2}}\' '
            f"{args.dispatch_address} firstmile.dispatch.v1.DispatchService/ListOpenPickupsByRoute",
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","route_id":"BLR-KOR-R01","pickup_date":"{hub_today()}"}}\' '
            f"{args.dispatch_address} firstmile.dispatch.v1.DispatchService/RecommendDispatch",
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","pickup_date":"{hub_today()}","page_size":3}}\' {pur} '
            "firstmile.pur.v1.PickupService/ListManualQueue",
            f'  {grpcurl} -d \'{{"id":"{pur_id or "PUR_ID"}","route_id":"BLR-KOR-R01","reason":"seller moved"}}\' {pur} '
            "firstmile.pur.v1.PickupService/AssignPickupRoute",
            f'  {grpcurl} -d \'{{"id":"{pur_id or "PUR_ID"}"}}\' {pur} firstmile.pur.v1.PickupService/ListPickupHistory',
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","pickup_date":"{hub_today()}"}}\' {args.dispatch_address} '
            "firstmile.dispatch.v1.DispatchService/WatchOpenPickupsByRoute   (live board; Ctrl-C stops)",
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","route_id":"BLR-KOR-R18","start_date":"{hub_today()}","days":7}}\' '
            f"{args.dispatch_address} firstmile.dispatch.v1.DispatchService/ForecastPickupVolume",
            f'  {grpcurl} -d \'{{"hub_id":"{hub}","date":"{_tomorrow()}"}}\' {args.dispatch_address} '
            "firstmile.dispatch.v1.DispatchService/ForecastFleetNeed",
            f"  .cache/bin/grpcurl -plaintext {pur} list   (reflection needs no token)",
        ]
    )


def _tomorrow() -> str:
    return (date.fromisoformat(hub_today()) + timedelta(days=1)).isoformat()


def finish(result: DayResult, timeout_s: float) -> int:
    pending = result.pending
    if pending:
        print(
            f"\nerror: {len(pending):,} pickup requests were not routed within {timeout_s:.0f} s of the last create; "
            "see .cache/logs/routing_svc.log and .cache/logs/pur_svc.log",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
