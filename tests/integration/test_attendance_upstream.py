"""attendance_adapter in front of an external attendance system: a small real HTTP server stands in
for it (switchable behaviour), answers are cached in the real Redis, and every call goes through
the gRPC servicer on a real mesh GrpcServer.

Covers: upstream healthy (LIVE, then CACHED); slow (timeouts) and failing with 503 (stale answer
flagged with its age and reason, after retries); never reached (UNAVAILABLE); malformed answer
(error, not cached); refusals, the caller's deadline and Redis down. Request validation and
RecordAttendance refused in this mode are unit-tested (test_attendance_servicer.py).
"""

from __future__ import annotations

import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
import redis
from prometheus_client import REGISTRY

from attendance_adapter.adapters.cache import RedisAttendanceCache, redis_key
from attendance_adapter.adapters.upstream import HttpAttendanceSource, UpstreamConfig
from attendance_adapter.domain.model import CachePolicy
from attendance_adapter.entrypoints.grpc_api import AttendanceServicer, registration
from attendance_adapter.service_layer.ports import CacheKey, SourceRejected
from attendance_adapter.service_layer.reader import AttendanceReader
from firstmile.attendance.v1 import attendance_pb2 as pb
from firstmile.attendance.v1 import attendance_pb2_grpc
from mesh.grpc_server import GrpcServer
from mesh.redis_client import make_redis
from tests.support import auth, in_process_server
from tests.support.fakes_attendance import FakeClock

pytestmark = pytest.mark.integration

TOKEN = "test-token-" + uuid.uuid4().hex[:6]
TODAY = datetime.now(UTC).date()
TTL_SECONDS = 60
BASE_PATH = "/api/v1"


# -- the stand-in attendance system ------------------------------------------------------------


@dataclass
class FakeAttendanceSystem:
    """Serves the contract of docs/attendance.md from `hubs` and `riders`; `mode` switches it to
    slow, failing (any status code) or malformed answers."""

    mode: str = "healthy"  # healthy | slow | status | malformed
    status: int = 503
    slow_seconds: float = 1.0
    malformed_body: bytes = b""
    hubs: dict[str, list[dict]] = field(default_factory=dict)
    riders: dict[str, dict] = field(default_factory=dict)
    requests: list[tuple[str, str, str]] = field(default_factory=list)  # (path, date, authorization)

    def answer(self, path: str, day: str) -> tuple[int, bytes]:
        parts = path.removeprefix(BASE_PATH).strip("/").split("/")
        if len(parts) == 3 and parts[0] == "hubs" and parts[2] == "attendance":
            if parts[1] not in self.hubs:
                return 404, b'{"error": "unknown hub"}'
            records = [r for r in self.hubs[parts[1]] if r["date"] == day]
            return 200, json.dumps({"hub_id": parts[1], "date": day, "records": records}).encode()
        if len(parts) == 3 and parts[0] == "riders" and parts[2] == "attendance":
            record = self.riders.get(parts[1])
            if record is None or record["date"] != day:
                return 404, b'{"error": "no record"}'
            return 200, json.dumps(record).encode()
        return 404, b"{}"

    def count(self, fragment: str) -> int:
        return sum(fragment in path for path, _, _ in self.requests)


def make_handler(system: FakeAttendanceSystem) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            day = parse_qs(url.query).get("date", [""])[0]
            system.requests.append((url.path, day, self.headers.get("Authorization", "")))
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                return self._send(401, b'{"error": "unauthorized"}')
            if system.mode == "slow":
                time.sleep(system.slow_seconds)
            if system.mode == "status":
                return self._send(system.status, b'{"error": "unavailable"}')
            if system.mode == "malformed":
                return self._send(200, system.malformed_body)
            self._send(*system.answer(url.path, day))

        def _send(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the client gave up (timeout) before the answer

        def log_message(self, *args) -> None:
            pass

    return Handler


@pytest.fixture
def upstream() -> Iterator[tuple[FakeAttendanceSystem, str]]:
    system = FakeAttendanceSystem()
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(system))
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield system, f"http://127.0.0.1:{server.server_address[1]}{BASE_PATH}"
    server.shutdown()
    server.server_close()


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- the adapter under test --------------------------------------------------------------------


