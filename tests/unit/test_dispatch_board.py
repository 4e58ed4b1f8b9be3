"""The board of dispatch_svc without a database: the route read model kept from
routing.map-changes.v1 (route names on every group), the announcement every board-changing
transaction makes, and the live board of WatchOpenPickupsByRoute (a snapshot, then only the groups
that changed; a fresh snapshot for a watcher that fell behind). NOTIFY and LISTEN between two
processes, and the SQL of the read model, are in tests/integration/test_dispatch_board.py."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from copy import copy
from datetime import date, timedelta
from functools import partial

import pytest

from dispatch_svc.adapters import board_channel
from dispatch_svc.domain.board import BoardChange, BoardModel, Heard
from dispatch_svc.domain.model import PickupMove, PickupStatus, Reassignment, Rider, Vehicle, VehicleType
from dispatch_svc.domain.routes import RouteMapChange, RouteSummary
from dispatch_svc.entrypoints import board_watch
from dispatch_svc.entrypoints.board_watch import BoardFeed, EncodedGroup, list_response, watch_response
from dispatch_svc.entrypoints.consumers import decode_map_change
from dispatch_svc.entrypoints.grpc_api import ACCESS, DispatchServicer
from dispatch_svc.service_layer import handlers
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.events.v1 import events_pb2
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.topics import ROUTING_MAP_CHANGES
from tests.support.consumed_messages import consumed
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.servicer_calls import NoDeadline, ServedAs, calling

HUB = "hub-1"
TODAY = date(2026, 5, 11)
LEAD = Principal("lead", Role.TEAM_LEAD, hubs=frozenset({HUB}))
OTHER_LEAD = Principal("other", Role.TEAM_LEAD, hubs=frozenset({"hub-2"}))
SERVICE = dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"]

routed = partial(pur_snapshot, hub=HUB, day=TODAY)


@pytest.fixture
def store() -> DispatchStore:
    return DispatchStore()


@pytest.fixture
def uow(store):
    return lambda: FakeDispatchUnitOfWork(store)


@pytest.fixture
def attendance(uow) -> FakeAttendance:
    """Riders asha and bala (present), a bike (10 packages / 20 kg) and a van (100 / 500)."""
    present = FakeAttendance()
    for rider in ("asha", "bala"):
        handlers.upsert_rider(uow(), Rider(rider, HUB))
    handlers.upsert_vehicle(uow(), Vehicle("bike", HUB, VehicleType.BIKE, 10, 20.0))
    handlers.upsert_vehicle(uow(), Vehicle("van", HUB, VehicleType.VAN, 100, 500.0))
    present.present[HUB] = {"asha", "bala"}
    return present


@pytest.fixture(autouse=True)
def quick_polls(monkeypatch):
    """A watcher's stream checks its call every 10 ms instead of 500 ms."""
    monkeypatch.setattr(board_watch, "POLL_SECONDS", 0.01)


def map_change(version: int, *named: tuple[str, str], deleted: tuple[str, ...] = (), part=1, parts=1):
    routes = tuple(RouteSummary(route_id, name) for route_id, name in named)
    return RouteMapChange(HUB, version, routes, deleted, part, parts)


def stored_route(store: DispatchStore, route_id: str) -> tuple[str, int, bool]:
    summary, version, deleted = store.routes[(HUB, route_id)]
    return summary.name, version, deleted


# -- the route read model -------------------------------------------------------------------------


def test_route_names_come_from_every_part_of_a_map_change(store, uow):
    handlers.apply_route_map_changes(
        uow(),
        [
            map_change(4, ("R1", "Koramangala 1"), ("R2", "Koramangala 2"), part=1, parts=2),
            map_change(4, ("R3", "Ejipura"), deleted=("R0",), part=2, parts=2),
        ],
    )
    with uow() as work:
        assert work.routes.names(HUB) == {"R0": "", "R1": "Koramangala 1", "R2": "Koramangala 2", "R3": "Ejipura"}
        assert work.routes.names(HUB, ["R2", "R9"]) == {"R2": "Koramangala 2"}
        assert work.routes.names("hub-2") == {}
    assert stored_route(store, "R0") == ("", 4, True)


