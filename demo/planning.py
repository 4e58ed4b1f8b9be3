"""The demo's dispatch plan: the hub's depot (UpsertHub), the day planned (PlanDispatches) and
printed per route, the unplanned pickups with their reasons, the comparison with arrival-order
first fit, and a picture of the trips (ordered stops as lines from the depot)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.patches import PathPatch

from demo import city, picture
from demo.report import reason_pattern
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client.channels import explain
from firstmile_client.requests import commit_dispatch_plan_request, plan_dispatches_request, upsert_hub_request
from firstmile_client.stubs import MeshClients

DEFAULT_TIMEZONE = "Asia/Kolkata"
PLAN_TIMEOUT_S = 180.0
RPC_TIMEOUT_S = 30.0
LIST_PAGE_SIZE = 1000
# Trips printed per route; the rest of a route's trips are summed up in one line.
TRIPS_SHOWN_PER_ROUTE = 6
# Codes that mean "this mesh cannot plan now" (an older dispatch_svc, no trip planner configured,
# a hub without a depot): the demo says so and goes on instead of failing the whole run.
NOT_PLANNABLE = (grpc.StatusCode.UNIMPLEMENTED, grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.FAILED_PRECONDITION)


@dataclass(frozen=True)
class Depot:
    """The hub as the demo map file describes it: where every trip starts and ends."""

    hub_id: str
    name: str
    lat: float
    lng: float
    timezone: str


def depot_of(collection: dict, hub_id: str) -> Depot:
    """The depot from the map file's `hub` member (location [lng, lat], optional name and
    timezone), else the shipped demo hub's."""
    hub = collection.get("hub") or {}
    location = hub.get("location")
    lng, lat = (float(location[0]), float(location[1])) if location else (city.HUB.lng, city.HUB.lat)
    return Depot(
        hub_id=hub_id,
        name=str(hub.get("name") or hub_id),
        lat=lat,
        lng=lng,
        timezone=str(hub.get("timezone") or DEFAULT_TIMEZONE),
    )


