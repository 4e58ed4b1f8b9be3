"""Dispatch planning against the real `dispatch` schema (migration dispatch_0006), for what only
PostgreSQL shows: a plan's rows read back as stored, a commit's dispatches, stops, membership and
outbox rows written in one transaction (and nothing on a refused one), concurrent commits of one
plan creating nothing twice, CreateDispatch and CommitDispatchPlan booking one rider at once (one
waits for the other's lock and is refused; nothing overlaps), the new unique indexes (several planned OPEN dispatches per rider, one
IN_PROGRESS), expired plans deleted, and the migration's objects and downgrade. The rules are
tested on the fakes in tests/unit/test_dispatch_plans.py. Every test works in its own hub."""

from __future__ import annotations

import importlib.util
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.adapters.vroom_planner import VroomPlanner
from dispatch_svc.config import Settings
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence
from dispatch_svc.domain.model import NewDispatch, PickupStatus, Reassignment, Rider, RiderBusy, Vehicle, VehicleType
from dispatch_svc.domain.planning import GreatCircleTravelModel, PlanningProblem, PlanResult, Unplanned, UnplannedReason
from dispatch_svc.domain.plans import CommitRequest, WorldChanged
from dispatch_svc.service_layer import handlers, hubs
from dispatch_svc.service_layer import plans as planning
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.planning_inputs import proposed_trip

pytestmark = pytest.mark.integration

MIGRATION = Path(__file__).resolve().parents[2] / "dispatch_svc/migrations/versions/0006_plans.py"
TODAY = datetime.now(UTC).date()
routed = partial(pur_snapshot, day=TODAY)


def at(hours: float) -> datetime:
    """`hours` after the start of the current hour (trips are planned from now on)."""
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=hours)


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture
def hub(uow_factory) -> str:
    """A fresh hub (depot, UTC) with asha and bala present, a bike and a van, and p1..p3 on R1."""
    hub_id = f"hub-{uuid.uuid4().hex[:10]}"
    hubs.upsert_hub(uow_factory(), Hub(hub_id, "Depot", 12.9352, 77.6245, "UTC"))
    for rider in ("asha", "bala"):
        handlers.upsert_rider(uow_factory(), Rider(f"{hub_id}-{rider}", hub_id))
        change = AttendanceChange(f"{hub_id}-{rider}", hub_id, TODAY, Presence.PRESENT, datetime.now(UTC))
        hubs.apply_attendance_changes(uow_factory(), [change])
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub_id}-bike", hub_id, VehicleType.BIKE, 10, 20.0))
    handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub_id}-van", hub_id, VehicleType.VAN, 100, 500.0))
    handlers.apply_pur_changes(uow_factory(), [routed(f"{hub_id}-p{i}", hub=hub_id) for i in (1, 2, 3)])
    return hub_id


def asha_twice(hub: str) -> FakeTripPlanner:
    """asha drives R1 twice with the bike (p1, p2; then p3 after); nothing unplanned but p9."""

    def propose(problem: PlanningProblem) -> PlanResult:
        return PlanResult(
            trips=(
                proposed_trip("R1", f"{hub}-asha", f"{hub}-bike", [f"{hub}-p1", f"{hub}-p2"], at(1), at(2)),
                proposed_trip("R1", f"{hub}-asha", f"{hub}-bike", [f"{hub}-p3"], at(3), at(4)),
            ),
            unplanned=(Unplanned(f"{hub}-p9", UnplannedReason.OUTSIDE_EVERY_SHIFT, "ends after 20:00"),),
        )

    return FakeTripPlanner(propose)


def make_plan(uow_factory, hub: str) -> planning.DispatchPlan:
    return planning.plan_dispatches(uow_factory(), asha_twice(hub), hub, TODAY)


def keys(hub: str) -> list[bytes]:
    """Outbox keys (PUR ids) of the hub's pickups."""
    return [f"{hub}-p{i}".encode() for i in (1, 2, 3)]