def test_an_older_summary_never_replaces_a_newer_one_and_a_deleted_route_stays_deleted(store, uow):
    handlers.apply_route_map_changes(uow(), [map_change(5, ("R1", "new name")), map_change(6, deleted=("R2",))])
    # Redelivered and replayed news, older than what is stored:
    handlers.apply_route_map_changes(uow(), [map_change(3, ("R1", "old name"), ("R2", "revived"))])
    assert stored_route(store, "R1") == ("new name", 5, False)
    assert stored_route(store, "R2") == ("", 6, True)
    # A later version may create the deleted id again.
    handlers.apply_route_map_changes(uow(), [map_change(7, ("R2", "back again"))])
    assert stored_route(store, "R2") == ("back again", 7, False)


def test_a_map_change_announces_its_routes_on_every_days_board(store, uow):
    handlers.apply_route_map_changes(uow(), [map_change(2, ("R1", "a"), deleted=("R2",))])
    assert store.announced[-1] == {BoardChange(HUB, "R1", None), BoardChange(HUB, "R2", None)}


def event(**fields) -> events_pb2.RouteMapChanged:
    base: dict = {"hub_id": HUB, "map_version": 3, "part": 1, "parts": 1}
    return events_pb2.RouteMapChanged(**(base | fields))


def summary(route_id: str = "R1", name: str = "Route one", **fields) -> events_pb2.RouteSummary:
    return events_pb2.RouteSummary(id=route_id, name=name, **fields)


def test_a_route_map_changed_part_becomes_a_route_map_change():
    got = decode_map_change(
        consumed(
            ROUTING_MAP_CHANGES,
            event(
                routes=[summary(default_rider_id="asha", active=True, priority=2), summary("R2", "")],
                deleted_route_ids=["R7"],
                part=2,
                parts=3,
            ),
        )
    )
    assert got == RouteMapChange(
        HUB, 3, (RouteSummary("R1", "Route one", "asha", True, 2), RouteSummary("R2", "", "", False, 0)), ("R7",), 2, 3
    )


def test_an_event_from_before_parts_is_one_part_of_one():
    got = decode_map_change(consumed(ROUTING_MAP_CHANGES, event(part=0, parts=0, changed_route_ids=["R1"])))
    assert (got.part, got.parts, got.routes, got.deleted_route_ids) == (1, 1, (), ())


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"hub_id": ""}, "RouteMapChanged.hub_id is required"),
        ({"hub_id": "a b"}, "RouteMapChanged.hub_id must be 1-64"),
        ({"map_version": 0}, "RouteMapChanged.map_version must be >= 1, got 0"),
        ({"part": 3, "parts": 2}, "RouteMapChanged.part must be between 1 and parts (2), got 3"),
        ({"part": -1, "parts": 2}, "RouteMapChanged.part must be between 1 and parts (2), got -1"),
        ({"routes": [summary("R 1")]}, "RouteMapChanged.routes[0].id must be 1-64"),
        ({"routes": [summary(name="x" * 201)]}, "RouteMapChanged.routes[0].name must be at most 200 characters"),
        ({"routes": [summary(name="a\x00b")]}, "RouteMapChanged.routes[0].name must not contain control characters"),
        ({"routes": [summary(default_rider_id="r/1")]}, "RouteMapChanged.routes[0].default_rider_id must be 1-64"),
        ({"deleted_route_ids": ["R1", ""]}, "RouteMapChanged.deleted_route_ids[1] is required"),
        ({"routes": [summary(), summary()]}, "RouteMapChanged names routes more than once: R1"),
        ({"routes": [summary("R2")], "deleted_route_ids": ["R2"]}, "names routes more than once: R2"),
    ],
)
def test_an_invalid_route_map_change_is_invalid_argument(fields, problem):
    with pytest.raises(InvalidArgument) as caught:
        decode_map_change(consumed(ROUTING_MAP_CHANGES, event(**fields)))
    assert problem in str(caught.value)


# -- route names and announcements ------------------------------------------------------------------


