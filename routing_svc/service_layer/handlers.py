"""routing_svc's use cases.

Map changes (upsert, import, delete) each run in one unit of work: the hub's map row is locked,
the version bumped, the routes written and a RouteMapChanged event queued in the outbox, all
committed together or not at all. The new map is compiled inside that transaction, before
anything is written: that is where cell counts come from, and a map that cannot be compiled is
refused without a trace. Lookups read the replica's in-memory indexes and write nothing; the
PUR routing batch writes only its assignment events.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
import numpy.typing as npt

from mesh.kernel import utc_now
from routing_svc.domain.coverage import cell_of_point, cell_to_str, compile_coverage
from routing_svc.domain.errors import NoRouteMap, RouteIdTaken, RouteNotFound
from routing_svc.domain.events import MapChangeKind, PickupRouted, RouteMapChanged, RouteSummary
from routing_svc.domain.geometry import geometry_to_geojson, to_routes
from routing_svc.domain.index import HubRouteIndex, LookupBatch
from routing_svc.domain.model import LookupResult, Route, RouteMatch, RouteRecord
from routing_svc.service_layer.commands import LookupQuery, RoutePickup
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork

Clock = Callable[[], datetime]
Coordinates = npt.NDArray[np.float64]


# -- map changes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MapChange:
    """What one change did to a hub's map. `map_version` is the version after it (unchanged,
    and nothing committed, when every route was identical to the stored one)."""

    hub_id: str
    map_version: int
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    records: dict[str, RouteRecord] = field(default_factory=dict)
    """The stored routes the change was asked to write (created, updated or unchanged), by id."""

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.deleted)


@dataclass(frozen=True)
class UpsertOutcome:
    route: RouteRecord
    created: bool
    map_version: int


def upsert_route(
    uow: AbstractRoutingUnitOfWork, registry: IndexRegistry, route: Route, *, now: Clock = utc_now
) -> UpsertOutcome:
    """Create or replace one route. Storing a route identical to the stored one changes nothing
    (no new version), so a retried upsert is harmless."""
    change = _change_hub_map(uow, registry, route.hub_id, MapChangeKind.UPSERT, upserts=[route], now=now)
    return UpsertOutcome(change.records[route.id], created=bool(change.created), map_version=change.map_version)


def import_routes(
    uow: AbstractRoutingUnitOfWork,
    registry: IndexRegistry,
    hub_id: str,
    routes: Sequence[Route],
    *,
    replace_existing: bool,
    now: Clock = utc_now,
) -> MapChange:
    """Import a hub's routes as ONE new map version, all or nothing. With `replace_existing`,
    the hub's routes missing from `routes` are deleted, so the map becomes exactly `routes`."""
    return _change_hub_map(
        uow, registry, hub_id, MapChangeKind.IMPORT, upserts=routes, delete_others=replace_existing, now=now
    )


def delete_route(
    uow: AbstractRoutingUnitOfWork, registry: IndexRegistry, route_id: str, *, now: Clock = utc_now
) -> int:
    """Delete a route; returns the hub's new map version. A hub whose last route goes keeps an
    (empty) map, so lookups in it answer NONE with a reason instead of NOT_FOUND."""
    with uow:
        record = uow.routes.get(route_id)
    if record is None:
        raise RouteNotFound(route_id)
    change = _change_hub_map(uow, registry, record.hub_id, MapChangeKind.DELETE, delete_ids=[route_id], now=now)
    if not change.deleted:
        raise RouteNotFound(route_id)
    return change.map_version