def count(engine, table: sa.Table, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar_one()


def test_a_plan_reads_back_as_stored(uow_factory, hub):
    plan = make_plan(uow_factory, hub)
    with uow_factory() as uow:
        stored = uow.plans.get(plan.id)
    assert stored == plan
    assert stored is not None and stored.unplanned[0].reason == "outside every shift: ends after 20:00"


def test_a_commit_writes_dispatches_stops_members_and_events_in_one_transaction(engine, uow_factory, hub):
    plan = make_plan(uow_factory, hub)
    result = planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id))
    first, second = result.dispatches
    with uow_factory() as uow:
        loaded = uow.dispatches.get(first.id)
        stored = uow.plans.get(plan.id)
    assert loaded is not None and loaded.stops == first.stops and loaded.plan_id == plan.id
    assert (loaded.planned_start, loaded.planned_end) == (at(1), at(2))
    assert stored is not None and stored.dispatch_ids == {"t1": first.id, "t2": second.id}
    assert count(engine, orm.dispatch_stops, orm.dispatch_stops.c.dispatch_id.in_([first.id, second.id])) == 3
    assert count(engine, orm.outbox.table, orm.outbox.table.c.key.in_(keys(hub))) == 3
    # asha holds both planned OPEN dispatches; only one can be IN_PROGRESS (the index says so).
    handlers.start_dispatch(uow_factory(), first.id)
    with pytest.raises(RiderBusy):
        handlers.start_dispatch(uow_factory(), second.id)


def test_a_refused_commit_writes_nothing(engine, uow_factory, hub):
    plan = make_plan(uow_factory, hub)
    handlers.apply_pur_changes(uow_factory(), [routed(f"{hub}-p3", 3, hub=hub, status=PickupStatus.CANCELLED)])
    with pytest.raises(WorldChanged, match="CANCELLED"):
        planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id))
    assert count(engine, orm.dispatches, orm.dispatches.c.hub_id == hub) == 0
    assert count(engine, orm.outbox.table, orm.outbox.table.c.key.in_(keys(hub))) == 0
    assert count(engine, orm.plans, orm.plans.c.id == plan.id, orm.plans.c.committed_at.is_(None)) == 1


def test_concurrent_commits_of_one_plan_create_nothing_twice(engine, uow_factory, hub):
    plan = make_plan(uow_factory, hub)
    results: list[planning.Committed] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def commit() -> None:
        start.wait()
        try:
            results.append(planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id)))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=commit) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert sum(r.created for r in results) == 1
    assert len({tuple(d.id for d in r.dispatches) for r in results}) == 1
    assert count(engine, orm.dispatches, orm.dispatches.c.plan_id == plan.id) == 2


def test_expired_plans_are_deleted_with_their_trips(engine, uow_factory, hub):
    plan = make_plan(uow_factory, hub)
    with uow_factory() as uow:
        assert uow.plans.delete_expired(plan.expires_at + timedelta(seconds=1)) >= 1
        uow.commit()
    assert count(engine, orm.plans, orm.plans.c.id == plan.id) == 0
    assert count(engine, orm.plan_trips, orm.plan_trips.c.plan_id == plan.id) == 0


# -- CreateDispatch against CommitDispatchPlan for one rider ------------------------------------


class PausedCommit(SqlAlchemyDispatchUnitOfWork):
    """A unit of work that, its writes made, waits before committing until `go` is set (`reached`
    says it got there): the other transaction runs while this one holds its locks."""

    def __init__(self, session_factory, reached: threading.Event, go: threading.Event) -> None:
        super().__init__(session_factory)
        self.reached, self.go = reached, go

    def _commit(self, events: list[object]) -> None:
        self.reached.set()
        assert self.go.wait(30), "the test never let the paused transaction commit"
        super()._commit(events)


def hand_made(hub: str) -> NewDispatch:
    """asha with the van on route R2 for p7 (routed there): another route than the plan's R1 trips."""
    return new_dispatch(
        "req-race",
        hub=hub,
        day=TODAY,
        route="R2",
        rider_id=f"{hub}-asha",
        vehicle_id=f"{hub}-van",
        pur_ids=(f"{hub}-p7",),
    )