def test_every_route_group_carries_the_name_of_its_route(uow, attendance):
    handlers.apply_route_map_changes(uow(), [map_change(1, ("R1", "Koramangala 1"), ("R2", "Ejipura"))])
    handlers.apply_pur_changes(uow(), [routed("p1"), routed("p2", route="R3")])
    handlers.create_dispatch(uow(), attendance, new_dispatch("d1", hub=HUB, day=TODAY, route="R2"))
    groups = handlers.list_open_pickups(uow(), HUB, TODAY)
    assert [(g.route_id, g.route_name, g.pur_count) for g in groups] == [
        ("R1", "Koramangala 1", 1),
        ("R2", "Ejipura", 0),  # only an OPEN dispatch: still on the board, named
        ("R3", "", 1),  # routing's summary not arrived yet
    ]
    [one] = handlers.list_open_pickups(uow(), HUB, TODAY, route_id="R1")
    assert one.route_name == "Koramangala 1"


def test_every_transaction_that_changes_a_board_announces_its_groups(store, uow, attendance):
    here, tomorrow = BoardChange(HUB, "R1", TODAY), BoardChange(HUB, "R1", TODAY + timedelta(days=1))

    def announced(step) -> set[BoardChange]:
        before = len(store.announced)
        step()
        return set().union(*store.announced[before:])

    assert announced(lambda: handlers.apply_pur_changes(uow(), [routed("p1"), routed("p2")])) == {here}
    created = handlers.create_dispatch(uow(), attendance, new_dispatch("d1", hub=HUB, day=TODAY, pur_ids=("p1",)))
    assert store.announced[-1] == {here}
    dispatch_id = created.dispatch.id
    assert announced(lambda: handlers.add_pickups(uow(), dispatch_id, ["p2"])) == {here}
    assert announced(lambda: handlers.remove_pickups(uow(), dispatch_id, ["p2"], "later")) == {here}
    assert announced(lambda: handlers.start_dispatch(uow(), dispatch_id)) == {here}
    assert announced(lambda: handlers.complete_dispatch(uow(), dispatch_id)) == {here}
    # Moving a PUR to another day changes both days' boards.
    moved = routed("p2", version=5, day=TODAY + timedelta(days=1))
    assert announced(lambda: handlers.apply_pur_changes(uow(), [moved])) == {here, tomorrow}
    # Reads and repeats that change nothing commit nothing, so announce nothing.
    assert announced(lambda: handlers.list_open_pickups(uow(), HUB, TODAY)) == set()
    assert announced(lambda: handlers.complete_dispatch(uow(), dispatch_id)) == set()
    other = handlers.create_dispatch(uow(), attendance, new_dispatch("d2", hub=HUB, day=TODAY, route="R2"))
    assert announced(lambda: handlers.cancel_dispatch(uow(), other.dispatch.id, "rain")) == {
        BoardChange(HUB, "R2", TODAY)
    }


def test_reassignments_and_moves_announce_their_route_too(store, uow, attendance):
    handlers.apply_pur_changes(uow(), [routed("p1"), routed("p2")])
    first = handlers.create_dispatch(
        uow(), attendance, new_dispatch("d1", hub=HUB, day=TODAY, rider_id="asha", vehicle_id="bike", pur_ids=("p1",))
    ).dispatch
    second = handlers.create_dispatch(
        uow(), attendance, new_dispatch("d2", hub=HUB, day=TODAY, rider_id="bala", vehicle_id="van", pur_ids=("p2",))
    ).dispatch
    here = {BoardChange(HUB, "R1", TODAY)}
    handlers.move_pickups(uow(), PickupMove(first.id, second.id, ("p1",), "bala passes by"))
    assert store.announced[-1] == here
    handlers.upsert_rider(uow(), Rider("chitra", HUB))
    attendance.present[HUB].add("chitra")
    handlers.reassign_dispatch(uow(), attendance, Reassignment(second.id, "chitra", "", "bala is ill"))
    assert store.announced[-1] == here


# -- what a watcher is sent ---------------------------------------------------------------------------


