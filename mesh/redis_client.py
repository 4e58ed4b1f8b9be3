"""Redis connection for caches. Redis is never the only copy of anything, so callers treat a
Redis failure as a cache miss where they can."""

from __future__ import annotations

import redis


def make_redis(url: str, *, timeout_seconds: float = 1.0) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
        retry_on_timeout=False,
    )
