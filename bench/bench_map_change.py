"""A route map change over a hub with many open PURs: how long pur_svc takes to send them all for
re-routing, how long its longest transaction holds its locks, and how long until every affected
PUR carries the new map version once routing's answers come back.

Runs pur_svc's own use cases (`apply_map_change`, `apply_route_assignments`) in process, on the
real PostgreSQL server, in a schema of its own (`bench_map_<id>`, the `pur` tables with their
indexes, dropped afterwards unless --keep): a running pur_svc's outbox relay never sees the
bench's rows. It loads one hub with `--purs` open PURs (ROUTED at map version 1, spread over
`--days` pickup days from today) and `--others` PURs the change must not touch (a third each
dispatched, of yesterday, routed by hand), then:

1. **Re-send**: one map change (version 2) through `apply_map_change` with `--batch-size` PURs per
   transaction (pur_svc's PUR_SVC_REROUTE_BATCH_SIZE, default 500): the time from the event to the
   last batch committed, to the first one (when routing_svc can start), the number and length of
   the transactions (BEGIN to COMMIT: the longest is the longest lock hold), and the outbox rows.
2. **Answers**: routing's answers for every affected PUR (EXACT, version 2), applied as pur_svc's
   assignment consumer applies them, `--answer-batch` per transaction: the time until every
   affected PUR carries version 2, and the longest transaction. routing_svc's own work and Kafka
   are not in it (bench_e2e measures the whole loop).

`--batch-size 1000000` shows the old behaviour (the whole change in one transaction). It prints
figures and asserts nothing about time.

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_map_change                    # 20,000 PURs (~1 min)
    .cache/venv/bin/python -m bench.bench_map_change --purs 100000       # the issue's hub
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Self

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from bench.instruments import database_url
from mesh.db import make_engine, make_session_factory
from pur_svc.adapters import orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.history import ROUTING_SVC
from pur_svc.domain.model import (
    Location,
    MapChange,
    NewPickup,
    PickupRequest,
    PickupStatus,
    RouteAssignment,
    RouteMatch,
    Warehouse,
)
from pur_svc.service_layer import handlers


@dataclass
class Transactions:
    """Each committed transaction: when it began and ended (perf_counter) and its events."""

    spans: list[tuple[float, float, int]] = field(default_factory=list)

    def summary(self) -> str:
        lengths = sorted((end - begin) * 1000 for begin, end, _ in self.spans)
        if not lengths:
            return "no transactions"
        return (
            f"{len(lengths)} transactions: longest {lengths[-1]:,.1f} ms, "
            f"p50 {statistics.median(lengths):,.1f} ms, total {sum(lengths) / 1000:,.2f} s"
        )


class TimedUnitOfWork(SqlAlchemyPurUnitOfWork):
    """pur_svc's unit of work, timing each transaction from `with` to the end of its COMMIT (an
    upper bound of how long it held any lock)."""

    def __init__(self, session_factory: sessionmaker[Session], log: Transactions) -> None:
        super().__init__(session_factory)
        self._log = log
        self._began = 0.0

    def __enter__(self) -> Self:
        self._began = time.perf_counter()
        return super().__enter__()

    def _commit(self, events: list[object]) -> None:
        super()._commit(events)
        self._log.spans.append((self._began, time.perf_counter(), len(events)))


def new_pur(hub: str, index: int, day: date, now: datetime) -> PickupRequest:
    new = NewPickup(
        request_id=f"req-{index}",
        client_id=f"bench-client-{index % 97}",
        hub_id=hub,
        warehouse=Warehouse(f"wh-{index}", f"Seller {index}", "1 Bench Road", "560001", Location(12.9, 77.6)),
        pickup_date=day,
        expected_packages=1 + index % 5,
        expected_weight_kg=2.5,
    )
    pur = PickupRequest.create(f"{hub}-pur-{index:07d}", new, now)
    pur.apply_route_assignment(assigned(pur.id, hub, index, 1), now)
    return pur


def assigned(pur_id: str, hub: str, index: int, map_version: int) -> RouteAssignment:
    route = f"R{index % 50:02d}"
    return RouteAssignment(pur_id, hub, route, f"rider-{route}", RouteMatch.EXACT, 0.0, "", map_version)


def load(uow_factory, hub: str, purs: int, others: int, days: int, chunk: int = 5000) -> None:
    """`purs` open PURs over `days` days from today, and `others` the change leaves alone."""
    started = time.perf_counter()
    now = datetime.now(UTC)
    today = now.date()
    with uow_factory() as uow:
        uow.pickups.record_hub_map(hub, 1, now)
        uow.pickups.record_reroute_position(hub, None)
        uow.commit()
    batch: list[PickupRequest] = []
    for index in range(purs + others):
        day = today + timedelta(days=index % days)
        if index >= purs and index % 3 == 1:
            day = today - timedelta(days=1)  # yesterday's: no longer re-routed
        pur = new_pur(hub, index, day, now)
        if index >= purs and index % 3 == 0:
            pur = replace(pur, status=PickupStatus.DISPATCHED, dispatch_id=f"D-{index}")
        elif index >= purs and index % 3 == 2:
            pur = replace(pur, route_match=RouteMatch.MANUAL, manual_reason="by hand")
        batch.append(pur)
        if len(batch) == chunk or index == purs + others - 1:
            with uow_factory() as uow:
                uow.pickups.insert_new(batch)
                uow.commit()
            batch = []
    print(
        f"loaded {purs:,} open PURs over {days} day(s) and {others:,} others "
        f"in {time.perf_counter() - started:.1f} s (hub {hub})"
    )


def resend(uow_factory, hub: str, batch_size: int) -> list[str]:
    """The map change; returns the ids sent for re-routing."""
    log = Transactions()
    uow = TimedUnitOfWork(uow_factory.session_factory, log)
    started = time.perf_counter()
    sent = handlers.apply_map_change(uow, MapChange(hub, 2), batch_size=batch_size)
    elapsed = time.perf_counter() - started
    first = log.spans[1][1] - started if len(log.spans) > 1 else float("nan")
    print(f"\n1. re-send of map version 2, {batch_size:,} PURs per transaction")
    print(f"   sent {sent:,} PURs for re-routing in {elapsed:,.2f} s ({sent / max(elapsed, 1e-9):,.0f} PURs/s)")
    print(f"   first batch committed after {first * 1000:,.1f} ms (routing_svc can start then)")
    print(f"   {log.summary()}")
    with uow_factory.engine.connect() as conn:
        table = orm.outbox.table
        # The bench's schema holds only its hub: its outbox, only this change's requests.
        rows = conn.execute(sa.select(table.c.key).where(table.c.topic == "pur.created.v1")).scalars()
        ids = sorted({key.decode() for key in rows})
    print(f"   outbox: {len(ids):,} re-routing requests")
    return ids


def answer(uow_factory, hub: str, pur_ids: list[str], answer_batch: int) -> None:
    """routing_svc's answers for every PUR sent, applied as pur_svc's assignment consumer does."""
    log = Transactions()
    uow = TimedUnitOfWork(uow_factory.session_factory, log)
    started = time.perf_counter()
    changed = 0
    for start in range(0, len(pur_ids), answer_batch):
        batch = pur_ids[start : start + answer_batch]
        answers = [assigned(p, hub, int(p.rsplit("-", 1)[1]), 2) for p in batch]
        changed += handlers.apply_route_assignments(uow, answers)
    elapsed = time.perf_counter() - started
    with uow_factory.engine.connect() as conn:
        table = orm.pickup_requests
        behind = conn.execute(
            sa.select(sa.func.count()).where(
                table.c.hub_id == hub,
                table.c.status.in_(["PENDING_ROUTE", "ROUTED", "UNROUTABLE"]),
                table.c.route_match != "MANUAL",
                table.c.pickup_date >= datetime.now(UTC).date(),
                table.c.map_version < 2,
            )
        ).scalar_one()
    print(f"\n2. routing's answers, {answer_batch:,} per transaction (as the assignment consumer)")
    print(f"   {changed:,} PURs at map version 2 in {elapsed:,.2f} s ({changed / max(elapsed, 1e-9):,.0f} PURs/s)")
    print(f"   {log.summary()}")
    print(f"   affected PURs still on an older map: {behind}")
    print(f"   (recorded by {ROUTING_SVC.subject}: one history row per PUR, in each transaction's one insert)")


class BenchDatabase:
    """The `pur` tables in a schema of the bench's own, and pur_svc's unit of work over it."""

    def __init__(self, url: str) -> None:
        self.schema = f"bench_map_{uuid.uuid4().hex[:8]}"
        base = make_engine(url, pool_size=2, application_name="bench-map-change")
        self.engine = base.execution_options(schema_translate_map={orm.SCHEMA: self.schema})
        self.base = base
        self.session_factory = make_session_factory(self.engine)

    def __call__(self) -> SqlAlchemyPurUnitOfWork:
        return SqlAlchemyPurUnitOfWork(self.session_factory)

    def create(self) -> None:
        with self.base.begin() as conn:
            conn.execute(sa.text(f'CREATE SCHEMA "{self.schema}"'))
        with self.engine.begin() as conn:
            orm.metadata.create_all(conn)

    def drop(self) -> None:
        with self.base.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'))
        self.base.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--purs", type=int, default=20_000, help="open PURs of the hub the change re-routes")
    parser.add_argument("--others", type=int, default=None, help="PURs it must leave alone (default: purs / 10)")
    parser.add_argument("--days", type=int, default=3, help="pickup days the open PURs spread over")
    parser.add_argument("--batch-size", type=int, default=handlers.DEFAULT_REROUTE_BATCH_SIZE)
    parser.add_argument("--answer-batch", type=int, default=500, help="routing answers per transaction")
    parser.add_argument("--no-answers", action="store_true", help="measure the re-send only")
    parser.add_argument("--keep", action="store_true", help="keep the bench schema")
    args = parser.parse_args()

    db = BenchDatabase(database_url())
    db.create()
    try:
        hub = "bench-hub"
        load(db, hub, args.purs, args.purs // 10 if args.others is None else args.others, args.days)
        with db.engine.begin() as conn:
            conn.execute(sa.text(f'ANALYZE "{db.schema}".pickup_requests'))
        sent = resend(db, hub, args.batch_size)
        if not args.no_answers:
            answer(db, hub, sent, args.answer_batch)
    finally:
        if args.keep:
            print(f"\nkept schema {db.schema}")
        else:
            db.drop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
