"""Upstream answers kept in Redis, so replicas share them and survive an upstream outage.

One key per hub and day and per rider and day: `attendance:v1:hub:{hub}:{date}` and
`attendance:v1:rider:{rider}:{date}`. Each holds the answer and when it was fetched, and lives in
Redis for the long "last known" time-to-live; whether it is still fresh (served as CACHED) or only
good as a stale fallback is decided by the reader from `fetched_at` and the short cache TTL. One
key per answer means the fresh copy and the last known copy can never disagree.

Redis is only a cache: every failure here is a miss (the reader asks the upstream directly), and
after a failure Redis is left alone for a few seconds so an outage costs one timeout, not one per call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable

import redis

from attendance_adapter.adapters.wire import WireError, parse_timestamp, record_from_json, record_to_json
from attendance_adapter.domain.model import Snapshot
from attendance_adapter.metrics import CACHE_ERRORS
from attendance_adapter.service_layer.ports import AttendanceCache, CacheKey
from mesh.errors import InvalidArgument
from mesh.redis_client import RedisPause

log = logging.getLogger(__name__)

KEY_PREFIX = "attendance:v1"
FORMAT_VERSION = 1


def redis_key(key: CacheKey) -> str:
    """`attendance:v1:hub:{hub}:{date}` or `attendance:v1:rider:{rider}:{date}`."""
    return f"{KEY_PREFIX}:{key}"


def encode_snapshot(snapshot: Snapshot) -> bytes:
    return json.dumps(
        {
            "v": FORMAT_VERSION,
            "fetched_at": snapshot.fetched_at.isoformat(),
            "records": [record_to_json(r) for r in snapshot.records],
        },
        separators=(",", ":"),
    ).encode()


def decode_snapshot(blob: bytes | str) -> Snapshot:
    """Raises WireError (an InvalidArgument) when the blob is not a snapshot this version wrote."""
    try:
        document = json.loads(blob)
    except ValueError:
        raise WireError("not JSON") from None
    if not isinstance(document, dict) or document.get("v") != FORMAT_VERSION:
        raise WireError("not a snapshot of this format version")
    fetched_at, items = document.get("fetched_at"), document.get("records")
    if not isinstance(fetched_at, str) or not isinstance(items, list):
        raise WireError("fetched_at or records missing")
    return Snapshot(
        fetched_at=parse_timestamp(fetched_at, "fetched_at"),
        records=tuple(record_from_json(item, f"records[{i}].") for i, item in enumerate(items)),
    )


class RedisAttendanceCache(AttendanceCache):
    def __init__(
        self,
        client: redis.Redis,
        *,
        keep_seconds: int,
        pause_after_failure_seconds: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = client
        self._keep_seconds = keep_seconds
        self._pause = RedisPause(pause_after_failure_seconds, clock=clock)

    def get(self, key: CacheKey) -> Snapshot | None:
        if self._pause.paused():
            return None
        try:
            blob = self._redis.get(redis_key(key))
        except redis.RedisError as exc:
            self._failed("get", exc)
            return None
        if blob is None:
            return None
        try:
            return decode_snapshot(blob)
        except (InvalidArgument, ValueError) as exc:  # the cache never raises
            CACHE_ERRORS.labels("decode").inc()
            log.warning(
                "cached attendance is unreadable; asking the upstream", extra={"key": redis_key(key), "error": str(exc)}
            )
            return None

    def put(self, key: CacheKey, snapshot: Snapshot) -> None:
        if self._pause.paused():
            return
        try:
            self._redis.set(redis_key(key), encode_snapshot(snapshot), ex=self._keep_seconds)
        except redis.RedisError as exc:
            self._failed("set", exc)

    def _failed(self, operation: str, exc: Exception) -> None:
        CACHE_ERRORS.labels(operation).inc()
        self._pause.failed()
        log.warning(
            "Redis attendance cache unavailable; asking the upstream directly",
            extra={"operation": operation, "error": str(exc), "retry_in_seconds": self._pause.seconds},
        )
