"""The demo's last part: the hub's manual queue as its team lead sees it (how many, why, the
nearest routes), one exception resolved by a manual assignment, and that PUR's history.

The team lead is `tl-demo`, with a token for the hub minted with this checkout's signing key; a
mesh that does not trust that key is worked with the tool's own token instead.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import grpc

from demo.workload import IST
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client.channels import explain, tool_channel
from firstmile_client.requests import (
    assign_pickup_route_request,
    list_manual_queue_request,
    list_pickup_history_request,
)
from firstmile_client.stubs import MeshClients
from firstmile_client.tokens import mint_token
from mesh.auth import Role

LEAD = "tl-demo"
RPC_TIMEOUT_S = 30.0
QUEUE_PAGE_SIZE = 1000
BOARD_WAIT_S = 15.0
NEAREST_SHOWN = 2
REVIEWS = {
    pur_pb2.REVIEW_REASON_UNROUTABLE: ("UNROUTABLE", "no route near enough, the nearest one known"),
    pur_pb2.REVIEW_REASON_FAR_FROM_ROUTE: (
        "FAR_FROM_ROUTE",
        "routed to a route farther away than the review distance: a person confirms",
    ),
    pur_pb2.REVIEW_REASON_ROUTE_DELETED: ("ROUTE_DELETED", "routed by hand to a route since deleted"),
}


@dataclass(frozen=True)
class TeamLead:
    """Stubs calling as the hub's team lead, and who that is in words."""

    clients: MeshClients
    who: str


