"""Staleness decisions of AttendanceReader, with the fakes of tests/support/fakes_attendance.py: a
source and caches subclassing the same ports as the real adapters, and a fake clock."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta

import pytest
from prometheus_client import REGISTRY

from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus, CachePolicy, Origin
from attendance_adapter.service_layer.ports import SourceMalformed, SourceRejected, SourceUnreachable
from attendance_adapter.service_layer.reader import AttendanceReader, SingleFlight
from mesh.errors import NotFound, Unavailable
from tests.support.fakes_attendance import DownCache, FakeAttendanceSource, FakeClock, MemoryCache

DAY = date(2025, 1, 31)
T0 = datetime(2025, 1, 31, 6, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


def rec(rider: str, status=AttendanceStatus.PRESENT, hub: str = "HUB-1") -> AttendanceRecord:
    return AttendanceRecord(rider_id=rider, hub_id=hub, date=DAY, status=status)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def source() -> FakeAttendanceSource:
    s = FakeAttendanceSource()
    s.hubs["HUB-1"] = [rec("R-2"), rec("R-1"), rec("R-3", AttendanceStatus.ON_LEAVE)]
    s.riders["R-1"] = rec("R-1")
    return s


@pytest.fixture
def cache() -> MemoryCache:
    return MemoryCache()


@pytest.fixture
def reader(source, cache, clock) -> AttendanceReader:
    return AttendanceReader(source, cache, CachePolicy(TTL), clock=clock)


def metric(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


def test_live_then_cached_with_its_age(reader, source, clock):
    first = reader.hub("HUB-1", DAY)
    assert first.freshness.origin is Origin.LIVE
    assert first.freshness.age == timedelta(0)
    assert [r.rider_id for r in first.available()] == ["R-1", "R-2"]
    clock.advance(42)
    hits = metric("firstmile_attendance_cache_hits_total", "hub")
    second = reader.hub("HUB-1", DAY)
    assert second.freshness.origin is Origin.CACHED
    assert second.freshness.age == timedelta(seconds=42)
    assert second.freshness.fetched_at == T0
    assert not second.freshness.stale
    assert second.records == first.records
    assert source.calls == [("hub", "HUB-1")]
    assert metric("firstmile_attendance_cache_hits_total", "hub") == hits + 1


def test_past_the_ttl_the_upstream_is_asked_again(reader, source, clock):
    reader.hub("HUB-1", DAY)
    clock.advance(60)
    source.hubs["HUB-1"] = [rec("R-9")]
    again = reader.hub("HUB-1", DAY)
    assert again.freshness.origin is Origin.LIVE
    assert again.freshness.fetched_at == T0 + TTL
    assert [r.rider_id for r in again.records] == ["R-9"]
    assert len(source.calls) == 2


@pytest.mark.parametrize(
    "failure",
    [
        SourceUnreachable("upstream timeout (2 s per attempt) after 3 attempts"),
        SourceUnreachable("upstream HTTP 503 after 3 attempts"),
        SourceRejected("upstream refused the request: HTTP 401"),
        SourceMalformed("upstream answered malformed data: records[0].status: 'HERE' is not one of ..."),
    ],
)
def test_upstream_failing_serves_the_last_known_data_flagged_stale(reader, source, cache, clock, failure):
    reader.hub("HUB-1", DAY)
    kept = dict(cache.entries)
    clock.advance(600)
    source.failure = failure
    stale_before = metric("firstmile_attendance_stale_answers_total", "hub")
    answer = reader.hub("HUB-1", DAY)
    assert answer.freshness.origin is Origin.STALE
    assert answer.freshness.stale
    assert answer.freshness.age == timedelta(seconds=600)
    assert answer.freshness.fetched_at == T0
    assert answer.freshness.stale_reason == failure.reason
    assert [r.rider_id for r in answer.available()] == ["R-1", "R-2"]
    assert cache.entries == kept  # the failed answer replaced nothing
    assert metric("firstmile_attendance_stale_answers_total", "hub") == stale_before + 1


def test_nothing_known_and_upstream_failing_is_unavailable(reader, source, cache):
    source.failure = SourceUnreachable("upstream unreachable (Connection refused) after 3 attempts")
    before = metric("firstmile_attendance_unavailable_answers_total", "hub")
    with pytest.raises(
        Unavailable, match=r"hub HUB-1 on 2025-01-31 is unknown: .*Connection refused.* no earlier answer"
    ):
        reader.hub("HUB-1", DAY)
    assert cache.entries == {}
    assert metric("firstmile_attendance_unavailable_answers_total", "hub") == before + 1


def test_a_malformed_answer_is_never_cached(reader, source, cache):
    source.failure = SourceMalformed("upstream answered malformed data: records[0].hub_id: missing")
    with pytest.raises(Unavailable, match="malformed"):
        reader.hub("HUB-1", DAY)
    assert cache.entries == {}
    source.failure = None
    assert reader.hub("HUB-1", DAY).freshness.origin is Origin.LIVE


def test_a_rider_not_known_is_remembered_for_the_ttl(reader, source, clock):
    answer = reader.rider("R-404", DAY)
    assert answer.record is None
    assert answer.freshness.origin is Origin.LIVE
    clock.advance(10)
    again = reader.rider("R-404", DAY)
    assert (again.record, again.freshness.origin) == (None, Origin.CACHED)
    assert source.calls == [("rider", "R-404")]


def test_rider_and_hub_answers_are_cached_apart(reader, source, clock):
    assert reader.rider("R-1", DAY).record == rec("R-1")
    reader.hub("HUB-1", DAY)
    clock.advance(5)
    assert reader.rider("R-1", DAY).freshness.origin is Origin.CACHED
    assert reader.hub("HUB-1", DAY).freshness.origin is Origin.CACHED
    assert source.calls == [("rider", "R-1"), ("hub", "HUB-1")]


def test_an_unknown_hub_is_not_found(reader):
    with pytest.raises(NotFound, match="not known to the attendance system"):
        reader.hub("HUB-404", DAY)


def test_redis_down_means_every_call_goes_to_the_upstream(source, clock):
    reader = AttendanceReader(source, DownCache(), CachePolicy(TTL), clock=clock)
    for _ in range(3):
        assert reader.hub("HUB-1", DAY).freshness.origin is Origin.LIVE
    assert len(source.calls) == 3
    source.failure = SourceUnreachable("upstream HTTP 503 after 3 attempts")
    with pytest.raises(Unavailable):
        reader.hub("HUB-1", DAY)


def test_the_embedded_source_is_read_every_time_and_never_cached(cache, clock):
    embedded = FakeAttendanceSource(embedded=True)
    embedded.hubs["HUB-1"] = [rec("R-1")]
    reader = AttendanceReader(embedded, cache, CachePolicy(TTL), clock=clock)
    for _ in range(2):
        answer = reader.hub("HUB-1", DAY)
        assert answer.freshness.origin is Origin.EMBEDDED
        assert answer.freshness.age == timedelta(0)
        assert not answer.freshness.stale
    assert reader.rider("R-2", DAY).record is None
    assert len(embedded.calls) == 3
    assert cache.entries == {}


def test_the_callers_deadline_reaches_the_source(reader, source):
    reader.hub("HUB-1", DAY, deadline=123.0)
    assert source.deadlines == [123.0]


def test_concurrent_misses_share_one_upstream_call(reader, source):
    release = threading.Event()
    entered = threading.Event()

    def gate() -> None:
        entered.set()
        release.wait(5)

    source.gate = gate
    answers = []
    threads = [threading.Thread(target=lambda: answers.append(reader.hub("HUB-1", DAY))) for _ in range(5)]
    threads[0].start()
    assert entered.wait(5)
    for t in threads[1:]:
        t.start()
    release.set()
    for t in threads:
        t.join(5)
    assert len(answers) == 5
    # The followers waited for the leader's request instead of sending their own.
    assert source.calls == [("hub", "HUB-1")]


def test_single_flight_waiters_give_up_at_their_deadline():
    flights = SingleFlight(monotonic=lambda: 100.0)
    release = threading.Event()
    started = threading.Event()

    def slow() -> str:
        started.set()
        release.wait(5)
        return "done"

    leader = threading.Thread(target=lambda: flights.run("k", slow))
    leader.start()
    assert started.wait(5)
    with pytest.raises(SourceUnreachable, match="within the call's deadline"):
        flights.run("k", lambda: "never", deadline=100.0)
    release.set()
    leader.join(5)
    assert flights.run("k", lambda: "again") == "again"