def test_the_kept_board_tells_which_groups_changed_and_which_left_once():
    board = BoardModel()
    assert board.load(1, {"R1": b"a", "R2": b"b"}) == [("R1", b"a"), ("R2", b"b")] and board.loaded
    assert board.apply(2, {"R1": b"a", "R2": b"b2", "R3": b"c"}) == [("R2", b"b2"), ("R3", b"c")]
    assert board.apply(3, {"R1": None, "R4": None}) == [("R1", None)]
    assert board.apply(4, {"R1": None}) == []
    assert board.groups() == [b"b2", b"c"] and board.group("R2") == b"b2" and board.group("R1") is None


def test_a_read_that_started_before_another_never_replaces_what_the_later_one_read():
    board = BoardModel()
    assert board.apply(5, {"R1": b"new"}) == [("R1", b"new")]  # re-read while the board loads
    assert board.apply(4, {"R1": b"old", "R2": None}) == []  # started earlier, finished later
    # The load started before both re-reads: neither route takes what it read.
    assert board.load(3, {"R1": b"older", "R2": b"b"}) == [] and board.loaded
    assert board.groups() == [b"new"]
    board.invalidate()
    assert not board.loaded
    # Loaded again after a missed change: every route as read then, what left is gone.
    assert board.load(6, {"R2": b"b"}) == [("R1", None), ("R2", b"b")] and board.groups() == [b"b"]


def test_board_changes_travel_as_lines_of_hub_date_route():
    changes = {BoardChange("h1", "R1", TODAY), BoardChange("h1", "R2", None), BoardChange("h2", "R1", TODAY)}
    [payload] = board_channel.encode(changes)
    assert payload.splitlines() == ["h1||R2", "h1|2026-05-11|R1", "h2|2026-05-11|R1"]
    assert set(board_channel.decode(payload)) == changes


def test_a_large_change_is_split_into_payloads_postgres_accepts():
    changes = {BoardChange(f"hub-{i % 3}", f"route-{i:05d}" + "x" * 40, TODAY) for i in range(2000)}
    payloads = board_channel.encode(changes)
    assert len(payloads) > 1 and all(len(p.encode()) <= board_channel.MAX_PAYLOAD_BYTES for p in payloads)
    assert {c for p in payloads for c in board_channel.decode(p)} == changes


def test_notification_lines_that_are_not_board_changes_are_skipped():
    payload = "\n".join(["", "h1|2026-05-11|R1", "garbage", "h 1|2026-05-11|R1", "h1|2026-02-30|R1", "h1|x|y|z"])
    assert board_channel.decode(payload) == [BoardChange("h1", "R1", TODAY)]


# -- the live board --------------------------------------------------------------------------------


class Watcher:
    """One WatchOpenPickupsByRoute stream on a feed, read message by message."""

    def __init__(self, feed: BoardFeed, hub_id: str = HUB, day: date = TODAY) -> None:
        self.polls_left: int | None = None
        self.stream = feed.watch(hub_id, day, self._active)

    def _active(self) -> bool:
        if self.polls_left is None:
            return True
        self.polls_left -= 1
        return self.polls_left >= 0

    def next(self) -> dispatch_pb2.WatchOpenPickupsByRouteResponse:
        return dispatch_pb2.WatchOpenPickupsByRouteResponse.FromString(next(self.stream))

    def nothing_more(self, polls: int = 5) -> bool:
        """True when nothing is sent while the call stays active for `polls` more checks."""
        self.polls_left = polls
        try:
            got = next(self.stream)
        except StopIteration:
            return True
        pytest.fail(f"sent {dispatch_pb2.WatchOpenPickupsByRouteResponse.FromString(got)}")


def summary_of(response) -> list[tuple]:
    return [
        (g.route_id, g.route_name, g.pur_count, g.queued_count, g.open_dispatch.status, len(g.pickups))
        for g in response.groups
    ]


