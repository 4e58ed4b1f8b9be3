"""ListOpenPickupsByRoute latency with 10,000 open PURs in one hub.

Loads a bench hub into the real `dispatch` schema through dispatch_svc's own repository and use
cases: N open PURs spread over R routes (arrival order interleaved), riders and vehicles, and an
OPEN dispatch holding part of the queue on every fourth route. Then calls the RPC over gRPC, by
default on an in-process server (DispatchServicer on a real mesh GrpcServer, port 0), or on a
running dispatch_svc with --target (it must use the same database), and prints p50/p95/p99 for:

- the whole hub (every group, every pickup: what a TL's board loads),
- the whole hub with pickups_per_route_limit=20 (counts and totals of all, 20 pickups per route),
- one route.

The in-process server is a replica as dispatch_svc runs it: its board feed listens on
`dispatch_board`, so listings without a limit come from the board kept in memory (loaded once,
kept current by the feed; docs/dispatch.md). `--database-only` serves every listing from the
database instead (a feed that does not listen), for comparison in the same run. CPU per call is
the process's (client and server: both are in this process).

It also prints the query plan of the listing query (it should use open_pickups_listed_idx). The
bench hub is deleted afterwards unless --keep. It prints figures and asserts nothing about time.

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_open_pickups [--purs 10000] [--routes 200] [--calls 200]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
import uuid
from datetime import UTC, date, datetime

import sqlalchemy as sa

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.board_channel import BoardListener
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import (
    NewDispatch,
    Pickup,
    PickupStatus,
    PurSnapshot,
    Rider,
    RouteMatch,
    Vehicle,
    VehicleType,
)
from dispatch_svc.domain.ranking import AttendanceSource, AttendanceView
from dispatch_svc.entrypoints.board_watch import BoardFeed
from dispatch_svc.entrypoints.grpc_api import DispatchServicer, registration
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.attendance import AttendancePort
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile_client.channels import tool_channel
from firstmile_client.tokens import local_secrets
from mesh.auth import TokenVerifier
from mesh.db import make_engine, make_session_factory
from mesh.grpc_server import GrpcServer

DEFAULT_DATABASE_URL = "postgresql+psycopg2://firstmile@localhost:5432/firstmile"


class EveryoneHere(AttendancePort):
    """The bench's attendance: every rider of the bench hub is present."""

    def __init__(self, riders: list[str]) -> None:
        self.riders = riders

    def available_riders(self, hub_id: str, day: date) -> AttendanceView:
        return AttendanceView(
            known=True,
            present=dict.fromkeys(self.riders),
            source=AttendanceSource.EMBEDDED,
            fetched_at=datetime.now(UTC),
        )


