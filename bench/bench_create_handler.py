"""CPU per PUR of pur_svc's create handler (`handlers.create_pickups`), in process, without gRPC.

No service needed: the handler runs on SqlAlchemyPurUnitOfWork against the real `pur` schema, at
bench_e2e's hub (`BENCH-E2E`, which must be known to pur_svc: run bench_e2e once) under a client
id of its own. Two passes print CPU (time.process_time: this process, the handler's Python and
driver work), the CPU of its PostgreSQL backends (from /proc: the database must run on this
machine), wall time and statements per PUR:

- single: `--singles` calls of one request each (CreatePickupRequest's path),
- batch: `--batches` calls of `--batch` requests (BatchCreatePickupRequests' path).

What it leaves out, which bench_e2e's CPU per PUR includes: gRPC, authentication, the outbox
relay and everything downstream. A running mesh relays and routes the PURs it creates (its own
CPU is not counted here), so measure inside the bench lock. It asserts nothing about time.

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_create_handler [--singles 1000] [--batches 20] [--batch 500]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import sqlalchemy as sa

from bench.instruments import backend_cpu_seconds
from mesh.db import make_engine, make_session_factory
from pur_svc.adapters.unit_of_work import KnownHubs, SqlAlchemyPurUnitOfWork
from pur_svc.domain.model import Location, NewPickup, Warehouse
from pur_svc.service_layer import handlers

APPLICATION = "bench_create_handler"
HUB = "BENCH-E2E"


def requests(client: str, first: int, count: int) -> list[NewPickup]:
    today = datetime.now(UTC).date()
    return [
        NewPickup(
            request_id=f"r{first + i}",
            client_id=client,
            hub_id=HUB,
            warehouse=Warehouse(f"wh-{(first + i) % 97}", "Seller", "1 MG Road", "560001", Location(12.97, 77.59)),
            pickup_date=today,
            expected_packages=3,
            expected_weight_kg=2.5,
        )
        for i in range(count)
    ]


def measure(
    name: str, engine: sa.Engine, uow: Callable[[], SqlAlchemyPurUnitOfWork], calls: list[list[NewPickup]]
) -> None:
    statements = 0

    def count(*_: object) -> None:
        nonlocal statements
        statements += 1

    sa.event.listen(engine, "before_cursor_execute", count)
    backends = backend_cpu_seconds(engine, APPLICATION)
    cpu, wall = time.process_time(), time.perf_counter()
    for batch in calls:
        handlers.create_pickups(uow(), batch)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    after = backend_cpu_seconds(engine, APPLICATION)
    sa.event.remove(engine, "before_cursor_execute", count)
    database = sum(seconds - backends.get(pid, 0.0) for pid, seconds in after.items())
    purs = sum(len(b) for b in calls)
    print(
        f"{name:>6}: {purs} PURs in {len(calls)} calls: CPU per PUR {cpu * 1000 / purs:.3f} ms here + "
        f"{database * 1000 / purs:.3f} ms PostgreSQL, wall {wall * 1000 / purs:.3f} ms, "
        f"{statements / len(calls):.1f} statements per call (and a commit)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--singles", type=int, default=1000, help="calls of one request")
    parser.add_argument("--batches", type=int, default=20, help="calls of --batch requests")
    parser.add_argument("--batch", type=int, default=500, help="requests per batch call")
    args = parser.parse_args()

    engine = make_engine(os.environ["FIRSTMILE_DATABASE_URL"], pool_size=1, application_name=APPLICATION)
    sessions = make_session_factory(engine)
    known = KnownHubs()

    def uow() -> SqlAlchemyPurUnitOfWork:
        return SqlAlchemyPurUnitOfWork(sessions, known)

    client = f"bench-create-{uuid.uuid4().hex[:8]}"
    if not known.filter_known([HUB], lambda hubs: handlers_known(uow, hubs)):
        print(f"hub {HUB} is unknown to pur_svc: run `python -m bench.bench_e2e --purs 1000 --seconds 1` once")
        return 1
    handlers.create_pickups(uow(), requests(client, 0, 50))  # warm-up: connection, statement caches
    measure("single", engine, uow, [requests(client, 100 + i, 1) for i in range(args.singles)])
    first = 100 + args.singles
    measure("batch", engine, uow, [requests(client, first + i * args.batch, args.batch) for i in range(args.batches)])
    engine.dispose()
    return 0


def handlers_known(uow: Callable[[], SqlAlchemyPurUnitOfWork], hubs: set[str]) -> set[str]:
    with uow() as unit:
        return unit.pickups.known_hubs(hubs)


if __name__ == "__main__":
    raise SystemExit(main())
