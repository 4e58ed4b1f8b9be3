"""The live board of WatchOpenPickupsByRoute, across replicas.

Every transaction that changes a route's group on a board announces it at commit (the unit of
work NOTIFYs the routes it locked, adapters.board_channel). Each process holds one LISTEN
connection (`BoardFeed.run`, a worker): for each batch of announcements it re-reads, once, the
changed groups of every board someone watches in this process, and offers that re-read to each
watcher of the board. A watcher's stream (its gRPC thread) sends the whole board first, then only
the groups that differ from what it last sent; a group that left the board is sent once, empty.

What a slow watcher gets: each watcher queues at most `backlog` re-reads; when one more does not
fit, its queue is dropped and the next thing it is sent is a fresh whole board (snapshot true),
never a silent gap. The same happens to every watcher when the LISTEN connection had to be
(re)made, since announcements made meanwhile were not heard.

Order: every read (a watcher's snapshot, the feed's re-reads) takes a number before it starts; a
re-read numbered before a watcher's latest snapshot is older than that snapshot and is skipped.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import queue
import random
import threading
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from dispatch_svc.adapters.messages import route_group_to_proto
from dispatch_svc.domain.board import BoardChange, SentBoard, routes_changed
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from firstmile.dispatch.v1 import dispatch_pb2
from mesh.runtime import Worker

log = logging.getLogger(__name__)

# Re-reads queued per watcher before it is given a fresh snapshot instead.
MAX_BACKLOG = 64
# How long a watcher's stream waits for news before it checks that its call is still active.
POLL_SECONDS = 0.5


class ChangeSource(Protocol):
    """Where a feed hears board changes (adapters.board_channel.BoardListener)."""

    def wait(self, timeout: float, stop: threading.Event) -> list[BoardChange]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Group:
    """A route group as sent, and the fingerprint a watcher compares."""

    message: dispatch_pb2.RouteGroup
    fingerprint: bytes

    @classmethod
    def of(cls, message: dispatch_pb2.RouteGroup) -> Group:
        digest = hashlib.blake2b(message.SerializeToString(deterministic=True), digest_size=16).digest()
        return cls(message, digest)


@dataclass(frozen=True)
class Reread:
    """Some routes of one board read again: a group per route, None for a route without one."""

    number: int
    groups: dict[str, Group | None]


class BoardWatch:
    """One watcher of one board: its queue of re-reads, and what it was last sent."""

    def __init__(self, hub_id: str, pickup_date: date, backlog: int) -> None:
        self.hub_id = hub_id
        self.pickup_date = pickup_date
        self._rereads: queue.Queue[Reread] = queue.Queue(maxsize=backlog)
        self._stale = threading.Event()
        self._stale.set()  # nothing sent yet: the first message is the whole board
        self._sent = SentBoard()
        self._snapshot_number = -1

    def offer(self, reread: Reread) -> None:
        """Called by the feed's thread; never blocks."""
        try:
            self._rereads.put_nowait(reread)
        except queue.Full:
            self.resync()

    def resync(self) -> None:
        """Whatever is queued is replaced by a fresh whole board."""
        self._stale.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._rereads.get_nowait()

    def responses(
        self, feed: BoardFeed, is_active: Callable[[], bool]
    ) -> Iterator[dispatch_pb2.WatchOpenPickupsByRouteResponse]:
        while is_active():
            if self._stale.is_set():
                self._stale.clear()
                yield self._snapshot(feed)
                continue
            try:
                reread = self._rereads.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if reread.number < self._snapshot_number:
                continue  # read before the snapshot sent: nothing newer in it
            changed = self._changes(reread)
            if changed:
                yield dispatch_pb2.WatchOpenPickupsByRouteResponse(groups=changed, snapshot=False)

    def _snapshot(self, feed: BoardFeed) -> dispatch_pb2.WatchOpenPickupsByRouteResponse:
        self._snapshot_number, groups = feed.read(self.hub_id, self.pickup_date, None)
        self._sent.reset({route_id: group.fingerprint for route_id, group in groups.items() if group})
        return dispatch_pb2.WatchOpenPickupsByRouteResponse(
            groups=[group.message for group in groups.values() if group], snapshot=True
        )

    def _changes(self, reread: Reread) -> list[dispatch_pb2.RouteGroup]:
        fingerprints = {route_id: group.fingerprint if group else None for route_id, group in reread.groups.items()}
        updated, left = self._sent.changed(fingerprints)
        messages = [group.message for route_id in updated if (group := reread.groups[route_id])]
        # Left the board: nothing open and no open dispatch.
        messages.extend(dispatch_pb2.RouteGroup(route_id=route_id) for route_id in left)
        return sorted(messages, key=lambda message: message.route_id)


