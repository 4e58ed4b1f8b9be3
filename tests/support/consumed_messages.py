"""Kafka records as a consumer's decode receives them, for tests of decoders without a broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from google.protobuf.message import Message

from mesh.kafka import ConsumedMessage, EventHeaders


def consumed(topic: str, event: Message, *, key: bytes = b"k") -> ConsumedMessage:
    """`event` as read from `topic`, with CloudEvents headers naming its type."""
    headers = EventHeaders(
        id=str(uuid.uuid4()), type=event.DESCRIPTOR.full_name, source="tests", time=datetime.now(UTC)
    )
    return ConsumedMessage(topic, 0, 0, key, event.SerializeToString(), dict(headers.to_kafka()), 0)
