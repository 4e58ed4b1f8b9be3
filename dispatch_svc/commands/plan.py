"""Plan a hub's day from the command line, with a progress bar: the operator's PlanDispatches.

    python -m dispatch_svc.commands.plan --hub BLR-KORAMANGALA --date 2026-12-07 [--routes R1,R2] [--trips]

Reads the hub's queues, riders and vehicles from dispatch_svc's database (FIRSTMILE_DATABASE_URL),
plans with the service's planner and DISPATCH_SVC_PLANNING_* settings, stores the plan through
the same use case as PlanDispatches, and prints its trips and unplanned pickups. Nothing is
dispatched: review the plan, then commit it with CommitDispatchPlan (grpcurl line printed).
Exit 0 with a plan, 1 when the request is refused (unknown hub or routes, a past day), 2 on bad
arguments or configuration.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, tzinfo
from typing import TextIO

from tqdm import tqdm

from dispatch_svc.bootstrap import build_planning_tools
from dispatch_svc.config import Settings
from dispatch_svc.domain.planning import PlanningProgress, ProgressCallback
from dispatch_svc.domain.plans import DispatchPlan
from dispatch_svc.service_layer.plans import plan_dispatches
from mesh.config import ConfigError, DatabaseSettings, load
from mesh.errors import MeshError
from mesh.kernel import check_id, parse_date


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m dispatch_svc.commands.plan", description=(__doc__ or "").splitlines()[0]
    )
    parser.add_argument("--hub", required=True, help="hub id (UpsertHub gave it a depot)")
    parser.add_argument("--date", required=True, help="pickup date, YYYY-MM-DD (today or later in the hub's zone)")
    parser.add_argument(
        "--routes",
        action="append",
        default=[],
        help="route ids, comma-separated or repeated (default: every route with a queue)",
    )
    parser.add_argument("--trips", action="store_true", help="print every trip, not only the totals per route")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (e.g. in logs)")
    return parser


@contextmanager
def progress_bar(enabled: bool, out: TextIO) -> Iterator[ProgressCallback]:
    """A tqdm bar over the problem's pickups: placed in trips so far, the round and its routes."""
    bar = tqdm(total=0, unit="pickup", desc="planning", file=out, disable=not enabled, dynamic_ncols=True)

    def report(progress: PlanningProgress) -> None:
        bar.total = progress.stops
        bar.n = progress.stops if progress.done else progress.placed
        where = (
            "done"
            if progress.done
            else f"round {progress.round}, route {progress.routes_solved}/{progress.routes_in_round}"
        )
        bar.set_postfix_str(f"{where}, {progress.trips} trips", refresh=False)
        bar.refresh()

    try:
        yield report
    finally:
        bar.close()


def _span(start: datetime, end: datetime) -> str:
    return f"{start:%H:%M}-{end:%H:%M} {start.tzname()}"


def summary(plan: DispatchPlan, zone: tzinfo = UTC, *, trips: bool = False) -> list[str]:
    """The plan in words (times in the hub's `zone`): totals, per route, unplanned by reason, and how
    to commit it."""
    km = plan.total_distance_m / 1000
    planned = sum(len(t.stops) for t in plan.trips)
    lines = [
        f"plan {plan.id}: hub {plan.hub_id}, {plan.pickup_date.isoformat()}, "
        f"expires {plan.expires_at.isoformat(timespec='seconds')}",
        f"  {len(plan.trips)} trips, {len({t.rider_id for t in plan.trips})} riders, "
        f"{len({t.vehicle_id for t in plan.trips})} vehicles, {planned} pickups planned, "
        f"{len(plan.unplanned)} unplanned, {km:,.1f} km",
    ]
    if plan.arrival_order_distance_m > 0 and plan.trips:
        saved = 1 - plan.total_distance_m / plan.arrival_order_distance_m
        lines.append(
            f"  {saved:.0%} shorter than visiting the same trips' stops in arrival order "
            f"({plan.arrival_order_distance_m / 1000:,.1f} km)"
        )
    by_route = defaultdict(list)
    for trip in plan.trips:
        by_route[trip.route_id].append(trip)
    if by_route:
        lines.append("  per route:")
    for route_id, route_trips in sorted(by_route.items()):
        start = min(t.start for t in route_trips).astimezone(zone)
        end = max(t.end for t in route_trips).astimezone(zone)
        lines.append(
            f"    {route_id}: {len(route_trips)} trips, {sum(len(t.stops) for t in route_trips)} pickups, "
            f"{sum(t.distance_m for t in route_trips) / 1000:,.1f} km, {_span(start, end)}"
        )
        if trips:
            for trip in route_trips:
                lines.append(
                    f"      {trip.id}: rider {trip.rider_id}, vehicle {trip.vehicle_id}, {len(trip.stops)} stops, "
                    f"{trip.load.packages} packages / {trip.load.weight_kg:.1f} kg, {trip.distance_m / 1000:.1f} km, "
                    f"{_span(trip.start.astimezone(zone), trip.end.astimezone(zone))}"
                )
    reasons = Counter(u.reason for u in plan.unplanned)
    if reasons:
        lines.append("  unplanned:")
        lines += [f"    {count} x {reason}" for reason, count in reasons.most_common()]
    if plan.left_for_next_plan:
        left = sorted(plan.left_for_next_plan.items(), key=lambda item: (-item[1], item[0]))
        lines.append(
            f"  left for the next plan (beyond this plan's size limits): {sum(n for _, n in left):,} pickups, "
            + ", ".join(f"{route_id} {n:,}" for route_id, n in left[:10])
            + (f", and {len(left) - 10} more routes" if len(left) > 10 else "")
        )
    lines.append(
        f'review it, then commit: grpcurl ... -d \'{{"plan_id": "{plan.id}"}}\' '
        "localhost:50053 firstmile.dispatch.v1.DispatchService/CommitDispatchPlan"
    )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        hub_id = check_id("--hub", args.hub)
        day = parse_date("--date", args.date)
        route_ids = [check_id("--routes", r.strip()) for value in args.routes for r in value.split(",") if r.strip()]
    except MeshError as exc:
        parser.error(str(exc))
    try:
        database = load(DatabaseSettings)
        settings = load(Settings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    tools = build_planning_tools(database, settings)
    try:
        with progress_bar(not args.no_progress, sys.stderr) as progress:
            plan = plan_dispatches(
                tools.uow(), tools.planner, hub_id, day, route_ids, settings=tools.settings, progress=progress
            )
        with tools.uow() as uow:
            hub = uow.hubs.get(hub_id)
    except MeshError as exc:
        print(f"not planned: {exc}", file=sys.stderr)
        return 1
    finally:
        tools.close()
    zone = hub.zone if hub is not None else UTC
    print("\n".join(summary(plan, zone, trips=args.trips)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
