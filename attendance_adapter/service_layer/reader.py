"""attendance_adapter's read use cases: attendance of a rider or a hub for a day, with its freshness.

With the embedded source every answer is read from the table (EMBEDDED). In front of an external
system answers are cached (adapters/cache.py) and the decision goes:

1. a cached answer younger than the cache TTL is served as it is: CACHED, with its age;
2. otherwise the upstream is asked (one request per key at a time in this process; concurrent
   callers share it) and a good answer is cached and served: LIVE;
3. if the upstream fails (unreachable after retries, refused, malformed answer), the cached
   answer, however old (up to the last-known TTL), is served flagged STALE with its age and the
   reason; the failed answer itself is never used or cached;
4. with nothing cached either: UNAVAILABLE, saying what failed.

Redis failures are misses (the cache never raises), so with Redis down every call goes to the
upstream directly; only the stale fallback is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

from attendance_adapter.domain.model import (
    AttendanceRecord,
    CachePolicy,
    Freshness,
    HubAttendance,
    RiderAttendance,
    Snapshot,
)
from attendance_adapter.metrics import CACHE_HITS, CACHE_MISSES, STALE_ANSWERS, UNAVAILABLE_ANSWERS
from attendance_adapter.service_layer.ports import (
    AttendanceCache,
    AttendanceSource,
    CacheKey,
    SourceFailed,
    SourceUnreachable,
)
from mesh.errors import Unavailable
from mesh.kernel import utc_now

log = logging.getLogger(__name__)

T = TypeVar("T")
Clock = Callable[[], datetime]


@dataclass
class _Call(Generic[T]):
    done: threading.Event = field(default_factory=threading.Event)
    result: T | None = None
    error: BaseException | None = None


class SingleFlight:
    """Concurrent calls for the same key share one execution: the first runs it, the others wait
    for its outcome (at most until their own deadline, a `time.monotonic()` value)."""

    def __init__(self, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._calls: dict[str, _Call] = {}
        self._monotonic = monotonic

    def run(self, key: str, fn: Callable[[], T], deadline: float | None = None) -> T:
        with self._lock:
            call = self._calls.get(key)
            leader = call is None
            if call is None:
                call = self._calls[key] = _Call()
        if leader:
            try:
                call.result = fn()
                return call.result
            except BaseException as exc:
                call.error = exc
                raise
            finally:
                with self._lock:
                    del self._calls[key]
                call.done.set()
        timeout = None if deadline is None else max(0.0, deadline - self._monotonic())
        if not call.done.wait(timeout):
            raise SourceUnreachable("upstream did not answer within the call's deadline")
        if call.error is not None:
            if isinstance(call.error, SourceFailed):
                raise type(call.error)(call.error.reason)  # a fresh exception per waiting thread
            raise call.error
        return call.result  # type: ignore[return-value]


class AttendanceReader:
    def __init__(
        self,
        source: AttendanceSource,
        cache: AttendanceCache | None,
        policy: CachePolicy,
        *,
        clock: Clock = utc_now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._cache = None if source.embedded else cache
        self._policy = policy
        self._clock = clock
        self._flights = SingleFlight(monotonic)

    @property
    def embedded(self) -> bool:
        return self._source.embedded

    def rider(self, rider_id: str, day: date, *, deadline: float | None = None) -> RiderAttendance:
        """The rider's record (None: the source has none) with its freshness."""
        if self._source.embedded:
            record = self._source.rider_attendance(rider_id, day, deadline=deadline)
            return RiderAttendance(rider_id, day, record, Freshness.embedded(self._clock()))

        def fetch(limit: float | None) -> tuple[AttendanceRecord, ...]:
            record = self._source.rider_attendance(rider_id, day, deadline=limit)
            return (record,) if record is not None else ()

        snapshot, freshness = self._read(
            CacheKey("rider", rider_id, day), fetch, deadline, f"rider {rider_id} on {day.isoformat()}"
        )
        record = snapshot.records[0] if snapshot.records else None
        return RiderAttendance(rider_id, day, record, freshness)

    def hub(self, hub_id: str, day: date, *, deadline: float | None = None) -> HubAttendance:
        """Every record of the hub's riders for the day, with its freshness; HubNotKnown (a
        NotFound) when the upstream does not know the hub."""
        if self._source.embedded:
            records = tuple(self._source.hub_attendance(hub_id, day, deadline=deadline))
            return HubAttendance(hub_id, day, records, Freshness.embedded(self._clock()))
        snapshot, freshness = self._read(
            CacheKey("hub", hub_id, day),
            lambda limit: tuple(self._source.hub_attendance(hub_id, day, deadline=limit)),
            deadline,
            f"hub {hub_id} on {day.isoformat()}",
        )
        return HubAttendance(hub_id, day, snapshot.records, freshness)

    def _read(
        self,
        key: CacheKey,
        fetch: Callable[[float | None], tuple[AttendanceRecord, ...]],
        deadline: float | None,
        what: str,
    ) -> tuple[Snapshot, Freshness]:
        now = self._clock()
        cached = self._cache.get(key) if self._cache is not None else None
        if cached is not None and self._policy.is_fresh(cached.fetched_at, now):
            CACHE_HITS.labels(key.kind).inc()
            return cached, Freshness.cached(cached.fetched_at, now)
        CACHE_MISSES.labels(key.kind).inc()

        def fetch_and_keep() -> Snapshot:
            records = fetch(deadline)
            snapshot = Snapshot(self._clock(), records)
            if self._cache is not None:
                self._cache.put(key, snapshot)
            return snapshot

        try:
            snapshot = self._flights.run(str(key), fetch_and_keep, deadline)
        except SourceFailed as exc:
            if cached is not None:
                STALE_ANSWERS.labels(key.kind).inc()
                freshness = Freshness.stale_since(cached.fetched_at, self._clock(), exc.reason)
                log.info(
                    "serving stale attendance",
                    extra={"key": str(key), "age_s": round(freshness.age.total_seconds(), 1), "reason": exc.reason},
                )
                return cached, freshness
            UNAVAILABLE_ANSWERS.labels(key.kind).inc()
            raise Unavailable(
                f"attendance of {what} is unknown: the attendance system failed ({exc.reason}) "
                "and no earlier answer is cached"
            ) from None
        return snapshot, Freshness.live(snapshot.fetched_at, self._clock())
