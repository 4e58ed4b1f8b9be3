"""`python -m mesh.commands.dlq` as a subprocess against the real Kafka: dead letters written by a real
ConsumerLoop are listed with their reasons, replayed to the original topic exactly once (a second
replay sends nothing), picked up by the fixed consumer, and bad arguments exit with code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from firstmile.events.v1 import events_pb2
from mesh.commands.dlq import REPLAY_GROUP
from mesh.errors import InvalidArgument
from mesh.kafka import ConsumedMessage, ConsumerLoop, EventHeaders, decode_protobuf, dlq_topic
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GARBAGE = b"\xff\xfe not protobuf"


def run_dlq(*args: str, bootstrap_servers: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "gen")])
    if bootstrap_servers is not None:
        env["FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS"] = bootstrap_servers
    return subprocess.run(
        [sys.executable, "-m", "mesh.commands.dlq", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.fixture
def dlq(kafka_bootstrap_servers) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`dlq(*args, expect=0)`: run the command and check its exit code."""

    def run(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
        result = run_dlq(*args, bootstrap_servers=kafka_bootstrap_servers)
        assert result.returncode == expect, (
            f"exit {result.returncode}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}"
        )
        return result

    return run


@pytest.fixture
def offsets(kafka_bootstrap_servers) -> Iterator[Callable[..., int | None]]:
    """`offsets.end(topic)`: next offset of partition 0; `offsets.committed(group, topic)`."""
    reader = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, enable_auto_commit=False)

    class Offsets:
        @staticmethod
        def end(topic: str) -> int:
            tp = TopicPartition(topic, 0)
            return reader.end_offsets([tp])[tp]

        @staticmethod
        def committed(group: str, topic: str) -> int | None:
            member = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, group_id=group, enable_auto_commit=False)
            try:
                return member.committed(TopicPartition(topic, 0))
            finally:
                member.close(autocommit=False)

    yield Offsets
    reader.close(autocommit=False)


def event(map_version: int) -> tuple[bytes, list[tuple[str, bytes]]]:
    change = events_pb2.RouteMapChanged(hub_id="hub-1", map_version=map_version)
    headers = EventHeaders(
        id=f"event-{map_version}", type=change.DESCRIPTOR.full_name, source="tests", time=datetime.now(UTC)
    )
    return change.SerializeToString(), headers.to_kafka()


def decoder(*, fixed: bool) -> Callable[[ConsumedMessage], int]:
    """Map versions over 100 trip a "bug" until `fixed`; garbage never decodes."""

    def decode(msg: ConsumedMessage) -> int:
        _, change = decode_protobuf(msg, events_pb2.RouteMapChanged)
        if change.map_version > 100 and not fixed:
            raise InvalidArgument(f"map_version {change.map_version} is beyond what this version accepts")
        return change.map_version

    return decode


def consume(bootstrap_servers, producer, topic: str, group: str, decode, until: Callable[[], bool]) -> list[int]:
    """Run a ConsumerLoop of `group` until `until()`; returns the map versions it handled."""
    handled: list[int] = []
    loop = ConsumerLoop(
        bootstrap_servers,
        group,
        [topic],
        decode=decode,
        handle_batch=lambda batch: handled.extend(v for _, v in batch),
        dlq_producer=producer,
        poll_timeout_ms=200,
    )
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(until, timeout=20, message="the consumer to commit")
    finally:
        stop.set()
        thread.join(timeout=15)
        loop.close()
    return handled


# -- tests ---------------------------------------------------------------------------------------


