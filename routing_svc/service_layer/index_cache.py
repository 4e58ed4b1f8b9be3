"""Where replicas share compiled hub indexes (adapters.index_cache: Redis). Only a cache: a miss,
an unreadable entry or an outage all mean "compile it yourself"."""

from __future__ import annotations

import abc

from routing_svc.domain.index import HubRouteIndex


class IndexCache(abc.ABC):
    @abc.abstractmethod
    def load(self, hub_id: str, map_version: int) -> HubRouteIndex | None:
        """The index of exactly this hub version, or None (not cached, unreadable, unavailable)."""

    @abc.abstractmethod
    def store(self, index: HubRouteIndex) -> bool:
        """Share the index with other replicas; False if the cache did not take it (harmless)."""
