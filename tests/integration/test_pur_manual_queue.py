"""The manual queue against the real `pur` schema: what only PostgreSQL shows. The queue's SQL
(filters, paging, the partial index that serves it), the route read model's guarded upserts and
tombstones from multi-part map changes, manual assignments stored and announced with their
fields, and migration pur_0004 itself. The rules are unit-tested on the in-memory fakes
(tests/unit/test_pur_manual_queue.py)."""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from pur_svc.adapters import orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.model import KnownRoute, MapChange, PickupStatus, ReviewReason, RouteAssignment, RouteMatch
from pur_svc.service_layer import handlers
from pur_svc.service_layer.handlers import ManualAssignment
from pur_svc.service_layer.repositories import ManualQueueFilter
from tests.support import pur_inputs

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
CELL = "89618928cafffff"
MIGRATION = Path(__file__).resolve().parents[2] / "pur_svc/migrations/versions/0004_manual_queue.py"
QUEUE_INDEX = "pickup_requests_manual_queue_idx"


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyPurUnitOfWork(session_factory)


@pytest.fixture
def hub(uow_factory) -> str:
    """A hub pur_svc knows at map version 1."""
    hub_id = f"hub-{uuid.uuid4().hex[:8]}"
    handlers.apply_map_change(uow_factory(), MapChange(hub_id, 1))
    return hub_id


def create(uow_factory, hub: str, count: int = 1, *, client: str | None = None, day=TODAY) -> list[str]:
    client = client or f"client-{uuid.uuid4().hex[:8]}"
    requests = [pur_inputs.new_pickup(f"r{n}", client=client, hub=hub, day=day) for n in range(count)]
    return [r.pickup.id for r in handlers.create_pickups(uow_factory(), requests)]


def unroutable(pur_id: str, hub: str, version: int = 1) -> RouteAssignment:
    return RouteAssignment(pur_id, hub, "", "", RouteMatch.NONE, 0.0, CELL, version, "too far", "R-near", 2400.0)


def route_rows(engine, *route_ids: str) -> dict:
    with engine.connect() as conn:
        rows = conn.execute(sa.select(orm.routes).where(orm.routes.c.id.in_(route_ids)))
        return {r.id: r for r in rows}


def status_changes(engine, pur_id: str) -> list[events_pb2.PickupStatusChanged]:
    table = orm.outbox.table
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.payload)
            .where(table.c.key == pur_id.encode(), table.c.topic == "pur.events.v1")
            .order_by(table.c.id)
        )
        return [events_pb2.PickupStatusChanged.FromString(r.payload) for r in rows]


def route(route_id: str, hub: str, *, name: str = "", rider: str = "", active: bool = True) -> KnownRoute:
    return KnownRoute(route_id, hub, name or f"route {route_id}", rider, active, 0)


# -- the route read model -----------------------------------------------------------------------


def test_the_read_model_keeps_every_part_and_never_goes_back(engine, uow_factory, hub):
    r1, r2, r3 = (f"{hub}-r{n}" for n in (1, 2, 3))
    parts = [
        MapChange(hub, 2, routes=(route(r1, hub, rider="asha"), route(r2, hub)), part=1, parts=2),
        MapChange(hub, 2, routes=(route(r3, hub, active=False),), part=2, parts=2),
    ]
    for part in parts:
        handlers.apply_map_change(uow_factory(), part)
    rows = route_rows(engine, r1, r2, r3)
    assert {i: (r.hub_id, r.default_rider_id, r.active, r.deleted, r.map_version) for i, r in rows.items()} == {
        r1: (hub, "asha", True, False, 2),
        r2: (hub, "", True, False, 2),
        r3: (hub, "", False, False, 2),
    }

    handlers.apply_map_change(uow_factory(), MapChange(hub, 3, routes=(route(r1, hub, rider="bala"),)))
    handlers.apply_map_change(uow_factory(), MapChange(hub, 4, deleted_route_ids=(r2,)))
    # Replayed older parts: neither the old rider nor the deleted route comes back.
    for part in parts:
        handlers.apply_map_change(uow_factory(), part)
    rows = route_rows(engine, r1, r2)
    assert (rows[r1].default_rider_id, rows[r1].map_version) == ("bala", 3)
    assert (rows[r2].deleted, rows[r2].map_version) == (True, 4)
    with uow_factory() as uow:
        assert set(uow.routes.get_many([r1, r2, r3, "nope"])) == {r1, r3}

    # A deletion marks only what it deleted: not a route a newer version wrote, nor one marked already.
    with uow_factory() as uow:
        assert uow.routes.delete(hub, [r1, r2, f"{hub}-unknown"], 3, datetime.now(UTC)) == [f"{hub}-unknown"]
        uow.commit()
    assert not route_rows(engine, r1)[r1].deleted


# -- manual assignments ---------------------------------------------------------------------------