class BoardFeed:
    """The process's watchers, and the worker that keeps them up to date (see the module doc)."""

    def __init__(
        self,
        uow_factory: Callable[[], AbstractDispatchUnitOfWork],
        listen: Callable[[], ChangeSource] | None = None,
        *,
        backlog: int = MAX_BACKLOG,
        idle_check_seconds: float = 5.0,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._uow = uow_factory
        self._listen = listen
        self._backlog = backlog
        self._idle_check_seconds = idle_check_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._watches: list[BoardWatch] = []
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self.listening = threading.Event()

    # -- watchers (gRPC threads) -----------------------------------------------------------------

    def watch(
        self, hub_id: str, pickup_date: date, is_active: Callable[[], bool]
    ) -> Iterator[dispatch_pb2.WatchOpenPickupsByRouteResponse]:
        """The stream of one watcher, until `is_active()` is false. Subscribed before its first
        snapshot is read, so no change committed after that read is missed."""
        with self.subscribe(hub_id, pickup_date) as watch:
            yield from watch.responses(self, is_active)

    @contextlib.contextmanager
    def subscribe(self, hub_id: str, pickup_date: date) -> Iterator[BoardWatch]:
        watch = BoardWatch(hub_id, pickup_date, self._backlog)
        with self._lock:
            self._watches.append(watch)
        try:
            yield watch
        finally:
            with self._lock:
                self._watches.remove(watch)

    def read(self, hub_id: str, pickup_date: date, route_ids: Collection[str] | None) -> tuple[int, dict[str, Group]]:
        """(the read's number, the groups read by route); the whole board when `route_ids` is None."""
        number = next(self._numbers)
        views = handlers.board_groups(self._uow(), hub_id, pickup_date, route_ids)
        return number, {view.route_id: Group.of(route_group_to_proto(view)) for view in views}

    # -- the feed (the worker's thread) ----------------------------------------------------------

    def deliver(self, changes: Collection[BoardChange]) -> None:
        """Re-read the watched groups `changes` name, once per board, and offer them to the
        board's watchers. A board whose re-read fails gets fresh snapshots instead."""
        with self._lock:
            watches = list(self._watches)
        boards: dict[tuple[str, date], list[BoardWatch]] = {}
        for watch in watches:
            boards.setdefault((watch.hub_id, watch.pickup_date), []).append(watch)
        for (hub_id, pickup_date), watchers in boards.items():
            routes = routes_changed(changes, hub_id, pickup_date)
            if not routes:
                continue
            try:
                number, groups = self.read(hub_id, pickup_date, routes)
            except Exception:  # the watchers re-read for themselves; the feed goes on
                log.warning("re-reading a board failed; its watchers get a snapshot", exc_info=True)
                for watch in watchers:
                    watch.resync()
                continue
            reread = Reread(number, {route_id: groups.get(route_id) for route_id in routes})
            for watch in watchers:
                watch.offer(reread)

    def resync_all(self) -> None:
        with self._lock:
            watches = list(self._watches)
        for watch in watches:
            watch.resync()

    def run(self, stop: threading.Event) -> None:
        """Listen and deliver until `stop` is set; a lost connection is made again (with capped
        backoff) and every watcher then gets a fresh snapshot."""
        if self._listen is None:
            raise RuntimeError("a BoardFeed without a change source cannot run")
        failures = 0
        while not stop.is_set():
            try:
                self._follow(self._listen, stop)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the feed outlives any failure; logged and retried
                failures += 1
                delay = min(self._max_backoff_seconds, 0.1 * 2**failures) * random.uniform(0.75, 1.0)
                log.warning(
                    "board listener failed; retrying", extra={"error": repr(exc), "retry_in_s": round(delay, 2)}
                )
                stop.wait(delay)

    def _follow(self, listen: Callable[[], ChangeSource], stop: threading.Event) -> None:
        source = listen()
        try:
            # Changes committed before the LISTEN took effect were not heard.
            self.resync_all()
            self.listening.set()
            while not stop.is_set():
                changes = source.wait(self._idle_check_seconds, stop)
                if changes:
                    self.deliver(changes)
        finally:
            self.listening.clear()
            source.close()

    def worker(self) -> Worker:
        return Worker(name="board-feed", run=self.run)
