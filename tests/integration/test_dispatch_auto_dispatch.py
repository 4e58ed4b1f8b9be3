"""Auto-dispatch against the real `dispatch` schema, for what only PostgreSQL shows: two replicas
planning a hub's due queue at the same moment commit it once (the commit's route locks and
only_valid_trips), and the real planner's plan of a due queue commits every pickup. The rules are
tested on the fakes in tests/unit/test_dispatch_auto_dispatch.py."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.vroom_planner import VroomPlanner
from dispatch_svc.config import Settings
from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.hubs import AttendanceChange, Presence
from dispatch_svc.domain.planning import GreatCircleTravelModel, PlanningProblem, PlanResult
from dispatch_svc.service_layer import hubs
from dispatch_svc.service_layer.auto_dispatch import AutoPlanOutcome, auto_plan_hub
from tests.integration.test_dispatch_plans import TODAY, asha_twice, hub, uow_factory  # noqa: F401 - fixtures
from tests.support.fakes_dispatch_plans import FakeTripPlanner

pytestmark = pytest.mark.integration


def policy(hub_id: str) -> AutoDispatchPolicy:
    """Due at 3 queued pickups (the fixture's hub queues p1..p3 on R1); the cut-off never passes."""
    return AutoDispatchPolicy(frozenset({hub_id}), 3, time(23, 59, 59), ZoneInfo("UTC"))


def members(engine, hub_id: str) -> Counter[str]:
    """How many live dispatches hold each of the hub's pickups."""
    query = (
        sa.select(orm.dispatch_pickups.c.pur_id)
        .join(orm.dispatches, orm.dispatches.c.id == orm.dispatch_pickups.c.dispatch_id)
        .where(orm.dispatches.c.hub_id == hub_id, orm.dispatches.c.status != "CANCELLED")
    )
    with engine.connect() as conn:
        return Counter(conn.execute(query).scalars())


def test_two_replicas_planning_the_same_due_queue_at_once_commit_it_once(engine, uow_factory, hub):  # noqa: F811
    both_planned = threading.Barrier(2, timeout=10)
    proposal = asha_twice(hub).propose

    def propose_after_the_other_planned(problem: PlanningProblem) -> PlanResult:
        both_planned.wait()
        return proposal(problem)

    outcomes: list[AutoPlanOutcome] = []
    errors: list[BaseException] = []

    def replica() -> None:
        try:
            planner = FakeTripPlanner(propose_after_the_other_planned)
            outcomes.append(auto_plan_hub(uow_factory(), planner, policy(hub), hub))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=replica) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    first, second = sorted(outcomes, key=lambda o: -len(o.dispatches))
    assert len(first.dispatches) == 2 and not first.skipped
    assert second.dispatches == () and len(second.skipped) == 2
    assert all("already in dispatch" in why for why in second.skipped)
    assert members(engine, hub) == Counter({f"{hub}-p1": 1, f"{hub}-p2": 1, f"{hub}-p3": 1})


def test_the_real_planner_plans_a_due_queue_and_every_pickup_is_committed(engine, uow_factory, hub):  # noqa: F811
    # Shifts from now on, so the trips fit whatever the hour the test runs at.
    now = datetime.now(UTC)
    shift = (now, now + timedelta(hours=3))
    hubs.apply_attendance_changes(
        uow_factory(),
        [AttendanceChange(f"{hub}-{r}", hub, TODAY, Presence.PRESENT, now, *shift) for r in ("asha", "bala")],
    )
    settings = Settings()
    planner = VroomPlanner(GreatCircleTravelModel(settings.planning_circuity_factor, settings.planning_speeds_kmh))
    outcome = auto_plan_hub(uow_factory(), planner, policy(hub), hub, settings=settings.planning_settings)
    assert outcome.dispatches and not outcome.skipped and outcome.unplanned == 0
    assert all(d.automatic and d.plan_id == outcome.plan_id and d.stops for d in outcome.dispatches)
    assert members(engine, hub) == Counter({f"{hub}-p1": 1, f"{hub}-p2": 1, f"{hub}-p3": 1})