def _change_hub_map(
    uow: AbstractRoutingUnitOfWork,
    registry: IndexRegistry,
    hub_id: str,
    kind: MapChangeKind,
    *,
    upserts: Sequence[Route] = (),
    delete_ids: Iterable[str] = (),
    delete_others: bool = False,
    now: Clock,
) -> MapChange:
    moment = now()
    with registry.changing_hub(hub_id):
        with uow:
            previous = uow.routes.lock_hub_map(hub_id, moment)
            existing = uow.routes.hub_routes(hub_id)
            _refuse_routes_of_other_hubs(uow, [r.id for r in upserts if r.id not in existing])

            created, updated, unchanged, incoming = _compare(upserts, existing)
            upsert_ids = {r.id for r in upserts}
            doomed = existing.keys() - upsert_ids if delete_others else set(delete_ids) & existing.keys()
            deleted = sorted(doomed)
            if not (created or updated or deleted):
                # Nothing to write: leave without committing (the placeholder row of a new hub
                # rolls back with the rest).
                return MapChange(hub_id, previous, unchanged=unchanged, records={i: existing[i] for i in unchanged})

            version = previous + 1
            kept = {i: r for i, r in existing.items() if i not in doomed and i not in incoming}
            active = to_routes([r for r in kept.values() if r.active]) + [r for r, _ in incoming.values() if r.active]
            index = registry.compile(hub_id, active, version)

            written = {
                route.id: _record(route, text, existing.get(route.id), index, registry.resolution, version, moment)
                for route, text in incoming.values()
            }
            # A route's coverage can depend (at the centimetre level) on the rest of the map;
            # keep every stored count equal to the compiled one.
            recounted = {
                i: index.route_cell_count(i)
                for i, r in kept.items()
                if r.active and r.cell_count != index.route_cell_count(i)
            }
            uow.routes.insert([written[i] for i in created])
            uow.routes.update([written[i] for i in updated])
            uow.routes.set_cell_counts(recounted)
            uow.routes.delete(deleted)
            uow.routes.set_hub_map_version(hub_id, version, moment)
            changed_ids = tuple(sorted([*created, *updated, *deleted]))
            summaries = tuple(RouteSummary.of(written[i]) for i in sorted(written))
            uow.publish(
                [RouteMapChanged(hub_id, previous, version, kind, changed_ids, moment, summaries, tuple(deleted))]
            )
            uow.commit()
        registry.install_compiled(index)
    records = {i: existing[i] for i in unchanged} | written
    return MapChange(hub_id, version, created, updated, unchanged, deleted, records)


def _compare(
    upserts: Sequence[Route], existing: dict[str, RouteRecord]
) -> tuple[list[str], list[str], list[str], dict[str, tuple[Route, str]]]:
    """The ids of `upserts` that are new, changed and unchanged against the stored routes, and the
    routes to write (new or changed) with their GeoJSON."""
    created, updated, unchanged = [], [], []
    incoming: dict[str, tuple[Route, str]] = {}
    for route in upserts:
        geometry_geojson = geometry_to_geojson(route.geometry)
        stored = existing.get(route.id)
        if stored is None:
            created.append(route.id)
        elif stored.same_content(route, geometry_geojson):
            unchanged.append(route.id)
            continue
        else:
            updated.append(route.id)
        incoming[route.id] = (route, geometry_geojson)
    return created, updated, unchanged, incoming


def _refuse_routes_of_other_hubs(uow: AbstractRoutingUnitOfWork, route_ids: list[str]) -> None:
    """Route ids are unique across hubs and a route never moves: reusing another hub's route id
    is ALREADY_EXISTS (the caller picked a taken id), not a silent move."""
    taken = uow.routes.hubs_of(route_ids)
    if taken:
        listed = ", ".join(f"{route_id!r} (hub {hub!r})" for route_id, hub in sorted(taken.items())[:5])
        more = f" and {len(taken) - 5} more" if len(taken) > 5 else ""
        raise RouteIdTaken(f"route id(s) already used by another hub: {listed}{more}; route ids are unique across hubs")