def run(target: Callable[[], object], outcome: dict[str, object]) -> threading.Thread:
    def body() -> None:
        try:
            outcome["result"] = target()
        except BaseException as exc:  # noqa: BLE001 - asserted by the test
            outcome["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    return thread


def asha_bookings(engine, hub: str) -> list[tuple[str, datetime | None, datetime | None]]:
    """asha's active dispatches: (plan id, planned start, planned end), by start."""
    d = orm.dispatches
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(d.c.plan_id, d.c.planned_start, d.c.planned_end).where(
                d.c.rider_id == f"{hub}-asha", d.c.status.in_(["OPEN", "IN_PROGRESS"])
            )
        ).all()
    return sorted(((r.plan_id, r.planned_start, r.planned_end) for r in rows), key=lambda b: b[1] or at(0))


@pytest.fixture
def race(session_factory, uow_factory, hub):
    """The plan (asha's two R1 trips), p7 queued on R2, asha and bala present for CreateDispatch."""
    handlers.apply_pur_changes(uow_factory(), [routed(f"{hub}-p7", hub=hub, route="R2")])
    attendance = FakeAttendance()
    attendance.present[hub] = {f"{hub}-asha", f"{hub}-bala"}
    reached, go = threading.Event(), threading.Event()
    return make_plan(uow_factory, hub), attendance, lambda: PausedCommit(session_factory, reached, go), reached, go


def test_a_hand_made_dispatch_waits_for_a_committing_plan_of_its_rider_and_is_refused(engine, uow_factory, hub, race):
    plan, attendance, paused, reached, go = race
    committing: dict[str, object] = {}
    creating: dict[str, object] = {}
    commit = run(lambda: planning.commit_dispatch_plan(paused(), CommitRequest(plan.id)), committing)
    assert reached.wait(30)
    create = run(lambda: handlers.create_dispatch(uow_factory(), attendance, hand_made(hub)), creating)
    create.join(1.5)
    assert create.is_alive(), f"CreateDispatch did not wait for asha's lock: {creating}"
    go.set()
    commit.join(30)
    create.join(30)
    assert "error" not in committing and len(committing["result"].dispatches) == 2
    assert isinstance(creating.get("error"), RiderBusy), creating
    assert asha_bookings(engine, hub) == [(plan.id, at(1), at(2)), (plan.id, at(3), at(4))]


def test_a_plan_commit_waits_for_a_hand_made_dispatch_of_its_rider_and_is_refused(engine, uow_factory, hub, race):
    plan, attendance, paused, reached, go = race
    committing: dict[str, object] = {}
    creating: dict[str, object] = {}
    create = run(lambda: handlers.create_dispatch(paused(), attendance, hand_made(hub)), creating)
    assert reached.wait(30)
    commit = run(lambda: planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id)), committing)
    commit.join(1.5)
    assert commit.is_alive(), f"CommitDispatchPlan did not wait for asha's lock: {committing}"
    go.set()
    create.join(30)
    commit.join(30)
    assert "error" not in creating, creating
    assert isinstance(committing.get("error"), WorldChanged), committing
    assert f"{hub}-asha" in str(committing["error"])
    assert asha_bookings(engine, hub) == [("", None, None)]
    assert count(engine, orm.dispatches, orm.dispatches.c.plan_id == plan.id) == 0


def bala_dispatch(uow_factory, attendance, hub: str):
    """bala with the van on R2 for p7: the OPEN dispatch a team lead then gives to asha."""
    made = new_dispatch(
        "req-bala",
        hub=hub,
        day=TODAY,
        route="R2",
        rider_id=f"{hub}-bala",
        vehicle_id=f"{hub}-van",
        pur_ids=(f"{hub}-p7",),
    )
    return handlers.create_dispatch(uow_factory(), attendance, made).dispatch


def to_asha(dispatch_id: str, hub: str) -> Reassignment:
    return Reassignment(dispatch_id, f"{hub}-asha", "", "bala went home")


