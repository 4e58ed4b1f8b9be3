"""Kafka plumbing shared by every service: CloudEvents headers, the idempotent producer, topic
creation and the batch consumer loop with its dead-letter queue.

Delivery contract (DESIGN.md, "Events"): at-least-once end to end. Producers write through the
transactional outbox (mesh/outbox.py) and this module's idempotent producer; consumers commit
offsets only after their handler's database transaction has committed, so a crash anywhere
re-delivers instead of losing. Handlers must therefore be idempotent.

Nothing here connects to anything at import time; the module defines constants, types and
Prometheus metric families only.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import kafka.errors
from google.protobuf.message import DecodeError, Message
from kafka import ConsumerRebalanceListener, KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.codec import has_lz4
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter, Histogram
from tenacity import Retrying, retry_if_exception, stop_after_delay, wait_exponential

from mesh.config import KafkaSettings
from mesh.transient import is_transient

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# CloudEvents binary-mode headers
# --------------------------------------------------------------------------------------------

CE_ID = "ce_id"
CE_TYPE = "ce_type"
CE_SOURCE = "ce_source"
CE_TIME = "ce_time"
CE_SPECVERSION = "ce_specversion"
CONTENT_TYPE = "content-type"
CE_SPECVERSION_1_0 = "1.0"
PROTOBUF_CONTENT_TYPE = "application/protobuf"

# Error headers added to every dead-lettered message (the original headers are kept as well).
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

# Payloads a consumer accepts. Every event the mesh writes is a few KB except a RouteMapChanged
# naming every route of a big import (~450 KB for 20,000 routes with ids like the demo's); the
# broker's default limit (message.max.bytes) is ~1 MiB, so anything larger is dead-lettered
# without being parsed.
MAX_EVENT_BYTES = 512 * 1024


def dlq_topic(topic: str) -> str:
    """Name of `topic`'s dead-letter queue."""
    return topic + DLQ_SUFFIX


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix, e.g. 2025-01-31T12:00:00.123456Z (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


class PoisonMessage(Exception):
    """A message that can never be processed (undecodable or invalid): it goes to the DLQ.

    `decode` callables raise it; handlers may raise it too (the consumer loop then isolates the
    offending message and dead-letters it).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The kinds `decode_protobuf` tells apart; the class name is the DLQ record's dlq_error_type.
class BadHeaders(PoisonMessage):
    """A required CloudEvents header is missing or unreadable."""


class WrongEventType(PoisonMessage):
    """ce_type names another event type than the consumer reads."""


class OversizedMessage(PoisonMessage):
    """The payload is larger than the consumer accepts."""


class UndecodablePayload(PoisonMessage):
    """There is no payload, or its bytes are not the expected protobuf message."""


@dataclass(frozen=True, slots=True)
class EventHeaders:
    """The CloudEvents attributes of one event, carried as Kafka headers (binary content mode)."""

    id: str
    type: str
    source: str
    time: datetime
    specversion: str = CE_SPECVERSION_1_0
    content_type: str = PROTOBUF_CONTENT_TYPE

    def to_kafka(self) -> list[tuple[str, bytes]]:
        return [
            (CE_ID, self.id.encode()),
            (CE_TYPE, self.type.encode()),
            (CE_SOURCE, self.source.encode()),
            (CE_TIME, format_rfc3339(self.time).encode()),
            (CE_SPECVERSION, self.specversion.encode()),
            (CONTENT_TYPE, self.content_type.encode()),
        ]

    @classmethod
    def from_kafka(cls, headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> EventHeaders:
        """Parse the headers of a consumed message; raises PoisonMessage when one is missing or bad."""
        # A null header value (other clients allow one) counts as missing.
        found = {k: v for k, v in (headers.items() if isinstance(headers, Mapping) else headers) if v is not None}
        try:
            values = {name: found[name].decode() for name in (CE_ID, CE_TYPE, CE_SOURCE, CE_TIME)}
            return cls(
                id=values[CE_ID],
                type=values[CE_TYPE],
                source=values[CE_SOURCE],
                time=parse_rfc3339(values[CE_TIME]),
                specversion=found.get(CE_SPECVERSION, CE_SPECVERSION_1_0.encode()).decode(),
                content_type=found.get(CONTENT_TYPE, PROTOBUF_CONTENT_TYPE.encode()).decode(),
            )
        except KeyError as exc:
            raise BadHeaders(f"missing CloudEvents header {exc.args[0]!r}") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadHeaders(f"invalid CloudEvents header: {exc}") from None


# --------------------------------------------------------------------------------------------
# Connection security
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KafkaSecurity:
    """How clients authenticate to the brokers and encrypt: kafka-python options from settings."""

    protocol: str = "PLAINTEXT"
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> KafkaSecurity:
        sasl = settings.kafka_security_protocol.startswith("SASL_")
        return cls(
            protocol=settings.kafka_security_protocol,
            ca_file=str(settings.kafka_ssl_ca_file) if settings.kafka_ssl_ca_file else None,
            cert_file=str(settings.kafka_ssl_cert_file) if settings.kafka_ssl_cert_file else None,
            key_file=str(settings.kafka_ssl_key_file) if settings.kafka_ssl_key_file else None,
            sasl_mechanism=settings.kafka_sasl_mechanism if sasl else None,
            sasl_username=settings.kafka_sasl_username if sasl else None,
            sasl_password=settings.kafka_sasl_password.get_secret_value()
            if sasl and settings.kafka_sasl_password
            else None,
        )

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {"security_protocol": self.protocol}
        if self.protocol in ("SSL", "SASL_SSL"):
            options["ssl_check_hostname"] = True
            if self.ca_file:
                options["ssl_cafile"] = self.ca_file
            if self.cert_file:
                options["ssl_certfile"] = self.cert_file
                options["ssl_keyfile"] = self.key_file
        if self.sasl_mechanism:
            options["sasl_mechanism"] = self.sasl_mechanism
            options["sasl_plain_username"] = self.sasl_username
            options["sasl_plain_password"] = self.sasl_password
        return options


PLAINTEXT = KafkaSecurity()


# --------------------------------------------------------------------------------------------
# Producer and topics
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication_factor: int = 1
    configs: dict[str, str] = field(default_factory=dict)


def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    *,
    with_dlq: bool = True,
    timeout_s: float = 60.0,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create each topic (and its `<name>.dlq` when `with_dlq`) unless it exists; returns the
    names created now. Safe to run on every start and from several replicas at once.

    Retries with backoff while the broker is unreachable or still starting (up to `timeout_s`),
    then waits until every topic has a leader for each partition, so producing right after works.
    An existing topic is left as it is, even if its partition count differs from the spec.
    """
    wanted: dict[str, TopicSpec] = {}
    for spec in specs:
        wanted[spec.name] = spec
        if with_dlq and not spec.name.endswith(DLQ_SUFFIX):
            dlq = TopicSpec(dlq_topic(spec.name), spec.partitions, spec.replication_factor, dict(spec.configs))
            wanted.setdefault(dlq.name, dlq)
    if not wanted:
        return []

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(timeout_s),
        reraise=True,
        before_sleep=lambda state: log.warning(
            "kafka not ready, retrying topic creation",
            extra={"attempt": state.attempt_number, "error": repr(state.outcome.exception())},
        ),
    )
    return retrying(_create_topics, bootstrap_servers, list(wanted.values()), security)


