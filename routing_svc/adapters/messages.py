"""Translation between the routing domain and protobuf: API messages, and the domain events as
outbox rows (`to_outbox`, which the unit of work applies at commit)."""

from __future__ import annotations

import json
from collections.abc import Iterable

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.routing.v1 import routing_pb2
from mesh.outbox import OutboxEvent
from mesh.protobuf import enum_to_proto, timestamp
from mesh.topics import PUR_ROUTE_ASSIGNMENTS, ROUTING_MAP_CHANGES
from routing_svc.domain.events import MapChangeKind, PickupRouted, RouteMapChanged, RouteSummary
from routing_svc.domain.index import HubRouteIndex
from routing_svc.domain.model import LookupResult, RouteMatch, RouteRecord

SOURCE = "routing_svc"
MAX_REASON_CHARS = 500

MATCH_TO_PROTO = enum_to_proto(RouteMatch, common_pb2.RouteMatch, "ROUTE_MATCH_")
CHANGE_KIND_TO_PROTO = enum_to_proto(MapChangeKind, events_pb2.RouteMapChangeKind, "ROUTE_MAP_CHANGE_KIND_")


def route_to_proto(record: RouteRecord, *, omit_geometry: bool = False) -> routing_pb2.Route:
    return routing_pb2.Route(
        id=record.id,
        hub_id=record.hub_id,
        name=record.name,
        geometry_geojson="" if omit_geometry else record.geometry_geojson,
        default_rider_id=record.default_rider_id or "",
        priority=record.priority,
        active=record.active,
        cell_count=record.cell_count,
        map_version=record.map_version,
        created_at=timestamp(record.created_at),
        updated_at=timestamp(record.updated_at),
    )


def fill_lookup_response(message: routing_pb2.LookupRouteResponse, answer: LookupResult) -> None:
    """Set a LookupRouteResponse's fields (attribute by attribute: the fastest way to build the
    ten thousand of a full BatchLookupRoutes)."""
    message.match = MATCH_TO_PROTO[answer.match]
    message.h3_cell = answer.h3_cell
    if answer.hub_id:
        message.hub_id = answer.hub_id
    if answer.map_version:
        message.map_version = answer.map_version
    if answer.match is RouteMatch.NONE:
        message.unroutable_reason = (answer.reason or "no route covers this location")[:MAX_REASON_CHARS]
        return
    message.route_id = answer.route_id or ""
    if answer.rider_id:
        message.rider_id = answer.rider_id
    if answer.distance_m:
        message.distance_m = answer.distance_m


def lookup_to_proto(answer: LookupResult) -> routing_pb2.LookupRouteResponse:
    message = routing_pb2.LookupRouteResponse()
    fill_lookup_response(message, answer)
    return message


def batch_lookup_to_proto(answers: Iterable[LookupResult]) -> routing_pb2.BatchLookupRoutesResponse:
    response = routing_pb2.BatchLookupRoutesResponse()
    add = response.results.add
    for answer in answers:
        fill_lookup_response(add(), answer)
    return response


def route_map_to_proto(index: HubRouteIndex, *, omit_geojson: bool = False) -> routing_pb2.GetRouteMapResponse:
    stats = index.stats()
    response = routing_pb2.GetRouteMapResponse(
        hub_id=stats.hub_id,
        map_version=stats.map_version,
        route_count=stats.route_count,
        cell_count=stats.cell_count,
        resolution=stats.resolution,
        routes=[
            routing_pb2.RouteCoverage(route_id=r.route_id, cell_count=r.cell_count, edge_cell_count=r.edge_cell_count)
            for r in stats.routes
        ],
        overlaps=[
            routing_pb2.RouteOverlap(
                route_id_a=o.route_id_a,
                route_id_b=o.route_id_b,
                shared_cell_count=o.shared_cell_count,
                winner_route_id=o.winner_route_id,
            )
            for o in stats.overlaps
        ],
        gap_cell_count=stats.gap_cell_count,
        edge_cell_count=stats.edge_cell_count,
        compiled_at=timestamp(index.compiled_at),
    )
    if not omit_geojson:
        response.coverage_geojson = json.dumps(index.coverage_geojson(), separators=(",", ":"))
        response.gaps_geojson = json.dumps(index.gaps_geojson(), separators=(",", ":"))
    return response