def test_a_reassignment_waits_for_a_committing_plan_of_its_rider_and_is_refused(engine, uow_factory, hub, race):
    plan, attendance, paused, reached, go = race
    dispatch = bala_dispatch(uow_factory, attendance, hub)
    committing: dict[str, object] = {}
    reassigning: dict[str, object] = {}
    commit = run(lambda: planning.commit_dispatch_plan(paused(), CommitRequest(plan.id)), committing)
    assert reached.wait(30)
    reassign = run(
        lambda: handlers.reassign_dispatch(uow_factory(), attendance, to_asha(dispatch.id, hub)), reassigning
    )
    reassign.join(1.5)
    assert reassign.is_alive(), f"ReassignDispatch did not wait for asha's lock: {reassigning}"
    go.set()
    commit.join(30)
    reassign.join(30)
    assert "error" not in committing and len(committing["result"].dispatches) == 2
    assert isinstance(reassigning.get("error"), RiderBusy), reassigning
    assert asha_bookings(engine, hub) == [(plan.id, at(1), at(2)), (plan.id, at(3), at(4))]


def test_a_plan_commit_waits_for_a_reassignment_to_its_rider_and_is_refused(engine, uow_factory, hub, race):
    plan, attendance, paused, reached, go = race
    dispatch = bala_dispatch(uow_factory, attendance, hub)
    committing: dict[str, object] = {}
    reassigning: dict[str, object] = {}
    reassign = run(lambda: handlers.reassign_dispatch(paused(), attendance, to_asha(dispatch.id, hub)), reassigning)
    assert reached.wait(30)
    commit = run(lambda: planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id)), committing)
    commit.join(1.5)
    assert commit.is_alive(), f"CommitDispatchPlan did not wait for asha's lock: {committing}"
    go.set()
    reassign.join(30)
    commit.join(30)
    assert "error" not in reassigning, reassigning
    assert isinstance(committing.get("error"), WorldChanged), committing
    assert asha_bookings(engine, hub) == [("", None, None)]
    assert count(engine, orm.dispatches, orm.dispatches.c.plan_id == plan.id) == 0


# -- the migration --------------------------------------------------------------------------------

MINE = {
    "plans",
    "plan_trips",
    "plan_stops",
    "dispatch_stops",
    "plan_id",
    "planned_start",
    "planned_end",
    "dispatches_one_active_per",
    "dispatches_one_in_progress_per",
}


def test_the_migrated_schema_is_what_the_tables_declare(engine):
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
    assert [d for d in diffs if any(name in repr(d) for name in MINE)] == []


def test_the_migration_upgrades_and_downgrades(engine, pg_schema, monkeypatch):
    """dispatch_0006 run on a dispatches table shaped as before it, in a schema of the test's own."""
    spec = importlib.util.spec_from_file_location("dispatch_0006_under_test", MIGRATION)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    monkeypatch.setattr(migration, "SCHEMA", pg_schema)
    table = f'"{pg_schema}".dispatches'
    active = "WHERE status IN ('OPEN', 'IN_PROGRESS')"
    with engine.begin() as conn:
        conn.execute(
            sa.text(f"CREATE TABLE {table} (id text PRIMARY KEY, rider_id text, vehicle_id text, status text)")
        )
        for thing in ("rider", "vehicle"):
            conn.execute(
                sa.text(f"CREATE UNIQUE INDEX dispatches_one_active_per_{thing} ON {table} ({thing}_id) {active}")
            )
        with Operations.context(MigrationContext.configure(conn)):
            migration.upgrade()
        inspector = sa.inspect(conn)
        assert {"plans", "plan_trips", "plan_stops", "dispatch_stops"} <= set(inspector.get_table_names(pg_schema))
        indexes = {i["name"]: i for i in inspector.get_indexes("dispatches", schema=pg_schema)}
        assert (
            "planned_start IS NULL" in indexes["dispatches_one_active_per_rider"]["dialect_options"]["postgresql_where"]
        )
        assert "dispatches_one_in_progress_per_vehicle" in indexes
        conn.execute(
            sa.text(
                f"INSERT INTO {table} (id, rider_id, vehicle_id, status, plan_id, planned_start, planned_end) VALUES "
                "('d1', 'r', 'v', 'OPEN', 'p', now(), now() + interval '1 hour'), "
                "('d2', 'r', 'v', 'OPEN', 'p', now() + interval '2 hours', now() + interval '3 hours')"
            )
        )
        conn.execute(sa.text(f"DELETE FROM {table}"))
        with Operations.context(MigrationContext.configure(conn)):
            migration.downgrade()
        inspector = sa.inspect(conn)
        assert set(inspector.get_table_names(pg_schema)) == {"dispatches"}
        assert {c["name"] for c in inspector.get_columns("dispatches", schema=pg_schema)} == {
            "id",
            "rider_id",
            "vehicle_id",
            "status",
        }