def test_a_manual_assignment_is_stored_and_announced(engine, uow_factory, hub):
    r1 = f"{hub}-r1"
    handlers.apply_map_change(uow_factory(), MapChange(hub, 2, routes=(route(r1, hub, rider="asha"),)))
    [pur_id] = create(uow_factory, hub)
    handlers.apply_route_assignments(uow_factory(), [unroutable(pur_id, hub, 2)])
    stored = handlers.get_pickup(uow_factory(), pur_id)
    assert (stored.review, stored.nearest_route_id, stored.nearest_distance_m) == (
        ReviewReason.UNROUTABLE,
        "R-near",
        2400.0,
    )

    [pur] = handlers.assign_routes(uow_factory(), [ManualAssignment(pur_id, r1, "seller on the lane")])
    stored = handlers.get_pickup(uow_factory(), pur_id)
    assert stored == pur
    assert (stored.status, stored.route_match, stored.rider_id, stored.map_version, stored.manual_reason) == (
        PickupStatus.ROUTED,
        RouteMatch.MANUAL,
        "asha",
        2,
        "seller on the lane",
    )
    assert (stored.review, stored.nearest_route_id) == (None, "")
    announced = status_changes(engine, pur_id)[-1]
    assert (announced.status, announced.route_id, announced.previous_status) == (
        pur_pb2.PICKUP_STATUS_ROUTED,
        r1,
        pur_pb2.PICKUP_STATUS_UNROUTABLE,
    )
    assert (announced.pickup_request.route_match, announced.pickup_request.manual_reason) == (
        common_pb2.ROUTE_MATCH_MANUAL,
        "seller on the lane",
    )

    # Its route deleted: back in the queue, announced as unroutable and off the route.
    handlers.apply_map_change(uow_factory(), MapChange(hub, 3, deleted_route_ids=(r1,)))
    stored = handlers.get_pickup(uow_factory(), pur_id)
    assert (stored.status, stored.review, stored.route_id, stored.rider_id) == (
        PickupStatus.UNROUTABLE,
        ReviewReason.ROUTE_DELETED,
        "",
        "",
    )
    announced = status_changes(engine, pur_id)[-1]
    assert (announced.status, announced.previous_route_id) == (pur_pb2.PICKUP_STATUS_UNROUTABLE, r1)
    assert announced.pickup_request.review == pur_pb2.REVIEW_REASON_ROUTE_DELETED


def test_a_deletion_waits_for_an_assignment_to_its_route_and_then_undoes_it(uow_factory, hub):
    """The assignment reads the route FOR SHARE: the deletion's tombstone waits for it to commit,
    then finds the PUR routed to the deleted route and sends it back. (Without the lock the
    deletion would miss a PUR assigned in between, leaving it routed to a route that is gone.)"""
    r1 = f"{hub}-r1"
    handlers.apply_map_change(uow_factory(), MapChange(hub, 2, routes=(route(r1, hub),)))
    [pur_id] = create(uow_factory, hub)
    deleted = threading.Event()

    def delete_route() -> None:
        handlers.apply_map_change(uow_factory(), MapChange(hub, 3, deleted_route_ids=(r1,)))
        deleted.set()

    with uow_factory() as uow:
        [pur] = uow.pickups.get_many_for_update([pur_id]).values()
        route_now = uow.routes.get_many([r1])[r1]
        deleter = threading.Thread(target=delete_route)
        deleter.start()
        assert not deleted.wait(0.5), "the deletion did not wait for the assignment"
        assert pur.assign_manually(route_now, 2, "by hand", datetime.now(UTC))
        uow.pickups.update([pur])
        uow.commit()
    deleter.join(10)
    assert deleted.is_set()
    stored = handlers.get_pickup(uow_factory(), pur_id)
    assert (stored.status, stored.review, stored.route_id) == (PickupStatus.UNROUTABLE, ReviewReason.ROUTE_DELETED, "")


def test_a_refused_batch_writes_nothing(engine, uow_factory, hub):
    r1 = f"{hub}-r1"
    handlers.apply_map_change(uow_factory(), MapChange(hub, 2, routes=(route(r1, hub),)))
    first, second = create(uow_factory, hub, 2)
    before = [handlers.get_pickup(uow_factory(), p) for p in (first, second)]
    with pytest.raises(Exception, match=r"assignments\[1\]: route 'nope' does not exist"):
        handlers.assign_routes(uow_factory(), [ManualAssignment(first, r1, "x"), ManualAssignment(second, "nope", "x")])
    assert [handlers.get_pickup(uow_factory(), p) for p in (first, second)] == before
    assert len(status_changes(engine, first)) == 1


# -- the queue ------------------------------------------------------------------------------------


