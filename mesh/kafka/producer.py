"""The one way the mesh produces to Kafka: an idempotent producer, and a flush that says whether
every record was written."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import kafka.errors
from kafka import KafkaProducer
from kafka.codec import has_lz4

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
