"""Live status changes for WatchPickupRequests.

While anyone watches, a replica reads `pur.events.v1` itself (all partitions assigned directly,
from the end, no consumer group, nothing committed) and fans each change out to the watchers
connected to it, so a TL screen sees changes made by any replica. With nobody watching it reads
nothing: the topic carries every status change of every PUR, too much to decode for no one. The
feed is best effort by design: a watcher that falls too far behind is disconnected and re-reads
with ListPickupRequests.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from kafka import KafkaConsumer
from kafka.structs import TopicPartition

from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.errors import ResourceExhausted
from mesh.kafka import PLAINTEXT, ConsumedMessage, KafkaSecurity, PoisonMessage, decode_protobuf
from mesh.topics import PUR_EVENTS

log = logging.getLogger(__name__)

MAX_BACKLOG = 1000


class WatcherTooSlow(ResourceExhausted):
    pass


@dataclass
class Subscription:
    hub_id: str
    statuses: set[int]
    # Set for a caller with a client token: it sees only its own PURs.
    client_id: str = ""
    backlog: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=MAX_BACKLOG))
    overflowed: bool = False

    def offer(self, change: events_pb2.PickupStatusChanged) -> None:
        if change.hub_id != self.hub_id or (self.statuses and change.status not in self.statuses):
            return
        if self.client_id and change.pickup_request.client_id != self.client_id:
            return
        try:
            self.backlog.put_nowait(change)
        except queue.Full:
            self.overflowed = True

    def updates(self, is_active: Callable[[], bool]) -> Iterator[pur_pb2.WatchPickupRequestsResponse]:
        while is_active():
            if self.overflowed:
                raise WatcherTooSlow(f"more than {MAX_BACKLOG} changes queued for this watcher; reconnect and re-list")
            try:
                change = self.backlog.get(timeout=0.5)
            except queue.Empty:
                continue
            yield pur_pb2.WatchPickupRequestsResponse(
                pickup_request=change.pickup_request,
                previous_status=change.previous_status,
                version=change.version,
                changed_at=change.changed_at,
            )


class StatusFeed:
    def __init__(
        self, bootstrap_servers: str, *, security: KafkaSecurity = PLAINTEXT, idle_close_seconds: float = 30.0
    ) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._security = security
        self._idle_close_seconds = idle_close_seconds
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()
        self._watched = threading.Event()

    @contextlib.contextmanager
    def subscribe(self, hub_id: str, statuses: set[int], client_id: str = "") -> Iterator[Subscription]:
        subscription = Subscription(hub_id, statuses, client_id)
        with self._lock:
            self._subscriptions.append(subscription)
            self._watched.set()
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscriptions.remove(subscription)
                if not self._subscriptions:
                    self._watched.clear()

    def publish(self, change: events_pb2.PickupStatusChanged) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.offer(change)

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            if self._watched.wait(timeout=0.5):
                self._follow(stop)

    def _follow(self, stop: threading.Event) -> None:
        """Read the topic from its end until nobody has watched for a while."""
        consumer = KafkaConsumer(
            bootstrap_servers=self._bootstrap_servers,
            enable_auto_commit=False,
            client_id="pur_svc-watch",
            **self._security.client_options(),
        )
        try:
            partitions = [
                TopicPartition(PUR_EVENTS, p) for p in sorted(consumer.partitions_for_topic(PUR_EVENTS) or ())
            ]
            consumer.assign(partitions)
            consumer.seek_to_end()
            idle_since = None
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=200, max_records=500).values():
                    for record in records:
                        self._dispatch(ConsumedMessage.from_record(record))
                if self._watched.is_set():
                    idle_since = None
                elif idle_since is None:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since > self._idle_close_seconds:
                    return
        finally:
            consumer.close(autocommit=False)

    def _dispatch(self, message: ConsumedMessage) -> None:
        # The same checks as the consumers (type header, size, payload); a poison record is the
        # consumers' DLQ's business, the feed only skips it.
        try:
            _, change = decode_protobuf(message, events_pb2.PickupStatusChanged)
        except PoisonMessage as exc:
            log.warning("skipping a poison status change", extra={"offset": message.offset, "reason": str(exc)})
            return
        self.publish(change)
