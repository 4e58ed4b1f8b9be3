"""The one way the mesh produces to Kafka: an idempotent producer, and a flush that says whether
every record was written."""

from __future__ import annotations

import random
import struct
from collections.abc import Sequence
from typing import Any

import kafka.errors
from kafka import KafkaProducer
from kafka.codec import has_lz4
from kafka.partitioner import Partitioner

from mesh.kafka.security import PLAINTEXT, KafkaSecurity


def make_producer(
    bootstrap_servers: str,
    *,
    client_id: str,
    security: KafkaSecurity = PLAINTEXT,
    linger_ms: int = 5,
    request_timeout_ms: int = 10_000,
    delivery_timeout_ms: int = 30_000,
    max_block_ms: int = 10_000,
    **overrides: Any,
) -> KafkaProducer:
    """An idempotent producer: acks from all in-sync replicas, retries without duplicates or
    reordering within a partition (kafka-python keeps at most 5 requests in flight).

    `retries` stays at the library default (unbounded), so a record is retried until
    `delivery_timeout_ms`; after that its future fails and `flush()` returns. Callers that must
    know a record was written check the futures after `flush()` (see `flush_and_check`).
    `max_block_ms` bounds how long `send()` waits for metadata (e.g. a missing topic).
    Compression is lz4 when the optional lz4 module is installed, otherwise off.
    """
    config: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers.split(","),
        "client_id": client_id,
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": linger_ms,
        "request_timeout_ms": request_timeout_ms,
        "delivery_timeout_ms": delivery_timeout_ms,
        "max_block_ms": max_block_ms,
        "compression_type": "lz4" if has_lz4() else None,
        "allow_auto_create_topics": False,
        "partitioner": KeyHashPartitioner(),
        **security.client_options(),
    }
    config.update(overrides)
    return KafkaProducer(**config)


def flush_and_check(producer: KafkaProducer, futures: Sequence[Any], *, timeout: float) -> None:
    """Flush and raise the first send error: `KafkaProducer.flush()` returns once every record is
    *completed*, which includes failed, so success has to be read from each future."""
    producer.flush(timeout=timeout)
    for future in futures:
        if not future.is_done:
            raise kafka.errors.KafkaTimeoutError("record not acknowledged within the flush timeout")
        if future.exception is not None:
            raise future.exception


class KeyHashPartitioner(Partitioner):
    """kafka-python's `DefaultPartitioner` (murmur2 of the key, as the Java client: a key lands on
    the partition every Kafka client picks for it; a record without a key on a random available
    partition), at less than half its cost per record: the hash reads the key four bytes at a
    time and only the topic's own partitions are looked up. The relay sends every outbox row
    through it (4 records per PUR). A unit test holds it to `DefaultPartitioner`'s answers."""

    def partition(
        self, topic: str, key: Any, serialized_key: bytes | None, value: Any, serialized_value: Any, cluster: Any
    ) -> int:
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        ordered = sorted(partitions)
        if serialized_key is not None:
            return ordered[(murmur2(serialized_key) & 0x7FFFFFFF) % len(ordered)]
        return random.choice(sorted(cluster.available_partitions_for_topic(topic) or ordered))


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 (seed 0x9747b28c) as Kafka's clients compute it for keys (`Utils.murmur2`)."""
    length = len(data)
    h = 0x9747B28C ^ length
    words = length >> 2
    for k in struct.unpack_from(f"<{words}I", data):
        k = (k * _M) & _MASK
        k ^= k >> 24
        h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    tail = length & 3
    if tail:
        rest = data[words * 4 :]
        if tail >= 3:
            h ^= rest[2] << 16
        if tail >= 2:
            h ^= rest[1] << 8
        h = ((h ^ rest[0]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)
