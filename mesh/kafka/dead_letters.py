"""Dead-letter queues: `<topic>.dlq` receives every message a consumer gave up on, with its
original key, bytes and headers plus `dlq_*` headers saying why (docs/operations-dlq.md).
`python -m mesh.commands.dlq` lists and replays them."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kafka.errors
from kafka import KafkaProducer
from prometheus_client import Counter

from mesh.kafka.headers import format_rfc3339
from mesh.kafka.messages import ConsumedMessage
from mesh.kafka.producer import flush_and_check

log = logging.getLogger(__name__)

DLQ_SUFFIX = ".dlq"
DLQ_REASON = "dlq_reason"
DLQ_ERROR_TYPE = "dlq_error_type"
DLQ_ORIGINAL_TOPIC = "dlq_original_topic"
DLQ_ORIGINAL_PARTITION = "dlq_original_partition"
DLQ_ORIGINAL_OFFSET = "dlq_original_offset"
DLQ_CONSUMER_GROUP = "dlq_consumer_group"
DLQ_FAILED_AT = "dlq_failed_at"
# Set (to the original size) when the original bytes did not fit into the DLQ record.
DLQ_VALUE_DROPPED = "dlq_value_dropped"
_DLQ_REASON_MAX_BYTES = 4096

_DEAD_LETTERED = Counter(
    "firstmile_kafka_messages_dead_lettered_total",
    "Messages sent to the DLQ; stage is decode or handler.",
    ["topic", "group", "stage"],
)


def dlq_topic(topic: str) -> str:
    """Name of `topic`'s dead-letter queue."""
    return topic + DLQ_SUFFIX


@dataclass(frozen=True, slots=True)
class FailedMessage:
    """A consumed message that can never be processed, why, and where it failed (decode or handler)."""

    message: ConsumedMessage
    reason: str
    error_type: str
    stage: str

    @classmethod
    def of(cls, message: ConsumedMessage, error: BaseException, stage: str) -> FailedMessage:
        return cls(message, str(error) or repr(error), type(error).__name__, stage)


class DeadLetterWriter:
    """Copies failed messages to their topics' DLQs for one consumer group. The producer is the
    caller's: it is shared, and not closed here."""

    def __init__(self, producer: KafkaProducer, group_id: str, *, send_timeout: float) -> None:
        self._producer = producer
        self._group_id = group_id
        self._send_timeout = send_timeout

    def write(self, failed: Sequence[FailedMessage]) -> None:
        """Returns once the DLQs acknowledged every copy, raises otherwise; the caller retries
        (a copy written twice is replayed once: the replay command dedupes on the original)."""
        failed_at = format_rfc3339(datetime.now(UTC)).encode()
        futures = [self._send(item, self._headers(item, failed_at)) for item in failed]
        flush_and_check(self._producer, futures, timeout=self._send_timeout)
        for item in failed:
            msg = item.message
            _DEAD_LETTERED.labels(msg.topic, self._group_id, item.stage).inc()
            log.warning(
                "message dead-lettered",
                extra={
                    "topic": msg.topic,
                    "partition": msg.partition,
                    "offset": msg.offset,
                    "group": self._group_id,
                    "stage": item.stage,
                    "reason": item.reason[:500],
                },
            )

    def _headers(self, item: FailedMessage, failed_at: bytes) -> list[tuple[str, bytes]]:
        msg = item.message
        # Earlier dlq_* headers (a replayed message that failed again) give way to this
        # failure's; a null header value becomes empty because the producer refuses None.
        headers = [(name, value or b"") for name, value in msg.headers.items() if not name.startswith("dlq_")]
        return [
            *headers,
            (DLQ_REASON, item.reason.encode()[:_DLQ_REASON_MAX_BYTES]),
            (DLQ_ERROR_TYPE, item.error_type.encode()),
            (DLQ_ORIGINAL_TOPIC, msg.topic.encode()),
            (DLQ_ORIGINAL_PARTITION, str(msg.partition).encode()),
            (DLQ_ORIGINAL_OFFSET, str(msg.offset).encode()),
            (DLQ_CONSUMER_GROUP, self._group_id.encode()),
            (DLQ_FAILED_AT, failed_at),
        ]

    def _send(self, item: FailedMessage, headers: list[tuple[str, bytes]]) -> Any:
        msg = item.message
        topic = dlq_topic(msg.topic)
        try:
            return self._producer.send(topic, key=msg.key, value=msg.value, headers=headers)
        except kafka.errors.MessageSizeTooLargeError:
            # Only a message within a few KB of the size limit gets here (the copy adds the dlq_*
            # headers). Without its bytes it still records the failure and frees the partition;
            # the original stays in its topic until retention.
            size = str(len(msg.value or b"")).encode()
            headers = [*headers, (DLQ_VALUE_DROPPED, size)]
            return self._producer.send(topic, key=msg.key, value=b"", headers=headers)
