"""WatchOpenPickupsByRoute: the whole board, and how soon a committed change is seen.

Loads a bench hub into the real `dispatch` schema as bench_open_pickups does (N open PURs over R
routes, an OPEN dispatch on every fourth route) plus the routes' names, then runs two replicas in
this process, each with its own engine: replica A makes the changes (as its pur-events consumer
would: a new routed PUR joins a random route's queue, one transaction each), replica B serves
WatchOpenPickupsByRoute on an in-process mesh GrpcServer with its BoardFeed listening on its own
LISTEN connection. So a change travels as in production: commit on A's connection, NOTIFY,
B's listener, B's re-read of the changed group, B's gRPC stream, the client.

Prints p50/p95/p99 of:
- the whole board: from the call to its first message (the snapshot), over gRPC (and the same
  board through ListOpenPickupsByRoute, for comparison), with CPU per call (this process: client
  and server); then again while replica A commits a change every --gap-ms (each read waits until
  B's feed has applied every change committed before it);
- a change seen: from the change's commit returning on A to the watcher holding the message
  with the changed group (each of --watchers watchers of the board; changes one at a time,
  --gap-ms apart).

The bench hub is deleted afterwards unless --keep. It prints figures and asserts nothing about time.

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_board_watch [--purs 10000] [--routes 200] [--snapshots 100]
        [--changes 200] [--watchers 1] [--gap-ms 20]
"""

from __future__ import annotations

import argparse
import itertools
import logging
import os
import queue
import random
import statistics
import threading
import time
import uuid
from datetime import UTC, date, datetime

import grpc

from bench.bench_open_pickups import DEFAULT_DATABASE_URL, EveryoneHere, delete_hub, load_hub
from dispatch_svc.adapters import orm
from dispatch_svc.adapters.board_channel import BoardListener
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import PickupStatus, PurSnapshot, RouteMatch
from dispatch_svc.domain.routes import RouteMapChange, RouteSummary
from dispatch_svc.entrypoints.board_watch import BoardFeed
from dispatch_svc.entrypoints.grpc_api import DispatchServicer, registration
from dispatch_svc.service_layer import handlers
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile_client.channels import tool_channel
from firstmile_client.tokens import local_secrets
from mesh.auth import TokenVerifier
from mesh.db import make_engine, make_session_factory
from mesh.grpc_server import GrpcServer


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered))) - 1))]

    return (
        f"p50 {pct(50):7.1f} ms  p95 {pct(95):7.1f} ms  p99 {pct(99):7.1f} ms  "
        f"mean {statistics.fmean(ordered):7.1f} ms  max {ordered[-1]:7.1f} ms  ({len(ordered)} samples)"
    )


class Watcher:
    """One stream of the board, read on a thread of its own; every message is timestamped."""

    def __init__(self, stub: dispatch_pb2_grpc.DispatchServiceStub, request) -> None:
        self.call = stub.WatchOpenPickupsByRoute(request)
        self.messages: queue.Queue[tuple[float, dispatch_pb2.WatchOpenPickupsByRouteResponse]] = queue.Queue()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for message in self.call:
                self.messages.put((time.perf_counter(), message))
        except grpc.RpcError as error:
            if error.code() is not grpc.StatusCode.CANCELLED:
                raise

    def seen(self, pur_id: str, route_id: str, timeout: float = 10.0) -> float:
        """When the message showing `pur_id` in `route_id`'s group arrived."""
        deadline = time.monotonic() + timeout
        while True:
            arrived, message = self.messages.get(timeout=max(0.001, deadline - time.monotonic()))
            for group in message.groups:
                if group.route_id == route_id and any(p.pur_id == pur_id for p in group.pickups):
                    return arrived

    def close(self) -> None:
        self.call.cancel()


def name_routes(uow_factory, hub: str, routes: int) -> None:
    summaries = tuple(RouteSummary(f"R{r:04d}", f"Bench route {r}") for r in range(routes))
    handlers.apply_route_map_changes(uow_factory(), [RouteMapChange(hub, 1, summaries)])


def arrival(hub: str, day: date, number: int, route_id: str) -> PurSnapshot:
    return PurSnapshot(
        pur_id=f"{hub}-new-{number:06d}",
        version=2,
        status=PickupStatus.ROUTED,
        hub_id=hub,
        route_id=route_id,
        pickup_date=day,
        client_id="client-bench",
        warehouse_name=f"New warehouse {number}",
        lat=12.95,
        lng=77.6,
        packages=1,
        weight_kg=1.0,
        route_match=RouteMatch.EXACT,
    )


def measure_snapshots(stub, request, calls: int) -> tuple[list[float], float]:
    """(milliseconds per call, CPU milliseconds per call)"""
    samples, cpu = [], 0.0
    for number in range(calls + 3):
        started, started_cpu = time.perf_counter(), time.process_time()
        stream = stub.WatchOpenPickupsByRoute(request)
        first = next(stream)
        samples.append((time.perf_counter() - started) * 1000)
        stream.cancel()
        if number >= 3:
            cpu += time.process_time() - started_cpu
        assert first.snapshot
    return samples[3:], cpu / calls * 1000  # the first calls warm the channel and the server


def measure_listings(stub, hub: str, day: date, calls: int) -> tuple[list[float], float]:
    """The same board through ListOpenPickupsByRoute, for comparison."""
    request = dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=day.isoformat())
    samples, cpu = [], 0.0
    for number in range(calls + 3):
        started, started_cpu = time.perf_counter(), time.process_time()
        stub.ListOpenPickupsByRoute(request)
        samples.append((time.perf_counter() - started) * 1000)
        if number >= 3:
            cpu += time.process_time() - started_cpu
    return samples[3:], cpu / calls * 1000


