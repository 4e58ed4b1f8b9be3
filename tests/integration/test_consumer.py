"""The consumer loop against the real local Kafka: commits, retries and the dead-letter queue."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
import sqlalchemy.exc
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from mesh.errors import InvalidArgument
from mesh.kafka import (
    CE_ID,
    DLQ_CONSUMER_GROUP,
    DLQ_ERROR_TYPE,
    DLQ_FAILED_AT,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    DLQ_REASON,
    ConsumedMessage,
    ConsumerLoop,
    dlq_topic,
    parse_rfc3339,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration


def decode(msg: ConsumedMessage) -> str:
    """Test payloads are b"ok:<n>"; anything else is undecodable."""
    if not msg.value or not msg.value.startswith(b"ok:"):
        raise InvalidArgument(f"payload {msg.value!r} is not a test event")
    return msg.value.decode()


def db_down() -> Exception:
    return sqlalchemy.exc.OperationalError(
        "UPDATE pur.pickup_requests ...", {}, Exception("server closed the connection")
    )


@pytest.fixture
def group(unique_name) -> str:
    return unique_name("test-group", separator="-")


@pytest.fixture
def make_loop(kafka_bootstrap_servers, producer, group) -> Iterator[Callable[..., ConsumerLoop]]:
    """`make_loop(topic, handle_batch) -> ConsumerLoop` with fast retries, closed after the test."""
    loops: list[ConsumerLoop] = []

    def make(topic: str, handle_batch, **kwargs) -> ConsumerLoop:
        options = {"poll_timeout_ms": 200, "retry_initial_wait": 0.05, "retry_max_wait": 0.2} | kwargs
        loop = ConsumerLoop(
            kafka_bootstrap_servers,
            group,
            [topic],
            decode=decode,
            handle_batch=handle_batch,
            dlq_producer=producer,
            **options,
        )
        loops.append(loop)
        return loop

    yield make
    for loop in loops:
        loop.close()


class Running:
    """A consumer loop running in a thread."""

    def __init__(self, loop: ConsumerLoop) -> None:
        self.loop = loop
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True, name="test-consumer-loop")
        self.thread.start()

    def _run(self) -> None:
        try:
            self.loop.run(self.stop)
        except BaseException as exc:  # noqa: BLE001 - surfaced by halt()
            self.error = exc

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=15)
        assert not self.thread.is_alive(), "consumer loop did not stop"
        self.loop.close()
        if self.error is not None:
            raise self.error


@pytest.fixture
def committed(kafka_bootstrap_servers, group) -> Iterator[Callable[[str, int], int | None]]:
    """`committed(topic, partition)`: the group's committed offset, read by a non-member."""
    reader = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, group_id=group, enable_auto_commit=False)
    yield lambda topic, partition=0: reader.committed(TopicPartition(topic, partition))
    reader.close(autocommit=False)


def send(producer, topic: str, values: list[bytes]) -> None:
    for i, value in enumerate(values):
        producer.send(topic, key=b"pur-1", value=value, headers=[(CE_ID, f"event-{i}".encode())])
    producer.flush(timeout=10)


# -- tests ---------------------------------------------------------------------------------------


def test_offsets_are_not_committed_while_the_handler_fails(producer, new_topic, make_loop, committed):
    topic = new_topic(partitions=1)
    values = [b"ok:0", b"ok:1", b"ok:2"]
    send(producer, topic, values)

    attempts: list[list[str]] = []

    def failing(batch):
        attempts.append([decoded for _, decoded in batch])
        raise db_down()

    running = Running(make_loop(topic, failing))
    wait_until(lambda: len(attempts) >= 4, timeout=20, message="the handler to be retried")
    running.halt()
    assert all(attempt == attempts[0] for attempt in attempts), "a retry must re-run the same batch"
    assert committed(topic) is None

    # A new member of the same group gets every message again and commits after handling them.
    handled: list[str] = []
    running = Running(make_loop(topic, lambda batch: handled.extend(d for _, d in batch)))
    wait_until(lambda: committed(topic) == 3, timeout=20, message="the offsets to be committed")
    running.halt()
    assert handled == [v.decode() for v in values]


def test_transient_failure_is_retried_until_it_succeeds(producer, new_topic, make_loop, committed, kafka_admin):
    topic = new_topic(partitions=1)
    send(producer, topic, [b"ok:0", b"ok:1"])
    calls = 0
    handled: list[str] = []

    def flaky(batch):
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise db_down()
        handled.extend(decoded for _, decoded in batch)

    running = Running(make_loop(topic, flaky))
    wait_until(lambda: committed(topic) == 2, timeout=20, message="the offsets to be committed")
    running.halt()
    assert calls == 3
    assert handled == ["ok:0", "ok:1"]
    assert kafka_admin.read(dlq_topic(topic), count=1, timeout=1) == []


def test_poison_message_goes_to_the_dlq_and_the_next_one_is_processed(
    producer, new_topic, make_loop, committed, kafka_admin, group
):
    topic = new_topic(partitions=1)
    send(producer, topic, [b"ok:0", b"\x00garbage", b"ok:2"])
    handled: list[str] = []
    running = Running(make_loop(topic, lambda batch: handled.extend(d for _, d in batch)))
    wait_until(lambda: committed(topic) == 3, timeout=20, message="the offsets to be committed")
    running.halt()
    assert handled == ["ok:0", "ok:2"]

    [dead] = kafka_admin.read(dlq_topic(topic), count=1, timeout=10)
    headers = dict(dead.headers)
    assert (dead.key, dead.value) == (b"pur-1", b"\x00garbage")
    assert headers[CE_ID] == b"event-1"  # the original headers travel along
    assert b"is not a test event" in headers[DLQ_REASON]
    assert headers[DLQ_ERROR_TYPE] == b"InvalidArgument"
    assert headers[DLQ_ORIGINAL_TOPIC] == topic.encode()
    assert headers[DLQ_ORIGINAL_PARTITION] == b"0"
    assert headers[DLQ_ORIGINAL_OFFSET] == b"1"
    assert headers[DLQ_CONSUMER_GROUP] == group.encode()
    assert parse_rfc3339(headers[DLQ_FAILED_AT].decode()).tzinfo is not None


def test_non_transient_failure_dead_letters_only_the_failing_message(
    producer, new_topic, make_loop, committed, kafka_admin
):
    topic = new_topic(partitions=1)
    send(producer, topic, [f"ok:{i}".encode() for i in range(10)])
    handled: list[str] = []
    calls = 0

    def handler(batch):
        """Like one DB transaction: all of the batch or nothing."""
        nonlocal calls
        calls += 1
        decoded = [d for _, d in batch]
        if "ok:6" in decoded:
            raise ValueError("pickup_date 2024-02-30 is not a date")
        handled.extend(decoded)

    running = Running(make_loop(topic, handler))
    wait_until(lambda: committed(topic) == 10, timeout=20, message="the offsets to be committed")
    running.halt()

    assert handled == [f"ok:{i}" for i in range(10) if i != 6]
    assert calls > 2, "the batch should have been bisected"
    [dead] = kafka_admin.read(dlq_topic(topic), count=2, timeout=3)
    headers = dict(dead.headers)
    assert dead.value == b"ok:6"
    assert headers[DLQ_ERROR_TYPE] == b"ValueError"
    assert headers[DLQ_REASON] == b"pickup_date 2024-02-30 is not a date"
    assert headers[DLQ_ORIGINAL_OFFSET] == b"6"
