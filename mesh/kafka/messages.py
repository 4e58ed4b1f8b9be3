"""What a consumer reads: one consumed record, and its event decoded with every check a message
must pass before a service looks at it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar

from google.protobuf.message import DecodeError, Message
from kafka.structs import TopicPartition

from mesh.kafka.headers import EventHeaders
from mesh.kafka.poison import OversizedMessage, UndecodablePayload, WrongEventType

# Payloads a consumer accepts. Every event the mesh writes is a few KB to a few tens of KB (a big
# route import is published as RouteMapChanged parts of at most 500 routes each); the broker's
# default limit (message.max.bytes) is ~1 MiB, so anything larger is dead-lettered unparsed.
MAX_EVENT_BYTES = 512 * 1024

M = TypeVar("M", bound=Message)


@dataclass(frozen=True, slots=True)
class ConsumedMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes | None]
    timestamp: int  # milliseconds since the epoch, as set by the producer or the broker

    @classmethod
    def from_record(cls, record: Any) -> ConsumedMessage:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers=dict(record.headers or []),
            timestamp=record.timestamp,
        )

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


def decode_protobuf(
    msg: ConsumedMessage, message_cls: type[M], *, max_bytes: int = MAX_EVENT_BYTES
) -> tuple[EventHeaders, M]:
    """Headers and payload of an event of type `message_cls`. A message that can never be one
    raises a PoisonMessage kind naming why: no payload or one over `max_bytes` (checked before
    anything is parsed), a missing CloudEvents header, another ce_type, bytes that are not that
    message. A payload of another type that happens to parse is left to the caller's
    validation, like any other invalid event."""
    expected = message_cls.DESCRIPTOR.full_name
    if msg.value is None:
        raise UndecodablePayload(f"message has no value (a tombstone), expected a {expected}")
    if len(msg.value) > max_bytes:
        raise OversizedMessage(f"payload of {len(msg.value)} bytes exceeds the limit of {max_bytes}")
    headers = EventHeaders.from_kafka(msg.headers)
    if headers.type != expected:
        raise WrongEventType(f"ce_type is {headers.type!r}, expected {expected!r}")
    try:
        return headers, message_cls.FromString(msg.value)
    except DecodeError as exc:
        raise UndecodablePayload(f"payload is not a {expected}: {exc}") from None
