"""Kafka for every service of the mesh. Import from here; the submodules are, in reading order:

- `headers`: CloudEvents attributes as Kafka headers (`EventHeaders`, `ce_*`);
- `security`: TLS/SASL settings turned into client options (`KafkaSecurity`);
- `producer`: the idempotent producer and a flush that checks every record (`make_producer`);
- `topics`: idempotent topic creation, DLQs included (`TopicSpec`, `ensure_topics`);
- `poison`, `messages`: what a consumer reads and which messages are poison (`ConsumedMessage`,
  `decode_protobuf`; poison is `mesh.errors.InvalidArgument`);
- `dead_letters`: `<topic>.dlq` and the headers that say why a message landed there;
- `consumer`: the batch consumer loop (`ConsumerLoop`).

Delivery is at-least-once end to end: producers write through the transactional outbox
(`mesh.outbox`), consumers commit offsets only after their handler's transaction. Nothing here
connects to anything at import time.
"""

from mesh.kafka.consumer import ConsumerLoop, LoopStopped
from mesh.kafka.dead_letters import (
    DLQ_CONSUMER_GROUP,
    DLQ_ERROR_TYPE,
    DLQ_FAILED_AT,
    DLQ_ORIGINAL_OFFSET,
    DLQ_ORIGINAL_PARTITION,
    DLQ_ORIGINAL_TOPIC,
    DLQ_REASON,
    DLQ_SUFFIX,
    DLQ_VALUE_DROPPED,
    dlq_topic,
)
from mesh.kafka.headers import (
    CE_ID,
    CE_SOURCE,
    CE_SPECVERSION,
    CE_TIME,
    CE_TYPE,
    CONTENT_TYPE,
    EventHeaders,
    format_rfc3339,
    parse_rfc3339,
)
from mesh.kafka.messages import MAX_EVENT_BYTES, ConsumedMessage, decode_protobuf
from mesh.kafka.poison import BadHeaders, OversizedMessage, PoisonMessage, UndecodablePayload, WrongEventType
from mesh.kafka.producer import flush_and_check, make_producer
from mesh.kafka.security import PLAINTEXT, KafkaSecurity
from mesh.kafka.topics import TopicSpec, ensure_topics

__all__ = [
    "CE_ID",
    "CE_SOURCE",
    "CE_SPECVERSION",
    "CE_TIME",
    "CE_TYPE",
    "CONTENT_TYPE",
    "DLQ_CONSUMER_GROUP",
    "DLQ_ERROR_TYPE",
    "DLQ_FAILED_AT",
    "DLQ_ORIGINAL_OFFSET",
    "DLQ_ORIGINAL_PARTITION",
    "DLQ_ORIGINAL_TOPIC",
    "DLQ_REASON",
    "DLQ_SUFFIX",
    "DLQ_VALUE_DROPPED",
    "MAX_EVENT_BYTES",
    "PLAINTEXT",
    "BadHeaders",
    "ConsumedMessage",
    "ConsumerLoop",
    "EventHeaders",
    "KafkaSecurity",
    "LoopStopped",
    "OversizedMessage",
    "PoisonMessage",
    "TopicSpec",
    "UndecodablePayload",
    "WrongEventType",
    "decode_protobuf",
    "dlq_topic",
    "ensure_topics",
    "flush_and_check",
    "format_rfc3339",
    "make_producer",
    "parse_rfc3339",
]
