"""dispatch_svc's board on the real database: the route read model's table (as the migration made
it) and its SQL, board changes announced by NOTIFY only when their transaction commits, and
WatchOpenPickupsByRoute across two replicas: two servicers on two in-process servers, each with
its own engine, BoardFeed and LISTEN connection, where a change made through one reaches a
watcher on the other. The rules themselves (diffs, snapshots, overflow) are unit-tested in
tests/unit/test_dispatch_board.py. Every test works in hubs of its own."""

from __future__ import annotations

import contextlib
import queue
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import grpc
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.board_channel import BoardListener
from dispatch_svc.adapters.messages import route_group_to_proto
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.board import BoardChange
from dispatch_svc.domain.model import Rider, Vehicle, VehicleType
from dispatch_svc.domain.routes import RouteMapChange, RouteSummary
from dispatch_svc.entrypoints.board_watch import BoardFeed
from dispatch_svc.entrypoints.grpc_api import DispatchServicer, registration
from dispatch_svc.service_layer import handlers
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from mesh.auth import Role
from mesh.db import make_engine, make_session_factory
from tests.support import auth
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.in_process_server import address, serving

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
TIMEOUT = 15.0


@pytest.fixture
def hub() -> str:
    return f"hub-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


# -- the route read model -----------------------------------------------------------------------


def test_the_migration_made_the_route_table_the_adapter_uses(engine):
    def only_the_route_table(name, type_, parent_names):
        if type_ == "schema":
            return name == orm.SCHEMA
        return type_ != "table" or name == "routes"

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"include_schemas": True, "include_name": only_the_route_table, "compare_type": True},
        )
        just_routes = sa.MetaData()
        orm.routes.to_metadata(just_routes)
        diffs = compare_metadata(context, just_routes)
    assert diffs == []


def test_route_summaries_keep_the_newest_version_of_each_route(uow_factory, hub):
    def change(version: int, *named: tuple[str, str], deleted=()) -> RouteMapChange:
        return RouteMapChange(hub, version, tuple(RouteSummary(r, n, "rider-1", True, 3) for r, n in named), deleted)

    handlers.apply_route_map_changes(
        uow_factory(), [change(4, ("R1", "one"), ("R2", "two")), change(4, ("R3", "three"), deleted=("R0",))]
    )
    handlers.apply_route_map_changes(
        uow_factory(), [change(2, ("R1", "stale"), ("R0", "revived")), change(5, deleted=("R2",))]
    )
    with uow_factory() as uow:
        assert uow.routes.names(hub) == {"R0": "", "R1": "one", "R2": "two", "R3": "three"}
        assert uow.routes.names(hub, ["R3", "R9"]) == {"R3": "three"}
        assert uow.routes.names(hub, []) == {}
        rows = uow.session.execute(
            sa.select(orm.routes.c.route_id, orm.routes.c.deleted, orm.routes.c.map_version)
            .where(orm.routes.c.hub_id == hub)
            .order_by(orm.routes.c.route_id)
        ).all()
    assert [tuple(r) for r in rows] == [("R0", True, 4), ("R1", False, 4), ("R2", True, 5), ("R3", False, 4)]


# -- NOTIFY ----------------------------------------------------------------------------------------


@pytest.fixture
def listener(engine) -> Iterator[BoardListener]:
    heard = BoardListener(engine)
    yield heard
    heard.close()


def hear(listener: BoardListener, hub: str, *, timeout: float = 2.0) -> set[BoardChange]:
    """What the listener hears of `hub` within `timeout` (other tests' changes are ignored)."""
    stop = threading.Event()
    deadline = datetime.now(UTC).timestamp() + timeout
    heard: set[BoardChange] = set()
    while (left := deadline - datetime.now(UTC).timestamp()) > 0:
        heard |= {c for c in listener.wait(left, stop).changes if c.hub_id == hub}
    return heard


def test_a_board_change_is_announced_when_its_transaction_commits_and_only_then(uow_factory, listener, hub):
    key = (hub, "R1", TODAY)
    with uow_factory() as uow:
        uow.lock_routes([key])  # then left without a commit: rolled back
    assert hear(listener, hub, timeout=0.5) == set()
    many = [(hub, f"route-{i:04d}-{'x' * 40}", TODAY) for i in range(400)]  # more than one payload
    with uow_factory() as uow:
        uow.lock_routes([key, *many])
        uow.lock_routes([key])  # the same group twice: announced once
        uow.announce([BoardChange(hub, "R2", None)])
        uow.commit()
    assert hear(listener, hub) == {BoardChange(*k) for k in [key, *many]} | {BoardChange(hub, "R2", None)}


