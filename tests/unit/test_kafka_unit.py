"""mesh.kafka without infrastructure: headers, what is poison, and the consumer loop's batch logic
over fakes."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st
from kafka.structs import OffsetAndMetadata, TopicPartition

from mesh.errors import InvalidArgument, Unavailable
from mesh.kafka import (
    CE_ID,
    CE_TIME,
    DLQ_ERROR_TYPE,
    DLQ_ORIGINAL_OFFSET,
    DLQ_REASON,
    DLQ_VALUE_DROPPED,
    BadHeaders,
    ConsumedMessage,
    ConsumerLoop,
    EventHeaders,
    LoopStopped,
    OversizedMessage,
    PoisonMessage,
    TopicSpec,
    UndecodablePayload,
    WrongEventType,
    decode_protobuf,
    dlq_topic,
    format_rfc3339,
)
from mesh.transient import is_transient

# -- headers -------------------------------------------------------------------------------------


def test_event_headers_round_trip():
    headers = EventHeaders(
        id="e-1",
        type="firstmile.events.v1.PickupRequested",
        source="pur_svc",
        time=datetime(2025, 3, 4, 5, 6, 7, 890123, tzinfo=UTC),
    )
    kafka_headers = headers.to_kafka()
    assert all(isinstance(name, str) and isinstance(value, bytes) for name, value in kafka_headers)
    assert dict(kafka_headers)[CE_TIME] == b"2025-03-04T05:06:07.890123Z"
    assert dict(kafka_headers)["ce_specversion"] == b"1.0"
    assert dict(kafka_headers)["content-type"] == b"application/protobuf"
    assert EventHeaders.from_kafka(kafka_headers) == headers
    assert EventHeaders.from_kafka(dict(kafka_headers)) == headers


def test_missing_or_bad_headers_are_poison():
    with pytest.raises(PoisonMessage, match="ce_type"):
        EventHeaders.from_kafka({CE_ID: b"x", "ce_source": b"s", CE_TIME: b"2025-01-01T00:00:00Z"})
    with pytest.raises(PoisonMessage, match="invalid"):
        EventHeaders.from_kafka({CE_ID: b"x", "ce_type": b"t", "ce_source": b"s", CE_TIME: b"yesterday"})


def test_rfc3339_is_utc_with_z():
    naive = datetime(2025, 1, 1, 12, 0, 0)
    assert format_rfc3339(naive) == "2025-01-01T12:00:00.000000Z"


def test_small_helpers():
    assert dlq_topic("pur.created.v1") == "pur.created.v1.dlq"
    assert TopicSpec("t").partitions == 6
    assert is_transient(ConnectionError()) and is_transient(TimeoutError())
    assert not is_transient(ValueError())
    import psycopg2

    assert is_transient(psycopg2.OperationalError("server closed the connection"))


# -- consumer loop over fakes ----------------------------------------------------------------------


class FakeConsumer:
    def __init__(self, log: list[str], batches: list[list[SimpleNamespace]]) -> None:
        self.log = log
        self.batches = list(batches)
        self.commits: list[dict] = []
        self.seeks: dict[TopicPartition, int] = {}
        self.closed_with = None

    def subscribe(self, topics, listener):
        self.topics = topics

    def poll(self, timeout_ms, max_records):
        if not self.batches:
            return {}
        records = self.batches.pop(0)
        polled: dict[TopicPartition, list] = {}
        for record in records:
            polled.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return polled

    def commit(self, offsets):
        self.log.append("commit")
        self.commits.append(offsets)

    def seek(self, tp, offset):
        self.seeks[tp] = offset

    def close(self, autocommit):
        self.closed_with = autocommit


class FakeProducer:
    def __init__(self, log: list[str], fail_times: int = 0) -> None:
        self.log = log
        self.sent: list[tuple] = []
        self.fail_times = fail_times

    def send(self, topic, key=None, value=None, headers=None):
        self.sent.append((topic, key, value, dict(headers or [])))
        failed = self.fail_times > 0
        return SimpleNamespace(is_done=True, exception=ConnectionError("broker down") if failed else None)

    def flush(self, timeout=None):
        self.log.append("dlq_flush")
        if self.fail_times > 0:
            self.fail_times -= 1


def record(offset: int, value: bytes, partition: int = 0, topic: str = "t") -> SimpleNamespace:
    return SimpleNamespace(
        topic=topic, partition=partition, offset=offset, key=b"k", value=value, headers=[(CE_ID, b"id")], timestamp=0
    )


def decode(msg: ConsumedMessage) -> str:
    if not msg.value.startswith(b"ok"):
        raise InvalidArgument("not ok")
    return msg.value.decode()


def make_loop(batches, handle_batch, *, producer=None, log=None, decode=decode):
    log = log if log is not None else []
    consumer = FakeConsumer(log, batches)
    producer = producer or FakeProducer(log)
    loop = ConsumerLoop(
        "unused:9092",
        "g",
        ["t"],
        decode=decode,
        handle_batch=handle_batch,
        dlq_producer=producer,
        consumer=consumer,
        retry_initial_wait=0.001,
        retry_max_wait=0.01,
    )
    return loop, consumer, producer, log


def test_commits_last_offset_plus_one_per_partition_after_the_handler():
    log: list[str] = []
    batch = [record(5, b"ok1", 0), record(9, b"ok2", 1), record(6, b"ok3", 0)]
    loop, consumer, _, _ = make_loop([batch], lambda items: log.append("handled"), log=log)
    assert loop.poll_once() == 3
    assert log == ["handled", "commit"]
    assert consumer.commits == [
        {
            TopicPartition("t", 0): OffsetAndMetadata(7, "", -1),
            TopicPartition("t", 1): OffsetAndMetadata(10, "", -1),
        }
    ]


def test_bisect_isolates_every_failing_message_and_keeps_order():
    handled: list[str] = []

    def handler(items):
        values = [v for _, v in items]
        if "ok-bad-3" in values or "ok-bad-7" in values:
            raise ValueError("constraint violated")
        handled.extend(values)

    values = [f"ok-{i}" if i not in (3, 7) else f"ok-bad-{i}" for i in range(10)]
    loop, consumer, producer, log = make_loop([[record(i, v.encode()) for i, v in enumerate(values)]], handler)
    loop.poll_once()
    assert handled == [v for v in values if "bad" not in v]
    assert [s[2] for s in producer.sent] == [b"ok-bad-3", b"ok-bad-7"]
    assert all(s[0] == "t.dlq" and s[3][DLQ_ERROR_TYPE] == b"ValueError" for s in producer.sent)
    assert log[-2:] == ["dlq_flush", "commit"]
    assert consumer.commits[-1] == {TopicPartition("t", 0): OffsetAndMetadata(10, "", -1)}


def test_poison_is_dead_lettered_before_the_commit():
    handled: list[str] = []
    batch = [record(0, b"ok"), record(1, b"garbage"), record(2, b"ok2")]
    loop, consumer, producer, log = make_loop([batch], lambda items: handled.extend(v for _, v in items))
    loop.poll_once()
    assert handled == ["ok", "ok2"]
    [(topic, key, value, headers)] = producer.sent
    assert (topic, key, value) == ("t.dlq", b"k", b"garbage")
    assert headers[DLQ_REASON] == b"not ok" and headers[DLQ_ORIGINAL_OFFSET] == b"1"
    assert headers[CE_ID] == b"id"
    assert log == ["dlq_flush", "commit"]


def test_failed_dlq_send_is_retried_before_committing():
    log: list[str] = []
    producer = FakeProducer(log, fail_times=2)
    loop, consumer, producer, log = make_loop([[record(0, b"garbage")]], lambda items: None, producer=producer, log=log)
    loop.poll_once()
    assert log == ["dlq_flush", "dlq_flush", "dlq_flush", "commit"]


def test_stop_during_transient_retries_commits_nothing_and_rewinds():
    stop = threading.Event()
    attempts = 0

    def handler(items):
        nonlocal attempts
        attempts += 1
        if attempts == 3:
            stop.set()
        raise ConnectionError("db down")

    batch = [record(4, b"ok", 0), record(8, b"ok", 1), record(5, b"ok", 0)]
    loop, consumer, _, _ = make_loop([batch], handler)
    with pytest.raises(LoopStopped):
        loop.poll_once(stop)
    assert consumer.commits == []
    assert consumer.seeks == {TopicPartition("t", 0): 4, TopicPartition("t", 1): 8}

    loop.run(stop)  # returns at once: already stopped
    loop.close()
    assert consumer.closed_with is False


def test_run_stops_cleanly_when_stopped_mid_batch():
    stop = threading.Event()

    def handler(items):
        stop.set()
        raise TimeoutError("db timeout")

    loop, consumer, _, _ = make_loop([[record(0, b"ok")]], handler)
    loop.run(stop)
    assert consumer.commits == []


def test_unexpected_error_outside_the_handler_propagates():
    class Boom(Exception):
        pass

    loop, consumer, _, _ = make_loop([[record(0, b"ok")]], lambda items: None)

    def bad_commit(offsets):
        raise Boom()

    consumer.commit = bad_commit
    with pytest.raises(Boom):
        loop.poll_once()


# -- what is poison: InvalidArgument ---------------------------------------------------------------


class InvalidPickup(InvalidArgument):
    """A service's validation error."""