def test_list_and_replay_exactly_once_to_the_fixed_consumer(
    kafka_bootstrap_servers, producer, new_topic, kafka_admin, offsets, dlq, unique_name
):
    topic = new_topic(partitions=1)
    group = unique_name("test-dlq-consumer", separator="-")
    events = {version: event(version) for version in (1, 500)}
    for value, headers in events.values():
        producer.send(topic, key=b"hub-1", value=value, headers=headers)
    producer.send(topic, key=b"hub-2", value=GARBAGE, headers=event(0)[1])
    producer.flush(timeout=10)

    handled = consume(
        kafka_bootstrap_servers,
        producer,
        topic,
        group,
        decoder(fixed=False),
        until=lambda: offsets.committed(group, topic) == 3,
    )
    assert handled == [1]
    assert offsets.end(dlq_topic(topic)) == 2

    # list: a table by default, JSON lines on request, both naming the reasons.
    table = dlq("list", topic).stdout
    assert f"{dlq_topic(topic)}: 2 dead letter(s)" in table
    assert "map_version 500 is beyond what this version accepts" in table
    assert "UndecodablePayload" in table and f"{topic}[0]@1" in table and f"{topic}[0]@2" in table
    first, second = [json.loads(line) for line in dlq("list", dlq_topic(topic), "--json").stdout.splitlines()]
    assert first | {"failed_at": None} == {
        "dlq_topic": dlq_topic(topic),
        "partition": 0,
        "offset": 0,
        "key": "hub-1",
        "original_topic": topic,
        "original_partition": 0,
        "original_offset": 1,
        "consumer_group": group,
        "reason": "map_version 500 is beyond what this version accepts",
        "error_type": "InvalidArgument",
        "failed_at": None,
        "size": len(events[500][0]),
        "value_dropped": False,
        "replayed": False,
        "headers": {name: value.decode() for name, value in events[500][1]},
    }
    assert datetime.fromisoformat(first["failed_at"]).tzinfo is not None
    assert (second["offset"], second["key"], second["error_type"]) == (1, "hub-2", "UndecodablePayload")
    assert len(dlq("list", topic, "--limit", "1", "--json").stdout.splitlines()) == 1

    # A dry run sends nothing and records nothing.
    dry = dlq("replay", topic, "--offset", "0:0", "--dry-run").stdout
    assert "would replay 0:0" in dry and offsets.end(topic) == 3

    # The chosen dead letter goes back with its key, bytes and original headers, once.
    replayed = dlq("replay", topic, "--offset", "0:0").stdout
    assert f"-> {topic}[0]@3" in replayed and "replayed 1 dead letter(s)" in replayed
    assert offsets.end(topic) == 4
    again = kafka_admin.read(topic, count=4)[3]
    value, headers = events[500]
    assert (again.key, again.value) == (b"hub-1", value)
    assert sorted(again.headers) == sorted(headers)  # no dlq_* header travels back

    # --all takes only what was not replayed yet; a second --all finds nothing.
    replayed = dlq("replay", dlq_topic(topic), "--all").stdout.splitlines()
    assert [line.split(" (")[0] for line in replayed[:-1]] == ["replayed 0:1"]
    assert replayed[-1].startswith("replayed 1 dead letter(s)")
    assert offsets.end(topic) == 5
    assert "nothing to replay" in dlq("replay", topic, "--all").stdout
    assert "already replayed" in dlq("replay", topic, "--offset", "0:1").stdout
    assert offsets.end(topic) == 5
    assert offsets.committed(REPLAY_GROUP, dlq_topic(topic)) == 2

    # The fixed consumer handles the replayed event; the garbage is dead-lettered once more.
    handled = consume(
        kafka_bootstrap_servers,
        producer,
        topic,
        group,
        decoder(fixed=True),
        until=lambda: offsets.committed(group, topic) == 5,
    )
    assert handled == [500]
    listed = [json.loads(line) for line in dlq("list", topic, "--json").stdout.splitlines()]
    assert [(d["offset"], d["original_offset"], d["replayed"]) for d in listed] == [
        (0, 1, True),
        (1, 2, True),
        (2, 4, False),
    ]


def test_a_dead_letter_from_several_groups_is_replayed_once(
    kafka_bootstrap_servers, producer, new_topic, offsets, dlq, unique_name
):
    topic = new_topic(partitions=1)
    producer.send(topic, key=b"hub-1", value=GARBAGE, headers=event(0)[1])
    producer.flush(timeout=10)
    for name in ("test-dlq-a", "test-dlq-b"):  # e.g. pur_svc and a routing replica on map changes
        group = unique_name(name, separator="-")
        consume(
            kafka_bootstrap_servers,
            producer,
            topic,
            group,
            decoder(fixed=False),
            until=lambda group=group: offsets.committed(group, topic) == 1,
        )
    assert offsets.end(dlq_topic(topic)) == 2

    result = dlq("replay", topic, "--all", "--group", unique_name("test-replay", separator="-")).stdout
    assert "skipped 0:1: the same original message" in result and "replayed 1 dead letter(s)" in result
    assert offsets.end(topic) == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "the following arguments are required"),
        (("replay", "some.topic"), "one of the arguments --all --offset is required"),
        (("replay", "some.topic", "--all", "--offset", "0:1"), "not allowed with argument"),
        (("replay", "some.topic", "--offset", "zero"), "'zero' is not PARTITION:OFFSET"),
        (("list", "some.topic", "--limit", "0"), "'0' is not a whole number >= 1"),
        (("list",), "the following arguments are required: topic"),
    ],
    ids=["no-command", "replay-without-choice", "all-and-offset", "bad-offset", "bad-limit", "no-topic"],
)
def test_bad_arguments_exit_2(args, message):
    result = run_dlq(*args, bootstrap_servers="localhost:1")
    assert result.returncode == 2 and message in result.stderr, result.stderr


def test_missing_configuration_and_unknown_topics_exit_2(kafka_bootstrap_servers, unique_name):
    result = run_dlq("list", "pur.created.v1", bootstrap_servers=None)
    assert result.returncode == 2 and "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS" in result.stderr, result.stderr
    result = run_dlq("list", "pur.created.v1", bootstrap_servers="not a host list")
    assert result.returncode == 2 and "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS" in result.stderr, result.stderr
    missing = unique_name("test.no-such-topic", separator="-")
    result = run_dlq("replay", missing, "--all", bootstrap_servers=kafka_bootstrap_servers)
    assert result.returncode == 2 and f"topic '{missing}.dlq' does not exist" in result.stderr, result.stderr


def test_an_offset_without_a_dead_letter_exits_1(new_topic, dlq):
    topic = new_topic(partitions=1)
    result = dlq("replay", topic, "--offset", "0:7", expect=1)
    assert "no dead letter at 0:7" in result.stderr and "holds nothing" in result.stderr
