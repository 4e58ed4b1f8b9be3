"""Auto-dispatch through the planner: its policy in the hub's time zone, the due routes of a hub
planned together and committed, and the worker."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta
from functools import partial
from zoneinfo import ZoneInfo

import pytest

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.events import DispatchEvent
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence
from dispatch_svc.domain.model import SERVICE_ACTOR, ChangeKind, DispatchStatus, Rider, Vehicle, VehicleType
from dispatch_svc.domain.planning import PlannedStopEta, PlanningProblem, PlanResult, ProposedTrip
from dispatch_svc.domain.plans import CommitRequest
from dispatch_svc.entrypoints.auto_dispatch import FRUITLESS_RETRY_ROUNDS, AutoDispatcher
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer import plans as planning
from dispatch_svc.service_layer.auto_dispatch import auto_plan_hub
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.polling import wait_until

HUB = "hub-1"
POLICY = AutoDispatchPolicy(frozenset({HUB}), 3, time(14, 0), ZoneInfo("Asia/Kolkata"))


def test_the_cutoff_and_the_day_are_the_hubs_local_ones_when_it_has_a_zone():
    utc_noon = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)  # 17:30 in Kolkata, 08:00 in New York
    new_york = ZoneInfo("America/New_York")
    assert "cut-off 14:00 Asia/Kolkata passed" in POLICY.due(1, utc_noon)
    assert POLICY.due(1, utc_noon, new_york) is None
    assert "threshold 3" in POLICY.due(3, utc_noon, new_york)
    late = datetime(2026, 5, 11, 20, 0, tzinfo=UTC)
    assert POLICY.local_today(late) == date(2026, 5, 12)
    assert POLICY.local_today(late, new_york) == date(2026, 5, 11)


# -- through the planner (fakes, as tests/unit/test_dispatch_plans.py builds them) -----------------

DAY = date(2026, 5, 11)
MORNING = datetime(2026, 5, 11, 3, 0, tzinfo=UTC)  # 08:30 in Kolkata, before the 14:00 cut-off
EVENING = datetime(2026, 5, 11, 10, 0, tzinfo=UTC)  # 15:30 in Kolkata
routed = partial(pur_snapshot, hub=HUB, day=DAY)


def at(hour: int) -> datetime:
    return datetime(2026, 5, 11, hour, 0, tzinfo=UTC)


def one_trip_per_route(problem: PlanningProblem) -> PlanResult:
    """asha takes every queued pickup of each route in one trip per route; route Rn's trip from
    2n+4 to 2n+5 o'clock (UTC), so trips of different routes never overlap."""
    by_route: dict[str, list[str]] = {}
    for stop in problem.stops:
        by_route.setdefault(stop.route_id, []).append(stop.pur_id)
    trips = tuple(
        ProposedTrip(
            route_id=route,
            rider_id="asha",
            vehicle_id="van",
            stops=tuple(PlannedStopEta(p, at(4 + 2 * int(route[1:]))) for p in pur_ids),
            distance_m=1000.0,
            start=at(4 + 2 * int(route[1:])),
            end=at(5 + 2 * int(route[1:])),
            total_packages=len(pur_ids),
            total_weight_kg=1.0,
            reasons=("default rider",),
        )  # fmt: skip
        for route, pur_ids in sorted(by_route.items())
    )
    return PlanResult(trips=trips, unplanned=())


@pytest.fixture
def store() -> DispatchStore:
    store = DispatchStore()
    store.hubs[HUB] = Hub(HUB, "Hub One", 12.97, 77.59, "Asia/Kolkata")
    uow = FakeDispatchUnitOfWork(store)
    handlers.upsert_rider(uow, Rider("asha", HUB))
    handlers.upsert_vehicle(FakeDispatchUnitOfWork(store), Vehicle("van", HUB, VehicleType.VAN, 100, 500.0))
    store.rider_days[("asha", DAY)] = AttendanceChange("asha", HUB, DAY, Presence.PRESENT, MORNING, None, None)
    return store


@pytest.fixture
def uow(store):
    return lambda: FakeDispatchUnitOfWork(store)


def queue(uow, route: str, *pur_ids: str) -> None:
    handlers.apply_pur_changes(uow(), [routed(p, route=route, rider="asha") for p in pur_ids])