def test_a_watcher_gets_the_board_then_only_the_groups_that_change(store, uow, attendance):
    feed = BoardFeed(uow)
    handlers.apply_route_map_changes(uow(), [map_change(1, ("R1", "Koramangala 1"), ("R2", "Ejipura"))])
    handlers.apply_pur_changes(uow(), [routed("p1"), routed("p2"), routed("p3", route="R2")])
    watcher = Watcher(feed)
    first = watcher.next()
    assert first.snapshot and summary_of(first) == [("R1", "Koramangala 1", 2, 2, 0, 2), ("R2", "Ejipura", 1, 1, 0, 1)]

    handlers.apply_pur_changes(uow(), [routed("p4")])  # arrives
    feed.deliver(store.announced[-1])
    changed = watcher.next()
    assert not changed.snapshot and summary_of(changed) == [("R1", "Koramangala 1", 3, 3, 0, 3)]

    created = handlers.create_dispatch(uow(), attendance, new_dispatch("d2", hub=HUB, day=TODAY, route="R2"))
    feed.deliver(store.announced[-1])
    open_status = dispatch_pb2.DISPATCH_STATUS_OPEN
    assert summary_of(watcher.next()) == [("R2", "Ejipura", 1, 0, open_status, 1)]  # joined a dispatch

    handlers.start_dispatch(uow(), created.dispatch.id)  # the group leaves the board
    feed.deliver(store.announced[-1])
    left = watcher.next()
    assert summary_of(left) == [("R2", "", 0, 0, 0, 0)] and not left.groups[0].HasField("open_dispatch")

    # Announced, re-read, unchanged (a renamed route of another day's board too): nothing is sent.
    feed.deliver([BoardChange(HUB, "R1", TODAY), BoardChange(HUB, "R2", None), BoardChange("hub-2", "R1", TODAY)])
    assert watcher.nothing_more()


def test_a_watcher_sees_a_route_renamed_and_a_pur_moving_between_routes(store, uow):
    feed = BoardFeed(uow)
    handlers.apply_pur_changes(uow(), [routed("p1"), routed("p2", route="R2")])
    watcher = Watcher(feed)
    assert watcher.next().snapshot
    handlers.apply_route_map_changes(uow(), [map_change(2, ("R1", "renamed"))])
    feed.deliver(store.announced[-1])
    assert summary_of(watcher.next()) == [("R1", "renamed", 1, 1, 0, 1)]
    handlers.apply_pur_changes(uow(), [routed("p1", version=3, route="R2")])
    feed.deliver(store.announced[-1])
    assert summary_of(watcher.next()) == [("R1", "", 0, 0, 0, 0), ("R2", "", 2, 2, 0, 2)]


def test_a_slow_watcher_gets_a_fresh_snapshot_instead_of_a_gap(store, uow):
    feed = BoardFeed(uow, backlog=2)
    handlers.apply_pur_changes(uow(), [routed("p1")])
    watcher = Watcher(feed)
    assert watcher.next().snapshot
    for number in range(2, 6):  # four changes, while the watcher reads nothing
        handlers.apply_pur_changes(uow(), [routed(f"p{number}")])
        feed.deliver(store.announced[-1])
    fresh = watcher.next()
    assert fresh.snapshot and summary_of(fresh) == [("R1", "", 5, 5, 0, 5)]
    assert watcher.nothing_more()


def test_watchers_get_a_snapshot_whenever_the_feed_starts_listening(store, uow):
    class Source:
        """Hears one change on the first connection, then loses it; the second hears nothing."""

        def __init__(self, connection: int) -> None:
            self.connection = connection
            self.heard = False

        def wait(self, timeout: float, stop: threading.Event) -> Heard:
            if self.connection == 1 and not self.heard:
                self.heard = True
                return Heard([BoardChange(HUB, "R1", TODAY)], [])
            if self.connection == 1:
                raise ConnectionError("server closed the connection")
            stop.wait(timeout)
            return Heard([], [])

        def mark(self, token: str) -> None:
            pass

        def close(self) -> None:
            pass

    connections: list[Source] = []

    def listen() -> Source:
        connections.append(Source(len(connections) + 1))
        return connections[-1]

    feed = BoardFeed(uow, listen, idle_check_seconds=0.01, max_backoff_seconds=0.01)
    handlers.apply_pur_changes(uow(), [routed("p1")])
    with feed.subscribe(HUB, TODAY) as watch:
        stream = map(dispatch_pb2.WatchOpenPickupsByRouteResponse.FromString, watch.responses(feed, lambda: True))
        assert next(stream).snapshot
        stop = threading.Event()
        worker = threading.Thread(target=feed.run, args=(stop,), daemon=True)
        worker.start()
        try:
            resent = next(stream)  # the first connection's start
            assert resent.snapshot
            assert next(stream).snapshot  # the second's, after the first was lost
            assert len(connections) == 2 and feed.listening.is_set()
        finally:
            stop.set()
            worker.join(timeout=5)
    assert not worker.is_alive() and not feed.listening.is_set()