@dataclass
class Adapter:
    stub: attendance_pb2_grpc.AttendanceServiceStub
    clock: FakeClock


@pytest.fixture
def adapter_factory(redis_client) -> Iterator:
    started: list[tuple[GrpcServer, grpc.Channel]] = []

    def start(base_url: str, *, cache_client: redis.Redis | None = None, **config) -> Adapter:
        settings = {
            "timeout_seconds": 0.3,
            "attempts": 3,
            "retry_budget_seconds": 3.0,
            "cooldown_seconds": 0.0,
            "backoff_initial_seconds": 0.05,
            "backoff_max_seconds": 0.2,
        }
        settings.update(config)
        clock = FakeClock()
        source = HttpAttendanceSource(UpstreamConfig(base_url=base_url, token=TOKEN, **settings))
        cache = RedisAttendanceCache(cache_client or redis_client, keep_seconds=600)
        reader = AttendanceReader(source, cache, CachePolicy(timedelta(seconds=TTL_SECONDS)), clock=clock)
        server = in_process_server.start(registration(AttendanceServicer(reader, recorder=None)))
        channel = auth.open_channel(in_process_server.address(server))
        started.append((server, channel))
        return Adapter(attendance_pb2_grpc.AttendanceServiceStub(channel), clock)

    yield start
    for server, channel in started:
        channel.close()
        server.drain_and_stop()


def ids() -> tuple[str, str]:
    tag = uuid.uuid4().hex[:8]
    return f"hub-{tag}", f"r-{tag}"


def at(hour: int, day: date = TODAY) -> str:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC).isoformat().replace("+00:00", "Z")


def seed(system: FakeAttendanceSystem, hub: str, rider: str) -> None:
    """rider-a and rider-c PRESENT, rider-b ON_LEAVE, rider-d CHECKED_OUT."""

    def record(suffix: str, status: str, **times) -> dict:
        return {
            "rider_id": f"{rider}-{suffix}",
            "hub_id": hub,
            "date": TODAY.isoformat(),
            "status": status,
            "shift": "MORNING",
            "updated_at": at(1),
            **times,
        }

    system.hubs[hub] = [
        record("c", "PRESENT", check_in_time=at(6)),
        record("a", "PRESENT", check_in_time=at(5)),
        record("b", "ON_LEAVE"),
        record("d", "CHECKED_OUT", check_in_time=at(2), check_out_time=at(4)),
    ]
    system.riders[f"{rider}-a"] = system.hubs[hub][1]


def ask_hub(adapter: Adapter, hub: str, timeout: float = 10) -> pb.ListAvailableRidersResponse:
    return adapter.stub.ListAvailableRiders(
        pb.ListAvailableRidersRequest(hub_id=hub, date=TODAY.isoformat()), timeout=timeout
    )


def upstream_count(outcome: str, endpoint: str = "hub") -> float:
    return (
        REGISTRY.get_sample_value(
            "firstmile_attendance_upstream_requests_total", {"endpoint": endpoint, "outcome": outcome}
        )
        or 0.0
    )


# -- healthy -----------------------------------------------------------------------------------


def test_healthy_upstream_live_then_cached(upstream, adapter_factory, redis_client):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    adapter = adapter_factory(url)

    first = ask_hub(adapter, hub)
    assert [r.rider_id for r in first.records] == [f"{rider}-a", f"{rider}-c"]
    assert first.freshness.source == pb.ATTENDANCE_SOURCE_LIVE
    assert not first.freshness.stale
    assert first.freshness.age.ToTimedelta() == timedelta(0)
    a = first.records[0]
    assert (a.hub_id, a.date, a.status, a.shift) == (hub, TODAY.isoformat(), pb.ATTENDANCE_STATUS_PRESENT, "MORNING")
    assert a.check_in_time.ToJsonString() == at(5)
    assert not a.HasField("check_out_time")

    adapter.clock.advance(25)
    second = ask_hub(adapter, hub)
    assert second.freshness.source == pb.ATTENDANCE_SOURCE_CACHED
    assert second.freshness.age.ToTimedelta() == timedelta(seconds=25)
    assert second.freshness.fetched_at == first.freshness.fetched_at
    assert list(second.records) == list(first.records)

    assert system.requests == [(f"/api/v1/hubs/{hub}/attendance", TODAY.isoformat(), f"Bearer {TOKEN}")]
    assert redis_client.ttl(redis_key(CacheKey("hub", hub, TODAY))) > TTL_SECONDS  # kept as last known data

    got = adapter.stub.GetAttendance(pb.GetAttendanceRequest(rider_id=f"{rider}-a", date=TODAY.isoformat()), timeout=10)
    assert got.record.rider_id == f"{rider}-a"
    assert got.freshness.source == pb.ATTENDANCE_SOURCE_LIVE

    with pytest.raises(grpc.RpcError) as missing:
        adapter.stub.GetAttendance(pb.GetAttendanceRequest(rider_id=f"{rider}-zz", date=TODAY.isoformat()), timeout=10)
    assert missing.value.code() is grpc.StatusCode.NOT_FOUND
    assert f"no attendance record for rider {rider}-zz on {TODAY.isoformat()}" in missing.value.details()


