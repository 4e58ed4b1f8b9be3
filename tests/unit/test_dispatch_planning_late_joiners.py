"""A pickup routed after a plan joins a planned OPEN dispatch with the service's configured planning
settings (service time per stop and package, the default shift), not the built-in defaults."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import pytest

from dispatch_svc.domain.hubs import Hub
from dispatch_svc.domain.model import Rider, Vehicle, VehicleType
from dispatch_svc.domain.planning import PlanningSettings, PlanResult
from dispatch_svc.domain.plans import CommitRequest
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer import plans as planning
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.planning_inputs import proposed_trip, record_attendance

HUB = "hub-1"
DAY = date(2026, 5, 11)
NOW = datetime.combine(DAY, time(6, 0), tzinfo=UTC)
routed = partial(pur_snapshot, hub=HUB, day=DAY)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def store() -> DispatchStore:
    """asha present without a shift of her own (the day's default applies), a bike; p1 queued on R1
    and committed as asha's planned trip 17:00-18:00."""
    store = DispatchStore()
    store.hubs[HUB] = Hub(HUB, "Hub One", 12.97, 77.59, "UTC")
    handlers.upsert_rider(FakeDispatchUnitOfWork(store), Rider("asha", HUB))
    handlers.upsert_vehicle(FakeDispatchUnitOfWork(store), Vehicle("bike", HUB, VehicleType.BIKE, 10, 20.0))
    record_attendance(store, "asha", hub=HUB, day=DAY, changed_at=NOW)
    handlers.apply_pur_changes(FakeDispatchUnitOfWork(store), [routed("p1", rider="asha")])
    planner = FakeTripPlanner(
        lambda problem: PlanResult(trips=(proposed_trip("R1", "asha", "bike", ["p1"], at(17), at(18)),), unplanned=())
    )
    plan = planning.plan_dispatches(FakeDispatchUnitOfWork(store), planner, HUB, DAY, now=lambda: NOW)
    planning.commit_dispatch_plan(FakeDispatchUnitOfWork(store), CommitRequest(plan.id), now=lambda: NOW)
    return store


def planned_end(store: DispatchStore) -> datetime | None:
    (dispatch,) = store.dispatches.values()
    return dispatch.planned_end


def test_the_configured_service_times_lengthen_the_planned_dispatch_a_pickup_joins(store) -> None:
    slow = PlanningSettings(service_seconds_per_stop=600, service_seconds_per_package=60)
    handlers.apply_pur_changes(FakeDispatchUnitOfWork(store), [routed("p2", packages=3)], settings=slow)
    assert store.pickups["p2"].dispatch_id is not None
    # 600 s + 3 x 60 s, not the default 120 s + 3 x 10 s
    assert planned_end(store) == at(18) + timedelta(seconds=780)


def test_the_configured_default_shift_keeps_a_pickup_out_of_a_dispatch_it_would_run_past(store) -> None:
    short_day = PlanningSettings(day_start=time(8, 0), day_end=time(18, 1))
    handlers.apply_pur_changes(FakeDispatchUnitOfWork(store), [routed("p2")], settings=short_day)
    # 18:00 + 150 s of service ends after the configured 18:01 (the built-in default day ends at 20:00)
    assert store.pickups["p2"].queued
    assert planned_end(store) == at(18)