def _record(
    route: Route,
    geometry_geojson: str,
    stored: RouteRecord | None,
    index: HubRouteIndex,
    resolution: int,
    version: int,
    moment: datetime,
) -> RouteRecord:
    if route.active:
        cell_count = index.route_cell_count(route.id)
    else:
        # Not in the compiled map; report the coverage it would have if activated.
        cell_count = compile_coverage(np.array([route.geometry], dtype=object), resolution).size
    return RouteRecord(
        id=route.id,
        hub_id=route.hub_id,
        name=route.name,
        geometry_geojson=geometry_geojson,
        default_rider_id=route.default_rider_id,
        priority=route.priority,
        active=route.active,
        cell_count=int(cell_count),
        map_version=version,
        created_at=stored.created_at if stored else moment,
        updated_at=moment,
    )


# -- reading routes ---------------------------------------------------------------------------


def get_route(uow: AbstractRoutingUnitOfWork, route_id: str) -> RouteRecord:
    with uow:
        record = uow.routes.get(route_id)
    if record is None:
        raise RouteNotFound(route_id)
    return record


@dataclass(frozen=True)
class RoutePage:
    routes: list[RouteRecord]
    next_after_id: str | None
    map_version: int


def list_routes(
    uow: AbstractRoutingUnitOfWork,
    hub_id: str,
    *,
    include_inactive: bool,
    page_size: int,
    after_id: str | None,
    with_geometry: bool = True,
) -> RoutePage:
    with uow:
        version = uow.routes.hub_map_version(hub_id)
        if version is None:
            raise NoRouteMap(hub_id)
        rows = uow.routes.list(
            hub_id,
            include_inactive=include_inactive,
            page_size=page_size + 1,
            after_id=after_id,
            with_geometry=with_geometry,
        )
    page, more = rows[:page_size], len(rows) > page_size
    return RoutePage(page, page[-1].id if more else None, version)


def route_map(registry: IndexRegistry, hub_id: str) -> HubRouteIndex:
    """The hub's compiled map at the newest committed version."""
    index = registry.refresh(hub_id)
    if index is None:
        raise NoRouteMap(hub_id)
    return index


# -- lookups ----------------------------------------------------------------------------------


_MATCH_OF_CODE = {int(m): m for m in RouteMatch}


def lookup_route(registry: IndexRegistry, query: LookupQuery) -> LookupResult:
    if query.hub_id:
        return _known_hub(registry, query.hub_id).lookup(query.lat, query.lng)
    return registry.current.lookup(query.lat, query.lng)


def batch_lookup(
    registry: IndexRegistry, lats: Coordinates, lngs: Coordinates, hub_ids: Sequence[str]
) -> list[LookupResult]:
    """Many lookups (as columns), vectorized per hub and once over every hub for those without
    one; answers in request order. An unknown hub is NOT_FOUND naming the first lookup asking."""
    first_asked: dict[str, int] = {}
    for position, hub_id in enumerate(hub_ids):
        if hub_id:
            first_asked.setdefault(hub_id, position)
    for hub_id, position in first_asked.items():
        if registry.ensure(hub_id) is None:
            raise NoRouteMap(hub_id, f"lookups[{position}]: ")
    return _answer_all(registry, lats, lngs, hub_ids)


def _known_hub(registry: IndexRegistry, hub_id: str) -> HubRouteIndex:
    index = registry.ensure(hub_id)
    if index is None:
        raise NoRouteMap(hub_id)
    return index


def _answer_all(
    registry: IndexRegistry, lats: Coordinates, lngs: Coordinates, hub_ids: Sequence[str]
) -> list[LookupResult]:
    """Answers for points, in order, from ONE snapshot of the maps: one vectorized lookup per
    hub, one over every hub for the hubless. A hub the snapshot lacks gets "unknown hub"."""
    snapshot = registry.current
    groups: dict[str, list[int]] = defaultdict(list)
    for position, hub_id in enumerate(hub_ids):
        groups[hub_id].append(position)
    answers: list[LookupResult | None] = [None] * len(hub_ids)
    for hub_id, positions in groups.items():
        if len(groups) == 1:
            group_lats, group_lngs = lats, lngs
        else:
            chosen = np.asarray(positions)
            group_lats, group_lngs = lats[chosen], lngs[chosen]
        target = snapshot.hub(hub_id) if hub_id else snapshot
        if target is None:
            group = [
                _unknown_hub(hub_id, lat, lng, registry.resolution)
                for lat, lng in zip(group_lats.tolist(), group_lngs.tolist(), strict=True)
            ]
        else:
            group = _answers_of(target.lookup_many(group_lats, group_lngs))
        for position, answer in zip(positions, group, strict=True):
            answers[position] = answer
    return answers  # type: ignore[return-value]  # every position is in one group


