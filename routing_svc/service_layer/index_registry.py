"""The compiled route maps of every hub held by this replica, and how they are kept current.

Lookups read `registry.current`, an immutable RouteIndexSet: no lock, and a reader never sees a
half-installed map. A newer hub map is installed by building a new set with that hub's index
swapped in (copy-on-write) and replacing the reference.

Where a hub's index comes from, cheapest first:
1. the writer of a map change compiles the new version inside its transaction (it needs the
   cell counts anyway, and an uncompilable map is refused before anything is written) and
   installs it right after commit, also storing it in Redis;
2. other replicas, told by `routing.map-changes.v1` (or by a PickupRequested's
   `min_map_version`, or by the periodic sync), load that version's blob from Redis;
3. if Redis does not have it (expired, evicted, down), they compile it from the database.

Loads of one hub are serialized by a per-hub lock, so a burst of events for one hub compiles it
once; different hubs load in parallel.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

from mesh.kernel import utc_now
from routing_svc.domain.geometry import to_routes
from routing_svc.domain.index import HubRouteIndex
from routing_svc.domain.index_set import RouteIndexSet
from routing_svc.domain.model import HubMapSnapshot, Route
from routing_svc.service_layer.index_cache import IndexCache
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork

log = logging.getLogger(__name__)

FROM_CACHE = "redis"
COMPILED = "compiled"

_LOADS = Counter(
    "firstmile_routing_index_loads_total",
    "Hub indexes installed by this replica, by where they came from (redis, compiled).",
    ["source"],
)
_COMPILE_SECONDS = Histogram(
    "firstmile_routing_index_compile_seconds",
    "Seconds one hub map took to compile.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
_MAP_VERSION = Gauge("firstmile_routing_map_version", "The hub map version this replica answers from.", ["hub_id"])


@dataclass(frozen=True)
class LoadReport:
    """What a start-up warm-up loaded: hubs by source and how long it took."""

    hubs: int
    from_cache: int
    compiled: int
    seconds: float


class IndexRegistry:
    def __init__(
        self,
        uow_factory: Callable[[], AbstractRoutingUnitOfWork],
        cache: IndexCache,
        *,
        resolution: int,
        max_nearest_m: float,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._uow = uow_factory
        self._cache = cache
        self.resolution = resolution
        self.max_nearest_m = max_nearest_m
        self._clock = clock
        self._set = RouteIndexSet((), resolution=resolution, max_nearest_m=max_nearest_m)
        self._swap_lock = threading.Lock()
        self._hub_locks: dict[str, threading.Lock] = {}
        self._hub_locks_guard = threading.Lock()
        # How the hub indexes were obtained (for logs, metrics and tests): compiles and Redis
        # hits so far, and the source of each hub's newest load ("redis" or "compiled").
        self.compiled_count = 0
        self.cache_hit_count = 0
        self.last_source: dict[str, str] = {}

    @property
    def current(self) -> RouteIndexSet:
        """Every hub's map as loaded now. Immutable: take it once per request or batch."""
        return self._set

    # -- writing side ------------------------------------------------------------------------

    def compile(self, hub_id: str, routes: Iterable[Route], map_version: int) -> HubRouteIndex:
        """Compile a hub map at this replica's resolution and distance limit."""
        with _COMPILE_SECONDS.time():
            index = HubRouteIndex.compile(
                hub_id,
                routes,
                map_version,
                self.resolution,
                max_nearest_m=self.max_nearest_m,
                compiled_at=self._clock(),
            )
        with self._swap_lock:
            self.compiled_count += 1
        return index

    @contextmanager
    def changing_hub(self, hub_id: str) -> Iterator[None]:
        """Hold around a whole map change of the hub made by this replica: enter it BEFORE the
        database transaction and install the new index before leaving.

        Loads of the hub take the same lock and then read the hub's row FOR SHARE, so the order
        is always this lock, then the row lock: a writer that took the row first and waited for
        this lock could deadlock with a loader. Holding it until the install also means this
        replica's own map-change event for the version finds it installed instead of loading it
        again."""
        with self._hub_lock(hub_id):
            yield

    def install_compiled(self, index: HubRouteIndex) -> None:
        """Install a freshly committed map version here and share it through Redis, so other
        replicas load it instead of compiling. Call inside `changing_hub`, after commit."""
        self._cache.store(index)
        self._install(index)

    # -- reading side ------------------------------------------------------------------------

    def ensure(self, hub_id: str, min_version: int = 0) -> HubRouteIndex | None:
        """The hub's index at `min_version` or newer, loading the newest version if what is in
        memory is older (or missing). None when the database has no map for the hub.

        If the database itself is behind `min_version` (a version that never committed), the
        newest committed map is returned and a warning logged: answering from it beats waiting
        for a version that may never come.
        """
        index = self._set.hub(hub_id)
        if index is not None and index.map_version >= min_version:
            return index
        with self._hub_lock(hub_id):
            index = self._set.hub(hub_id)
            if index is not None and index.map_version >= min_version:
                return index
            index = self._load_newest(hub_id, index)
        if index is not None and index.map_version < min_version:
            log.warning(
                "asked for a map version the database does not have; using the newest",
                extra={"hub_id": hub_id, "min_version": min_version, "map_version": index.map_version},
            )
        return index

    def refresh(self, hub_id: str) -> HubRouteIndex | None:
        """The hub's index at the newest committed version (one small query when up to date)."""
        with self._hub_lock(hub_id):
            return self._load_newest(hub_id, self._set.hub(hub_id))

    def sync_with_database(self) -> list[str]:
        """Load every hub whose committed map is newer than the one in memory (or missing).
        Returns the hubs loaded. One query when everything is current."""
        with self._uow() as uow:
            versions = uow.routes.hub_map_versions()
        loaded = []
        current = self._set
        for hub_id, version in sorted(versions.items()):
            index = current.hub(hub_id)
            if index is None or index.map_version < version:
                self.ensure(hub_id, version)
                loaded.append(hub_id)
        return loaded

    def warm_up(self) -> LoadReport:
        """Load every hub's map at start-up, from Redis where it has the version, else compiled
        from the database (and stored for the next replica). Logs where each came from."""
        started = time.perf_counter()
        with self._uow() as uow:
            versions = uow.routes.hub_map_versions()
        indexes: list[HubRouteIndex] = []
        sources = {FROM_CACHE: 0, COMPILED: 0}
        for hub_id in sorted(versions):
            hub_started = time.perf_counter()
            with self._hub_lock(hub_id):
                loaded = self._obtain(hub_id, versions[hub_id])
            if loaded is None:
                continue
            index, source = loaded
            sources[source] += 1
            self._loaded(index, source)
            indexes.append(index)
            log.info(
                "hub map loaded",
                extra={
                    "hub_id": hub_id,
                    "map_version": index.map_version,
                    "routes": len(index.routes),
                    "source": source,
                    "seconds": round(time.perf_counter() - hub_started, 4),
                },
            )
        with self._swap_lock:
            newer_here = [i for i in self._set.indexes if i.map_version > versions.get(i.hub_id, 0)]
            keep = {i.hub_id for i in newer_here}
            self._set = RouteIndexSet(
                [i for i in indexes if i.hub_id not in keep] + newer_here,
                resolution=self.resolution,
                max_nearest_m=self.max_nearest_m,
            )
            for index in self._set.indexes:
                _MAP_VERSION.labels(index.hub_id).set(index.map_version)
        report = LoadReport(
            hubs=len(indexes),
            from_cache=sources[FROM_CACHE],
            compiled=sources[COMPILED],
            seconds=round(time.perf_counter() - started, 4),
        )
        log.info(
            "route maps loaded",
            extra={
                "hubs": report.hubs,
                "from_redis": report.from_cache,
                "compiled": report.compiled,
                "seconds": report.seconds,
            },
        )
        return report

    # -- internals ---------------------------------------------------------------------------

    def _load_newest(self, hub_id: str, have: HubRouteIndex | None) -> HubRouteIndex | None:
        """(hub lock held) Load and install the newest committed version if newer than `have`."""
        with self._uow() as uow:
            version = uow.routes.hub_map_version(hub_id)
        if version is None:
            return have
        if have is not None and have.map_version >= version:
            return have
        started = time.perf_counter()
        loaded = self._obtain(hub_id, version)
        if loaded is None:
            return have
        index, source = loaded
        self._install(index)
        self._loaded(index, source)
        log.info(
            "hub map loaded",
            extra={
                "hub_id": hub_id,
                "map_version": index.map_version,
                "previous_map_version": have.map_version if have else 0,
                "routes": len(index.routes),
                "source": source,
                "seconds": round(time.perf_counter() - started, 4),
            },
        )
        return self._set.hub(hub_id)

    def _obtain(self, hub_id: str, version: int) -> tuple[HubRouteIndex, str] | None:
        """(hub lock held) The hub's index at `version` from Redis, else compiled from the
        database at whatever version is committed now (then shared through Redis)."""
        cached = self._cache.load(hub_id, version)
        if cached is not None:
            with self._swap_lock:
                self.cache_hit_count += 1
            return cached, FROM_CACHE
        with self._uow() as uow:
            snapshot: HubMapSnapshot | None = uow.routes.hub_map_snapshot(hub_id)
        if snapshot is None:
            return None
        index = self.compile(hub_id, to_routes(snapshot.routes), snapshot.map_version)
        self._cache.store(index)
        return index, COMPILED

    def _loaded(self, index: HubRouteIndex, source: str) -> None:
        _LOADS.labels(source).inc()
        with self._swap_lock:
            self.last_source[index.hub_id] = source

    def _install(self, index: HubRouteIndex) -> None:
        with self._swap_lock:
            present = self._set.hub(index.hub_id)
            if present is None or present.map_version < index.map_version:
                self._set = self._set.with_hub(index)
                _MAP_VERSION.labels(index.hub_id).set(index.map_version)

    @contextmanager
    def _hub_lock(self, hub_id: str) -> Iterator[None]:
        with self._hub_locks_guard:
            lock = self._hub_locks.setdefault(hub_id, threading.Lock())
        with lock:
            yield
