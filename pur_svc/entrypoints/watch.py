"""Live status changes for WatchPickupRequests.

Every replica reads `pur.events.v1` itself (a consumer group of its own, starting at the end, no
offsets committed) and fans each change out to the watchers connected to it, so a TL screen sees
changes made by any replica. The feed is best effort by design: a watcher that falls too far
behind is disconnected and re-reads with ListPickupRequests.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import grpc
from kafka import KafkaConsumer

from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from mesh.errors import MeshError
from mesh.topics import PUR_EVENTS

log = logging.getLogger(__name__)

MAX_BACKLOG = 1000


class WatcherTooSlow(MeshError):
    code = grpc.StatusCode.RESOURCE_EXHAUSTED


@dataclass
class Subscription:
    hub_id: str
    statuses: set[int]
    backlog: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=MAX_BACKLOG))
    overflowed: bool = False

    def offer(self, change: events_pb2.PickupStatusChanged) -> None:
        if change.hub_id != self.hub_id or (self.statuses and change.status not in self.statuses):
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
    def __init__(self, bootstrap_servers: str, *, replica_id: str | None = None) -> None:
        self._bootstrap_servers = bootstrap_servers
        self._group = f"pur_svc-watch-{replica_id or uuid.uuid4().hex[:12]}"
        self._subscriptions: list[Subscription] = []
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def subscribe(self, hub_id: str, statuses: set[int]) -> Iterator[Subscription]:
        subscription = Subscription(hub_id, statuses)
        with self._lock:
            self._subscriptions.append(subscription)
        try:
            yield subscription
        finally:
            with self._lock:
                self._subscriptions.remove(subscription)

    def publish(self, change: events_pb2.PickupStatusChanged) -> None:
        with self._lock:
            subscriptions = list(self._subscriptions)
        for subscription in subscriptions:
            subscription.offer(change)

    def run(self, stop: threading.Event) -> None:
        consumer = KafkaConsumer(
            PUR_EVENTS,
            bootstrap_servers=self._bootstrap_servers,
            group_id=self._group,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            client_id=self._group,
        )
        try:
            while not stop.is_set():
                for records in consumer.poll(timeout_ms=500, max_records=500).values():
                    for record in records:
                        self._dispatch(record.value)
        finally:
            consumer.close(autocommit=False)

    def _dispatch(self, value: bytes) -> None:
        try:
            change = events_pb2.PickupStatusChanged.FromString(value)
        except Exception:  # noqa: BLE001 - a bad record is the consumers' DLQ's business, not the feed's
            log.warning("skipping undecodable status change")
            return
        self.publish(change)
