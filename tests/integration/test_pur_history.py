"""PUR history and bounded re-routing against the real `pur` schema: what only PostgreSQL shows.
History rows commit with the change they record (and not without it), a batch of creates writes
its history in one multi-row INSERT, every field round-trips; the re-routing queries take the
right PURs in (pickup_date, id) order through their partial index, and a hub's re-routing
position survives a crash. The rules are unit-tested on the fakes (tests/unit/test_pur_history.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest
import sqlalchemy as sa

from mesh.errors import NotFound
from pur_svc.adapters import orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.history import ROUTING_SVC, Actor
from pur_svc.domain.model import (
    DispatchChange,
    DispatchChangeKind,
    MapChange,
    PickupStatus,
    RouteAssignment,
    RouteMatch,
)
from pur_svc.service_layer import handlers
from pur_svc.service_layer.repositories import ReroutePosition
from tests.support import pur_inputs

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
LEAD = Actor("tl-priya", "team-lead")


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyPurUnitOfWork(session_factory)


@pytest.fixture
def hub(uow_factory) -> str:
    hub_id = f"hub-{uuid.uuid4().hex[:8]}"
    with uow_factory() as uow:
        uow.pickups.record_hub_map(hub_id, 1, datetime.now(UTC))
        uow.pickups.record_reroute_position(hub_id, None)
        uow.commit()
    return hub_id


@pytest.fixture
def client() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


new_pickup = partial(pur_inputs.new_pickup, day=TODAY)


def history_rows(engine, pur_ids: list[str]) -> list:
    table = orm.pickup_history
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(table).where(table.c.pur_id.in_(pur_ids)).order_by(table.c.pur_id, table.c.version))
        )


class StatementLog:
    """The statements the engine sends while the block runs (one per executemany batch)."""

    def __init__(self, engine) -> None:
        self.engine, self.statements = engine, []

    def _record(self, conn, cursor, statement, parameters, context, executemany) -> None:
        self.statements.append(statement)

    def __enter__(self) -> StatementLog:
        sa.event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(self.engine, "before_cursor_execute", self._record)

    def count(self, prefix: str) -> int:
        return sum(1 for s in self.statements if s.lstrip().upper().startswith(prefix.upper()))


def test_a_batch_of_creates_writes_its_history_in_one_insert(engine, uow_factory, hub, client):
    requests = [new_pickup(f"r{i}", client=client, hub=hub) for i in range(300)]
    with StatementLog(engine) as log:
        results = handlers.create_pickups(uow_factory(), requests, actor=Actor(client, "client"))
    assert log.count("INSERT INTO pur.pickup_history") == 1
    # The client's own entries: a running mesh may already be routing these PURs (its entries
    # name pur_svc as the actor).
    rows = [r for r in history_rows(engine, [r.pickup.id for r in results]) if r.actor_subject == client]
    assert len(rows) == 300 and {(r.version, r.status, r.actor_subject, r.reason) for r in rows} == {
        (1, "PENDING_ROUTE", client, "created")
    }

    # A retried batch creates nothing and records nothing.
    handlers.create_pickups(uow_factory(), requests, actor=Actor(client, "client"))
    again = [r for r in history_rows(engine, [r.pickup.id for r in results]) if r.actor_subject == client]
    assert len(again) == 300


def test_a_failed_change_leaves_no_history(engine, uow_factory, hub, client):
    requests = [new_pickup("r1", client=client, hub=hub), new_pickup("r2", client=client, hub="hub-nobody-mapped")]
    with pytest.raises(NotFound):
        handlers.create_pickups(uow_factory(), requests)
    table = orm.pickup_requests
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).where(table.c.client_id == client)).scalar_one() == 0
    [created] = handlers.create_pickups(uow_factory(), requests[:1])
    with pytest.raises(NotFound):
        handlers.cancel_pickup(uow_factory(), created.pickup.id, "closed", authorize=lambda p: _refuse())
    assert [r.version for r in history_rows(engine, [created.pickup.id])] == [1]


def _refuse() -> None:
    raise NotFound("hidden")


def test_every_change_and_its_fields_round_trip(uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client=client, hub=hub)], actor=LEAD)
    pur_id = created.pickup.id
    nearest = RouteAssignment(pur_id, hub, "R2", "rider-2", RouteMatch.NEAREST, 640.0, "89618928cafffff", 2)
    handlers.apply_route_assignments(uow_factory(), [nearest])
    change = partial(DispatchChange, pur_id, "D-1")
    handlers.apply_dispatch_changes(uow_factory(), [change(DispatchChangeKind.DISPATCHED, 1, "rider-d")])
    handlers.apply_dispatch_changes(
        uow_factory(), [change(DispatchChangeKind.RIDER_CHANGED, 2, "rider-e", LEAD, "rider sick")]
    )
    handlers.apply_dispatch_changes(uow_factory(), [change(DispatchChangeKind.RELEASED, 3, "rider-e")])
    stored = handlers.get_pickup(uow_factory(), pur_id)
    assert (stored.rider_id, stored.route_rider_id, stored.dispatch_id) == ("rider-2", "rider-2", "")

    entries = handlers.pickup_history(uow_factory(), pur_id)
    assert [(e.version, e.status, e.rider_id, e.dispatch_id, e.actor, e.reason) for e in entries] == [
        (1, PickupStatus.PENDING_ROUTE, "", "", LEAD, "created"),
        (2, PickupStatus.ROUTED, "rider-2", "", ROUTING_SVC, "routed: nearest route R2, 640 m away (map v2)"),
        (3, PickupStatus.DISPATCHED, "rider-d", "D-1", Actor("dispatch_svc", "service"), "dispatched on D-1"),
        (4, PickupStatus.DISPATCHED, "rider-e", "D-1", LEAD, "rider changed to rider-e: rider sick"),
        (5, PickupStatus.ROUTED, "rider-2", "", Actor("dispatch_svc", "service"), "released from D-1"),
    ]
    routed = entries[1]
    assert (routed.route_id, routed.route_match, routed.map_version) == ("R2", RouteMatch.NEAREST, 2)
    assert routed.time.tzinfo is not None and entries[0].time <= routed.time


# -- bounded re-routing ---------------------------------------------------------------------------------


def sent_for_rerouting(uow_factory, hub: str, map_version: int, batch_size: int) -> list[list[str]]:
    """The batches the re-routing sends, each committed before the next is read."""
    batches = []
    while True:
        with uow_factory() as uow:
            position = uow.pickups.reroute_position(hub, map_version)
            if position is None:
                return batches
            batch = uow.pickups.reroute_candidates(hub, map_version, position, TODAY, batch_size)
            done = len(batch) < batch_size
            uow.pickups.record_reroute_position(
                hub, None if done else ReroutePosition(batch[-1].pickup_date, batch[-1].id)
            )
            uow.commit()
        batches.append([p.id for p in batch])
        if done:
            return batches


def test_the_reroute_queries_take_open_automatic_purs_in_order_and_resume(engine, uow_factory, hub, client):
    days = [TODAY + timedelta(days=d) for d in (0, 1, 2)]
    results = handlers.create_pickups(
        uow_factory(), [new_pickup(f"r{i}", client=client, hub=hub, day=days[i % 3]) for i in range(10)]
    )
    open_ids = {r.pickup.id for r in results}
    [past] = handlers.create_pickups(
        uow_factory(), [new_pickup("past", client=client, hub=hub, day=TODAY - timedelta(days=1))]
    )
    excluded = {}
    for name, values in {
        "dispatched": {"status": "DISPATCHED"},
        "manual": {"status": "ROUTED", "route_match": "MANUAL"},
        "current": {"status": "ROUTED", "map_version": 2},
    }.items():
        pur_id = sorted(open_ids)[len(excluded)]
        excluded[name] = pur_id
        with engine.begin() as conn:
            table = orm.pickup_requests
            conn.execute(sa.update(table).where(table.c.id == pur_id).values(**values))
    expected = sorted((handlers.get_pickup(uow_factory(), p).pickup_date, p) for p in open_ids - set(excluded.values()))

    with uow_factory() as uow:
        assert uow.pickups.record_hub_map(hub, 2, datetime.now(UTC))
        uow.commit()
    with uow_factory() as uow:
        first = uow.pickups.reroute_candidates(hub, 2, ReroutePosition(TODAY, ""), TODAY, 3)
        uow.pickups.record_reroute_position(hub, ReroutePosition(first[-1].pickup_date, first[-1].id))
        uow.commit()
    # A crash here: the position was committed with the first batch, so the rest follows it. (PURs
    # without a hub, of other tests, come along: the database is shared.)
    mine = [[p for p in batch if p in open_ids] for batch in sent_for_rerouting(uow_factory, hub, 2, 3)]
    taken = [p.id for p in first if p.id in open_ids] + [p for batch in mine for p in batch]
    assert taken == [p for _, p in expected] and past.pickup.id not in taken

    with uow_factory() as uow:
        assert uow.pickups.reroute_position(hub, 2) is None  # done
        assert not uow.pickups.record_hub_map(hub, 2, datetime.now(UTC))  # the same map again


def test_a_map_change_sends_its_reroutes_through_the_outbox_in_batches(engine, uow_factory, hub, client):
    results = handlers.create_pickups(uow_factory(), [new_pickup(f"r{i}", client=client, hub=hub) for i in range(7)])
    ids = [r.pickup.id for r in results]
    sent = handlers.apply_map_change(uow_factory(), MapChange(hub, 2), batch_size=3)
    assert sent >= 7  # PURs without a hub, of other tests, may be sent too
    table = orm.outbox.table
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.topic).where(
                table.c.key.in_([p.encode() for p in ids]), table.c.topic == "pur.created.v1"
            )
        ).all()
    assert len(rows) == 14  # each PUR's creation and its re-routing
    assert handlers.apply_map_change(uow_factory(), MapChange(hub, 2), batch_size=3) == 0


def test_the_reroute_query_uses_its_partial_index(engine, hub):
    table = orm.pickup_requests
    statement = (
        sa.select(table.c.id)
        .where(
            table.c.hub_id == hub,
            table.c.status.in_(["PENDING_ROUTE", "ROUTED", "UNROUTABLE"]),
            table.c.pickup_date >= TODAY,
            sa.tuple_(table.c.pickup_date, table.c.id) > sa.tuple_(sa.literal(TODAY), sa.literal("")),
        )
        .order_by(table.c.pickup_date, table.c.id)
        .limit(500)
    )
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(row[0] for row in conn.execute(sa.text(f"EXPLAIN {compiled}")))
    assert "pickup_requests_reroute_idx" in plan, plan
