"""The external attendance management system over HTTP (contract: docs/attendance.md).

- Every request carries `Authorization: Bearer <token>`; redirects are not followed (the token
  must not travel to another host), so a 3xx is a refusal like any 4xx.
- Transient failures (timeouts, connection errors, 5xx, 408, 429) are retried with exponential
  backoff and jitter (tenacity), within a number of attempts and a total time budget, and never
  past the caller's deadline. Each attempt, body included, is limited to the configured timeout.
- 404 means "not known" (a rider without a record that day; an unknown hub). Other 4xx are
  refusals and are not retried. A 200 whose body breaks the contract is `SourceMalformed`.
- After a call fails for a transient cause with all its retries spent, the upstream is not asked
  again for `cooldown_seconds` (a small circuit breaker): callers get the last known data at once
  instead of each waiting out the whole retry budget against a system that is down.
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from tenacity import RetryCallState, Retrying, retry_if_exception_type, wait_exponential_jitter

from attendance_adapter.adapters.wire import parse_hub_answer, parse_rider_answer
from attendance_adapter.domain.model import AttendanceRecord
from attendance_adapter.metrics import UPSTREAM_REQUESTS, UPSTREAM_SECONDS
from attendance_adapter.service_layer.ports import (
    AttendanceSource,
    HubNotKnown,
    SourceMalformed,
    SourceRejected,
    SourceUnreachable,
)
from mesh.errors import InvalidArgument

T = TypeVar("T")

USER_AGENT = "firstmile-attendance-adapter/1"
# An attempt needs at least this long to be worth starting.
MIN_ATTEMPT_SECONDS = 0.05
RETRIED_STATUSES = frozenset({408, 429})


@dataclass(frozen=True)
class UpstreamConfig:
    base_url: str
    token: str
    timeout_seconds: float = 2.0
    attempts: int = 3
    retry_budget_seconds: float = 6.0
    cooldown_seconds: float = 5.0
    backoff_initial_seconds: float = 0.1
    backoff_max_seconds: float = 2.0
    max_body_bytes: int = 16 * 1024 * 1024


class _Transient(Exception):
    """One attempt failed in a way a retry may fix (internal to this module)."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class _NotFound:
    """The upstream answered 404."""


NOT_FOUND = _NotFound()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