# -- two replicas ------------------------------------------------------------------------------------


@dataclass
class Replica:
    """A dispatch_svc replica in this process: its own engine, servicer, feed and LISTEN."""

    engine: sa.Engine
    feed: BoardFeed
    server_address: str
    stop: threading.Event
    thread: threading.Thread

    def uow(self) -> SqlAlchemyDispatchUnitOfWork:
        return SqlAlchemyDispatchUnitOfWork(make_session_factory(self.engine))


@pytest.fixture
def attendance() -> FakeAttendance:
    return FakeAttendance()


@pytest.fixture
def replicas(database_url, attendance) -> Iterator[tuple[Replica, Replica]]:
    started: list[Replica] = []
    with contextlib.ExitStack() as cleanup:
        for name in ("a", "b"):
            engine = make_engine(database_url, pool_size=3, application_name=f"board-test-{name}")
            cleanup.callback(engine.dispose)
            sessions = make_session_factory(engine)

            def uow(sessions=sessions) -> SqlAlchemyDispatchUnitOfWork:
                return SqlAlchemyDispatchUnitOfWork(sessions)

            feed = BoardFeed(uow, lambda engine=engine: BoardListener(engine))
            server = cleanup.enter_context(serving(registration(DispatchServicer(uow, attendance, feed))))
            stop = threading.Event()
            thread = threading.Thread(target=feed.run, args=(stop,), daemon=True, name=f"board-feed-{name}")
            thread.start()
            cleanup.callback(thread.join, 5)
            cleanup.callback(stop.set)
            started.append(Replica(engine, feed, address(server), stop, thread))
        for replica in started:
            assert replica.feed.listening.wait(10), "the feed never started listening"
        yield started[0], started[1]


class Stream:
    """A WatchOpenPickupsByRoute call read on a thread of its own, message by message."""

    def __init__(self, target: str, hub: str) -> None:
        self.channel = auth.open_channel(target, auth.token(Role.TEAM_LEAD, hubs=[hub]))
        stub = dispatch_pb2_grpc.DispatchServiceStub(self.channel)
        self.call = stub.WatchOpenPickupsByRoute(
            dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=hub, pickup_date=TODAY.isoformat()), timeout=60
        )
        self.messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.messages.put(message)
        except grpc.RpcError as error:
            self.messages.put(error)

    def next(self, timeout: float = TIMEOUT) -> dispatch_pb2.WatchOpenPickupsByRouteResponse:
        got = self.messages.get(timeout=timeout)
        assert not isinstance(got, Exception), got
        return got

    def close(self) -> None:
        self.call.cancel()
        self.channel.close()


def groups_of(response) -> list[tuple[str, str, int, int, bool]]:
    return [
        (g.route_id, g.route_name, g.pur_count, g.queued_count, g.HasField("open_dispatch")) for g in response.groups
    ]


def test_a_change_made_through_one_replica_reaches_a_watcher_on_the_other(replicas, attendance, hub):
    a, b = replicas
    handlers.upsert_rider(a.uow(), Rider(f"{hub}-asha", hub))
    attendance.present[hub].add(f"{hub}-asha")
    handlers.upsert_vehicle(a.uow(), Vehicle(f"{hub}-van", hub, VehicleType.VAN, 100, 500.0))
    handlers.apply_route_map_changes(a.uow(), [RouteMapChange(hub, 1, (RouteSummary("R1", "Koramangala 1"),))])
    handlers.apply_pur_changes(a.uow(), [pur_snapshot(f"{hub}-p1", hub=hub, day=TODAY)])
    watcher = Stream(b.server_address, hub)
    try:
        first = watcher.next()
        assert first.snapshot and groups_of(first) == [("R1", "Koramangala 1", 1, 1, False)]

        # A PUR arrives, applied by replica A's consumer.
        handlers.apply_pur_changes(a.uow(), [pur_snapshot(f"{hub}-p2", hub=hub, day=TODAY, route="R2")])
        arrived = watcher.next()
        assert not arrived.snapshot and groups_of(arrived) == [("R2", "", 1, 1, False)]

        # A team lead creates a dispatch through replica A's API.
        with auth.open_channel(a.server_address, auth.token(Role.TEAM_LEAD, hubs=[hub])) as channel:
            created = dispatch_pb2_grpc.DispatchServiceStub(channel).CreateDispatch(
                dispatch_pb2.CreateDispatchRequest(
                    request_id="d1",
                    hub_id=hub,
                    route_id="R1",
                    pickup_date=TODAY.isoformat(),
                    rider_id=f"{hub}-asha",
                    vehicle_id=f"{hub}-van",
                    pur_ids=[f"{hub}-p1"],
                ),
                timeout=TIMEOUT,
            )
        dispatched = watcher.next()
        assert groups_of(dispatched) == [("R1", "Koramangala 1", 1, 0, True)]
        assert dispatched.groups[0].open_dispatch.id == created.dispatch.id

        # The dispatch starts: the group leaves the board, sent once, empty.
        handlers.start_dispatch(a.uow(), created.dispatch.id)
        left = watcher.next()
        assert groups_of(left) == [("R1", "", 0, 0, False)]
    finally:
        watcher.close()


