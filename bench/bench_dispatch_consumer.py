"""CPU per PUR of dispatch_svc's pur.events consumer handler (`handlers.apply_pur_changes`), in process.

No service needed: the handler runs on SqlAlchemyDispatchUnitOfWork against the real `dispatch`
schema, in a bench hub of its own, with batches of `--batch` PUR changes over `--routes` routes
(the consumer's batch: one transaction each). Three passes, each `--batches` batches after two
warm-up batches, print CPU (time.process_time: this process, the handler's Python and driver
work), the CPU of its PostgreSQL backends (from /proc: the database must run on this machine)
and wall time per PUR:

- queued: new ROUTED PURs entering their routes' queues (no OPEN dispatch: bench_e2e's case),
- joined: new ROUTED PURs joining the OPEN dispatch each route has (one DispatchEvent each),
- cancelled: the joined PURs cancelled, leaving their dispatches (one DispatchEvent each).

Their DispatchEvents go to `dispatch.outbox`: a running dispatch_svc relays them (pur_svc skips
them: their PURs are unknown to it), so measure inside the bench lock. The hub's rows are deleted
afterwards. It prints figures and asserts nothing about time.

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_dispatch_consumer [--batch 500] [--routes 50] [--batches 20]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime

import sqlalchemy as sa

from bench.bench_open_pickups import EveryoneHere, delete_hub
from bench.instruments import backend_cpu_seconds
from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import NewDispatch, PickupStatus, PurSnapshot, Rider, RouteMatch, Vehicle, VehicleType
from dispatch_svc.service_layer import handlers
from mesh.db import make_engine, make_session_factory


def snapshot(hub: str, pur_id: str, route: str, day: date, version: int, status: PickupStatus) -> PurSnapshot:
    return PurSnapshot(
        pur_id,
        version,
        status,
        hub,
        route,
        day,
        client_id="bench-client",
        warehouse_name="Bench warehouse",
        lat=12.9352,
        lng=77.6245,
        packages=3,
        weight_kg=4.0,
        route_match=RouteMatch.EXACT,
    )


APPLICATION = "bench_dispatch_consumer"
UowFactory = Callable[[], SqlAlchemyDispatchUnitOfWork]


class Hub:
    """A bench hub: `routes` routes, and PUR changes for them in batches."""

    def __init__(self, uow_factory: UowFactory, routes: int, day: date) -> None:
        self.id = f"bench-consumer-{uuid.uuid4().hex[:8]}"
        self.uow = uow_factory
        self.day = day
        self.routes = [f"R{i:03d}" for i in range(routes)]
        self.made = 0

    def routed(self, size: int) -> list[PurSnapshot]:
        batch = []
        for i in range(size):
            route = self.routes[i % len(self.routes)]
            batch.append(snapshot(self.id, f"{self.id}-p{self.made:07d}", route, self.day, 2, PickupStatus.ROUTED))
            self.made += 1
        return batch

    def open_dispatches(self) -> None:
        """One OPEN dispatch per route, with a rider and a truck of its own (room for every PUR)."""
        riders = [f"{self.id}-rider-{route}" for route in self.routes]
        for route, rider in zip(self.routes, riders, strict=True):
            handlers.upsert_rider(self.uow(), Rider(rider, self.id, name=f"Rider {route}"))
            handlers.upsert_vehicle(
                self.uow(), Vehicle(f"{rider}-truck", self.id, VehicleType.TRUCK, 100_000, 100_000.0)
            )
        attendance = EveryoneHere(riders)
        for route, rider in zip(self.routes, riders, strict=True):
            new = NewDispatch(f"bench-{route}", self.id, route, self.day, rider_id=rider, vehicle_id=f"{rider}-truck")
            handlers.create_dispatch(self.uow(), attendance, new)


def measure(name: str, engine: sa.Engine, uow_factory: UowFactory, batches: list[list[PurSnapshot]]) -> None:
    backends = backend_cpu_seconds(engine, APPLICATION)
    cpu, wall, events = time.process_time(), time.perf_counter(), 0
    for batch in batches:
        events += handlers.apply_pur_changes(uow_factory(), batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    database = sum(
        seconds - backends.get(pid, 0.0) for pid, seconds in backend_cpu_seconds(engine, APPLICATION).items()
    )
    purs = sum(len(b) for b in batches)
    print(
        f"{name:>9}: {purs} PURs in {len(batches)} batches, {events} events: CPU per PUR "
        f"{cpu * 1000 / purs:.3f} ms here + {database * 1000 / purs:.3f} ms PostgreSQL, wall {wall * 1000 / purs:.3f} ms"
    )


def cancelled(batch: list[PurSnapshot], day: date) -> list[PurSnapshot]:
    return [snapshot(s.hub_id, s.pur_id, s.route_id, day, 3, PickupStatus.CANCELLED) for s in batch]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=500, help="PUR changes per batch (transaction)")
    parser.add_argument("--routes", type=int, default=50, help="routes the batch's PURs are spread over")
    parser.add_argument("--batches", type=int, default=20, help="measured batches per pass")
    args = parser.parse_args()
    engine = make_engine(os.environ["FIRSTMILE_DATABASE_URL"], application_name=APPLICATION)
    sessions = make_session_factory(engine)

    def uow_factory() -> SqlAlchemyDispatchUnitOfWork:
        return SqlAlchemyDispatchUnitOfWork(sessions)

    day = datetime.now(UTC).date()
    queued, joined = Hub(uow_factory, args.routes, day), Hub(uow_factory, args.routes, day)
    print(f"dispatch_svc: {handlers.__file__}")
    try:
        for _ in range(2):  # warm up: connections, statement caches
            handlers.apply_pur_changes(uow_factory(), queued.routed(args.batch))
        measure("queued", engine, uow_factory, [queued.routed(args.batch) for _ in range(args.batches)])

        joined.open_dispatches()
        for _ in range(2):
            handlers.apply_pur_changes(uow_factory(), joined.routed(args.batch))
        batches = [joined.routed(args.batch) for _ in range(args.batches)]
        measure("joined", engine, uow_factory, batches)
        measure("cancelled", engine, uow_factory, [cancelled(batch, day) for batch in batches])
    finally:
        for hub in (queued, joined):
            delete_hub(engine, hub.id)
            with engine.begin() as conn:
                for table in (orm.volume_observations, orm.volume_days):
                    conn.execute(sa.delete(table).where(table.c.hub_id == hub.id))
        engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