def upsert_hub(clients: MeshClients, depot: Depot) -> str:
    """Stores the hub's depot in dispatch_svc; returns a line saying what happened."""
    request = upsert_hub_request(
        hub_id=depot.hub_id, name=depot.name, lat=depot.lat, lng=depot.lng, timezone=depot.timezone
    )
    try:
        response = clients.dispatch.UpsertHub(request, timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return "note: this dispatch_svc has no UpsertHub yet; the hub's depot is not stored"
        raise explain(exc, clients.dispatch_endpoint, "UpsertHub") from None
    verb = "created" if response.created else "updated"
    return (
        f"Hub {depot.hub_id} {verb}: depot ({depot.lat:.4f}, {depot.lng:.4f}), time zone {depot.timezone}; "
        "every trip starts and ends there"
    )


def plan_day(clients: MeshClients, hub_id: str, day: str) -> tuple[dispatch_pb2.DispatchPlan | None, str]:
    """The hub's plan for `day`, or None and why the mesh could not plan."""
    try:
        response = clients.dispatch.PlanDispatches(
            plan_dispatches_request(hub_id=hub_id, pickup_date=day), timeout=PLAN_TIMEOUT_S
        )
    except grpc.RpcError as exc:
        if exc.code() in NOT_PLANNABLE:
            return None, f"note: no dispatch plan: {exc.code().name}: {exc.details()}"
        raise explain(exc, clients.dispatch_endpoint, "PlanDispatches") from None
    return response.plan, ""


def commit(clients: MeshClients, plan: dispatch_pb2.DispatchPlan) -> str:
    """Commits the reviewed plan's trips still valid (auto-dispatch may have dispatched some of
    its pickups meanwhile); returns what was created and what was left out."""
    if not plan.trips:
        return "Nothing to commit: the plan has no trip"
    try:
        response = clients.dispatch.CommitDispatchPlan(
            commit_dispatch_plan_request(plan_id=plan.id, only_valid_trips=True), timeout=PLAN_TIMEOUT_S
        )
    except grpc.RpcError as exc:
        if exc.code() == grpc.StatusCode.UNIMPLEMENTED:
            return "note: this dispatch_svc has no CommitDispatchPlan yet; the plan stays a proposal"
        raise explain(exc, clients.dispatch_endpoint, "CommitDispatchPlan") from None
    stops = sum(len(d.stops) for d in response.dispatches)
    lines = [
        f"Committed plan {plan.id}: {len(response.dispatches)} dispatches created in one transaction, "
        f"{stops:,} pickups DISPATCHED in visiting order"
    ]
    if response.skipped:
        lines.append(f"  {len(response.skipped)} trips left out (the world changed since planning), e.g.:")
        lines += [f"    {s.trip_id}: {s.reason}" for s in response.skipped[:3]]
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the text


def render(
    plan: dispatch_pb2.DispatchPlan,
    *,
    timezone: str,
    route_names: Mapping[str, str],
    rider_names: Mapping[str, str],
    capacities: Mapping[str, tuple[int, float]],
) -> str:
    """Per route its trips (rider, vehicle, stops, km, fill, start and end in the hub's time),
    the unplanned pickups grouped by reason, and the comparison with arrival-order first fit."""
    zone = ZoneInfo(timezone)
    sections = [
        trips_section(plan, zone, route_names, rider_names, capacities),
        unplanned_section(plan),
        comparison_section(plan, capacities),
    ]
    return "\n\n".join(sections)


def fill_of(trip: dispatch_pb2.PlannedTrip, capacities: Mapping[str, tuple[int, float]]) -> float | None:
    """The trip's load as a share of its vehicle's tighter capacity (packages or kg)."""
    capacity = capacities.get(trip.vehicle_id)
    if capacity is None or capacity[0] <= 0 or capacity[1] <= 0:
        return None
    return max(trip.total_packages / capacity[0], trip.total_weight_kg / capacity[1])


def _clock(stamp, zone: ZoneInfo) -> str:
    return stamp.ToDatetime(tzinfo=zone).strftime("%H:%M") if stamp.seconds else "--:--"


def trips_section(
    plan: dispatch_pb2.DispatchPlan,
    zone: ZoneInfo,
    route_names: Mapping[str, str],
    rider_names: Mapping[str, str],
    capacities: Mapping[str, tuple[int, float]],
) -> str:
    by_route: dict[str, list[dispatch_pb2.PlannedTrip]] = {}
    for trip in plan.trips:
        by_route.setdefault(trip.route_id, []).append(trip)
    riders = {t.rider_id for t in plan.trips}
    lines = [
        f"Dispatch plan {plan.id} for {plan.hub_id} on {plan.pickup_date}: {len(plan.trips)} trips on "
        f"{len(by_route)} routes by {len(riders)} riders, {sum(len(t.stops) for t in plan.trips):,} stops, "
        f"{plan.total_distance_m / 1000:,.1f} km (times in {zone.key})",
        f"  {'trip':<10} {'rider':<24} {'vehicle':<10} {'stops':>5} {'pkgs':>5} {'kg':>7} {'km':>6} {'fill':>5}  start-end",
    ]
    for route_id in sorted(by_route):
        lines.append(f"  {route_id} {route_names.get(route_id, '')}".rstrip())
        ordered = sorted(by_route[route_id], key=lambda t: (t.start_time.seconds, t.id))
        for trip in ordered[:TRIPS_SHOWN_PER_ROUTE]:
            fill = fill_of(trip, capacities)
            rider = f"{trip.rider_id} {rider_names.get(trip.rider_id, '')}".strip()[:24]
            lines.append(
                f"    {trip.id[-8:]:<8} {rider:<24} {trip.vehicle_id:<10} {len(trip.stops):>5} "
                f"{trip.total_packages:>5} {trip.total_weight_kg:>7.1f} {trip.distance_m / 1000:>6.1f} "
                f"{'-' if fill is None else f'{fill:.0%}':>5}  "
                f"{_clock(trip.start_time, zone)}-{_clock(trip.end_time, zone)}"
            )
        rest = ordered[TRIPS_SHOWN_PER_ROUTE:]
        if rest:
            lines.append(
                f"    … {len(rest)} more trips: {sum(len(t.stops) for t in rest):,} stops, "
                f"{sum(t.distance_m for t in rest) / 1000:,.1f} km, until {_clock(rest[-1].end_time, zone)}"
            )
        if ordered[0].reasons:
            lines.append(f"      why (first trip): {'; '.join(ordered[0].reasons)}")
    return "\n".join(lines)


def unplanned_section(plan: dispatch_pb2.DispatchPlan) -> str:
    if not plan.unplanned:
        return "Unplanned: none (every queued pickup is in a trip)"
    patterns = Counter(reason_pattern(u.reason or "(no reason given)") for u in plan.unplanned)
    example: dict[str, str] = {}
    for unplanned in plan.unplanned:
        example.setdefault(reason_pattern(unplanned.reason or "(no reason given)"), unplanned.reason)
    lines = [f"Unplanned: {len(plan.unplanned):,} pickups stay queued for the next plan; why:"]
    lines += [f'  {count:>6,} x  like "{example[pattern]}"' for pattern, count in patterns.most_common()]
    return "\n".join(lines)


def comparison_section(plan: dispatch_pb2.DispatchPlan, capacities: Mapping[str, tuple[int, float]]) -> str:
    fills = [f for t in plan.trips if (f := fill_of(t, capacities)) is not None]
    lines = ["Against arrival-order first fit (what filling one dispatch at a time in arrival order drives):"]
    if plan.arrival_order_distance_m > 0:
        saved = 1 - plan.total_distance_m / plan.arrival_order_distance_m
        lines.append(
            f"  planned {plan.total_distance_m / 1000:,.1f} km vs arrival order "
            f"{plan.arrival_order_distance_m / 1000:,.1f} km: {saved:.0%} shorter"
        )
    else:
        lines.append(f"  planned {plan.total_distance_m / 1000:,.1f} km (no arrival-order figure in the plan)")
    if fills:
        lines.append(
            f"  vehicle fill: mean {sum(fills) / len(fills):.0%}, lowest {min(fills):.0%}, highest {max(fills):.0%}"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------- the picture


def stop_locations(
    clients: MeshClients, hub_id: str, day: str, known: Mapping[str, tuple[float, float]], wanted: Sequence[str]
) -> dict[str, tuple[float, float]]:
    """(lng, lat) of every planned stop: from `known`, else from the hub's routed PURs of the day."""
    locations = {pur_id: known[pur_id] for pur_id in wanted if pur_id in known}
    missing = set(wanted) - set(locations)
    token = ""
    while missing:
        request = pur_pb2.ListPickupRequestsRequest(
            hub_id=hub_id, pickup_date=day, page_size=LIST_PAGE_SIZE, page_token=token
        )
        try:
            page = clients.pur.ListPickupRequests(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise explain(exc, clients.pur_endpoint, "ListPickupRequests") from None
        for pickup in page.pickup_requests:
            if pickup.id in missing:
                location = pickup.warehouse.location
                locations[pickup.id] = (location.lng, location.lat)
                missing.discard(pickup.id)
        token = page.next_page_token
        if not token:
            break
    return locations


def draw_trips(
    path: Path,
    *,
    collection: dict,
    depot: Depot,
    plan: dispatch_pb2.DispatchPlan,
    locations: Mapping[str, tuple[float, float]],
) -> Path:
    """The routes faintly, each trip as a line from the depot through its stops in order and
    back, in its route's colour (a rider's later trips dashed), and the unplanned pickups."""
    routes = picture.coloured_routes(collection)
    colours = {route.id: route.colour for route in routes}
    hub_lng_lat = (depot.lng, depot.lat)
    fig, ax = plt.subplots(figsize=(13, 14))
    try:
        picture.frame(ax, routes, hub_lng_lat)
        for route in routes:
            ax.add_patch(
                PathPatch(
                    picture.polygon_path(route.geometry), facecolor=route.colour, alpha=0.08,
                    edgecolor="#999999", linewidth=0.5, zorder=1,
                )
            )  # fmt: skip
        trips_of_rider: Counter[str] = Counter()
        for trip in sorted(plan.trips, key=lambda t: (t.start_time.seconds, t.id)):
            trips_of_rider[trip.rider_id] += 1
            points = [hub_lng_lat, *(locations[s.pur_id] for s in trip.stops if s.pur_id in locations), hub_lng_lat]
            xs, ys = zip(*points, strict=True)
            style = "-" if trips_of_rider[trip.rider_id] == 1 else (0, (4, 2))
            colour = colours.get(trip.route_id, "#444444")
            ax.plot(xs, ys, color=colour, linewidth=0.9, linestyle=style, alpha=0.85, zorder=4)
            ax.scatter(xs[1:-1], ys[1:-1], s=5, color=colour, edgecolors="black", linewidths=0.1, zorder=5)
        unplanned = [locations[u.pur_id] for u in plan.unplanned if u.pur_id in locations]
        if unplanned:
            ax.scatter(
                [p[0] for p in unplanned], [p[1] for p in unplanned], s=9, marker="x", color="#555555",
                linewidths=0.5, alpha=0.5, zorder=3,
            )  # fmt: skip
        picture.draw_hub(ax, hub_lng_lat)
        ax.set_title(
            f"{plan.hub_id} {plan.pickup_date}: {len(plan.trips)} planned trips, "
            f"{plan.total_distance_m / 1000:,.0f} km (arrival order {plan.arrival_order_distance_m / 1000:,.0f} km)",
            fontsize=13,
            loc="left",
        )
        ax.legend(
            handles=[
                Line2D([], [], color="#1f77b4", label="trip: depot, stops in order, depot (route colour)"),
                Line2D([], [], color="#1f77b4", linestyle=(0, (4, 2)), label="a rider's later trip"),
                Line2D(
                    [], [], marker="x", linestyle="", color="#555555",
                    label=f"unplanned, stays queued ({len(plan.unplanned):,})",
                ),  # fmt: skip
                Line2D(
                    [], [], marker="*", linestyle="", color="#ffd400", markeredgecolor="black", markersize=13,
                    label="depot",
                ),  # fmt: skip
            ],
            loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=2, fontsize=9, frameon=False,
        )  # fmt: skip
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=130, bbox_inches="tight")
    finally:
        plt.close(fig)
    return path


def trips_picture_path(hub_picture: Path) -> Path:
    """Beside the hub's picture: out/demo_hub.png -> out/demo_hub_trips.png."""
    return hub_picture.with_name(f"{hub_picture.stem}_trips{hub_picture.suffix or '.png'}")
