"""In-memory stand-ins for routing_svc's storage and index cache, implementing the same
interfaces as the PostgreSQL and Redis adapters, for handler and servicer tests."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from routing_svc.domain.errors import RouteIdTaken
from routing_svc.domain.index import HubRouteIndex
from routing_svc.domain.model import HubMapSnapshot, RouteRecord
from routing_svc.service_layer.index_cache import IndexCache
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.repositories import AbstractRouteRepository
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork


class FakeRouteRepository(AbstractRouteRepository):
    def __init__(self, routes: dict[str, RouteRecord], hub_maps: dict[str, int]) -> None:
        self.routes = routes
        self.hub_maps = hub_maps

    def lock_hub_map(self, hub_id: str, now: datetime) -> int:
        return self.hub_maps.setdefault(hub_id, 0)

    def set_hub_map_version(self, hub_id: str, map_version: int, now: datetime) -> None:
        self.hub_maps[hub_id] = map_version

    def hub_map_version(self, hub_id: str) -> int | None:
        return self.hub_maps.get(hub_id) or None

    def hub_map_versions(self) -> dict[str, int]:
        return {hub_id: version for hub_id, version in self.hub_maps.items() if version > 0}

    def hub_map_snapshot(self, hub_id: str) -> HubMapSnapshot | None:
        version = self.hub_map_version(hub_id)
        if version is None:
            return None
        active = sorted((r for r in self.routes.values() if r.hub_id == hub_id and r.active), key=lambda r: r.id)
        return HubMapSnapshot(hub_id, version, active)

    def get(self, route_id: str) -> RouteRecord | None:
        return self.routes.get(route_id)

    def hub_routes(self, hub_id: str) -> dict[str, RouteRecord]:
        return {i: r for i, r in self.routes.items() if r.hub_id == hub_id}

    def hubs_of(self, route_ids: Iterable[str]) -> dict[str, str]:
        return {i: self.routes[i].hub_id for i in route_ids if i in self.routes}

    def insert(self, records: Sequence[RouteRecord]) -> None:
        taken = sorted(r.id for r in records if r.id in self.routes)
        if taken:
            raise RouteIdTaken(f"route id(s) {', '.join(taken)} were just taken by another hub")
        self.routes.update((r.id, r) for r in records)

    def update(self, records: Sequence[RouteRecord]) -> None:
        self.routes.update((r.id, r) for r in records)

    def set_cell_counts(self, cell_counts: Mapping[str, int]) -> None:
        for route_id, count in cell_counts.items():
            self.routes[route_id] = dataclasses.replace(self.routes[route_id], cell_count=count)

    def delete(self, route_ids: Iterable[str]) -> None:
        for route_id in route_ids:
            self.routes.pop(route_id, None)

    def list(
        self,
        hub_id: str,
        *,
        include_inactive: bool,
        page_size: int,
        after_id: str | None,
        with_geometry: bool = True,
    ) -> list[RouteRecord]:
        chosen = sorted(
            (
                r
                for r in self.routes.values()
                if r.hub_id == hub_id and (include_inactive or r.active) and (after_id is None or r.id > after_id)
            ),
            key=lambda r: r.id.encode(),
        )[:page_size]
        return chosen if with_geometry else [dataclasses.replace(r, geometry_geojson="") for r in chosen]


class RoutingStore:
    """What the database would hold: routes, hub map versions and the events committed so far."""

    def __init__(self) -> None:
        self.routes: dict[str, RouteRecord] = {}
        self.hub_maps: dict[str, int] = {}
        self.events: list[object] = []


class FakeRoutingUnitOfWork(AbstractRoutingUnitOfWork):
    """Works on a copy of the store; `commit()` makes the copy the store and keeps the events."""

    def __init__(self, store: RoutingStore) -> None:
        self.store = store
        self.commits = 0

    def __enter__(self) -> FakeRoutingUnitOfWork:
        self.routes = FakeRouteRepository(dict(self.store.routes), dict(self.store.hub_maps))
        return super().__enter__()

    def _commit(self, events: list[object]) -> None:
        assert isinstance(self.routes, FakeRouteRepository)
        self.store.routes = dict(self.routes.routes)
        self.store.hub_maps = dict(self.routes.hub_maps)
        self.store.events.extend(events)
        self.commits += 1

    def _rollback(self) -> None:
        pass


class FakeIndexCache(IndexCache):
    """Compiled indexes by (hub, version), shared by every registry given the same cache;
    `available = False` behaves like a cache that is down."""

    def __init__(self) -> None:
        self.indexes: dict[tuple[str, int], HubRouteIndex] = {}
        self.available = True

    def load(self, hub_id: str, map_version: int) -> HubRouteIndex | None:
        return self.indexes.get((hub_id, map_version)) if self.available else None

    def store(self, index: HubRouteIndex) -> bool:
        if self.available:
            self.indexes[(index.hub_id, index.map_version)] = index
        return self.available


class FakeRouting:
    """One routing "database" and index cache, and as many replicas' registries over them as a
    test needs."""

    def __init__(self, *, resolution: int = 10, max_nearest_m: float = 500.0) -> None:
        self.store = RoutingStore()
        self.cache = FakeIndexCache()
        self.resolution = resolution
        self.max_nearest_m = max_nearest_m

    def uow(self) -> FakeRoutingUnitOfWork:
        return FakeRoutingUnitOfWork(self.store)

    def registry(self, cache: IndexCache | None = None) -> IndexRegistry:
        return IndexRegistry(
            self.uow, cache or self.cache, resolution=self.resolution, max_nearest_m=self.max_nearest_m
        )