def test_every_decode_kind_is_an_invalid_argument():
    for kind in (PoisonMessage, BadHeaders, WrongEventType, OversizedMessage, UndecodablePayload):
        assert issubclass(kind, InvalidArgument)


def test_a_handler_raising_invalid_argument_dead_letters_that_message_and_the_loop_goes_on(caplog):
    handled: list[str] = []

    def handler(items):
        values = [v for _, v in items]
        if "ok-stale" in values:
            raise InvalidPickup("pickup p1: version 0 must be >= 1")
        handled.extend(values)

    batches = [[record(0, b"ok-1"), record(1, b"ok-stale"), record(2, b"ok-2")], [record(3, b"ok-3")]]
    loop, consumer, producer, _ = make_loop(batches, handler)
    with caplog.at_level(logging.INFO, logger="mesh.kafka.consumer"):
        assert loop.poll_once() == 3
    assert loop.poll_once() == 1
    assert handled == ["ok-1", "ok-2", "ok-3"]
    [(topic, _, value, headers)] = producer.sent
    assert (topic, value) == ("t.dlq", b"ok-stale")
    assert headers[DLQ_ERROR_TYPE] == b"InvalidPickup"
    assert headers[DLQ_REASON] == b"pickup p1: version 0 must be >= 1"
    assert consumer.commits[-1] == {TopicPartition("t", 0): OffsetAndMetadata(4, "", -1)}
    [invalid] = [r for r in caplog.records if r.message == "message is invalid; dead-lettering it"]
    assert invalid.levelno == logging.WARNING