def test_unknown_hub_is_not_found(upstream, adapter_factory):
    _, url = upstream
    with pytest.raises(grpc.RpcError) as caught:
        ask_hub(adapter_factory(url), ids()[0])
    assert caught.value.code() is grpc.StatusCode.NOT_FOUND
    assert "not known to the attendance system" in caught.value.details()


# -- slow and failing: stale answers -------------------------------------------------------------


def test_slow_upstream_serves_last_known_data_flagged_stale(upstream, adapter_factory):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    adapter = adapter_factory(url, timeout_seconds=0.3, attempts=2)
    live = ask_hub(adapter, hub)

    adapter.clock.advance(TTL_SECONDS + 30)
    system.mode, system.slow_seconds = "slow", 1.5
    timeouts = upstream_count("timeout")
    started = time.monotonic()
    stale = ask_hub(adapter, hub)
    elapsed = time.monotonic() - started

    assert stale.freshness.source == pb.ATTENDANCE_SOURCE_STALE
    assert stale.freshness.stale
    assert stale.freshness.age.ToTimedelta() == timedelta(seconds=TTL_SECONDS + 30)
    assert stale.freshness.fetched_at == live.freshness.fetched_at
    assert stale.freshness.stale_reason == "upstream timeout (0.3 s per attempt) after 2 attempts"
    assert list(stale.records) == list(live.records)
    assert system.count(f"/hubs/{hub}/") == 3  # one live call, then two timed-out attempts
    assert upstream_count("timeout") == timeouts + 2
    assert 0.6 <= elapsed < 1.5


def test_failing_upstream_is_retried_then_stale_and_left_alone_for_the_cooldown(upstream, adapter_factory):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    adapter = adapter_factory(url, attempts=3, cooldown_seconds=30)
    ask_hub(adapter, hub)

    adapter.clock.advance(120)
    system.mode, system.status = "status", 503
    stale = ask_hub(adapter, hub)
    assert stale.freshness.source == pb.ATTENDANCE_SOURCE_STALE
    assert stale.freshness.age.ToTimedelta() == timedelta(seconds=120)
    assert stale.freshness.stale_reason == "upstream HTTP 503 after 3 attempts"
    assert system.count(f"/hubs/{hub}/") == 4

    # Within the cooldown the upstream is not asked: the answer comes at once, still stale.
    again = ask_hub(adapter, hub)
    assert again.freshness.source == pb.ATTENDANCE_SOURCE_STALE
    assert again.freshness.stale_reason.startswith("upstream HTTP 503 after 3 attempts; not asked again for ")
    assert system.count(f"/hubs/{hub}/") == 4


def test_a_short_caller_deadline_still_gets_the_stale_answer_in_time(upstream, adapter_factory):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    adapter = adapter_factory(url, timeout_seconds=1.0, attempts=3, retry_budget_seconds=6.0)
    ask_hub(adapter, hub)
    adapter.clock.advance(TTL_SECONDS)
    system.mode, system.slow_seconds = "slow", 3.0
    started = time.monotonic()
    answer = ask_hub(adapter, hub, timeout=1.5)  # far less than the adapter's retry budget
    assert time.monotonic() - started < 1.5
    assert answer.freshness.source == pb.ATTENDANCE_SOURCE_STALE
    assert "timeout" in answer.freshness.stale_reason


