"""Settings of routing_svc (prefix `ROUTING_SVC_`); the shared ones are in mesh.config.MeshSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mesh.service import ServiceSettings
from routing_svc.domain.coverage import MAX_RESOLUTION, MIN_RESOLUTION
from routing_svc.domain.index import DEFAULT_MAX_NEAREST_M, DEFAULT_RESOLUTION


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_SVC_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50052, ge=0, le=65535)
    metrics_port: int = Field(default=9102, ge=0, le=65535)
    # H3 resolution of every hub's index. 10 (~66 m hexagon edge, ~0.015 km² cells) keeps the
    # share of points that fall in route-edge cells (and need an exact polygon test) small for
    # city routes of a few km², while a city map stays in the low millions of cells.
    # Every replica must use the same value (it is part of the shared-index cache key).
    h3_resolution: int = Field(default=DEFAULT_RESOLUTION, ge=MIN_RESOLUTION, le=MAX_RESOLUTION)
    # A point outside every route goes to the nearest route whose boundary is at most this far
    # (ROUTE_MATCH_NEAREST); farther than that it is unroutable (manual queue).
    max_nearest_m: float = Field(default=DEFAULT_MAX_NEAREST_M, ge=0, le=100_000)
    # How long a compiled hub index stays in Redis for other replicas to load. Each map version
    # has its own key, so old versions simply expire; a miss only costs one compile.
    index_cache_ttl_seconds: int = Field(default=24 * 3600, ge=60, le=30 * 24 * 3600)
    # Every this many seconds each replica compares its in-memory map versions with the database
    # and loads what changed: a safety net for map-change events missed (e.g. around start-up).
    index_sync_interval_seconds: float = Field(default=30.0, ge=1, le=3600)