class HttpAttendanceSource(AttendanceSource):
    embedded = False

    def __init__(
        self,
        config: UpstreamConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._config = config
        self._base = config.base_url.rstrip("/")
        self._headers = {
            "Authorization": f"Bearer {config.token}",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        self._opener = urllib.request.build_opener(_NoRedirect())
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._open_until = 0.0
        self._open_reason = ""

    # -- the port --------------------------------------------------------------------------

    def rider_attendance(self, rider_id: str, day: date, *, deadline: float | None = None) -> AttendanceRecord | None:
        answer = self._get(
            "rider",
            f"/riders/{quote(rider_id, safe='')}/attendance",
            day,
            deadline,
            lambda body: parse_rider_answer(body, rider_id, day),
        )
        return None if answer is NOT_FOUND else answer  # type: ignore[return-value]

    def hub_attendance(self, hub_id: str, day: date, *, deadline: float | None = None) -> list[AttendanceRecord]:
        answer = self._get(
            "hub",
            f"/hubs/{quote(hub_id, safe='')}/attendance",
            day,
            deadline,
            lambda body: parse_hub_answer(body, hub_id, day),
        )
        if answer is NOT_FOUND:
            raise HubNotKnown(f"hub {hub_id!r} is not known to the attendance system")
        return answer  # type: ignore[return-value]

    # -- one call: circuit, retries ----------------------------------------------------------

    def _get(
        self, endpoint: str, path: str, day: date, deadline: float | None, parse: Callable[[bytes], T]
    ) -> T | _NotFound:
        config = self._config
        now = self._clock()
        self._check_circuit(endpoint, now)
        end = now + config.retry_budget_seconds
        if deadline is not None:
            end = min(end, deadline)
        url = f"{self._base}{path}?{urlencode({'date': day.isoformat()})}"

        def stop(state: RetryCallState) -> bool:
            out_of_time = self._clock() + (state.upcoming_sleep or 0.0) + MIN_ATTEMPT_SECONDS >= end
            return state.attempt_number >= config.attempts or out_of_time

        retrying = Retrying(
            stop=stop,
            wait=wait_exponential_jitter(
                multiplier=config.backoff_initial_seconds,
                max=config.backoff_max_seconds,
                jitter=config.backoff_initial_seconds,
            ),
            retry=retry_if_exception_type(_Transient),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            answer = retrying(self._attempt, endpoint, url, end, parse)
        except _Transient as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            reason = f"upstream {exc.what} after {attempts} attempt{'s' if attempts != 1 else ''}"
            self._trip(reason)
            raise SourceUnreachable(reason) from None
        self._reset()
        return answer

    def _check_circuit(self, endpoint: str, now: float) -> None:
        with self._lock:
            open_until, reason = self._open_until, self._open_reason
        if now < open_until:
            UPSTREAM_REQUESTS.labels(endpoint, "circuit_open").inc()
            raise SourceUnreachable(f"{reason}; not asked again for {open_until - now:.1f} s")

    def _trip(self, reason: str) -> None:
        if self._config.cooldown_seconds <= 0:
            return
        with self._lock:
            self._open_until = self._clock() + self._config.cooldown_seconds
            self._open_reason = reason

    def _reset(self) -> None:
        with self._lock:
            self._open_until, self._open_reason = 0.0, ""

    # -- one HTTP attempt --------------------------------------------------------------------

    def _attempt(self, endpoint: str, url: str, end: float, parse: Callable[[bytes], T]) -> T | _NotFound:
        remaining = end - self._clock()
        if remaining <= 0:
            raise _Transient("timeout")
        timeout = min(self._config.timeout_seconds, remaining)
        attempt_end = self._clock() + timeout
        started = time.perf_counter()
        outcome = "connection_error"
        try:
            try:
                response = self._opener.open(urllib.request.Request(url, headers=self._headers), timeout=timeout)
            except urllib.error.HTTPError as err:
                status = err.code
                err.close()
                if status == 404:
                    outcome = "not_found"
                    return NOT_FOUND
                if status >= 500 or status in RETRIED_STATUSES:
                    outcome = "server_error"
                    raise _Transient(f"HTTP {status}") from None
                outcome = "client_error"
                raise SourceRejected(f"upstream refused the request: HTTP {status}") from None
            with response:
                body = self._read(response, attempt_end)
                status = response.status
            if status != 200:
                outcome = "malformed"
                raise SourceMalformed(f"upstream answered malformed data: HTTP {status} instead of 200")
            try:
                answer = parse(body)
            except InvalidArgument as exc:  # any rule the answer breaks (WireError names where)
                outcome = "malformed"
                raise SourceMalformed(f"upstream answered malformed data: {exc}") from None
            outcome = "ok"
            return answer
        except SourceMalformed:
            outcome = "malformed"
            raise
        except TimeoutError:
            outcome = "timeout"
            raise _Transient(f"timeout ({timeout:g} s per attempt)") from None
        except urllib.error.URLError as err:
            if isinstance(err.reason, TimeoutError):
                outcome = "timeout"
                raise _Transient(f"timeout ({timeout:g} s per attempt)") from None
            raise _Transient(f"unreachable ({_describe(err.reason)})") from None
        except (http.client.HTTPException, OSError) as err:
            raise _Transient(f"unreachable ({_describe(err)})") from None
        finally:
            UPSTREAM_REQUESTS.labels(endpoint, outcome).inc()
            UPSTREAM_SECONDS.labels(endpoint).observe(time.perf_counter() - started)

    def _read(self, response: Any, attempt_end: float) -> bytes:
        """The whole body, within the attempt's time and the size limit."""
        chunks: list[bytes] = []
        size = 0
        while True:
            if self._clock() > attempt_end:
                raise TimeoutError
            chunk = response.read1(64 * 1024)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > self._config.max_body_bytes:
                raise SourceMalformed(f"upstream answered more than {self._config.max_body_bytes} bytes")
            chunks.append(chunk)


def _describe(error: object) -> str:
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__