def keep_changing(uow_factory, hub: str, day: date, args, stop: threading.Event) -> None:
    """Replica A's consumer: a new routed PUR every --gap-ms until `stop`."""
    rng = random.Random(11)
    for number in itertools.count(100_000):
        if stop.wait(args.gap_ms / 1000):
            return
        route_id = f"R{rng.randrange(args.routes):04d}"
        handlers.apply_pur_changes(uow_factory(), [arrival(hub, day, number, route_id)])


def measure_changes(uow_factory, watchers: list[Watcher], hub: str, day: date, args) -> list[float]:
    rng = random.Random(7)
    samples = []
    for number in range(args.changes):
        route_id = f"R{rng.randrange(args.routes):04d}"
        snapshot = arrival(hub, day, number, route_id)
        handlers.apply_pur_changes(uow_factory(), [snapshot])
        committed = time.perf_counter()
        for watcher in watchers:
            samples.append((watcher.seen(snapshot.pur_id, route_id) - committed) * 1000)
        time.sleep(args.gap_ms / 1000)
    return samples


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purs", type=int, default=10_000)
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--snapshots", type=int, default=100)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--watchers", type=int, default=1)
    parser.add_argument("--gap-ms", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true", help="keep the bench hub's rows")
    args = parser.parse_args()
    # Each snapshot call ends with the client cancelling its stream, which the server's
    # observability interceptor logs as a failed call; that is the bench's doing, not news.
    logging.getLogger("mesh.grpc_server").setLevel(logging.CRITICAL)

    url = os.environ.get("FIRSTMILE_DATABASE_URL", DEFAULT_DATABASE_URL)
    engine_a = make_engine(url, pool_size=4, application_name="bench-board-a")
    engine_b = make_engine(url, pool_size=8, application_name="bench-board-b")
    sessions_a, sessions_b = make_session_factory(engine_a), make_session_factory(engine_b)

    def uow_a() -> SqlAlchemyDispatchUnitOfWork:
        return SqlAlchemyDispatchUnitOfWork(sessions_a)

    def uow_b() -> SqlAlchemyDispatchUnitOfWork:
        return SqlAlchemyDispatchUnitOfWork(sessions_b)

    hub = f"bench-{uuid.uuid4().hex[:8]}"
    day = datetime.now(UTC).date()
    stop = threading.Event()
    server = feed_thread = None
    watchers: list[Watcher] = []
    try:
        _, riders = load_hub(uow_a, hub, day, args.purs, args.routes)
        name_routes(uow_a, hub, args.routes)
        feed = BoardFeed(uow_b, lambda: BoardListener(engine_b))
        feed_thread = threading.Thread(target=feed.run, args=(stop,), name="board-feed", daemon=True)
        feed_thread.start()
        if not feed.listening.wait(10):
            raise SystemExit("replica B's board feed did not start listening")
        server = GrpcServer(
            port=0,
            verifier=TokenVerifier.from_file(local_secrets().jwt_public_key),
            credentials=None,
            registrations=[registration(DispatchServicer(uow_b, EveryoneHere(riders), feed))],
            host="127.0.0.1",
            drain_seconds=0,
            grace_seconds=1,
            max_workers=max(16, args.watchers + 8),
        )
        server.start()
        server.set_serving()
        request = dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=hub, pickup_date=day.isoformat())
        with tool_channel(f"127.0.0.1:{server.port}") as channel:
            stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
            first = next(stub.WatchOpenPickupsByRoute(request))
            listed = sum(len(g.pickups) for g in first.groups)
            named = sum(1 for g in first.groups if g.route_name)
            print(
                f"board of {listed} open PURs in {len(first.groups)} groups ({named} named), "
                f"{first.ByteSize() / 1024:.0f} KiB"
            )
            print("issue 14's targets: whole board p99 <= 20 ms; change committed to seen p99 <= 100 ms")
            snapshots, cpu = measure_snapshots(stub, request, args.snapshots)
            print(f"{'whole board (call to snapshot)':<34} {percentiles(snapshots)}  CPU {cpu:.1f} ms/call")
            listings, cpu = measure_listings(stub, hub, day, args.snapshots)
            print(f"{'same board, ListOpenPickupsByRoute':<34} {percentiles(listings)}  CPU {cpu:.1f} ms/call")
            enough = threading.Event()
            changing = threading.Thread(target=keep_changing, args=(uow_a, hub, day, args, enough), daemon=True)
            changing.start()
            snapshots, cpu = measure_snapshots(stub, request, args.snapshots)
            print(f"{'whole board, changes arriving':<34} {percentiles(snapshots)}  CPU {cpu:.1f} ms/call")
            enough.set()
            changing.join(timeout=10)
            watchers = [Watcher(stub, request) for _ in range(args.watchers)]
            for watcher in watchers:
                watcher.messages.get(timeout=30)  # its snapshot
            samples = measure_changes(uow_a, watchers, hub, day, args)
            print(f"{'change committed to seen':<34} {percentiles(samples)}  ({args.watchers} watcher(s))")
    finally:
        for watcher in watchers:
            watcher.close()
        if server is not None:
            server.drain_and_stop()
        stop.set()
        if feed_thread is not None:
            feed_thread.join(timeout=5)
        if not args.keep:
            delete_hub(engine_a, hub)
            with engine_a.begin() as conn:
                conn.execute(orm.routes.delete().where(orm.routes.c.hub_id == hub))
        engine_a.dispose()
        engine_b.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
