"""Compiled hub indexes shared between replicas through Redis.

A replica that compiled a hub's map stores the blob under a key naming the hub, the map version
and the H3 resolution; another replica (or this one after a restart) loads it instead of
compiling. Redis is only a cache: every failure here is a miss, the caller compiles from the
database, and after a failure Redis is left alone for a few seconds so that an outage costs one
timeout, not one per hub.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import redis

from mesh.redis_client import RedisPause
from routing_svc.adapters.index_codec import IndexFormatError, index_from_bytes, index_to_bytes
from routing_svc.domain.index import HubRouteIndex
from routing_svc.service_layer.index_cache import IndexCache

log = logging.getLogger(__name__)

KEY_PREFIX = "routing:index"


def index_key(hub_id: str, map_version: int, resolution: int) -> str:
    """`routing:index:{hub}:{version}:r{resolution}`. A blob never changes once written: a new map
    is a new version, and a replica configured for another resolution never reads it."""
    return f"{KEY_PREFIX}:{hub_id}:{map_version}:r{resolution}"


class RedisIndexCache(IndexCache):
    """IndexCache over Redis; index_codec blobs with a TTL, so old versions expire on their own."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        resolution: int,
        max_nearest_m: float,
        ttl_seconds: int,
        pause_after_failure_seconds: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self.resolution = resolution
        self._max_nearest_m = max_nearest_m
        self._ttl_seconds = ttl_seconds
        self._pause = RedisPause(pause_after_failure_seconds, clock=clock)

    def load(self, hub_id: str, map_version: int) -> HubRouteIndex | None:
        """The index of exactly this hub version, or None (not cached, unreadable, Redis down)."""
        if self._pause.paused():
            return None
        key = index_key(hub_id, map_version, self.resolution)
        try:
            blob = self._redis.get(key)
        except redis.RedisError as exc:
            self._failed("get", exc)
            return None
        if blob is None:
            return None
        try:
            if not isinstance(blob, bytes):
                raise IndexFormatError(f"Redis returned {type(blob).__name__}, not bytes")
            index = index_from_bytes(blob, max_nearest_m=self._max_nearest_m)
        except IndexFormatError as exc:
            log.warning("cached route index is unreadable; compiling instead", extra={"key": key, "error": str(exc)})
            self._forget(key)
            return None
        if (index.hub_id, index.map_version, index.resolution) != (hub_id, map_version, self.resolution):
            log.warning(
                "cached route index is for another map; compiling instead",
                extra={"key": key, "hub_id": index.hub_id, "map_version": index.map_version},
            )
            return None
        return index

    def store(self, index: HubRouteIndex) -> bool:
        """Share the index with other replicas; False if Redis did not take it (harmless)."""
        if self._pause.paused() or index.resolution != self.resolution:
            return False
        key = index_key(index.hub_id, index.map_version, index.resolution)
        try:
            self._redis.set(key, index_to_bytes(index), ex=self._ttl_seconds)
        except redis.RedisError as exc:
            self._failed("set", exc)
            return False
        return True

    def _forget(self, key: str) -> None:
        try:
            self._redis.delete(key)
        except redis.RedisError as exc:
            self._failed("delete", exc)

    def _failed(self, operation: str, exc: Exception) -> None:
        self._pause.failed()
        log.warning(
            "Redis index cache unavailable; compiling from the database instead",
            extra={"operation": operation, "error": str(exc), "retry_in_seconds": self._pause.seconds},
        )