def _create_topics(bootstrap_servers: str, specs: list[TopicSpec], security: KafkaSecurity) -> list[str]:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers.split(","),
        client_id="firstmile-topics",
        bootstrap_timeout_ms=5000,
        **security.client_options(),
    )
    try:
        request = {
            spec.name: {
                "num_partitions": spec.partitions,
                "replication_factor": spec.replication_factor,
                "configs": dict(spec.configs),
            }
            for spec in specs
        }
        response = admin.create_topics(request, raise_errors=False)
        created = []
        for result in response["topics"]:
            code = result["error_code"]
            if code == 0:
                created.append(result["name"])
            elif code != kafka.errors.TopicAlreadyExistsError.errno:
                error_cls = kafka.errors.for_code(code)
                raise error_cls(f"creating topic {result['name']!r}: {result.get('error_message')}")
        admin.wait_for_topics([spec.name for spec in specs], timeout_ms=30_000)
        if created:
            log.info("created kafka topics", extra={"topics": created})
        return created
    finally:
        admin.close()


# --------------------------------------------------------------------------------------------
# Consumer loop
# --------------------------------------------------------------------------------------------

_CONSUMED = Counter("firstmile_kafka_messages_consumed_total", "Messages handled and committed.", ["topic", "group"])
_DEAD_LETTERED = Counter(
    "firstmile_kafka_messages_dead_lettered_total",
    "Messages sent to the DLQ; stage is decode or handler.",
    ["topic", "group", "stage"],
)
_BATCHES = Counter("firstmile_kafka_batches_total", "Batches committed.", ["group"])
_RETRIES = Counter(
    "firstmile_kafka_transient_retries_total", "Transient failures retried (handler, DLQ or commit).", ["group"]
)
_HANDLER_SECONDS = Histogram(
    "firstmile_kafka_handler_seconds",
    "Seconds one handle_batch call took (successful calls).",
    ["group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


@dataclass(frozen=True, slots=True)
class ConsumedMessage:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, bytes]
    timestamp: int  # milliseconds since the epoch, as set by the producer or the broker

    @classmethod
    def from_record(cls, record: Any) -> ConsumedMessage:
        return cls(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=record.value,
            headers={name: value for name, value in (record.headers or [])},
            timestamp=record.timestamp,
        )

    @property
    def topic_partition(self) -> TopicPartition:
        return TopicPartition(self.topic, self.partition)


T = TypeVar("T")
M = TypeVar("M", bound=Message)


def decode_protobuf(
    msg: ConsumedMessage, message_cls: type[M], *, max_bytes: int = MAX_EVENT_BYTES
) -> tuple[EventHeaders, M]:
    """Headers and payload of an event of type `message_cls`. A message that can never be one
    raises a PoisonMessage subclass naming why: no payload or one over `max_bytes` (checked
    before anything is parsed), a missing CloudEvents header, another ce_type, bytes that are
    not that message. A payload of another type that happens to parse is left to the caller's
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


class LoopStopped(Exception):
    """Raised inside the loop when `stop` is set before a batch could be completed."""


@dataclass(slots=True)
class _DeadLetter:
    message: ConsumedMessage
    reason: str
    error_type: str
    stage: str


class _LoggingRebalanceListener(ConsumerRebalanceListener):
    """Only logs. Offsets are committed synchronously after every batch, before the next
    poll() (the only place a rebalance can run), so there is never uncommitted finished work to
    save when partitions are revoked; unfinished work is simply re-delivered to the new owner."""

    def __init__(self, group_id: str) -> None:
        self._group_id = group_id

    def on_partitions_revoked(self, revoked: Any) -> None:
        log.info("partitions revoked", extra={"group": self._group_id, "partitions": _tp_names(revoked)})

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("partitions assigned", extra={"group": self._group_id, "partitions": _tp_names(assigned)})

    def on_partitions_lost(self, lost: Any) -> None:
        log.warning("partitions lost", extra={"group": self._group_id, "partitions": _tp_names(lost)})


def _tp_names(partitions: Iterable[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in partitions or ())


class ConsumerLoop(Generic[T]):
    """Polls batches, decodes, hands good messages to ONE handler call (one DB transaction), sends
    bad ones to `<topic>.dlq`, then commits offsets. Offsets only ever move past a message once
    it has been handled (its transaction committed) or dead-lettered (the DLQ write acked).

    - `decode(msg) -> T` turns bytes into a command; it raises `PoisonMessage` (or any error)
      for messages that can never be processed: those are dead-lettered and skipped.
    - `handle_batch([(msg, decoded), ...])` runs one transaction for the batch and returns after
      commit. A transient failure (`is_transient`) is retried with exponential backoff until it
      succeeds or `stop` is set (then nothing is committed and the batch is re-delivered). Any
      other failure bisects the batch to isolate the failing message(s), which are dead-lettered
      with the error text; the others are handled.
    - Retrying in place keeps the batch's order. If retries outlast `max_poll_interval_ms`, the
      group moves the partitions elsewhere; the later commit then fails with CommitFailedError,
      which is logged and the batch is re-delivered to the new owner (handlers are idempotent).

    The consumer is not thread-safe: call `run()` from one thread and `close()` after it returns.
    The DLQ producer is the caller's (it is shared and not closed here).
    """

    def __init__(
        self,
        bootstrap_servers: str,
        group_id: str,
        topics: Sequence[str],
        *,
        decode: Callable[[ConsumedMessage], T],
        handle_batch: Callable[[list[tuple[ConsumedMessage, T]]], None],
        dlq_producer: KafkaProducer,
        max_batch: int = 500,
        poll_timeout_ms: int = 1000,
        is_transient: Callable[[BaseException], bool] = is_transient,
        retry_initial_wait: float = 0.1,
        retry_max_wait: float = 5.0,
        dlq_send_timeout: float = 30.0,
        client_id: str | None = None,
        consumer: KafkaConsumer | None = None,
        security: KafkaSecurity = PLAINTEXT,
        **consumer_config: Any,
    ) -> None:
        self.group_id = group_id
        self.topics = list(topics)
        self._decode = decode
        self._handle_batch = handle_batch
        self._dlq_producer = dlq_producer
        self._max_batch = max_batch
        self._poll_timeout_ms = poll_timeout_ms
        self._is_transient = is_transient
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
        self._dlq_send_timeout = dlq_send_timeout
        self._closed = False
        if consumer is None:
            config: dict[str, Any] = {
                "bootstrap_servers": bootstrap_servers.split(","),
                "group_id": group_id,
                "client_id": client_id or group_id,
                "enable_auto_commit": False,
                "auto_offset_reset": "earliest",
                "max_poll_records": max_batch,
                # A crashed replica's partitions move to the others after this long without its
                # heartbeats (kafka-python's default, 45 s, stalls that share of the stream).
                "session_timeout_ms": 10_000,
                "heartbeat_interval_ms": 3_000,
                **security.client_options(),
            }
            config.update(consumer_config)
            consumer = KafkaConsumer(**config)
            _await_topic_metadata(consumer, self.topics)
        self.consumer = consumer
        self.consumer.subscribe(topics=self.topics, listener=_LoggingRebalanceListener(group_id))

    # -- public ---------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Process batches until `stop` is set. Unexpected errors propagate (the process should
        die and restart rather than spin); transient ones are retried inside `poll_once`."""
        log.info("consumer loop started", extra={"group": self.group_id, "topics": self.topics})
        try:
            while not stop.is_set():
                try:
                    self.poll_once(stop)
                except LoopStopped:
                    break
        finally:
            log.info("consumer loop stopped", extra={"group": self.group_id})

    def poll_once(self, stop: threading.Event | None = None) -> int:
        """Poll one batch and process it completely; returns the number of messages committed.
        Raises LoopStopped when `stop` was set before the batch could be finished (nothing of it
        is committed and the consumer is rewound to the batch start)."""
        stop = stop or threading.Event()
        polled = self._retry_transient(stop, "poll", self.consumer.poll, self._poll_timeout_ms, self._max_batch)
        messages = [ConsumedMessage.from_record(r) for records in polled.values() for r in records]
        if not messages:
            return 0
        try:
            self._process(messages, stop)
        except LoopStopped:
            self._rewind(messages)
            raise
        return len(messages)

    def close(self) -> None:
        """Leave the group and close the connections; commits nothing (all that is done is
        already committed)."""
        if self._closed:
            return
        self._closed = True
        self.consumer.close(autocommit=False)
        log.info("consumer closed", extra={"group": self.group_id})

    def __enter__(self) -> ConsumerLoop[T]:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one batch ----------------------------------------------------------------------------

    def _process(self, messages: list[ConsumedMessage], stop: threading.Event) -> None:
        good, dead = self._decode_all(messages)
        if good:
            dead.extend(self._handle_isolating(good, stop))
        if dead:
            self._retry_transient(stop, "dlq", self._send_to_dlq, dead)
        self._commit(messages, stop)
        for msg in messages:
            _CONSUMED.labels(msg.topic, self.group_id).inc()
        _BATCHES.labels(self.group_id).inc()
        log.debug(
            "batch committed",
            extra={"group": self.group_id, "messages": len(messages), "dead_lettered": len(dead)},
        )

    def _decode_all(self, messages: list[ConsumedMessage]) -> tuple[list[tuple[ConsumedMessage, T]], list[_DeadLetter]]:
        good: list[tuple[ConsumedMessage, T]] = []
        dead: list[_DeadLetter] = []
        for msg in messages:
            try:
                good.append((msg, self._decode(msg)))
            except Exception as exc:  # decode is pure: any failure means this message never decodes
                dead.append(_dead_letter(msg, exc, "decode"))
        return good, dead

    def _handle_isolating(self, items: list[tuple[ConsumedMessage, T]], stop: threading.Event) -> list[_DeadLetter]:
        """Handle `items`; on a non-transient failure split the batch in halves (recursively) so
        that only the failing message(s) end up dead-lettered. Halves run in order, so messages
        keep their relative order."""
        try:
            self._retry_transient(stop, "handler", self._timed_handle, items)
            return []
        except LoopStopped:
            raise
        except Exception as exc:
            if len(items) == 1:
                log.warning(
                    "message failed in handler; dead-lettering it",
                    extra=_msg_fields(items[0][0]) | {"group": self.group_id, "error": repr(exc)},
                )
                return [_dead_letter(items[0][0], exc, "handler")]
            log.info(
                "batch failed in handler; bisecting",
                extra={"group": self.group_id, "size": len(items), "error": repr(exc)},
            )
            middle = len(items) // 2
            return self._handle_isolating(items[:middle], stop) + self._handle_isolating(items[middle:], stop)

    def _timed_handle(self, items: list[tuple[ConsumedMessage, T]]) -> None:
        started = time.perf_counter()
        self._handle_batch(items)
        _HANDLER_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)

    def _send_to_dlq(self, dead: list[_DeadLetter]) -> None:
        failed_at = format_rfc3339(datetime.now(UTC)).encode()
        futures = []
        for letter in dead:
            msg = letter.message
            # Earlier dlq_* headers (a replayed message that failed again) give way to this
            # failure's; a null header value becomes empty because the producer refuses None.
            headers = [(k, v or b"") for k, v in msg.headers.items() if not k.startswith("dlq_")]
            headers += [
                (DLQ_REASON, letter.reason.encode()[:_DLQ_REASON_MAX_BYTES]),
                (DLQ_ERROR_TYPE, letter.error_type.encode()),
                (DLQ_ORIGINAL_TOPIC, msg.topic.encode()),
                (DLQ_ORIGINAL_PARTITION, str(msg.partition).encode()),
                (DLQ_ORIGINAL_OFFSET, str(msg.offset).encode()),
                (DLQ_CONSUMER_GROUP, self.group_id.encode()),
                (DLQ_FAILED_AT, failed_at),
            ]
            futures.append(self._send_dead_letter(msg, headers))
        flush_and_check(self._dlq_producer, futures, timeout=self._dlq_send_timeout)
        for letter in dead:
            _DEAD_LETTERED.labels(letter.message.topic, self.group_id, letter.stage).inc()
            log.warning(
                "message dead-lettered",
                extra=_msg_fields(letter.message)
                | {"group": self.group_id, "stage": letter.stage, "reason": letter.reason[:500]},
            )

    def _send_dead_letter(self, msg: ConsumedMessage, headers: list[tuple[str, bytes]]) -> Any:
        topic = dlq_topic(msg.topic)
        try:
            return self._dlq_producer.send(topic, key=msg.key, value=msg.value, headers=headers)
        except kafka.errors.MessageSizeTooLargeError:
            # Only a message within a few KB of the size limit gets here (the copy adds the dlq_*
            # headers). Without its bytes it still records the failure and frees the partition;
            # the original stays in its topic until retention.
            size = str(len(msg.value or b"")).encode()
            headers = [*headers, (DLQ_VALUE_DROPPED, size)]
            return self._dlq_producer.send(topic, key=msg.key, value=b"", headers=headers)

    def _commit(self, messages: list[ConsumedMessage], stop: threading.Event) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for msg in messages:  # per partition, messages arrive in offset order
            offsets[msg.topic_partition] = OffsetAndMetadata(msg.offset + 1, "", -1)
        try:
            self._retry_transient(stop, "commit", self.consumer.commit, offsets)
        except (
            kafka.errors.CommitFailedError,
            kafka.errors.IllegalGenerationError,
            kafka.errors.UnknownMemberIdError,
            kafka.errors.RebalanceInProgressError,
        ) as exc:
            # The group moved these partitions on while we worked; the new owner re-reads them.
            log.warning(
                "offset commit rejected after a rebalance; the batch will be re-delivered",
                extra={"group": self.group_id, "error": repr(exc)},
            )

    def _rewind(self, messages: list[ConsumedMessage]) -> None:
        """Point the consumer back at the first uncommitted message of each partition, so a
        stopped batch is re-read if this consumer is polled again (restarts read the committed
        offsets anyway)."""
        first: dict[TopicPartition, int] = {}
        for msg in messages:
            first.setdefault(msg.topic_partition, msg.offset)
        for tp, offset in first.items():
            try:
                self.consumer.seek(tp, offset)
            except (ValueError, kafka.errors.IllegalStateError):
                pass  # no longer assigned: the new owner starts from the committed offset

    def _retry_transient(self, stop: threading.Event, what: str, fn: Callable[..., Any], *args: Any) -> Any:
        """Call `fn(*args)`; retry transient failures with capped exponential backoff until it
        works or `stop` is set (-> LoopStopped). Other exceptions propagate at once."""
        retrying = Retrying(
            retry=retry_if_exception(self._is_transient),
            wait=wait_exponential(multiplier=self._retry_initial_wait, max=self._retry_max_wait),
            stop=lambda _state: stop.is_set(),
            sleep=stop.wait,
            before_sleep=lambda state: self._log_retry(what, state),
            retry_error_callback=lambda _state: _raise_stopped(),
            reraise=True,
        )
        return retrying(fn, *args)

    def _log_retry(self, what: str, state: Any) -> None:
        _RETRIES.labels(self.group_id).inc()
        log.warning(
            "transient failure; retrying",
            extra={
                "group": self.group_id,
                "stage": what,
                "attempt": state.attempt_number,
                "sleep_s": round(state.next_action.sleep, 3) if state.next_action else None,
                "error": repr(state.outcome.exception()),
            },
        )


def _await_topic_metadata(consumer: KafkaConsumer, topics: Sequence[str], timeout_s: float = 30.0) -> None:
    """Fetch the topics' partitions before joining the group: a member whose metadata lacks a
    just-created topic is assigned nothing for it, and kafka-python only looks again when its
    metadata ages out (minutes)."""
    deadline = time.monotonic() + timeout_s
    missing = list(topics)
    while missing and time.monotonic() < deadline:
        missing = [topic for topic in missing if not consumer.partitions_for_topic(topic)]
        if missing:
            time.sleep(0.2)
    if missing:
        log.warning("subscribing to topics without partition metadata", extra={"topics": missing})


def _raise_stopped() -> None:
    raise LoopStopped("stopped while retrying a transient failure")


def _dead_letter(msg: ConsumedMessage, exc: BaseException, stage: str) -> _DeadLetter:
    reason = exc.reason if isinstance(exc, PoisonMessage) else (str(exc) or repr(exc))
    return _DeadLetter(msg, reason, type(exc).__name__, stage)


def _msg_fields(msg: ConsumedMessage) -> dict[str, Any]:
    return {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset}
