"""The board (a hub's open pickups of one day) kept in memory per process, across replicas: what
WatchOpenPickupsByRoute streams and ListOpenPickupsByRoute (without a limit) answers.

Every transaction that changes a route's group on a board announces it at commit (the unit of
work NOTIFYs the routes it locked, adapters.board_channel). Each process holds one LISTEN
connection (`BoardFeed.run`, a worker). A board someone watches or listed lately is kept in memory
(`domain.board.BoardModel`: each route's group as encoded protobuf bytes): loaded once from the
database, then for each batch of announcements the feed re-reads just the changed groups of each
board it keeps, applies them, and offers the groups that really changed to the board's watchers.
A whole board is then the kept bytes joined, with no query and no protobuf building.

Current after a commit: a reader (a snapshot, a listing) first sends a mark on the channel and
waits until the feed heard it. PostgreSQL delivers notifications in commit order, so every change
committed before the read began was heard and applied before the mark: a client that committed a
change, on any replica, and then reads sees it. When the feed does not listen, or the mark is not
heard within SYNC_SECONDS, the reader loads the board from the database instead.

Missed changes: when the LISTEN connection had to be (re)made (announcements meanwhile were not
heard) every kept board is marked not loaded and its watchers get a fresh snapshot; the same for a
board whose re-read failed. Reads are numbered before they start and each route keeps the group
of the latest-started read, so a slow read never replaces a newer one (`BoardModel`).

A slow watcher: each watcher queues at most `backlog` changes; when one more does not fit, its
queue is dropped and the next thing it is sent is a fresh whole board (snapshot true), never a
silent gap. A watcher's snapshot is taken under the board's lock together with emptying its queue,
so what it is sent afterwards is exactly what changed after its snapshot.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Protocol, cast

import grpc

from dispatch_svc.adapters.messages import route_group_to_proto
from dispatch_svc.domain.board import BoardChange, BoardModel, Heard, routes_changed
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from firstmile.dispatch.v1 import dispatch_pb2
from mesh.runtime import Worker

log = logging.getLogger(__name__)

# Changes queued per watcher before it is given a fresh snapshot instead.
MAX_BACKLOG = 64
# How long a watcher's stream waits for news before it checks that its call is still active.
POLL_SECONDS = 0.5
# How long a reader waits for its mark before it reads the board from the database instead.
SYNC_SECONDS = 1.0
# A board nobody watches stays in memory this long after it was last listed...
KEEP_SECONDS = 60.0
# ...and at most this many such boards (the least recently listed go first)...
MAX_UNWATCHED_BOARDS = 16
# ...and none with more pickups than this (~10 MB, and its changed groups would be re-read on every
# change for a minute): a board that large is listed from the database unless someone watches it.
MAX_KEPT_PICKUPS = 100_000


class ChangeSource(Protocol):
    """Where a feed hears board changes and marks (adapters.board_channel.BoardListener)."""

    def wait(self, timeout: float, stop: threading.Event) -> Heard: ...

    def mark(self, token: str) -> None: ...

    def close(self) -> None: ...


# -- the wire: responses made of groups already encoded --------------------------------------------


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited_tag(field_number: int) -> bytes:
    return _varint(field_number << 3 | 2)


_WATCH_GROUPS = _length_delimited_tag(dispatch_pb2.WatchOpenPickupsByRouteResponse.GROUPS_FIELD_NUMBER)
_LIST_GROUPS = _length_delimited_tag(dispatch_pb2.ListOpenPickupsByRouteResponse.GROUPS_FIELD_NUMBER)
_SNAPSHOT_TRUE = dispatch_pb2.WatchOpenPickupsByRouteResponse(snapshot=True).SerializeToString()


def _repeated(tag: bytes, groups: Iterable[bytes]) -> bytes:
    return b"".join(part for group in groups for part in (tag, _varint(len(group)), group))


def watch_response(groups: Iterable[bytes], *, snapshot: bool) -> bytes:
    """An encoded WatchOpenPickupsByRouteResponse of encoded RouteGroups (protobuf's wire format:
    a message is its fields' encodings one after the other, in any order)."""
    return _repeated(_WATCH_GROUPS, groups) + (_SNAPSHOT_TRUE if snapshot else b"")


def list_response(groups: Iterable[bytes]) -> bytes:
    """An encoded ListOpenPickupsByRouteResponse of encoded RouteGroups."""
    return _repeated(_LIST_GROUPS, groups)


def _left(route_id: str) -> bytes:
    return dispatch_pb2.RouteGroup(route_id=route_id).SerializeToString()


_PICKUPS = _length_delimited_tag(dispatch_pb2.RouteGroup.PICKUPS_FIELD_NUMBER)


@dataclass(frozen=True)
class EncodedGroup:
    """A RouteGroup encoded with its pickups last, and where each pickup's field ends, so the
    group with only its first N pickups (a listing's pickups_per_route_limit) is a slice."""

    data: bytes
    pickup_ends: tuple[int, ...]

    @classmethod
    def of(cls, message: dispatch_pb2.RouteGroup) -> EncodedGroup:
        pickups = [pickup.SerializeToString() for pickup in message.pickups]
        message.ClearField("pickups")
        parts = [message.SerializeToString()]
        ends, end = [], len(parts[0])
        for pickup in pickups:
            parts.append(_PICKUPS + _varint(len(pickup)) + pickup)
            end += len(parts[-1])
            ends.append(end)
        return cls(b"".join(parts), tuple(ends))

    def first(self, pickups: int) -> bytes:
        """The group with its first `pickups` pickups (every one when 0); its totals stay whole."""
        if pickups <= 0 or pickups >= len(self.pickup_ends):
            return self.data
        return self.data[: self.pickup_ends[pickups - 1]]


Changed = list[tuple[str, EncodedGroup | None]]


def sends_encoded(server: grpc.Server, methods: Collection[str]) -> grpc.Server:
    """`server` for a generated `add_..._to_server`, with `methods` (full names) sending a response
    given as bytes as it is: the board's responses are encoded once, not parsed and encoded again."""
    return cast(grpc.Server, _EncodedResponses(server, frozenset(methods)))


def _passing_bytes(serializer: Callable[[object], bytes] | None) -> Callable[[object], bytes]:
    def serialize(response: object) -> bytes:
        if isinstance(response, bytes):
            return response
        assert serializer is not None
        return serializer(response)

    return serialize


def _encoded(handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
    return handler._replace(response_serializer=_passing_bytes(handler.response_serializer))  # type: ignore[attr-defined]


class _EncodedGeneric(grpc.GenericRpcHandler):
    def __init__(self, inner: grpc.GenericRpcHandler, methods: frozenset[str]) -> None:
        self._inner, self._methods = inner, methods

    def service(self, handler_call_details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        handler = self._inner.service(handler_call_details)
        if handler is not None and handler_call_details.method in self._methods:
            return _encoded(handler)
        return handler


class _EncodedResponses:
    def __init__(self, server: grpc.Server, methods: frozenset[str]) -> None:
        self._server, self._methods = server, methods

    def add_generic_rpc_handlers(self, generic_handlers: Iterable[grpc.GenericRpcHandler]) -> None:
        self._server.add_generic_rpc_handlers(tuple(_EncodedGeneric(h, self._methods) for h in generic_handlers))

    def add_registered_method_handlers(self, service_name: str, method_handlers: dict) -> None:
        self._server.add_registered_method_handlers(
            service_name,
            {
                name: _encoded(handler) if f"/{service_name}/{name}" in self._methods else handler
                for name, handler in method_handlers.items()
            },
        )


# -- watchers and kept boards ----------------------------------------------------------------------


class BoardWatch:
    """One watcher of one board: its queue of changes, and whether it needs a whole board next."""

    def __init__(self, board: _Board, backlog: int) -> None:
        self.board = board
        self._changes: queue.Queue[Changed | None] = queue.Queue(maxsize=backlog)
        self._stale = threading.Event()
        self._stale.set()  # nothing sent yet: the first message is the whole board
        self._ended = threading.Event()

    def offer(self, changed: Changed) -> None:
        """Called with the board's lock held; never blocks."""
        try:
            self._changes.put_nowait(changed)
        except queue.Full:
            self.resync()

    def wake(self) -> None:
        """The call ended: the stream stops now rather than at its next poll, so a cancelled call
        gives its server thread back at once."""
        self._ended.set()
        with contextlib.suppress(queue.Full):  # a full queue wakes the stream anyway
            self._changes.put_nowait(None)

    def resync(self) -> None:
        """Whatever is queued is replaced by a fresh whole board."""
        self._stale.set()
        self._drop_queued()

    def _drop_queued(self) -> None:
        with contextlib.suppress(queue.Empty):
            while True:
                self._changes.get_nowait()

    def responses(self, feed: BoardFeed, is_active: Callable[[], bool]) -> Iterator[bytes]:
        """Encoded WatchOpenPickupsByRouteResponses."""
        while is_active() and not self._ended.is_set():
            if self._stale.is_set():
                yield watch_response(feed.snapshot(self), snapshot=True)
                continue
            try:
                changed = self._changes.get(timeout=POLL_SECONDS)
            except queue.Empty:
                continue
            if changed is None:
                continue  # woken: the call ended
            yield watch_response(
                (group.data if group else _left(route_id) for route_id, group in changed), snapshot=False
            )

    def took_snapshot(self) -> None:
        """Called with the board's lock held, as the snapshot is taken."""
        self._stale.clear()
        self._drop_queued()


class _Board:
    def __init__(self, hub_id: str, pickup_date: date) -> None:
        self.hub_id = hub_id
        self.pickup_date = pickup_date
        self.model: BoardModel[EncodedGroup] = BoardModel()
        self.lock = threading.Lock()  # the model and the watchers' queues change together
        self.loading = threading.Lock()  # one load at a time
        self.watches: list[BoardWatch] = []
        self.last_read = time.monotonic()

    def offer(self, changed: Changed) -> None:
        if changed:
            for watch in self.watches:
                watch.offer(changed)

    def invalidate(self) -> None:
        with self.lock:
            self.model.invalidate()
            for watch in self.watches:
                watch.resync()


class _Mark:
    def __init__(self) -> None:
        self.heard = threading.Event()
        self.lost = False


class BoardFeed:
    """The process's kept boards and watchers, and the worker that keeps them current (see the
    module doc)."""

    def __init__(
        self,
        uow_factory: Callable[[], AbstractDispatchUnitOfWork],
        listen: Callable[[], ChangeSource] | None = None,
        *,
        backlog: int = MAX_BACKLOG,
        idle_check_seconds: float = 5.0,
        max_backoff_seconds: float = 10.0,
        sync_seconds: float = SYNC_SECONDS,
        keep_seconds: float = KEEP_SECONDS,
    ) -> None:
        self._uow = uow_factory
        self._listen = listen
        self._backlog = backlog
        self._idle_check_seconds = idle_check_seconds
        self._max_backoff_seconds = max_backoff_seconds
        self._sync_seconds = sync_seconds
        self._keep_seconds = keep_seconds
        self._boards: dict[tuple[str, date], _Board] = {}
        self._lock = threading.Lock()
        self._numbers = itertools.count()
        self._source: ChangeSource | None = None
        # Bumped whenever what was heard before can no longer be trusted (a new LISTEN connection).
        self._epoch = 0
        self._mark_prefix = uuid.uuid4().hex[:12]
        self._mark_numbers = itertools.count()
        self._marks: dict[str, _Mark] = {}
        self.listening = threading.Event()

    # -- readers (gRPC threads) ------------------------------------------------------------------

    def watch(
        self,
        hub_id: str,
        pickup_date: date,
        is_active: Callable[[], bool],
        on_end: Callable[[Callable[[], None]], object] | None = None,
    ) -> Iterator[bytes]:
        """The stream of one watcher (encoded responses), until `is_active()` is false; `on_end`
        (the context's add_callback) registers what to call when the call ends."""
        with self.subscribe(hub_id, pickup_date) as watch:
            if on_end is not None:
                on_end(watch.wake)
            yield from watch.responses(self, is_active)

    @contextlib.contextmanager
    def subscribe(self, hub_id: str, pickup_date: date) -> Iterator[BoardWatch]:
        with self._lock:
            board = self._board(hub_id, pickup_date)
            watch = BoardWatch(board, self._backlog)
            with board.lock:
                board.watches.append(watch)
        try:
            yield watch
        finally:
            with self._lock, board.lock:
                board.watches.remove(watch)
                board.last_read = time.monotonic()

    def snapshot(self, watch: BoardWatch) -> list[bytes]:
        """The whole board for `watch`, current as of this call; from then on the watch is offered
        what changes after it."""
        board = watch.board
        self._make_current(board)
        with board.lock:
            watch.took_snapshot()
            return [group.data for group in board.model.groups()]

    def listing(self, hub_id: str, pickup_date: date, route_id: str = "", per_route_limit: int = 0) -> bytes | None:
        """ListOpenPickupsByRoute (every group, or `route_id`'s; each with its first
        `per_route_limit` pickups, all when 0), encoded, current as of this call. None when this
        process does not listen, or for a limited listing of a board it does not keep already (a
        large hub's board is listed with a limit: loading all of it would cost more than the
        limited query): the caller reads the database."""
        if not self.listening.is_set():
            return None
        with self._lock:
            if per_route_limit and (hub_id, pickup_date) not in self._boards:
                return None
            board = self._board(hub_id, pickup_date)
        self._make_current(board)
        with board.lock:
            if route_id:
                group = board.model.group(route_id)
                groups = [group] if group is not None else []
            else:
                groups = board.model.groups()
            return list_response(group.first(per_route_limit) for group in groups)

    def _board(self, hub_id: str, pickup_date: date) -> _Board:
        """With self._lock held."""
        board = self._boards.get((hub_id, pickup_date))
        if board is None:
            board = self._boards[(hub_id, pickup_date)] = _Board(hub_id, pickup_date)
        board.last_read = time.monotonic()
        return board

    def _make_current(self, board: _Board) -> None:
        """Afterwards the board's model holds every change committed before this call."""
        if board.model.loaded and self._sync() and board.model.loaded:
            return
        with board.loading:
            # Loaded meanwhile by another reader: current once this reader's own mark is heard.
            if board.model.loaded and self._sync() and board.model.loaded:
                return
            epoch = self._epoch
            number, groups = self.read(board.hub_id, board.pickup_date, None)
            with board.lock:
                board.offer(board.model.load(number, groups))
                if epoch != self._epoch or not self.listening.is_set():
                    # Read before a LISTEN began: current for this reader, not to be kept up to date.
                    board.model.invalidate()
        if sum(len(group.pickup_ends) for group in groups.values()) > MAX_KEPT_PICKUPS:
            with self._lock:
                if not board.watches and self._boards.get((board.hub_id, board.pickup_date)) is board:
                    del self._boards[(board.hub_id, board.pickup_date)]

    def _sync(self) -> bool:
        """True once every change committed before this call was heard and applied."""
        source = self._source
        if source is None or not self.listening.is_set():
            return False
        token = f"{self._mark_prefix}.{next(self._mark_numbers)}"
        mark = self._marks[token] = _Mark()
        try:
            source.mark(token)
            return mark.heard.wait(self._sync_seconds) and not mark.lost
        except Exception:  # the reader falls back to the database
            log.warning("sending a board mark failed; reading the board instead", exc_info=True)
            return False
        finally:
            self._marks.pop(token, None)

    def read(
        self, hub_id: str, pickup_date: date, route_ids: Collection[str] | None
    ) -> tuple[int, dict[str, EncodedGroup]]:
        """(the read's number, each route's group encoded); the whole board when `route_ids` is None."""
        number = next(self._numbers)
        views = handlers.board_groups(self._uow(), hub_id, pickup_date, route_ids)
        return number, {view.route_id: EncodedGroup.of(route_group_to_proto(view)) for view in views}

    # -- the feed (the worker's thread) ----------------------------------------------------------

    def deliver(self, changes: Collection[BoardChange]) -> None:
        """Re-read the groups `changes` name of each kept board, apply them and offer what changed
        to the board's watchers. A board whose re-read fails is loaded again by its next reader."""
        with self._lock:
            boards = list(self._boards.values())
        for board in boards:
            routes = routes_changed(changes, board.hub_id, board.pickup_date)
            if not routes:
                continue
            try:
                number, groups = self.read(board.hub_id, board.pickup_date, routes)
            except Exception:  # the board is read again by its readers; the feed goes on
                log.warning("re-reading a board failed; its watchers get a snapshot", exc_info=True)
                board.invalidate()
                continue
            with board.lock:
                board.offer(board.model.apply(number, {route_id: groups.get(route_id) for route_id in routes}))

    def resync_all(self) -> None:
        """Nothing heard so far can be trusted: every kept board is loaded again by its next reader."""
        with self._lock:
            self._epoch += 1
            boards = list(self._boards.values())
        for board in boards:
            board.invalidate()
        self._lose_marks()

    def _lose_marks(self) -> None:
        """Marks sent on a connection that is gone are never heard: their readers load instead."""
        for mark in list(self._marks.values()):
            mark.lost = True
            mark.heard.set()

    def _forget_idle(self) -> None:
        """Boards nobody watches, listed more than keep_seconds ago or beyond the most recent few."""
        now = time.monotonic()
        with self._lock:
            unwatched = sorted(
                (board for board in self._boards.values() if not board.watches),
                key=lambda board: board.last_read,
                reverse=True,
            )
            for rank, board in enumerate(unwatched):
                if rank >= MAX_UNWATCHED_BOARDS or now - board.last_read > self._keep_seconds:
                    del self._boards[(board.hub_id, board.pickup_date)]

    def run(self, stop: threading.Event) -> None:
        """Listen and deliver until `stop` is set; a lost connection is made again (with capped
        backoff) and every kept board is then loaded again."""
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
            self._source = source
            self.listening.set()
            forgot = time.monotonic()
            while not stop.is_set():
                heard = source.wait(self._idle_check_seconds, stop)
                if heard.changes:
                    self.deliver(heard.changes)
                for token in heard.marks:  # after the changes committed before them
                    if mark := self._marks.get(token):
                        mark.heard.set()
                if time.monotonic() - forgot >= self._idle_check_seconds:
                    self._forget_idle()
                    forgot = time.monotonic()
        finally:
            self.listening.clear()
            self._source = None
            self._lose_marks()
            source.close()

    def worker(self) -> Worker:
        return Worker(name="board-feed", run=self.run)