def test_the_real_planner_plans_and_the_plan_commits(engine, uow_factory, hub):
    settings = Settings()
    planner = VroomPlanner(GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh))
    plan = planning.plan_dispatches(uow_factory(), planner, hub, TODAY, settings=settings.planning_settings)
    placed = [stop.pur_id for trip in plan.trips for stop in trip.stops] + [u.pur_id for u in plan.unplanned]
    assert sorted(placed) == [f"{hub}-p{i}" for i in (1, 2, 3)]
    result = planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id, only_valid_trips=True))
    assert sorted(p for d in result.dispatches for p in d.pur_ids) == sorted(
        stop.pur_id for trip in plan.trips for stop in trip.stops
    )


def test_a_queue_over_the_limits_is_planned_oldest_first_a_bounded_plan_at_a_time(engine, uow_factory, hub):
    # R1: p1..p3 and 60 more; R2: 20. Limits: 25 a route, 40 a plan -> R2 whole, R1 its 20 oldest.
    handlers.apply_pur_changes(uow_factory(), [routed(f"{hub}-x{i:02d}", hub=hub) for i in range(60)])
    handlers.apply_pur_changes(uow_factory(), [routed(f"{hub}-y{i:02d}", hub=hub, route="R2") for i in range(20)])
    with uow_factory() as uow:
        r1 = [p.pur_id for p in uow.pickups.queue(hub, "R1", TODAY)]
        r2 = [p.pur_id for p in uow.pickups.queue(hub, "R2", TODAY)]
    assert (len(r1), len(r2)) == (63, 20)
    settings = Settings(planning_max_stops_per_route=25, planning_max_stops=40)
    planner = VroomPlanner(GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh))
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        plan = planning.plan_dispatches(uow_factory(), planner, hub, TODAY, settings=settings.planning_settings)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    placed = [stop.pur_id for trip in plan.trips for stop in trip.stops] + [u.pur_id for u in plan.unplanned]
    assert sorted(placed) == sorted(r1[:20] + r2)
    assert plan.left_for_next_plan == {"R1": 43}
    queue_reads = [s for s in statements if "open_pickups" in s and "ORDER BY" in s and "position" in s]
    assert queue_reads and all("LIMIT" in s for s in queue_reads)  # the database hands over only the 40
    with uow_factory() as uow:
        stored = uow.plans.get(plan.id)
    assert stored is not None and len(stored.unplanned) <= 40

    # Once its trips are dispatched, the next plan takes the next oldest of what is still queued.
    planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan.id, only_valid_trips=True))
    with uow_factory() as uow:
        still = [p.pur_id for p in uow.pickups.queue(hub, "R1", TODAY)]
        still_r2 = [p.pur_id for p in uow.pickups.queue(hub, "R2", TODAY)]
    following = planning.plan_dispatches(uow_factory(), planner, hub, TODAY, settings=settings.planning_settings)
    placed = [stop.pur_id for trip in following.trips for stop in trip.stops] + [u.pur_id for u in following.unplanned]
    expected_r1 = min(25, 40 - min(len(still_r2), 20))
    assert sorted(placed) == sorted(still[:expected_r1] + still_r2[:20])
    assert following.left_for_next_plan.get("R1", 0) == len(still) - expected_r1