# -- never reached, malformed, refused: errors -----------------------------------------------------


def test_upstream_never_reached_and_nothing_cached_is_unavailable(adapter_factory):
    hub, rider = ids()
    adapter = adapter_factory(f"http://127.0.0.1:{closed_port()}", attempts=2)
    with pytest.raises(grpc.RpcError) as caught:
        ask_hub(adapter, hub)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    details = caught.value.details()
    assert f"attendance of hub {hub} on {TODAY.isoformat()} is unknown" in details
    assert "upstream unreachable (Connection refused) after 2 attempts" in details
    assert "no earlier answer is cached" in details

    with pytest.raises(grpc.RpcError) as rider_caught:
        adapter.stub.GetAttendance(pb.GetAttendanceRequest(rider_id=rider, date=TODAY.isoformat()), timeout=10)
    assert rider_caught.value.code() is grpc.StatusCode.UNAVAILABLE


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"<html>maintenance</html>", "the body is not JSON"),
        (
            b'{"hub_id": "%(hub)s", "date": "%(day)s", "records": [{"rider_id": "x", "hub_id": "%(hub)s", '
            b'"date": "%(day)s", "status": "HERE"}]}',
            "records[0].status: 'HERE' is not one of",
        ),
        (
            b'{"hub_id": "%(hub)s", "date": "%(day)s", "records": [{"rider_id": "x", "hub_id": "other-hub", '
            b'"date": "%(day)s", "status": "PRESENT"}]}',
            "records[0].hub_id: rider 'x' is of hub 'other-hub'",
        ),
        (
            b'{"hub_id": "%(hub)s", "date": "%(day)s", "records": [{"rider_id": 7, "hub_id": "%(hub)s", '
            b'"date": "%(day)s", "status": "PRESENT"}]}',
            "records[0].rider_id: expected string, got int",
        ),
        (b'{"hub_id": "%(hub)s", "date": "%(day)s"}', "records: missing"),
    ],
)
def test_a_malformed_answer_is_an_error_and_not_cached(upstream, adapter_factory, redis_client, body, reason):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    system.mode = "malformed"
    system.malformed_body = body % {b"hub": hub.encode(), b"day": TODAY.isoformat().encode()}
    adapter = adapter_factory(url)
    malformed = upstream_count("malformed")
    with pytest.raises(grpc.RpcError) as caught:
        ask_hub(adapter, hub)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert f"upstream answered malformed data: {reason}" in caught.value.details()
    assert system.count(f"/hubs/{hub}/") == 1  # not retried
    assert upstream_count("malformed") == malformed + 1
    assert redis_client.get(redis_key(CacheKey("hub", hub, TODAY))) is None

    system.mode = "healthy"
    assert ask_hub(adapter, hub).freshness.source == pb.ATTENDANCE_SOURCE_LIVE


def test_refusals_are_not_retried(upstream, adapter_factory):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    system.mode, system.status = "status", 403
    with pytest.raises(grpc.RpcError) as caught:
        ask_hub(adapter_factory(url), hub)
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert "upstream refused the request: HTTP 403" in caught.value.details()
    assert system.count(f"/hubs/{hub}/") == 1


def test_a_wrong_token_is_a_refusal(upstream):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    source = HttpAttendanceSource(UpstreamConfig(base_url=url, token="wrong", timeout_seconds=1))
    with pytest.raises(SourceRejected, match="HTTP 401"):
        source.hub_attendance(hub, TODAY)
    assert system.requests[-1][2] == "Bearer wrong"


# -- Redis down ---------------------------------------------------------


def test_redis_down_goes_to_the_upstream_directly(upstream, adapter_factory):
    system, url = upstream
    hub, rider = ids()
    seed(system, hub, rider)
    dead_redis = make_redis(f"redis://127.0.0.1:{closed_port()}/0", timeout_seconds=0.2)
    adapter = adapter_factory(url, cache_client=dead_redis)
    for _ in range(2):
        assert ask_hub(adapter, hub).freshness.source == pb.ATTENDANCE_SOURCE_LIVE
    assert system.count(f"/hubs/{hub}/") == 2
    dead_redis.close()