def test_a_decoder_raising_invalid_argument_dead_letters_at_the_decode_stage():
    def strict(msg: ConsumedMessage) -> str:
        if msg.value == b"ok-but-invalid":
            raise InvalidArgument("hub_id must be 1-64 characters of letters, digits, '.', '_', ':' or '-', got ''")
        return msg.value.decode()

    handled: list[str] = []
    loop, _, producer, _ = make_loop(
        [[record(0, b"ok-but-invalid"), record(1, b"ok")]],
        lambda items: handled.extend(v for _, v in items),
        decode=strict,
    )
    loop.poll_once()
    assert handled == ["ok"]
    [(_, _, value, headers)] = producer.sent
    assert value == b"ok-but-invalid" and headers[DLQ_ERROR_TYPE] == b"InvalidArgument"


@pytest.mark.parametrize(
    "error", [ConnectionError("db down"), Unavailable("attendance is down")], ids=["driver", "mesh-kind"]
)
def test_transient_handler_failures_are_retried_in_place_not_dead_lettered(error):
    attempts: list[int] = []
    handled: list[str] = []

    def handler(items):
        attempts.append(len(items))
        if len(attempts) < 3:
            raise error
        handled.extend(v for _, v in items)

    loop, consumer, producer, _ = make_loop([[record(0, b"ok-1"), record(1, b"ok-2")]], handler)
    loop.poll_once()
    assert attempts == [2, 2, 2]  # the whole batch, in order: no bisecting
    assert handled == ["ok-1", "ok-2"] and producer.sent == []
    assert consumer.commits == [{TopicPartition("t", 0): OffsetAndMetadata(2, "", -1)}]


def test_any_other_handler_error_is_dead_lettered_too_but_logged_as_an_error(caplog):
    def handler(items):
        raise KeyError("route_id")

    loop, _, producer, _ = make_loop([[record(0, b"ok")]], handler)
    with caplog.at_level(logging.INFO, logger="mesh.kafka.consumer"):
        loop.poll_once()
    assert producer.sent[0][3][DLQ_ERROR_TYPE] == b"KeyError"
    [failed] = [r for r in caplog.records if r.message == "handler failed on a message; dead-lettering it"]
    assert failed.levelno == logging.ERROR and failed.exc_info is not None


# -- poison kinds and the DLQ's size fallback ------------------------------------------------------