# Keeps every part of a map change far below the consumers' size limit (mesh.kafka.MAX_EVENT_BYTES)
# whatever the size of an import: the changed ids (for people reading events) are cut to the first
# thousand, and the route summaries and deleted ids consumers keep are spread over parts of at most
# ROUTES_PER_PART of each. A part's summaries also stop at PART_SUMMARY_BYTES (500 summaries with
# 200-character names of 4-byte characters would near the limit).
MAX_CHANGED_ROUTE_IDS = 1000
ROUTES_PER_PART = 500
PART_SUMMARY_BYTES = 256 * 1024


def to_outbox(event: object) -> list[OutboxEvent]:
    """The outbox row(s) of one of routing_svc's domain events."""
    if isinstance(event, PickupRouted):
        return [_route_assignment(event)]
    if isinstance(event, RouteMapChanged):
        return _route_map_changed(event)
    raise TypeError(f"routing_svc publishes no {type(event).__name__} events")


def _route_map_changed(event: RouteMapChanged) -> list[OutboxEvent]:
    """The hub's new map version on `routing.map-changes.v1`, keyed by hub (so a hub's changes,
    and the parts of one change, stay in order for every consumer): one event per part, each
    with the same version and its share of the summaries and deleted ids."""
    summary_parts = _summary_parts(event.routes)
    deleted = event.deleted_route_ids
    deleted_parts = [deleted[i : i + ROUTES_PER_PART] for i in range(0, len(deleted), ROUTES_PER_PART)]
    parts = max(len(summary_parts), len(deleted_parts), 1)
    rows = []
    for number in range(1, parts + 1):
        payload = events_pb2.RouteMapChanged(
            hub_id=event.hub_id,
            map_version=event.map_version,
            previous_map_version=event.previous_map_version,
            kind=CHANGE_KIND_TO_PROTO[event.kind],
            changed_route_ids=event.changed_route_ids[:MAX_CHANGED_ROUTE_IDS] if number == 1 else (),
            changed_at=timestamp(event.changed_at),
            routes=summary_parts[number - 1] if number <= len(summary_parts) else (),
            deleted_route_ids=deleted_parts[number - 1] if number <= len(deleted_parts) else (),
            part=number,
            parts=parts,
        )
        rows.append(
            OutboxEvent.of(ROUTING_MAP_CHANGES, event.hub_id, payload, source=SOURCE, occurred_at=event.changed_at)
        )
    return rows


def _summary_parts(summaries: Iterable[RouteSummary]) -> list[list[events_pb2.RouteSummary]]:
    parts: list[list[events_pb2.RouteSummary]] = []
    size = 0
    for summary in summaries:
        message = events_pb2.RouteSummary(
            id=summary.id,
            name=summary.name,
            default_rider_id=summary.default_rider_id,
            active=summary.active,
            priority=summary.priority,
        )
        grown = size + message.ByteSize() + 4  # the field's tag and length
        if not parts or len(parts[-1]) == ROUTES_PER_PART or grown > PART_SUMMARY_BYTES:
            parts.append([])
            grown = message.ByteSize() + 4
        parts[-1].append(message)
        size = grown
    return parts


def _route_assignment(event: PickupRouted) -> OutboxEvent:
    """The routing decision for one PUR on `pur.route-assignments.v1`, keyed by PUR id."""
    pur_id, answer, now = event.pur_id, event.result, event.decided_at
    if answer.match is RouteMatch.NONE:
        decision = events_pb2.RouteAssignment(
            unroutable=events_pb2.Unroutable(
                pur_id=pur_id,
                hub_id=answer.hub_id or "",
                reason=(answer.reason or "no route covers this location")[:MAX_REASON_CHARS],
                map_version=answer.map_version or 0,
                h3_cell=answer.h3_cell,
                nearest_route_id=answer.nearest_route_id,
                nearest_distance_m=answer.nearest_distance_m,
                decided_at=timestamp(now),
                attempt=event.attempt,
            )
        )
    else:
        decision = events_pb2.RouteAssignment(
            assigned=events_pb2.RouteAssigned(
                pur_id=pur_id,
                route_id=answer.route_id or "",
                hub_id=answer.hub_id or "",
                rider_id=answer.rider_id or "",
                match=MATCH_TO_PROTO[answer.match],
                distance_m=answer.distance_m,
                h3_cell=answer.h3_cell,
                map_version=answer.map_version or 0,
                assigned_at=timestamp(now),
                attempt=event.attempt,
            )
        )
    return OutboxEvent.of(PUR_ROUTE_ASSIGNMENTS, pur_id, decision, source=SOURCE, occurred_at=now)