def test_a_board_that_cannot_be_reread_gets_snapshots_for_its_watchers(uow, monkeypatch):
    feed = BoardFeed(uow)
    handlers.apply_pur_changes(uow(), [routed("p1")])
    watcher = Watcher(feed)
    assert watcher.next().snapshot
    real_read = feed.read

    def failing(hub_id, day, route_ids):
        if route_ids is not None:
            raise ConnectionError("database went away")
        return real_read(hub_id, day, route_ids)

    monkeypatch.setattr(feed, "read", failing)
    handlers.apply_pur_changes(uow(), [routed("p2")])
    feed.deliver([BoardChange(HUB, "R1", TODAY)])
    again = watcher.next()
    assert again.snapshot and summary_of(again) == [("R1", "", 2, 2, 0, 2)]


# -- the servicer ---------------------------------------------------------------------------------


@pytest.fixture
def servicer(uow, attendance) -> DispatchServicer:
    return DispatchServicer(uow, attendance, BoardFeed(uow))


def first_message(servicer: DispatchServicer, request, principal: Principal = LEAD):
    with calling(principal, ACCESS, "WatchOpenPickupsByRoute") as caller:
        stream: Iterator = servicer.WatchOpenPickupsByRoute(request, NoDeadline())
        response = dispatch_pb2.WatchOpenPickupsByRouteResponse.FromString(next(stream))
        assert caller.scope_checked
        return response


@pytest.mark.parametrize(
    ("request_fields", "problem"),
    [
        ({"pickup_date": TODAY.isoformat()}, "hub_id is required"),
        ({"hub_id": "hub 1", "pickup_date": TODAY.isoformat()}, "hub_id must be 1-64"),
        ({"hub_id": HUB}, "pickup_date"),
        ({"hub_id": HUB, "pickup_date": "2026-02-30"}, "pickup_date"),
    ],
)
def test_a_watch_with_a_bad_request_is_refused_before_any_message(servicer, request_fields, problem):
    with pytest.raises(InvalidArgument) as caught:
        first_message(servicer, dispatch_pb2.WatchOpenPickupsByRouteRequest(**request_fields))
    assert problem in str(caught.value)


def test_a_team_lead_of_another_hub_may_not_watch_the_board(servicer):
    request = dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=TODAY.isoformat())
    with pytest.raises(PermissionDenied) as caught:
        first_message(servicer, request, OTHER_LEAD)
    assert repr(HUB) in str(caught.value)
    assert first_message(servicer, request).snapshot


def test_the_watch_streams_through_grpc(servicer, uow):
    handlers.apply_route_map_changes(uow(), [map_change(1, ("R1", "Koramangala 1"))])
    handlers.apply_pur_changes(uow(), [routed("p1", status=PickupStatus.ROUTED)])
    served = ServedAs(servicer, SERVICE, ACCESS, LEAD)
    rpc = served.server.invoke_unary_stream(
        SERVICE.methods_by_name["WatchOpenPickupsByRoute"],
        (),
        dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=TODAY.isoformat()),
        None,
    )
    first = rpc.take_response()
    if isinstance(first, bytes):  # grpc_testing hands over what the servicer yields
        first = dispatch_pb2.WatchOpenPickupsByRouteResponse.FromString(first)
    assert first.snapshot and summary_of(first) == [("R1", "Koramangala 1", 1, 1, 0, 1)]
    rpc.cancel()


# -- the board kept in memory ------------------------------------------------------------------------


