"""The demo's printed summary: per-route outcomes, unroutable reasons, latency and throughput."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from demo.stream import DayResult, Observation
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2

PERCENTILES = (50, 95, 99)
MAX_NAME_CHARS = 30
KIND_LABELS = {
    "market": "inside the map, near a market",
    "spread": "inside the map, anywhere",
    "edge": "just outside the map's edge",
    "far": "far away (another town)",
}


@dataclass(frozen=True)
class RouteInfo:
    """A route of the imported map as the summary shows it."""

    id: str
    name: str
    rider: str


@dataclass
class RouteTally:
    exact: int = 0
    nearest: int = 0

    @property
    def total(self) -> int:
        return self.exact + self.nearest


def routes_of(collection: dict) -> list[RouteInfo]:
    """The routes of a FeatureCollection, ordered by id."""
    routes = [
        RouteInfo(
            id=feature["properties"]["id"],
            name=feature["properties"].get("name", ""),
            rider=feature["properties"].get("default_rider_id") or "-",
        )
        for feature in collection["features"]
    ]
    return sorted(routes, key=lambda route: route.id)


def render(result: DayResult, routes: Sequence[RouteInfo], *, hub_id: str, map_version: int) -> str:
    """The whole summary as text."""
    observations = list(result.observations.values())
    sections = [
        route_table(observations, routes, hub_id=hub_id, map_version=map_version),
        unroutable_section(observations),
        location_check(result),
        latency_section(result),
        throughput_section(result),
    ]
    return "\n\n".join(section for section in sections if section)


# ------------------------------------------------------------------------------- route table


def tally_routes(observations: Iterable[Observation]) -> dict[str, RouteTally]:
    tallies: dict[str, RouteTally] = {}
    for observation in observations:
        pickup = observation.pickup
        if pickup.status != pur_pb2.PICKUP_STATUS_ROUTED:
            continue
        tally = tallies.setdefault(pickup.route_id, RouteTally())
        if pickup.route_match == common_pb2.ROUTE_MATCH_NEAREST:
            tally.nearest += 1
        else:
            tally.exact += 1
    return tallies


def route_table(
    observations: Sequence[Observation], routes: Sequence[RouteInfo], *, hub_id: str, map_version: int
) -> str:
    tallies = tally_routes(observations)
    known = {route.id for route in routes}
    rows = [(r.id, _clip(r.name), r.rider, tallies.get(r.id, RouteTally())) for r in routes]
    rows += [(rid, "(not in the imported map)", "-", t) for rid, t in sorted(tallies.items()) if rid not in known]
    total = RouteTally(sum(t.exact for t in tallies.values()), sum(t.nearest for t in tallies.values()))

    id_width = max(len("route"), *(len(row[0]) for row in rows))
    name_width = max(len("name"), *(len(row[1]) for row in rows))
    rider_width = max(len("rider"), *(len(row[2]) for row in rows))

    def line(route_id: str, name: str, rider: str, exact: str, nearest: str, routed: str) -> str:
        return (
            f"  {route_id:<{id_width}}  {name:<{name_width}}  {rider:<{rider_width}}"
            f"  {exact:>7}  {nearest:>7}  {routed:>7}"
        )

    rule = "  " + "-" * (id_width + name_width + rider_width + 3 * 9 + 4)
    lines = [
        f"Per-route summary: hub {hub_id}, map version {map_version}, {len(observations):,} PURs settled",
        line("route", "name", "rider", "EXACT", "NEAREST", "routed"),
        rule,
    ]
    lines += [line(rid, name, rider, f"{t.exact:,}", f"{t.nearest:,}", f"{t.total:,}") for rid, name, rider, t in rows]
    lines.append(rule)
    lines.append(line("all routes", "", "", f"{total.exact:,}", f"{total.nearest:,}", f"{total.total:,}"))
    idle = [row[0] for row in rows if row[3].total == 0]
    if idle:
        lines.append(f"  routes with no pickups today: {', '.join(idle)}")
    return "\n".join(lines)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_NAME_CHARS else text[: MAX_NAME_CHARS - 1] + "…"


# ---------------------------------------------------------------------------- unroutable


def reason_pattern(reason: str) -> str:
    """A reason with its particulars (route ids, distances) blanked, so alike reasons group."""
    pattern = re.sub(r"\b[A-Z][A-Z0-9]*(?:-[A-Z0-9]+)+\b", "<route>", reason)
    return re.sub(r"\d[\d,]*(?:\.\d+)?", "<n>", pattern)


def unroutable_section(observations: Sequence[Observation]) -> str:
    unroutable = [o.pickup for o in observations if o.pickup.status == pur_pb2.PICKUP_STATUS_UNROUTABLE]
    if not unroutable:
        return "UNROUTABLE: 0"
    patterns = Counter(reason_pattern(p.unroutable_reason or "(no reason given)") for p in unroutable)
    example_of: dict[str, str] = {}
    for pickup in unroutable:
        example_of.setdefault(reason_pattern(pickup.unroutable_reason or "(no reason given)"), pickup.unroutable_reason)
    lines = [f"UNROUTABLE: {len(unroutable):,} (they wait in the hub's manual queue); most common reasons:"]
    for pattern, count in patterns.most_common(3):
        lines.append(f'  {count:>6,} x  like "{example_of[pattern]}"')
    return "\n".join(lines)


# ------------------------------------------------------------------------- location check


def location_check(result: DayResult) -> str:
    """How each kind of planned location was routed: a sanity check of the routing answers."""
    outcome_by_kind: dict[str, Counter] = {}
    for pickup in result.planned:
        observation = result.observations.get(pickup.request_id)
        outcome_by_kind.setdefault(pickup.kind, Counter())[_outcome(observation)] += 1
    columns = ("EXACT", "NEAREST", "UNROUTABLE", "pending")
    width = max(len(label) for label in KIND_LABELS.values())
    lines = ["Where the warehouses were, and how they were routed:"]
    lines.append(f"  {'':<{width}}  " + "  ".join(f"{c:>10}" for c in columns))
    for kind, label in KIND_LABELS.items():
        counts = outcome_by_kind.get(kind)
        if counts:
            lines.append(f"  {label:<{width}}  " + "  ".join(f"{counts[c]:>10,}" for c in columns))
    lines.append("  (points inside the map can still be NEAREST: the airport, the army area and the lakes are gaps)")
    return "\n".join(lines)


def _outcome(observation: Observation | None) -> str:
    if observation is None:
        return "pending"
    pickup = observation.pickup
    if pickup.status == pur_pb2.PICKUP_STATUS_UNROUTABLE:
        return "UNROUTABLE"
    return "NEAREST" if pickup.route_match == common_pb2.ROUTE_MATCH_NEAREST else "EXACT"


# ------------------------------------------------------------------------------ latency


def client_latencies_ms(result: DayResult) -> np.ndarray:
    """Create-to-routed latency as this client saw it, for the PURs the watch reported."""
    values = [
        max(0.0, observation.seen_at - result.created_at[request_id]) * 1000
        for request_id, observation in result.observations.items()
        if observation.via_watch and request_id in result.created_at
    ]
    return np.array(values, dtype=float)


def server_latencies_ms(result: DayResult) -> np.ndarray:
    """routed_at - created_at as pur_svc recorded them (its own clock, no client in the loop)."""
    values = []
    for observation in result.observations.values():
        pickup = observation.pickup
        if pickup.HasField("routed_at") and pickup.HasField("created_at"):
            delta = pickup.routed_at.ToNanoseconds() - pickup.created_at.ToNanoseconds()
            values.append(delta / 1e6)
    return np.array(values, dtype=float)


def latency_section(result: DayResult) -> str:
    client = client_latencies_ms(result)
    server = server_latencies_ms(result)
    header = f"  {'':<34}{'PURs':>7}" + "".join(f"{'p' + str(p):>9}" for p in PERCENTILES) + f"{'max':>9}"
    lines = [
        "Create-to-routed latency, in ms:",
        header,
        _latency_row("seen by this client (watch)", client),
        _latency_row("recorded by pur_svc", server),
        "  'seen by this client' = the moment the PUR's ROUTED/UNROUTABLE update arrived on the",
        "  WatchPickupRequests stream minus the moment the BatchCreatePickupRequests call holding it",
        "  returned, both on this client's monotonic clock. It spans the outbox relay, Kafka, routing_svc,",
        "  the assignment back to pur_svc and the watch feed. 'recorded by pur_svc' = routed_at - created_at",
        "  of the stored PUR (the server's clock, from the create transaction to the applied assignment).",
    ]
    missed = sum(1 for o in result.observations.values() if not o.via_watch)
    if missed:
        lines.append(f"  {missed:,} PURs were missed by the best-effort watch and read back with ListPickupRequests;")
        lines.append("  they count in the server figures only.")
    return "\n".join(lines)


def _latency_row(label: str, values: np.ndarray) -> str:
    if len(values) == 0:
        return f"  {label:<34}{0:>7}" + "".join(f"{'-':>9}" for _ in (*PERCENTILES, 0))
    figures = [*np.percentile(values, PERCENTILES), values.max()]
    return f"  {label:<34}{len(values):>7,}" + "".join(f"{v:>9.1f}" for v in figures)


# ---------------------------------------------------------------------------- throughput


def throughput_section(result: DayResult) -> str:
    planned = len(result.planned)
    settled = len(result.observations)
    create_s = max(result.creates_done - result.first_sent, 1e-9)
    end_to_end_s = max(result.finished - result.first_sent, 1e-9)
    lines = [
        "Throughput:",
        f"  created {planned:,} PURs with BatchCreatePickupRequests in {create_s:.1f} s: {planned / create_s:,.0f} PURs/s "
        f"(asked for {result.rate:,.0f}/s)",
        f"  {settled:,} settled (ROUTED or UNROUTABLE) {end_to_end_s:.1f} s after the first create: "
        f"{settled / end_to_end_s:,.0f} PURs/s end to end",
    ]
    if result.hub_wait_s > 0.05:
        lines.append(f"  (before that, {result.hub_wait_s:.1f} s waiting for pur_svc to learn the hub's map)")
    pending = result.pending
    if pending:
        lines.append(f"  {len(pending):,} PURs were still PENDING_ROUTE when the wait ended, e.g. {pending[0]}")
    if result.watch_interruptions:
        lines.append(f"  the watch stream was interrupted {result.watch_interruptions} time(s) and reconnected")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ dispatch


VEHICLE_LABELS = {
    dispatch_pb2.VEHICLE_TYPE_BIKE: "bike",
    dispatch_pb2.VEHICLE_TYPE_THREE_WHEELER: "3-wheeler",
    dispatch_pb2.VEHICLE_TYPE_VAN: "van",
    dispatch_pb2.VEHICLE_TYPE_TRUCK: "truck",
}


@dataclass
class RouteLoad:
    """This run's routed pickups on one route."""

    count: int = 0
    packages: int = 0
    weight_kg: float = 0.0


