"""`python -m dispatch_svc.commands.plan` against the real `dispatch` schema: it plans a hub's queue
with the service's planner and settings, shows progress, stores the plan as PlanDispatches does
(CommitDispatchPlan commits it), prints the summary and the plan id, and refuses bad requests
writing nothing. Every test works in its own hub."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.commands import plan as plan_command
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence
from dispatch_svc.domain.model import Rider, Vehicle, VehicleType
from dispatch_svc.domain.plans import CommitRequest
from dispatch_svc.service_layer import handlers, hubs
from dispatch_svc.service_layer import plans as planning
from tests.support.dispatch_inputs import pur_snapshot

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture(autouse=True)
def database(database_url, monkeypatch) -> None:
    """The command reads its database from the environment, as an operator runs it."""
    monkeypatch.setenv("FIRSTMILE_DATABASE_URL", database_url)


@pytest.fixture
def hub(uow_factory) -> str:
    """A fresh hub (UTC) with two riders present for the next 8 hours, two bikes of 10 packages, and
    six pickups of 3 packages on R1 and two on R2."""
    hub_id = f"hub-{uuid.uuid4().hex[:10]}"
    hubs.upsert_hub(uow_factory(), Hub(hub_id, "Depot", 12.9352, 77.6245, "UTC"))
    now = datetime.now(UTC)
    for rider in ("asha", "bala"):
        handlers.upsert_rider(uow_factory(), Rider(f"{hub_id}-{rider}", hub_id))
        change = AttendanceChange(
            f"{hub_id}-{rider}",
            hub_id,
            TODAY,
            Presence.PRESENT,
            now,
            now - timedelta(hours=1),
            now + timedelta(hours=8),
        )
        hubs.apply_attendance_changes(uow_factory(), [change])
    for bike in ("bike-1", "bike-2"):
        handlers.upsert_vehicle(uow_factory(), Vehicle(f"{hub_id}-{bike}", hub_id, VehicleType.BIKE, 10, 20.0))
    snapshots = [pur_snapshot(f"{hub_id}-p{i}", hub=hub_id, day=TODAY) for i in range(6)]
    snapshots += [pur_snapshot(f"{hub_id}-q{i}", hub=hub_id, day=TODAY, route="R2") for i in range(2)]
    handlers.apply_pur_changes(uow_factory(), snapshots)
    return hub_id


def plan_id_of(output: str) -> str:
    first = output.splitlines()[0]
    assert first.startswith("plan plan_"), output
    return first.split()[1].rstrip(":")


def plans_of(engine, hub: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(orm.plans).where(orm.plans.c.hub_id == hub)
        ).scalar_one()


def test_the_command_plans_the_queue_with_progress_and_the_stored_plan_commits(uow_factory, hub, capsys):
    assert plan_command.main(["--hub", hub, "--date", TODAY.isoformat(), "--trips"]) == 0
    out, err = capsys.readouterr()
    plan_id = plan_id_of(out)
    # 18 packages on R1 need two bike loads; R2's 6 packages one: every pickup placed
    assert "8 pickups planned, 0 unplanned" in out
    assert "R1: 2 trips, 6 pickups" in out and "R2: 1 trips, 2 pickups" in out
    assert f'{{"plan_id": "{plan_id}"}}' in out and "CommitDispatchPlan" in out
    assert "planning" in err and "8/8" in err and "done" in err
    with uow_factory() as uow:
        stored = uow.plans.get(plan_id)
    assert stored is not None and stored.hub_id == hub and not stored.committed
    assert sorted(p for t in stored.trips for p in t.pur_ids) == sorted(
        [f"{hub}-p{i}" for i in range(6)] + [f"{hub}-q{i}" for i in range(2)]
    )
    committed = planning.commit_dispatch_plan(uow_factory(), CommitRequest(plan_id))
    assert len(committed.dispatches) == 3


def test_the_command_plans_only_the_routes_named(uow_factory, hub, capsys):
    assert plan_command.main(["--hub", hub, "--date", TODAY.isoformat(), "--routes", "R2", "--no-progress"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    with uow_factory() as uow:
        stored = uow.plans.get(plan_id_of(out))
    assert stored is not None and {t.route_id for t in stored.trips} == {"R2"}


def test_the_command_refuses_an_unknown_hub_a_past_day_and_unknown_routes_storing_nothing(engine, hub, capsys):
    yesterday = (TODAY - timedelta(days=1)).isoformat()
    assert plan_command.main(["--hub", f"{hub}-x", "--date", TODAY.isoformat(), "--no-progress"]) == 1
    assert "not planned" in capsys.readouterr().err
    assert plan_command.main(["--hub", hub, "--date", yesterday, "--no-progress"]) == 1
    assert "in the past" in capsys.readouterr().err
    assert plan_command.main(["--hub", hub, "--date", TODAY.isoformat(), "--routes", "R1,R9", "--no-progress"]) == 1
    assert "R9" in capsys.readouterr().err
    assert plans_of(engine, hub) == 0
    with pytest.raises(SystemExit) as bad:
        plan_command.main(["--hub", hub, "--date", "07/12/2026"])
    assert bad.value.code == 2
