"""The loop every Kafka consumer of the mesh runs in.

Delivery contract (DESIGN.md, "Events"): at-least-once end to end. Offsets are committed only
after the handler's database transaction committed (or the message was dead-lettered), so a crash
anywhere re-delivers instead of losing; handlers are therefore idempotent.

What a failure does:
- transient (`mesh.transient.is_transient`: a dependency is down): retried in place, with backoff,
  until it works or the loop is stopped;
- `mesh.errors.InvalidArgument`, any subclass (poison: the decode kinds of `mesh.kafka.poison`, a
  service's validation): the message goes to `<topic>.dlq` and the loop carries on;
- any other exception of decode or handler: the same, logged as an error with its traceback (a
  bug must not stall the partition, and the DLQ keeps the message for a replay after the fix);
- a failure outside them (poll, commit): propagates, so the process dies and is restarted.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, NoReturn, TypeVar

import kafka.errors
from kafka import ConsumerRebalanceListener, KafkaConsumer, KafkaProducer
from kafka.structs import OffsetAndMetadata, TopicPartition
from prometheus_client import Counter, Histogram
from tenacity import RetryCallState, Retrying, retry_if_exception, wait_exponential

from mesh.errors import InvalidArgument
from mesh.kafka.dead_letters import DeadLetterWriter, FailedMessage
from mesh.kafka.messages import ConsumedMessage
from mesh.kafka.security import PLAINTEXT, KafkaSecurity
from mesh.transient import is_transient

log = logging.getLogger(__name__)

T = TypeVar("T")
Batch = list[tuple[ConsumedMessage, T]]

_CONSUMED = Counter("firstmile_kafka_messages_consumed_total", "Messages handled and committed.", ["topic", "group"])
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

# The group moved these partitions on while the batch ran; the new owner re-reads them.
_REBALANCED = (
    kafka.errors.CommitFailedError,
    kafka.errors.IllegalGenerationError,
    kafka.errors.UnknownMemberIdError,
    kafka.errors.RebalanceInProgressError,
)


class LoopStopped(Exception):
    """Raised inside the loop when `stop` is set before a batch could be completed."""


class ConsumerLoop(Generic[T]):
    """Polls batches, decodes, hands good messages to ONE handler call (one DB transaction), sends
    bad ones to `<topic>.dlq`, then commits offsets. Offsets only ever move past a message once
    it has been handled (its transaction committed) or dead-lettered (the DLQ write acked).

    - `decode(msg) -> T` turns bytes into a command; it raises `InvalidArgument` for a message
      that can never be processed (any failure of it counts the same: decode is pure).
    - `handle_batch([(msg, decoded), ...])` runs one transaction for the batch and returns after
      commit. A non-transient failure bisects the batch to isolate the failing message(s), which
      are dead-lettered with the error text; the others are handled.
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
        handle_batch: Callable[[Batch[T]], None],
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
        self._dead_letters = DeadLetterWriter(dlq_producer, group_id, send_timeout=dlq_send_timeout)
        self._max_batch = max_batch
        self._poll_timeout_ms = poll_timeout_ms
        self._is_transient = is_transient
        self._retry_initial_wait = retry_initial_wait
        self._retry_max_wait = retry_max_wait
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
        good, failed = self._decode_all(messages)
        if good:
            failed.extend(self._handle_isolating(good, stop))
        if failed:
            self._retry_transient(stop, "dlq", self._dead_letters.write, failed)
        self._commit(messages, stop)
        for msg in messages:
            _CONSUMED.labels(msg.topic, self.group_id).inc()
        _BATCHES.labels(self.group_id).inc()
        log.debug(
            "batch committed",
            extra={"group": self.group_id, "messages": len(messages), "dead_lettered": len(failed)},
        )

    def _decode_all(self, messages: list[ConsumedMessage]) -> tuple[Batch[T], list[FailedMessage]]:
        good: Batch[T] = []
        failed: list[FailedMessage] = []
        for msg in messages:
            try:
                good.append((msg, self._decode(msg)))
            except Exception as exc:  # noqa: BLE001 - decode is pure: a message that fails it never decodes
                failed.append(FailedMessage.of(msg, exc, "decode"))
        return good, failed

    def _handle_isolating(self, items: Batch[T], stop: threading.Event) -> list[FailedMessage]:
        """Handle `items`; on a non-transient failure split the batch in halves (recursively) so
        that only the failing message(s) end up dead-lettered. Halves run in order, so messages
        keep their relative order."""
        try:
            self._retry_transient(stop, "handler", self._timed_handle, items)
            return []
        except LoopStopped:
            raise
        except Exception as exc:
            if len(items) > 1:
                log.info(
                    "batch failed in handler; bisecting",
                    extra={"group": self.group_id, "size": len(items), "error": repr(exc)},
                )
                middle = len(items) // 2
                return self._handle_isolating(items[:middle], stop) + self._handle_isolating(items[middle:], stop)
            msg = items[0][0]
            fields = {"topic": msg.topic, "partition": msg.partition, "offset": msg.offset, "group": self.group_id}
            if isinstance(exc, InvalidArgument):
                log.warning("message is invalid; dead-lettering it", extra=fields | {"error": repr(exc)})
            else:
                log.error("handler failed on a message; dead-lettering it", extra=fields, exc_info=exc)
            return [FailedMessage.of(msg, exc, "handler")]

    def _timed_handle(self, items: Batch[T]) -> None:
        started = time.perf_counter()
        self._handle_batch(items)
        _HANDLER_SECONDS.labels(self.group_id).observe(time.perf_counter() - started)

    def _commit(self, messages: list[ConsumedMessage], stop: threading.Event) -> None:
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for msg in messages:  # per partition, messages arrive in offset order
            offsets[msg.topic_partition] = OffsetAndMetadata(msg.offset + 1, "", -1)
        try:
            self._retry_transient(stop, "commit", self.consumer.commit, offsets)
        except _REBALANCED as exc:
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

        def sleep(seconds: float) -> None:
            stop.wait(seconds)

        retrying = Retrying(
            retry=retry_if_exception(self._is_transient),
            wait=wait_exponential(multiplier=self._retry_initial_wait, max=self._retry_max_wait),
            stop=lambda _state: stop.is_set(),
            sleep=sleep,
            before_sleep=lambda state: self._log_retry(what, state),
            retry_error_callback=_raise_stopped,
            reraise=True,
        )
        return retrying(fn, *args)

    def _log_retry(self, what: str, state: RetryCallState) -> None:
        _RETRIES.labels(self.group_id).inc()
        log.warning(
            "transient failure; retrying",
            extra={
                "group": self.group_id,
                "stage": what,
                "attempt": state.attempt_number,
                "sleep_s": round(state.next_action.sleep, 3) if state.next_action else None,
                "error": repr(state.outcome.exception()) if state.outcome else None,
            },
        )


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


def _raise_stopped(_state: RetryCallState) -> NoReturn:
    raise LoopStopped("stopped while retrying a transient failure")