class Listening:
    """A change source as LISTEN hears it: what the fake unit of work announced at each commit and
    the marks readers sent, in the order they happened (a mark after every commit before it)."""

    def __init__(self, store: DispatchStore) -> None:
        self.store = store
        self.read = len(store.announced)
        self.marks: list[str] = []
        self.lock = threading.Lock()
        self.lose_marks = False

    def wait(self, timeout: float, stop: threading.Event) -> Heard:
        stop.wait(min(timeout, 0.002))
        with self.lock:
            upto = len(self.store.announced)
            changes = [change for batch in self.store.announced[self.read : upto] for change in batch]
            marks, self.marks, self.read = self.marks, [], upto
        return Heard(changes, marks)

    def mark(self, token: str) -> None:
        with self.lock:
            if not self.lose_marks:
                self.marks.append(token)

    def close(self) -> None:
        pass


@pytest.fixture
def listening(store):
    return Listening(store)


@pytest.fixture
def running_feed(uow, listening) -> Iterator[tuple[BoardFeed, list]]:
    """A listening feed, and the whole-board reads it made from the (fake) database."""
    feed = BoardFeed(uow, lambda: listening, idle_check_seconds=0.01, sync_seconds=0.2)
    loads: list[tuple[str, date]] = []
    real_read = feed.read

    def read(hub_id, day, route_ids):
        if route_ids is None:
            loads.append((hub_id, day))
        return real_read(hub_id, day, route_ids)

    feed.read = read  # type: ignore[method-assign]
    stop = threading.Event()
    worker = threading.Thread(target=feed.run, args=(stop,), daemon=True)
    worker.start()
    assert feed.listening.wait(5)
    yield feed, loads
    stop.set()
    worker.join(timeout=5)


def listed(feed: BoardFeed, route_id: str = "") -> list[tuple]:
    encoded = feed.listing(HUB, TODAY, route_id)
    assert encoded is not None
    return summary_of(dispatch_pb2.ListOpenPickupsByRouteResponse.FromString(encoded))


def test_a_board_read_again_comes_from_memory_with_every_change_committed_before(uow, running_feed):
    feed, loads = running_feed
    handlers.apply_pur_changes(uow(), [routed("p1"), routed("p2", route="R2")])
    assert listed(feed) == [("R1", "", 1, 1, 0, 1), ("R2", "", 1, 1, 0, 1)]
    assert loads == [(HUB, TODAY)]
    for number in range(3, 8):  # each read right after the commit, from memory
        handlers.apply_pur_changes(uow(), [routed(f"p{number}")])
        assert listed(feed) == [("R1", "", number - 1, number - 1, 0, number - 1), ("R2", "", 1, 1, 0, 1)]
    handlers.apply_pur_changes(uow(), [routed("p2", version=3, route="R1")])  # R2 leaves the board
    assert listed(feed, "R2") == [] and listed(feed, "R1")[0][2] == 7
    watcher = Watcher(feed)
    assert summary_of(watcher.next()) == [("R1", "", 7, 7, 0, 7)]
    handlers.apply_pur_changes(uow(), [routed("p9", route="R3")])
    assert summary_of(watcher.next()) == [("R3", "", 1, 1, 0, 1)]
    assert loads == [(HUB, TODAY)]


def test_a_mark_that_is_not_heard_makes_the_reader_load_the_board(uow, listening, running_feed):
    feed, loads = running_feed
    handlers.apply_pur_changes(uow(), [routed("p1")])
    assert listed(feed)[0][2] == 1
    listening.lose_marks = True
    handlers.apply_pur_changes(uow(), [routed("p2")])
    assert listed(feed)[0][2] == 2
    assert len(loads) == 2


def test_a_feed_that_does_not_listen_lists_nothing_from_memory(uow):
    assert BoardFeed(uow).listing(HUB, TODAY) is None


def test_a_board_nobody_reads_any_more_is_forgotten(uow, listening):
    feed = BoardFeed(uow, lambda: listening, idle_check_seconds=0.01, keep_seconds=0.0)
    stop = threading.Event()
    worker = threading.Thread(target=feed.run, args=(stop,), daemon=True)
    worker.start()
    try:
        assert feed.listening.wait(5)
        handlers.apply_pur_changes(uow(), [routed("p1")])
        assert listed(feed)[0][2] == 1
        deadline = threading.Event()
        while feed._boards and not deadline.wait(0.01):
            pass
        assert not feed._boards
    finally:
        stop.set()
        worker.join(timeout=5)