def test_due_routes_are_planned_together_and_committed_the_others_wait(store, uow):
    queue(uow, "R1", "a1", "a2", "a3")  # threshold 3: due
    queue(uow, "R2", "b1")  # not due before the cut-off
    planner = FakeTripPlanner(one_trip_per_route)
    outcome = auto_plan_hub(uow(), planner, POLICY, HUB, now=lambda: MORNING)
    [problem] = planner.problems
    assert {s.route_id for s in problem.stops} == {"R1"}
    assert "threshold 3" in outcome.due.reasons["R1"] and "R2" not in outcome.due.reasons
    [dispatch] = outcome.dispatches
    assert (dispatch.route_id, dispatch.rider_id, dispatch.plan_id) == ("R1", "asha", outcome.plan_id)
    assert sorted(dispatch.pur_ids) == ["a1", "a2", "a3"] and not outcome.skipped
    assert dispatch.automatic and dispatch.stops and dispatch.plan_id
    events = [e for e in store.events if isinstance(e, DispatchEvent) and e.kind is ChangeKind.DISPATCHED]
    assert len(events) == 3 and all(e.automatic and e.actor == SERVICE_ACTOR for e in events)
    assert all(
        e.reason == f"auto-dispatch: plan {outcome.plan_id} of 1 due routes (queue reached 3 pickups (threshold 3))"
        for e in events
    )

    later = auto_plan_hub(uow(), planner, POLICY, HUB, now=lambda: EVENING)
    [late] = later.dispatches
    assert late.route_id == "R2" and late.pur_ids == ["b1"]
    assert "cut-off 14:00 Asia/Kolkata passed" in later.due.reasons["R2"]


def test_nothing_is_due_nothing_is_planned(uow):
    queue(uow, "R1", "a1")
    planner = FakeTripPlanner(one_trip_per_route)
    outcome = auto_plan_hub(uow(), planner, POLICY, HUB, now=lambda: MORNING)
    assert not outcome.due.reasons and not outcome.plan_id and planner.problems == []


def test_two_planners_at_once_dispatch_nothing_twice(store, uow):
    """Two replicas plan the same due queue before either commits: the second commit finds the
    pickups dispatched and skips the trip (only_valid_trips) instead of dispatching them again."""
    queue(uow, "R1", "a1", "a2", "a3")
    first = planning.plan_dispatches(uow(), FakeTripPlanner(one_trip_per_route), HUB, DAY, ["R1"], now=lambda: MORNING)
    second = auto_plan_hub(uow(), FakeTripPlanner(one_trip_per_route), POLICY, HUB, now=lambda: MORNING)
    assert len(second.dispatches) == 1
    late = planning.commit_dispatch_plan(uow(), CommitRequest(first.id, only_valid_trips=True), now=lambda: MORNING)
    assert late.dispatches == [] and len(late.skipped) == 1
    holders = [d for d in store.dispatches.values() if d.status is DispatchStatus.OPEN]
    assert len(holders) == 1 and sorted(holders[0].pur_ids) == ["a1", "a2", "a3"]


def test_a_hub_without_a_depot_is_not_planned(store, uow):
    del store.hubs[HUB]
    queue(uow, "R1", "a1", "a2", "a3")
    planner = FakeTripPlanner(one_trip_per_route)
    outcome = auto_plan_hub(uow(), planner, POLICY, HUB, now=lambda: MORNING)
    assert "no depot" in outcome.note and planner.problems == []


def test_the_worker_plans_again_only_when_a_fruitless_queue_changes_or_some_rounds_passed(uow):
    queue(uow, "R1", "a1", "a2", "a3")
    planner = FakeTripPlanner(lambda problem: PlanResult(trips=(), unplanned=()))
    clock = [MORNING]
    dispatcher = AutoDispatcher(POLICY, uow, planner, interval_seconds=1.0, now=lambda: clock[0])
    dispatcher.tick()
    dispatcher.tick()
    assert len(planner.problems) == 1
    queue(uow, "R1", "a4")
    dispatcher.tick()
    assert len(planner.problems) == 2
    # A rider checking in does not change the queue: the same queue is planned again later.
    clock[0] += timedelta(seconds=FRUITLESS_RETRY_ROUNDS - 1)
    dispatcher.tick()
    assert len(planner.problems) == 2
    clock[0] += timedelta(seconds=1)
    dispatcher.tick()
    assert len(planner.problems) == 3


def test_the_worker_runs_until_stopped(uow):
    queue(uow, "R1", "a1", "a2", "a3")
    planner = FakeTripPlanner(one_trip_per_route)
    dispatcher = AutoDispatcher(POLICY, uow, planner, interval_seconds=0.01, now=lambda: MORNING)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run, args=(stop,))
    thread.start()
    try:
        wait_until(lambda: planner.problems, timeout=5, message="a plan")
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