def load_hub(uow_factory, hub: str, day: date, purs: int, routes: int) -> tuple[int, list[str]]:
    """Insert `purs` queued pickups over `routes` routes, then open a dispatch on every fourth
    route (taking its queue as far as a van's capacity allows). Returns (dispatches, riders)."""
    started = time.perf_counter()
    riders = [f"{hub}-rider-{i:03d}" for i in range(routes // 4 + 1)]
    for rider in riders:
        handlers.upsert_rider(uow_factory(), Rider(rider, hub, name=rider[-9:]))
        handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub}-van-{rider[-3:]}", hub, VehicleType.VAN, 40, 400.0))
    now = datetime.now(UTC)
    batch: list[Pickup] = []
    for i in range(purs):
        snapshot = PurSnapshot(
            pur_id=f"{hub}-pur-{i:06d}",
            version=2,
            status=PickupStatus.ROUTED,
            hub_id=hub,
            route_id=f"R{i % routes:04d}",
            pickup_date=day,
            client_id=f"client-{i % 97}",
            warehouse_name=f"Warehouse {i}",
            lat=12.9 + (i % 1000) / 10_000,
            lng=77.5 + (i % 777) / 10_000,
            packages=1 + i % 5,
            weight_kg=0.5 + (i % 7),
            route_match=RouteMatch.EXACT,
            rider_id=riders[i % len(riders)],
        )
        batch.append(Pickup.from_snapshot(snapshot))
        if len(batch) == 2000 or i == purs - 1:
            with uow_factory() as uow:
                uow.pickups.add(batch, now)
                uow.commit()
            batch = []
    attendance = EveryoneHere(riders)
    dispatches = 0
    for r in range(0, routes, 4):
        handlers.create_dispatch(
            uow_factory(),
            attendance,
            NewDispatch(
                request_id=f"bench-{r}",
                hub_id=hub,
                route_id=f"R{r:04d}",
                pickup_date=day,
                rider_id=riders[r // 4],
                vehicle_id=f"{hub}-van-{riders[r // 4][-3:]}",
            ),
        )
        dispatches += 1
    print(
        f"loaded {purs} open PURs over {routes} routes and {dispatches} OPEN dispatches in {time.perf_counter() - started:.1f} s"
    )
    return dispatches, riders


def delete_hub(engine, hub: str) -> None:
    with engine.begin() as conn:
        conn.execute(sa.delete(orm.dispatches).where(orm.dispatches.c.hub_id == hub))  # cascades to members
        conn.execute(sa.delete(orm.open_pickups).where(orm.open_pickups.c.hub_id == hub))
        conn.execute(sa.delete(orm.riders).where(orm.riders.c.hub_id == hub))
        conn.execute(sa.delete(orm.vehicles).where(orm.vehicles.c.hub_id == hub))
        conn.execute(
            sa.text("DELETE FROM dispatch.outbox WHERE convert_from(key, 'UTF8') LIKE :prefix"), {"prefix": f"{hub}-%"}
        )


def explain(engine, hub: str, day: date) -> None:
    with engine.connect() as conn:
        conn.execute(sa.text("ANALYZE dispatch.open_pickups"))
        plan = (
            conn.execute(
                sa.text(
                    "EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) SELECT * FROM dispatch.open_pickups "
                    "WHERE hub_id = :h AND pickup_date = :d AND listed ORDER BY route_id, in_dispatch, position"
                ),
                {"h": hub, "d": day},
            )
            .scalars()
            .all()
        )
    print("query plan of the hub's listed pickups:")
    for line in plan:
        if any(word in line for word in ("Scan", "Index", "Execution", "Sort")):
            print("   ", line.strip())


def measure(name: str, call, calls: int, warmup: int = 5) -> None:
    for _ in range(warmup):
        call()
    samples = []
    size = 0
    cpu = 0.0
    for _ in range(calls):
        started, started_cpu = time.perf_counter(), time.process_time()
        response = call()
        samples.append((time.perf_counter() - started) * 1000)
        cpu += time.process_time() - started_cpu
        size = response.ByteSize()
    samples.sort()

    def pct(p: float) -> float:
        return samples[min(len(samples) - 1, int(round(p / 100 * len(samples))) - 1)]

    print(
        f"{name:<46} p50 {pct(50):7.1f} ms  p95 {pct(95):7.1f} ms  p99 {pct(99):7.1f} ms  "
        f"mean {statistics.fmean(samples):7.1f} ms  CPU {cpu / calls * 1000:6.1f} ms/call  "
        f"({calls} calls, {size / 1024:.0f} KiB response)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purs", type=int, default=10_000)
    parser.add_argument("--routes", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--target", default="", help="host:port of a running dispatch_svc (default: in-process server)")
    parser.add_argument("--keep", action="store_true", help="keep the bench hub's rows")
    parser.add_argument(
        "--database-only", action="store_true", help="in-process server without a listening feed: no board in memory"
    )
    args = parser.parse_args()

    engine = make_engine(
        os.environ.get("FIRSTMILE_DATABASE_URL", DEFAULT_DATABASE_URL),
        pool_size=4,
        application_name="bench-open-pickups",
    )
    factory = make_session_factory(engine)

    def uow_factory() -> SqlAlchemyDispatchUnitOfWork:
        return SqlAlchemyDispatchUnitOfWork(factory)

    hub = f"bench-{uuid.uuid4().hex[:8]}"
    day = datetime.now(UTC).date()
    server = None
    stop = threading.Event()
    feed_thread = None
    try:
        _, riders = load_hub(uow_factory, hub, day, args.purs, args.routes)
        explain(engine, hub, day)
        if args.target:
            target = args.target
        else:
            feed = BoardFeed(uow_factory, lambda: BoardListener(engine))
            if not args.database_only:
                feed_thread = threading.Thread(target=feed.run, args=(stop,), name="board-feed", daemon=True)
                feed_thread.start()
                if not feed.listening.wait(10):
                    raise SystemExit("the board feed did not start listening")
            servicer = DispatchServicer(uow_factory, EveryoneHere(riders), feed)
            server = GrpcServer(
                port=0,
                verifier=TokenVerifier.from_file(local_secrets().jwt_public_key),
                credentials=None,
                registrations=[registration(servicer)],
                host="127.0.0.1",
                drain_seconds=0,
                grace_seconds=1,
            )
            server.start()
            server.set_serving()
            target = f"127.0.0.1:{server.port}"
        where = (
            f"dispatch_svc at {target}"
            if args.target
            else f"an in-process server ({'database only' if args.database_only else 'board kept in memory'})"
        )
        print(f"ListOpenPickupsByRoute on {where}; issue 14's target: whole hub p99 <= 20 ms")
        with tool_channel(target, options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)]) as channel:
            stub = dispatch_pb2_grpc.DispatchServiceStub(channel)
            whole = dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=day.isoformat())
            first = stub.ListOpenPickupsByRoute(whole)
            listed = sum(len(g.pickups) for g in first.groups)
            assert listed == args.purs, f"expected {args.purs} pickups listed, got {listed}"
            measure(
                f"whole hub ({listed} pickups, {len(first.groups)} groups)",
                lambda: stub.ListOpenPickupsByRoute(whole),
                args.calls,
            )
            limited = dispatch_pb2.ListOpenPickupsByRouteRequest(
                hub_id=hub, pickup_date=day.isoformat(), pickups_per_route_limit=20
            )
            measure("whole hub, pickups_per_route_limit=20", lambda: stub.ListOpenPickupsByRoute(limited), args.calls)
            one = dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub, pickup_date=day.isoformat(), route_id="R0000")
            measure("one route", lambda: stub.ListOpenPickupsByRoute(one), args.calls)
    finally:
        if server is not None:
            server.drain_and_stop()
        stop.set()
        if feed_thread is not None:
            feed_thread.join(timeout=5)
        if not args.keep:
            delete_hub(engine, hub)
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