def test_the_queue_pages_in_creation_order_with_its_filters(uow_factory, hub):
    queued = create(uow_factory, hub, 25)
    tomorrow = create(uow_factory, hub, 3, day=TODAY + timedelta(days=1))
    routed = create(uow_factory, hub, 2)
    assignments = [unroutable(p, hub) for p in queued + tomorrow]
    assignments += [RouteAssignment(p, hub, "R1", "", RouteMatch.EXACT, 0.0, CELL, 1) for p in routed]
    handlers.apply_route_assignments(uow_factory(), assignments)

    def every_page(where: ManualQueueFilter) -> list[str]:
        seen, cursor = [], None
        while True:
            page, cursor = handlers.list_manual_queue(uow_factory(), where, 10, cursor)
            seen += [p.id for p in page]
            if cursor is None:
                return seen

    # One batch shares its creation time: ids order it.
    assert every_page(ManualQueueFilter(hub, TODAY)) == sorted(queued)
    assert every_page(ManualQueueFilter(hub)) == sorted(queued) + sorted(tomorrow)
    assert every_page(ManualQueueFilter(hub, review=ReviewReason.FAR_FROM_ROUTE)) == []
    assert set(every_page(ManualQueueFilter(hub, review=ReviewReason.UNROUTABLE))) == set(queued + tomorrow)


@pytest.fixture
def hubless(uow_factory) -> Iterator[str]:
    """An unroutable PUR without a hub, cancelled afterwards (every map change of any hub would
    re-route it)."""
    [pur_id] = create(uow_factory, "")
    handlers.apply_route_assignments(uow_factory(), [unroutable(pur_id, "", 0)])
    yield pur_id
    handlers.cancel_pickup(uow_factory(), pur_id, "test over")


def test_hubless_pickups_have_their_queue(uow_factory, hubless):
    seen, cursor = [], None
    while True:  # the shared database may hold other tests' hubless PURs
        page, cursor = handlers.list_manual_queue(uow_factory(), ManualQueueFilter(""), 1000, cursor)
        seen += [p.id for p in page if p.id == hubless]
        if cursor is None:
            break
    assert seen == [hubless]


def test_the_partial_index_serves_the_queue(engine, hub):
    queue = (
        sa.select(orm.pickup_requests)
        .where(orm.pickup_requests.c.review.is_not(None), orm.pickup_requests.c.hub_id == hub)
        .order_by(orm.pickup_requests.c.created_at, orm.pickup_requests.c.id)
        .limit(101)
    )
    with engine.begin() as conn:
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        compiled = queue.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        plan = "\n".join(conn.execute(sa.text(f"EXPLAIN {compiled}")).scalars())
    assert QUEUE_INDEX in plan, plan


# -- the migration --------------------------------------------------------------------------------


def test_the_migrated_schema_is_what_the_tables_declare(engine):
    """pur_0004's objects in the `pur` schema (migrated to head) match the ORM's."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "include_schemas": True,
                "include_name": lambda name, type_, _: type_ != "schema" or name == orm.SCHEMA,
                "compare_type": True,
            },
        )
        diffs = compare_metadata(context, orm.metadata)
    mine = {"routes", "review", "nearest_route_id", "nearest_distance_m", "manual_reason", QUEUE_INDEX}
    assert [d for d in diffs if any(name in repr(d) for name in mine)] == []


def test_the_migration_upgrades_and_downgrades(engine, pg_schema, monkeypatch):
    """pur_0004 run on a table shaped as pur_0003 left it, in a schema of the test's own: it
    adds the columns, puts the PURs already unroutable in the queue, and undoes it all."""
    spec = importlib.util.spec_from_file_location("pur_0004_under_test", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    monkeypatch.setattr(migration, "SCHEMA", pg_schema)
    table = f'"{pg_schema}".pickup_requests'
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {table} (id text PRIMARY KEY, hub_id text, status text, created_at timestamptz)")
        )
        conn.execute(
            sa.text(f"INSERT INTO {table} VALUES ('p1', 'h', 'UNROUTABLE', now()), ('p2', 'h', 'ROUTED', now())")
        )
        with Operations.context(MigrationContext.configure(conn)):
            migration.upgrade()
        inspector = sa.inspect(conn)
        columns = {c["name"] for c in inspector.get_columns("pickup_requests", schema=pg_schema)}
        assert {"review", "nearest_route_id", "nearest_distance_m", "manual_reason"} <= columns
        assert inspector.has_table("routes", schema=pg_schema)
        [index] = [i for i in inspector.get_indexes("pickup_requests", schema=pg_schema) if i["name"] == QUEUE_INDEX]
        assert index["column_names"] == ["hub_id", "created_at", "id"]
        assert "review IS NOT NULL" in index["dialect_options"]["postgresql_where"]
        reviews = dict(conn.execute(sa.text(f"SELECT id, review FROM {table} ORDER BY id")).all())
        assert reviews == {"p1": "UNROUTABLE", "p2": None}

        with Operations.context(MigrationContext.configure(conn)):
            migration.downgrade()
        inspector = sa.inspect(conn)
        assert {c["name"] for c in inspector.get_columns("pickup_requests", schema=pg_schema)} == {
            "id",
            "hub_id",
            "status",
            "created_at",
        }
        assert not inspector.has_table("routes", schema=pg_schema)