@contextlib.contextmanager
def team_lead(clients: MeshClients, hub_id: str) -> Iterator[TeamLead]:
    """Channels to pur_svc and dispatch_svc with a team lead's token for the hub; the tool's own
    clients when the mesh does not accept that token."""
    token = mint_token(Role.TEAM_LEAD, hubs=[hub_id], subject=LEAD)
    endpoints = (clients.pur_endpoint, clients.dispatch_endpoint)
    lead = MeshClients({endpoint: tool_channel(endpoint.address, token=token) for endpoint in endpoints})
    try:
        try:
            lead.pur.ListManualQueue(list_manual_queue_request(hub_id=hub_id, page_size=1), timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                raise explain(exc, clients.pur_endpoint, "ListManualQueue") from None
            yield TeamLead(clients, "the tool's own token (the mesh does not trust this checkout's signing key)")
            return
        yield TeamLead(lead, f"team lead {LEAD} of {hub_id}")
    finally:
        lead.close()


def _call(lead: TeamLead, service: str, method: str, request):
    stub = lead.clients.pur if service == "pur_svc" else lead.clients.dispatch
    try:
        return getattr(stub, method)(request, timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise explain(exc, lead.clients.endpoint(service), method) from None


def read_queue(lead: TeamLead, hub_id: str, day: str) -> list[pur_pb2.PickupRequest]:
    """The hub's whole manual queue for the day, page by page."""
    queue: list[pur_pb2.PickupRequest] = []
    token = ""
    while True:
        page = _call(
            lead,
            "pur_svc",
            "ListManualQueue",
            list_manual_queue_request(hub_id=hub_id, pickup_date=day, page_size=QUEUE_PAGE_SIZE, page_token=token),
        )
        queue.extend(page.pickup_requests)
        token = page.next_page_token
        if not token:
            return queue


def _route(route_id: str, names: dict[str, str]) -> str:
    name = names.get(route_id)
    return f'{route_id} "{name}"' if name else route_id


def _distance(metres: float) -> str:
    return f"{metres:,.0f} m" if metres < 10_000 else f"{metres / 1000:,.1f} km"


def queue_section(
    queue: Sequence[pur_pb2.PickupRequest],
    this_run: set[str],
    names: dict[str, str],
    *,
    hub_id: str,
    day: str,
    who: str,
) -> str:
    """How many wait, why, and for each reason the nearest routes and how far they are."""
    mine = sum(1 for p in queue if p.id in this_run)
    lines = [
        f"Manual queue of hub {hub_id} for {day}, as {who} sees it (ListManualQueue): {len(queue):,} pickup "
        f"requests need a person, {mine:,} of them from this run"
    ]
    for review, (label, meaning) in REVIEWS.items():
        waiting = [p for p in queue if p.review == review]
        if not waiting:
            continue
        lines.append(
            f"  {label}: {len(waiting):,} ({sum(1 for p in waiting if p.id in this_run):,} from this run), {meaning}"
        )
        nearest = Counter(p.nearest_route_id for p in waiting if p.nearest_route_id)
        if not nearest:
            lines.append("      no nearest route known")
            continue
        shown = [f"{_route(r, names)} for {n:,}" for r, n in nearest.most_common(NEAREST_SHOWN)]
        rest = len(nearest) - NEAREST_SHOWN
        if rest > 0:
            shown.append(f"{rest} other routes for {sum(n for _, n in nearest.most_common()[NEAREST_SHOWN:]):,}")
        distances = [p.nearest_distance_m / 1000 for p in waiting if p.nearest_route_id]
        lines.append(f"      nearest route: {', '.join(shown)}; {min(distances):,.1f} to {max(distances):,.1f} km away")
    return "\n".join(lines)


def choose_exception(queue: Sequence[pur_pb2.PickupRequest], this_run: set[str]) -> pur_pb2.PickupRequest | None:
    """The one a team lead would take first: this run's UNROUTABLE PUR closest to a route (its
    nearest route can take it), else this run's PUR farthest from its route (to confirm)."""
    mine = [p for p in queue if p.id in this_run] or list(queue)
    unroutable = [p for p in mine if p.review == pur_pb2.REVIEW_REASON_UNROUTABLE and p.nearest_route_id]
    if unroutable:
        return min(unroutable, key=lambda p: (p.nearest_distance_m, p.id))
    far = [p for p in mine if p.review == pur_pb2.REVIEW_REASON_FAR_FROM_ROUTE and p.route_id]
    return max(far, key=lambda p: (p.nearest_distance_m, p.id)) if far else None


def target_route(pur: pur_pb2.PickupRequest) -> str:
    """Its nearest route when unroutable; its own route when a person only has to confirm it."""
    if pur.review == pur_pb2.REVIEW_REASON_FAR_FROM_ROUTE:
        return pur.route_id
    return pur.nearest_route_id


def assignment_reason(pur: pur_pb2.PickupRequest, route_id: str, names: dict[str, str]) -> str:
    far = _distance(pur.nearest_distance_m)
    place = pur.warehouse.name or pur.warehouse.address or "the warehouse"
    route = f"{route_id} ({names[route_id]})" if route_id in names else route_id
    if pur.review == pur_pb2.REVIEW_REASON_FAR_FROM_ROUTE:
        return f"confirmed: {route} takes {place}, {far} beyond its edge"
    return f"{place} is {far} beyond {route}; its rider agreed to add the stop"


@dataclass(frozen=True)
class Resolution:
    before: pur_pb2.PickupRequest
    after: pur_pb2.PickupRequest
    reason: str
    group: dispatch_pb2.RouteGroup | None
    waited_s: float


def resolve(lead: TeamLead, pur: pur_pb2.PickupRequest, names: dict[str, str], *, day: str) -> Resolution:
    """AssignPickupRoute, then wait (a little) for dispatch_svc to put the PUR on the board."""
    route_id = target_route(pur)
    reason = assignment_reason(pur, route_id, names)
    after = _call(
        lead,
        "pur_svc",
        "AssignPickupRoute",
        assign_pickup_route_request(pur_id=pur.id, route_id=route_id, reason=reason),
    ).pickup_request
    started = time.monotonic()
    group = None
    while group is None and time.monotonic() - started < BOARD_WAIT_S:
        groups = _call(
            lead,
            "dispatch_svc",
            "ListOpenPickupsByRoute",
            dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=after.hub_id, pickup_date=day),
        ).groups
        group = next((g for g in groups if g.route_id == route_id and any(p.pur_id == pur.id for p in g.pickups)), None)
        if group is None:
            time.sleep(0.3)
    return Resolution(pur, after, reason, group, time.monotonic() - started)


def _short(value: int, enum_type, prefix: str) -> str:
    return enum_type.Name(value).removeprefix(prefix) if value else "-"


def resolution_section(resolution: Resolution, names: dict[str, str], *, who: str, left: int) -> str:
    before, after = resolution.before, resolution.after
    label = REVIEWS.get(before.review, ("?", ""))[0]
    was = f"{_short(before.status, pur_pb2.PickupStatus, 'PICKUP_STATUS_')}, in the queue as {label}"
    if before.unroutable_reason:
        was += f': "{before.unroutable_reason}"'
    elif before.route_id:
        was += f" on {_route(before.route_id, names)} ({_distance(before.nearest_distance_m)} away)"
    lines = [
        f"Resolving one exception as {who}:",
        f"  PUR {before.id} ({before.warehouse.name}) was {was}",
        f'  AssignPickupRoute {after.route_id}, reason "{resolution.reason}"',
        f"  -> {_short(after.status, pur_pb2.PickupStatus, 'PICKUP_STATUS_')} on {_route(after.route_id, names)}, "
        f"{_short(after.route_match, common_pb2.RouteMatch, 'ROUTE_MATCH_')}, rider {after.rider_id or '-'}, "
        f"map version {after.map_version}; out of the queue ({left:,} left)",
    ]
    group = resolution.group
    if group is None:
        lines.append(
            f"  dispatch_svc had not put it on the board {resolution.waited_s:.0f} s later (it follows pur.events.v1; "
            "see .cache/logs/dispatch_svc.log)"
        )
    else:
        on = next(p for p in group.pickups if p.pur_id == before.id)
        where = f"in dispatch {on.dispatch_id}" if on.dispatch_id else "queued for the route's next dispatch"
        lines.append(
            f'  dispatch_svc: on the board under {group.route_id} "{group.route_name or "?"}" ({group.pur_count:,} '
            f"open pickups), {where}, {resolution.waited_s:.1f} s after the assignment"
        )
    return "\n".join(lines)


def history_table(pur_id: str, entries: Sequence[pur_pb2.PickupHistoryEntry]) -> str:
    """ListPickupHistory as a table: every change, oldest first, who made it and why."""
    header = ["time (IST)", "status", "route", "rider", "dispatch", "match", "map", "actor", "reason"]
    rows = [
        [
            _ist(e),
            _short(e.status, pur_pb2.PickupStatus, "PICKUP_STATUS_"),
            e.route_id or "-",
            e.rider_id or "-",
            e.dispatch_id or "-",
            _short(e.route_match, common_pb2.RouteMatch, "ROUTE_MATCH_"),
            str(e.map_version),
            f"{e.actor.subject} ({e.actor.role})" if e.actor.subject else "-",
            e.reason or "-",
        ]
        for e in entries
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return (
            "  "
            + "  ".join(
                c.rjust(w) if i == 6 else c.ljust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
            ).rstrip()
        )

    return "\n".join(
        [
            f"History of {pur_id} (ListPickupHistory, {len(entries)} changes):",
            line(header),
            line(["-" * w for w in widths]),
        ]
        + [line(row) for row in rows]
    )


def _ist(entry: pur_pb2.PickupHistoryEntry) -> str:
    return entry.time.ToDatetime(tzinfo=IST).strftime("%H:%M:%S.%f")[:-3]


@dataclass(frozen=True)
class Worked:
    """What the part printed, and the PUR it resolved (if any)."""

    text: str
    resolved_id: str = ""


def work_the_queue(clients: MeshClients, hub_id: str, day: str, this_run: set[str], names: dict[str, str]) -> Worked:
    """The whole part: the queue, one exception resolved, its history."""
    with team_lead(clients, hub_id) as lead:
        queue = read_queue(lead, hub_id, day)
        sections = [queue_section(queue, this_run, names, hub_id=hub_id, day=day, who=lead.who)]
        chosen = choose_exception(queue, this_run)
        if chosen is None:
            sections.append("Nothing in the queue to resolve.")
            return Worked("\n\n".join(sections))
        resolution = resolve(lead, chosen, names, day=day)
        sections.append(resolution_section(resolution, names, who=lead.who, left=len(queue) - 1))
        history = _call(lead, "pur_svc", "ListPickupHistory", list_pickup_history_request(chosen.id)).entries
        sections.append(history_table(chosen.id, history))
    return Worked("\n\n".join(sections), chosen.id)
