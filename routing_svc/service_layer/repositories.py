"""What the use cases need from storage, as interfaces (adapters.repository implements them over
PostgreSQL; tests over dicts).

Every change to a hub's routes first locks the hub's map (`lock_hub_map`), so the changes of one
hub are serialized and each gets the next map version; readers that need a consistent (version,
routes) pair use `hub_map_snapshot`.
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from routing_svc.domain.model import HubMapSnapshot, RouteRecord


class AbstractRouteRepository(abc.ABC):
    # -- hub map versions -------------------------------------------------------------------

    @abc.abstractmethod
    def lock_hub_map(self, hub_id: str, now: datetime) -> int:
        """Lock the hub's map for this transaction (creating it at version 0 if the hub is new)
        and return its current version. Concurrent changes of the hub wait here."""

    @abc.abstractmethod
    def set_hub_map_version(self, hub_id: str, map_version: int, now: datetime) -> None: ...

    @abc.abstractmethod
    def hub_map_version(self, hub_id: str) -> int | None:
        """The hub's current map version, or None for a hub that never had a route (or has
        only the version-0 placeholder of a change that did not commit anything)."""

    @abc.abstractmethod
    def hub_map_versions(self) -> dict[str, int]:
        """Every hub with a map, and its current version."""

    @abc.abstractmethod
    def hub_map_snapshot(self, hub_id: str) -> HubMapSnapshot | None:
        """The hub's version and active routes (by id) as of one moment: no change of the hub
        commits between reading the version and the routes."""

    # -- routes -----------------------------------------------------------------------------

    @abc.abstractmethod
    def get(self, route_id: str) -> RouteRecord | None: ...

    @abc.abstractmethod
    def hub_routes(self, hub_id: str) -> dict[str, RouteRecord]:
        """All routes of the hub, active or not, by id (call with the hub map locked)."""

    @abc.abstractmethod
    def hubs_of(self, route_ids: Iterable[str]) -> dict[str, str]:
        """route id -> hub id of the given ids that exist (in any hub)."""

    @abc.abstractmethod
    def insert(self, records: Sequence[RouteRecord]) -> None:
        """Insert new routes; RouteIdTaken if another hub took one of the ids meanwhile."""

    @abc.abstractmethod
    def update(self, records: Sequence[RouteRecord]) -> None: ...

    @abc.abstractmethod
    def set_cell_counts(self, cell_counts: Mapping[str, int]) -> None: ...

    @abc.abstractmethod
    def delete(self, route_ids: Iterable[str]) -> None: ...

    @abc.abstractmethod
    def list(
        self,
        hub_id: str,
        *,
        include_inactive: bool,
        page_size: int,
        after_id: str | None,
        with_geometry: bool = True,
    ) -> list[RouteRecord]:
        """One page of the hub's routes ordered by id (byte order); without geometry,
        `geometry_geojson` is ""."""