def routed_load(result: DayResult) -> dict[str, RouteLoad]:
    """route id -> this run's ROUTED pickups on it (count, packages, kg)."""
    loads: dict[str, RouteLoad] = {}
    for observation in result.observations.values():
        pickup = observation.pickup
        if pickup.status == pur_pb2.PICKUP_STATUS_ROUTED and pickup.route_id:
            load = loads.setdefault(pickup.route_id, RouteLoad())
            load.count += 1
            load.packages += pickup.expected_packages
            load.weight_kg += pickup.expected_weight_kg
    return loads


def dispatch_section(
    groups: Sequence[dispatch_pb2.RouteGroup],
    boards: Sequence,
    this_run: dict[str, RouteLoad],
    *,
    hub_id: str,
    pickup_date: str,
    rider_names: dict[str, str] | None = None,
) -> str:
    """The dispatch board: per route, this run's open PURs (count, packages, kg), all open PURs of
    the day, and the top recommended rider and vehicle with their reasons. `boards` are
    fleet.RouteBoard entries of the routes to show, busiest first."""
    names = rider_names or {}
    total = sum(g.pur_count for g in groups)
    mine = sum(load.count for load in this_run.values())
    lines = [
        f"Dispatch board: hub {hub_id}, {pickup_date}: {total:,} open PURs (routed, not yet picked up) on "
        f"{len(groups)} routes, {mine:,} of them from this run.",
        f"The {len(boards)} routes busiest in this run, with RecommendDispatch's top rider and vehicle "
        "(score: dispatch_svc's reasons):",
    ]
    if not boards:
        lines.append("  (no open pickups)")
        return "\n".join(lines)
    id_width = max(len("route"), *(len(b.group.route_id) for b in boards))
    lines.append(
        f"  {'route':<{id_width}}  {'PURs':>5}  {'pkgs':>5}  {'kg':>7}  {'open today':>10}   (this run's PURs; all open PURs of the day)"
    )
    lines.append("  " + "-" * (len(lines[-1]) - 2))
    for entry in boards:
        group, rec = entry.group, entry.recommendation
        load = this_run.get(group.route_id, RouteLoad())
        lines.append(
            f"  {group.route_id:<{id_width}}  {load.count:>5,}  {load.packages:>5,}  {load.weight_kg:>7,.1f}  {group.pur_count:>10,}"
        )
        rider = _eligible_rider(rec)
        if rider is None:
            lines.append("      rider    nobody present and free")
        else:
            name = rider.name or names.get(rider.rider_id, "")
            lines.append(f"      rider    {rider.rider_id} {name} ({rider.score:.1f}): " + "; ".join(rider.reasons))
        vehicle = rec.vehicles[0] if rec is not None and rec.vehicles else None
        if vehicle is None:
            lines.append("      vehicle  none free")
        else:
            label = VEHICLE_LABELS.get(vehicle.type, "vehicle")
            lines.append(
                f"      vehicle  {vehicle.vehicle_id} {label} {vehicle.capacity_packages} pkgs/{vehicle.capacity_kg:,.0f} kg "
                f"({vehicle.score:.1f}): " + "; ".join(vehicle.reasons)
            )
    rest = len(groups) - len(boards)
    if rest > 0:
        lines.append(
            f"  {rest} quieter routes not shown; RecommendDispatch answers for any route (see the grpcurl hints)."
        )
    if total > 2 * max(mine, 1):
        lines.append(
            f"  note: {total - mine:,} open PURs of the day come from earlier runs; the recommendations weigh the whole "
            "queue, so a big backlog outgrows every vehicle (the reasons then say 'too small')."
        )
    stale = [b for b in boards if b.recommendation is not None and b.recommendation.attendance_freshness.stale]
    if stale:
        reason = stale[0].recommendation.attendance_freshness.stale_reason
        lines.append(f"  note: attendance was stale or unknown for {len(stale)} routes: {reason}")
    return "\n".join(lines)


def _eligible_rider(rec: dispatch_pb2.RecommendDispatchResponse | None) -> dispatch_pb2.RiderRecommendation | None:
    """The first rider who can be dispatched (present, free); else the top one."""
    if rec is None:
        return None
    for rider in rec.riders:
        if rider.present and not rider.on_active_dispatch:
            return rider
    return rec.riders[0] if rec.riders else None
