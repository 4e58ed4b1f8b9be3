"""pur_svc's repository and unit of work in memory, for handler and servicer tests without
PostgreSQL. They implement the same abstract interfaces as the SQLAlchemy adapters.

A transaction works on copies: reads return copies of the stored PURs, writes are kept apart and
only `commit()` makes them (and the published events) the stored state, so a test can tell what
a failed use case left behind (nothing).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Self

from pur_svc.domain.history import HistoryEntry
from pur_svc.domain.model import ROUTABLE_STATES, KnownRoute, PickupRequest, PickupStatus, RouteMatch
from pur_svc.service_layer.repositories import (
    AbstractPickupRepository,
    AbstractRouteRepository,
    ManualQueueFilter,
    PageCursor,
    PickupFilter,
    ReroutePosition,
)
from pur_svc.service_layer.unit_of_work import AbstractPurUnitOfWork

UNPLACED = frozenset({PickupStatus.PENDING_ROUTE, PickupStatus.UNROUTABLE})


class FakePickupRepository(AbstractPickupRepository):
    """`history`: each PUR's stored entries; `reroutes`: how far each hub's re-routing got."""

    def __init__(
        self,
        purs: dict[str, PickupRequest],
        hub_maps: dict[str, int],
        history: dict[str, tuple[HistoryEntry, ...]] | None = None,
        reroutes: dict[str, ReroutePosition | None] | None = None,
    ) -> None:
        self.purs = dict(purs)
        self.hub_maps = dict(hub_maps)
        self.history_of = dict(history or {})
        self.reroutes = dict(reroutes or {})

    def _store_history(self, pur: PickupRequest) -> None:
        entries = pur.take_history()
        if entries:
            self.history_of[pur.id] = (*self.history_of.get(pur.id, ()), *entries)

    def insert_new(self, purs: Sequence[PickupRequest]) -> set[str]:
        taken = {(p.client_id, p.request_id) for p in self.purs.values()}
        inserted = set()
        for pur in purs:
            if (pur.client_id, pur.request_id) not in taken:
                taken.add((pur.client_id, pur.request_id))
                self._store_history(pur)
                self.purs[pur.id] = copy.copy(pur)
                inserted.add(pur.id)
            else:
                pur.take_history()
        return inserted

    def by_request_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PickupRequest]:
        wanted = set(keys)
        return {
            (p.client_id, p.request_id): copy.copy(p)
            for p in self.purs.values()
            if (p.client_id, p.request_id) in wanted
        }

    def get(self, pur_id: str, *, for_update: bool = False) -> PickupRequest | None:
        pur = self.purs.get(pur_id)
        return copy.copy(pur) if pur else None

    def get_many_for_update(self, pur_ids: Iterable[str]) -> dict[str, PickupRequest]:
        return {i: copy.copy(self.purs[i]) for i in sorted(set(pur_ids)) if i in self.purs}

    def update(self, purs: Sequence[PickupRequest]) -> None:
        for pur in purs:
            assert pur.id in self.purs, f"update of a PUR never inserted: {pur.id}"
            self._store_history(pur)
            self.purs[pur.id] = copy.copy(pur)

    def history(self, pur_id: str) -> list[HistoryEntry]:
        return list(self.history_of.get(pur_id, ()))

    def list_page(self, where: PickupFilter, page_size: int, after: PageCursor | None) -> list[PickupRequest]:
        def matches(p: PickupRequest) -> bool:
            return (
                (not where.hub_id or p.hub_id == where.hub_id)
                and (where.status is None or p.status is where.status)
                and (not where.route_id or p.route_id == where.route_id)
                and (where.pickup_date is None or p.pickup_date == where.pickup_date)
                and (not where.client_id or p.client_id == where.client_id)
                and (after is None or (p.created_at, p.id) > (after.created_at, after.id))
            )

        found = sorted((p for p in self.purs.values() if matches(p)), key=lambda p: (p.created_at, p.id))
        return [copy.copy(p) for p in found[:page_size]]

    def reroute_position(self, hub_id: str, map_version: int) -> ReroutePosition | None:
        return self.reroutes.get(hub_id) if self.hub_maps.get(hub_id) == map_version else None

    def record_reroute_position(self, hub_id: str, position: ReroutePosition | None) -> None:
        self.reroutes[hub_id] = position

    def reroute_candidates(
        self, hub_id: str, map_version: int, after: ReroutePosition, today: date, limit: int
    ) -> list[PickupRequest]:
        def candidate(p: PickupRequest) -> bool:
            return (
                p.pickup_date >= today
                and (p.pickup_date, p.id) > (after.pickup_date, after.pur_id)
                and (p.needs_reroute(hub_id, map_version) or (not p.hub_id and p.status in UNPLACED))
            )

        found = sorted((p for p in self.purs.values() if candidate(p)), key=lambda p: (p.pickup_date, p.id))
        return [copy.copy(p) for p in found[:limit]]

    def list_manual_queue(
        self, where: ManualQueueFilter, page_size: int, after: PageCursor | None
    ) -> list[PickupRequest]:
        def matches(p: PickupRequest) -> bool:
            return (
                p.review is not None
                and p.hub_id == where.hub_id
                and (where.pickup_date is None or p.pickup_date == where.pickup_date)
                and (where.review is None or p.review is where.review)
                and (after is None or (p.created_at, p.id) > (after.created_at, after.id))
            )

        found = sorted((p for p in self.purs.values() if matches(p)), key=lambda p: (p.created_at, p.id))
        return [copy.copy(p) for p in found[:page_size]]

    def manual_on_routes(self, route_ids: Iterable[str]) -> list[PickupRequest]:
        wanted = set(route_ids)
        return [
            copy.copy(p)
            for _, p in sorted(self.purs.items())
            if p.route_id in wanted and p.status in ROUTABLE_STATES and p.route_match is RouteMatch.MANUAL
        ]

    def hub_map_versions(self, hub_ids: Iterable[str]) -> dict[str, int]:
        return {h: self.hub_maps[h] for h in hub_ids if h in self.hub_maps}

    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        return {h for h in hub_ids if h in self.hub_maps}

    def record_hub_map(self, hub_id: str, map_version: int, now: datetime) -> bool:
        if self.hub_maps.get(hub_id, 0) >= map_version:
            return False
        self.hub_maps[hub_id] = map_version
        self.reroutes[hub_id] = ReroutePosition(now.date(), "")
        return True


@dataclass(frozen=True)
class StoredRoute:
    """A row of the route read model: the route, the map version that wrote it, and whether that
    version deleted it."""

    route: KnownRoute
    map_version: int
    deleted: bool = False


class FakeRouteRepository(AbstractRouteRepository):
    def __init__(self, routes: dict[str, StoredRoute]) -> None:
        self.routes = dict(routes)

    def upsert(self, routes: Sequence[KnownRoute], map_version: int, now: datetime) -> None:
        for route in routes:
            stored = self.routes.get(route.id)
            if stored is None or stored.map_version < map_version:
                self.routes[route.id] = StoredRoute(route, map_version)

    def delete(self, hub_id: str, route_ids: Sequence[str], map_version: int, now: datetime) -> list[str]:
        deleted = []
        for route_id in sorted(set(route_ids)):
            stored = self.routes.get(route_id)
            if stored is None or (stored.map_version < map_version and stored.route.hub_id == hub_id):
                tombstone = KnownRoute(route_id, hub_id, "", "", False, 0)
                self.routes[route_id] = StoredRoute(tombstone, map_version, deleted=True)
                deleted.append(route_id)
        return deleted

    def get_many(self, route_ids: Iterable[str]) -> dict[str, KnownRoute]:
        found = (self.routes.get(i) for i in set(route_ids))
        return {s.route.id: s.route for s in found if s is not None and not s.deleted}


class FakePurUnitOfWork(AbstractPurUnitOfWork):
    """The stored state (`purs`, `hub_maps`, `routes`, each PUR's `history`, each hub's re-routing
    position in `reroutes`), the events of every commit (`events`)
    and how many commits there were; one instance serves any number of use cases, one after the
    other."""

    pickups: FakePickupRepository
    routes: FakeRouteRepository

    def __init__(self, *, hubs: Iterable[str] = ()) -> None:
        self.purs: dict[str, PickupRequest] = {}
        self.hub_maps: dict[str, int] = dict.fromkeys(hubs, 1)
        self.history: dict[str, tuple[HistoryEntry, ...]] = {}
        self.reroutes: dict[str, ReroutePosition | None] = {}
        self.known_routes: dict[str, StoredRoute] = {}
        self.events: list[object] = []
        self.commits = 0

    def __enter__(self) -> Self:
        self.pickups = FakePickupRepository(self.purs, self.hub_maps, self.history, self.reroutes)
        self.routes = FakeRouteRepository(self.known_routes)
        return super().__enter__()

    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        return self.pickups.known_hubs(hub_ids)

    def _commit(self, events: list[object]) -> None:
        self.purs, self.hub_maps = self.pickups.purs, self.pickups.hub_maps
        self.history, self.reroutes = self.pickups.history_of, self.pickups.reroutes
        self.known_routes = self.routes.routes
        self.pickups = FakePickupRepository(self.purs, self.hub_maps, self.history, self.reroutes)
        self.routes = FakeRouteRepository(self.known_routes)
        self.events.extend(events)
        self.commits += 1

    def _rollback(self) -> None:
        self.pickups = FakePickupRepository(self.purs, self.hub_maps, self.history, self.reroutes)
        self.routes = FakeRouteRepository(self.known_routes)

    def stored(self, pur_id: str) -> PickupRequest:
        return self.purs[pur_id]

    def add_route(self, route: KnownRoute, map_version: int = 1) -> None:
        """Put a route in the read model, as a map change of `map_version` would."""
        self.known_routes[route.id] = StoredRoute(route, map_version)
        self.hub_maps[route.hub_id] = max(self.hub_maps.get(route.hub_id, 0), map_version)