def _answers_of(batch: LookupBatch) -> list[LookupResult]:
    """The batch's answers, built straight from its arrays: the domain's per-row `result()` is
    used only for NONE rows (for its reason text), which keeps 10,000 answers cheap."""
    indexes = batch.indexes
    # H3's canonical string form of a cell is its index in lower-case hex (h3.int_to_str).
    cells = [format(cell, "x") for cell in batch.cells.tolist()]
    answers = []
    rows = zip(
        batch.match.tolist(), batch.hub.tolist(), batch.route.tolist(), batch.distance_m.tolist(), cells, strict=True
    )
    for i, (code, hub, rank, distance, cell) in enumerate(rows):
        if code != RouteMatch.NONE:
            index = indexes[hub]
            route = index.routes[rank]
            match = _MATCH_OF_CODE[code]
            answers.append(
                LookupResult(
                    route.id,
                    index.hub_id,
                    route.default_rider_id,
                    match,
                    distance if match is RouteMatch.NEAREST else 0.0,
                    cell,
                    index.map_version,
                )
            )
            continue
        result = batch.result(i)
        nearest = indexes[hub].routes[rank].id if hub >= 0 and rank >= 0 and math.isfinite(distance) else ""
        answers.append(result._replace(nearest_route_id=nearest, nearest_distance_m=distance if nearest else 0.0))
    return answers


def _unknown_hub(hub_id: str, lat: float, lng: float, resolution: int) -> LookupResult:
    return LookupResult(
        None,
        hub_id,
        None,
        RouteMatch.NONE,
        0.0,
        cell_to_str(cell_of_point(lat, lng, resolution)),
        0,
        f"unknown hub {hub_id}: routing has no route map for it",
    )


# -- the PUR routing loop ---------------------------------------------------------------------


def route_pickups(
    uow: AbstractRoutingUnitOfWork, registry: IndexRegistry, requests: Sequence[RoutePickup], *, now: Clock = utc_now
) -> int:
    """Route a batch of pickup requests and queue one RouteAssignment per request, in request
    order, in ONE transaction. Returns the number of assignments queued.

    Each hub's map is first brought to the highest `min_map_version` asked for it. A hubless
    re-route (min_map_version > 0 without a hub) cannot say which hub changed, so every hub is
    synced with the database first.
    """
    moment = now()
    wanted: dict[str, int] = {}
    for request in requests:
        if request.hub_id:
            wanted[request.hub_id] = max(wanted.get(request.hub_id, 0), request.min_map_version)
    for hub_id, version in sorted(wanted.items()):
        registry.ensure(hub_id, version)
    if any(not r.hub_id and r.min_map_version > 0 for r in requests):
        registry.sync_with_database()

    lats = np.fromiter((r.lat for r in requests), dtype=np.float64, count=len(requests))
    lngs = np.fromiter((r.lng for r in requests), dtype=np.float64, count=len(requests))
    answers = _answer_all(registry, lats, lngs, [r.hub_id for r in requests])
    events = [
        PickupRouted(request.pur_id, request.attempt, answer, moment)
        for request, answer in zip(requests, answers, strict=True)
    ]
    with uow:
        uow.publish(events)
        uow.commit()
    return len(events)


def apply_map_change(registry: IndexRegistry, hub_id: str, map_version: int) -> None:
    """Another replica (or this one) committed a new map of the hub: have it here too."""
    registry.ensure(hub_id, map_version)