def test_a_change_committed_through_one_replica_is_in_every_read_of_the_other_made_after_it(replicas, hub):
    """Replica B keeps the board in memory after its first read; each read after a commit on A
    waits for B's listener to hear its mark, so it holds that commit (PostgreSQL delivers
    notifications in commit order)."""
    a, b = replicas
    loads: list[str] = []
    real_read = b.feed.read

    def read(hub_id, day, route_ids):
        if route_ids is None:
            loads.append(hub_id)
        return real_read(hub_id, day, route_ids)

    b.feed.read = read  # type: ignore[method-assign]
    listing = dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=TODAY.isoformat())
    with auth.open_channel(b.server_address, auth.token(Role.TEAM_LEAD, hubs=[hub])) as channel:
        stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
        assert stub.ListOpenPickupsByRoute(listing, timeout=TIMEOUT).groups == []
        for number in range(1, 21):
            route = f"R{number % 3}"
            handlers.apply_pur_changes(a.uow(), [pur_snapshot(f"{hub}-p{number}", hub=hub, day=TODAY, route=route)])
            groups = {g.route_id: g for g in stub.ListOpenPickupsByRoute(listing, timeout=TIMEOUT).groups}
            assert f"{hub}-p{number}" in {p.pur_id for p in groups[route].pickups}
            assert sum(g.pur_count for g in groups.values()) == number
            one = stub.ListOpenPickupsByRoute(
                dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=TODAY.isoformat(), route_id=route),
                timeout=TIMEOUT,
            )
            assert [g.route_id for g in one.groups] == [route] and one.groups[0] == groups[route]
        limited = stub.ListOpenPickupsByRoute(
            dispatch_pb2.ListOpenPickupsByRouteRequest(
                hub_id=hub, pickup_date=TODAY.isoformat(), pickups_per_route_limit=2
            ),
            timeout=TIMEOUT,
        )
        assert [(g.route_id, g.pur_count, len(g.pickups)) for g in limited.groups] == [
            ("R0", 6, 2),
            ("R1", 7, 2),
            ("R2", 7, 2),
        ]
        # What memory answers is what the database answers.
        for limit in (0, 2):
            from_database = handlers.list_open_pickups(a.uow(), hub, TODAY, per_route_limit=limit)
            assert stub.ListOpenPickupsByRoute(
                dispatch_pb2.ListOpenPickupsByRouteRequest(
                    hub_id=hub, pickup_date=TODAY.isoformat(), pickups_per_route_limit=limit
                ),
                timeout=TIMEOUT,
            ) == dispatch_pb2.ListOpenPickupsByRouteResponse(groups=[route_group_to_proto(g) for g in from_database])
    handlers.apply_pur_changes(a.uow(), [pur_snapshot(f"{hub}-p99", hub=hub, day=TODAY, route="R9")])
    watcher = Stream(b.server_address, hub)  # a watch begun after the commit: its snapshot holds it
    try:
        first = watcher.next()
        assert first.snapshot and [g.route_id for g in first.groups] == ["R0", "R1", "R2", "R9"]
        handlers.apply_pur_changes(a.uow(), [pur_snapshot(f"{hub}-p100", hub=hub, day=TODAY, route="R9")])
        assert groups_of(watcher.next()) == [("R9", "", 2, 2, False)]
    finally:
        watcher.close()
    assert loads == [hub]  # every read after the first came from memory
