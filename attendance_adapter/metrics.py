"""Prometheus metrics of attendance_adapter, counted by its service layer and adapters (served on
ATTENDANCE_ADAPTER_METRICS_PORT)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# One per HTTP attempt (retries count separately). outcome: ok, not_found, timeout,
# connection_error, server_error (5xx, 408, 429), client_error (other 4xx, redirects),
# malformed, circuit_open (not attempted: the upstream failed moments ago).
UPSTREAM_REQUESTS = Counter(
    "firstmile_attendance_upstream_requests_total",
    "Requests to the external attendance system, by endpoint (hub, rider) and outcome.",
    ["endpoint", "outcome"],
)
UPSTREAM_SECONDS = Histogram(
    "firstmile_attendance_upstream_request_seconds",
    "Duration of one HTTP attempt to the external attendance system.",
    ["endpoint"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
# kind: hub, rider.
CACHE_HITS = Counter(
    "firstmile_attendance_cache_hits_total", "Answers served from Redis within the cache TTL.", ["kind"]
)
CACHE_MISSES = Counter(
    "firstmile_attendance_cache_misses_total",
    "Lookups that had to ask the upstream system (nothing cached, or older than the TTL).",
    ["kind"],
)
CACHE_ERRORS = Counter(
    "firstmile_attendance_cache_errors_total",
    "Redis operations that failed (treated as misses) or entries that could not be read.",
    ["operation"],
)
STALE_ANSWERS = Counter(
    "firstmile_attendance_stale_answers_total",
    "Answers served from the last known data because the upstream system failed.",
    ["kind"],
)
UNAVAILABLE_ANSWERS = Counter(
    "firstmile_attendance_unavailable_answers_total",
    "Calls answered UNAVAILABLE: the upstream system failed and nothing was known.",
    ["kind"],
)
RECORDED = Counter(
    "firstmile_attendance_recorded_total",
    "Records written to the embedded table (RecordAttendance, CSV import), by result: created, updated, unchanged.",
    ["result"],
)