def _event_message(value: bytes | None, headers: dict[str, bytes]) -> ConsumedMessage:
    return ConsumedMessage("t", 0, 7, b"k", value, headers, 0)


def test_decode_protobuf_names_each_kind_of_poison():
    from firstmile.events.v1 import events_pb2

    event = events_pb2.RouteMapChanged(hub_id="hub-1", map_version=2)
    good = dict(
        EventHeaders(
            id="e-1", type="firstmile.events.v1.RouteMapChanged", source="s", time=datetime(2025, 1, 1, tzinfo=UTC)
        ).to_kafka()
    )
    assert decode_protobuf(_event_message(event.SerializeToString(), good), events_pb2.RouteMapChanged)[1] == event

    cases = [
        (b"\xff\xfe garbage", good, UndecodablePayload, "payload is not a firstmile.events.v1.RouteMapChanged"),
        (None, good, UndecodablePayload, "no value"),
        (b"x" * 101, good, OversizedMessage, "payload of 101 bytes exceeds the limit of 100"),
        (
            event.SerializeToString(),
            good | {"ce_type": b"firstmile.events.v1.PickupRequested"},
            WrongEventType,
            "ce_type is 'firstmile.events.v1.PickupRequested', expected 'firstmile.events.v1.RouteMapChanged'",
        ),
        (event.SerializeToString(), {k: v for k, v in good.items() if k != CE_ID}, BadHeaders, "'ce_id'"),
        (event.SerializeToString(), good | {CE_ID: None}, BadHeaders, "'ce_id'"),
    ]
    for value, headers, error, reason in cases:
        with pytest.raises(error) as caught:
            decode_protobuf(_event_message(value, headers), events_pb2.RouteMapChanged, max_bytes=100)
        assert reason in str(caught.value)


def test_a_dead_letter_too_large_for_the_dlq_goes_without_its_bytes():
    import kafka.errors

    class SizeLimitedProducer(FakeProducer):
        def send(self, topic, key=None, value=None, headers=None):
            if value and len(value) > 10:
                raise kafka.errors.MessageSizeTooLargeError("too large")
            return super().send(topic, key=key, value=value, headers=headers)

    log: list[str] = []
    big = b"garbage" * 10
    loop, consumer, producer, log = make_loop(
        [[record(0, big), record(1, b"ok")]], lambda items: None, producer=SizeLimitedProducer(log), log=log
    )
    loop.poll_once()
    [(topic, key, value, headers)] = producer.sent
    assert (topic, key, value) == ("t.dlq", b"k", b"")
    assert headers[DLQ_VALUE_DROPPED] == str(len(big)).encode() and headers[DLQ_REASON] == b"not ok"
    assert consumer.commits[-1] == {TopicPartition("t", 0): OffsetAndMetadata(2, "", -1)}


class _Cluster:
    """What a partitioner reads of kafka-python's ClusterMetadata."""

    def __init__(self, topic: str, partitions: int, available: int) -> None:
        self._topic, self._all, self._available = topic, set(range(partitions)), set(range(available))

    def topics(self):
        return {self._topic}

    def partitions_for_topic(self, topic):
        return set(self._all) if topic == self._topic else None

    def available_partitions_for_topic(self, topic):
        return set(self._available) if topic == self._topic else None


@given(key=st.binary(max_size=64), partitions=st.integers(1, 64))
def test_keys_land_where_kafka_pythons_default_partitioner_puts_them(key, partitions):
    from kafka.partitioner.default import DefaultPartitioner, murmur2

    from mesh.kafka.producer import KeyHashPartitioner
    from mesh.kafka.producer import murmur2 as fast_murmur2

    cluster = _Cluster("t", partitions, partitions)
    assert fast_murmur2(key) == murmur2(key)
    ours = KeyHashPartitioner().partition("t", key, key, b"v", b"v", cluster)
    assert ours == DefaultPartitioner().partition("t", key, key, b"v", b"v", cluster)


def test_a_record_without_key_goes_to_an_available_partition_and_an_unknown_topic_fails():
    from mesh.kafka.producer import KeyHashPartitioner

    cluster = _Cluster("t", 6, 2)
    chosen = {KeyHashPartitioner().partition("t", None, None, b"v", b"v", cluster) for _ in range(200)}
    assert chosen == {0, 1}
    with pytest.raises(ValueError, match="not found"):
        KeyHashPartitioner().partition("other", b"k", b"k", b"v", b"v", cluster)