def test_a_watch_ends_as_soon_as_its_call_ends(uow, monkeypatch):
    monkeypatch.setattr(board_watch, "POLL_SECONDS", 60)
    call_ended = threading.Event()
    callbacks: list = []
    stream = BoardFeed(uow).watch(HUB, TODAY, lambda: not call_ended.is_set(), callbacks.append)
    next(stream)  # the snapshot
    finished = threading.Event()
    threading.Thread(target=lambda: (list(stream), finished.set()), daemon=True).start()
    call_ended.set()
    callbacks[0]()  # what gRPC calls when the call ends
    assert finished.wait(5)


def test_responses_made_of_encoded_groups_are_the_messages_themselves():
    groups = [
        dispatch_pb2.RouteGroup(route_id="R1", route_name="One", pur_count=1, pickups=[{"pur_id": "p1"}]),
        dispatch_pb2.RouteGroup(route_id="R2", pur_count=300, pickups=[{"pur_id": f"p{i}"} for i in range(300)]),
    ]
    encoded = [group.SerializeToString() for group in groups]
    for snapshot in (True, False):
        expected = dispatch_pb2.WatchOpenPickupsByRouteResponse(groups=groups, snapshot=snapshot)
        assert dispatch_pb2.WatchOpenPickupsByRouteResponse.FromString(watch_response(encoded, snapshot=snapshot)) == (
            expected
        )
    assert list_response(encoded) == dispatch_pb2.ListOpenPickupsByRouteResponse(groups=groups).SerializeToString()


def test_a_group_kept_encoded_gives_its_first_pickups_with_its_whole_totals():
    group = dispatch_pb2.RouteGroup(
        route_id="R1",
        pur_count=300,
        queued_count=200,
        pickups=[{"pur_id": f"p{i}", "location": {"lat": 12.9, "lng": 77.6}} for i in range(300)],
        open_dispatch={"id": "d1", "pur_ids": ["p250"]},
    )
    encoded = EncodedGroup.of(copy(group))
    assert dispatch_pb2.RouteGroup.FromString(encoded.data) == group
    for limit, expected in ((0, 300), (1, 1), (20, 20), (299, 299), (300, 300), (1000, 300)):
        first = dispatch_pb2.RouteGroup.FromString(encoded.first(limit))
        assert [p.pur_id for p in first.pickups] == [p.pur_id for p in group.pickups[:expected]]
        first.ClearField("pickups")
        whole = copy(group)
        whole.ClearField("pickups")
        assert first == whole
    empty = EncodedGroup.of(dispatch_pb2.RouteGroup(route_id="R2", open_dispatch={"id": "d2"}))
    assert empty.first(5) == empty.data and empty.pickup_ends == ()


def test_a_limited_listing_comes_from_memory_only_for_a_board_kept_already(uow, running_feed):
    feed, loads = running_feed
    handlers.apply_pur_changes(uow(), [routed(f"p{i}") for i in range(5)])
    assert feed.listing(HUB, TODAY, per_route_limit=2) is None and loads == []
    assert listed(feed)[0][2] == 5
    handlers.apply_pur_changes(uow(), [routed("p9")])
    limited = dispatch_pb2.ListOpenPickupsByRouteResponse.FromString(feed.listing(HUB, TODAY, per_route_limit=2))
    assert summary_of(limited) == [("R1", "", 6, 6, 0, 2)] and loads == [(HUB, TODAY)]


def test_a_board_too_large_to_keep_is_listed_but_not_kept_unless_watched(uow, running_feed, monkeypatch):
    feed, loads = running_feed
    monkeypatch.setattr(board_watch, "MAX_KEPT_PICKUPS", 2)
    handlers.apply_pur_changes(uow(), [routed(f"p{i}") for i in range(3)])
    assert listed(feed)[0][2] == 3 and listed(feed)[0][2] == 3
    assert len(loads) == 2 and not feed._boards
    watcher = Watcher(feed)
    assert watcher.next().snapshot
    assert listed(feed)[0][2] == 3 and len(loads) == 3  # watched: kept, listed from memory
