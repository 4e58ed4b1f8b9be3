"""Redis connection for caches. Redis is never the only copy of anything, so callers treat a
Redis failure as a cache miss where they can."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import redis


def make_redis(url: str, *, timeout_seconds: float = 1.0) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_seconds,
        socket_connect_timeout=timeout_seconds,
        health_check_interval=30,
        retry_on_timeout=False,
    )


class RedisPause:
    """After a Redis failure, skip Redis for a while: an outage then costs one timeout, not one
    per call. Callers ask `paused()` before a call and report failures with `failed()`."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._until = 0.0
        self._lock = threading.Lock()

    def paused(self) -> bool:
        with self._lock:
            return self._clock() < self._until

    def failed(self) -> None:
        with self._lock:
            self._until = self._clock() + self.seconds
