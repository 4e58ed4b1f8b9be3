"""Dispatch planning's use cases on in-memory repositories and a planner that proposes what each test
says: the problem handed to the planner, plans stored and expiring, and the commit rules (one
transaction, idempotent re-commit, the world changed since planning, only_valid_trips, dropped and
swapped trips, riders in sequence). What only PostgreSQL shows (locks, concurrent commits of one
plan, the migration) is in tests/integration/test_dispatch_plans.py."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import partial

import pytest

from dispatch_svc.domain.events import DispatchEvent
from dispatch_svc.domain.hubs import Hub, Presence
from dispatch_svc.domain.model import ChangeKind, DispatchStatus, PickupStatus, Rider, RiderBusy, Vehicle, VehicleType
from dispatch_svc.domain.planning import (
    PlanningProblem,
    PlanningSettings,
    PlanResult,
    ProposedTrip,
    Unplanned,
    UnplannedReason,
)
from dispatch_svc.domain.plans import CommitRequest, PlanNotFound, TripChange, WorldChanged
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer import plans as planning
from mesh.errors import InvalidArgument, NotFound, PermissionDenied
from tests.support.dispatch_inputs import new_dispatch, pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.planning_inputs import proposed_trip, record_attendance

HUB = "hub-1"
DAY = date(2026, 5, 11)
NOW = datetime.combine(DAY, time(6, 0), tzinfo=UTC)
routed = partial(pur_snapshot, hub=HUB, day=DAY)


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), tzinfo=UTC)


def trip(route: str, rider: str, vehicle: str, pur_ids: list[str], start: int, end: int) -> ProposedTrip:
    return proposed_trip(route, rider, vehicle, pur_ids, at(start), at(end))


def two_trips_of_asha(problem: PlanningProblem) -> PlanResult:
    """asha drives R1 twice with the bike (p1, p2 at 8-9; p3 at 10-11); p4 does not fit anywhere."""
    return PlanResult(
        trips=(trip("R1", "asha", "bike", ["p1", "p2"], 8, 9), trip("R1", "asha", "bike", ["p3"], 10, 11)),
        unplanned=(Unplanned("p4", UnplannedReason.LARGER_THAN_ANY_VEHICLE),),
    )


@pytest.fixture
def store() -> DispatchStore:
    return DispatchStore()


@pytest.fixture
def uow(store):
    return lambda: FakeDispatchUnitOfWork(store)


@pytest.fixture
def planner() -> FakeTripPlanner:
    return FakeTripPlanner(two_trips_of_asha)


@pytest.fixture(autouse=True)
def hub(store, uow) -> None:
    """Hub with a depot; asha and bala present (bala 9-17), chitra absent; a bike and a van; p1..p4
    queued on R1."""
    store.hubs[HUB] = Hub(HUB, "Hub One", 12.97, 77.59, "UTC")
    for rider in ("asha", "bala", "chitra"):
        handlers.upsert_rider(uow(), Rider(rider, HUB))
    handlers.upsert_vehicle(uow(), Vehicle("bike", HUB, VehicleType.BIKE, 10, 20.0))
    handlers.upsert_vehicle(uow(), Vehicle("van", HUB, VehicleType.VAN, 100, 500.0))
    present(store, "asha")
    present(store, "bala", shift=(at(9), at(17)))
    present(store, "chitra", status=Presence.ABSENT)
    handlers.apply_pur_changes(uow(), [routed(p, rider="asha") for p in ("p1", "p2", "p3", "p4")])


def present(store: DispatchStore, rider: str, *, changed_at: datetime = NOW, **fields) -> None:
    record_attendance(store, rider, hub=HUB, day=DAY, changed_at=changed_at, **fields)


def plan(uow, planner, route_ids=(), **kwargs):
    return planning.plan_dispatches(uow(), planner, HUB, DAY, route_ids, now=lambda: NOW, **kwargs)


def commit(uow, plan_id: str, *, now: datetime = NOW, **kwargs) -> planning.Committed:
    return planning.commit_dispatch_plan(uow(), CommitRequest(plan_id, **kwargs), now=lambda: now)


def dispatched_events(store: DispatchStore) -> list[DispatchEvent]:
    return [e for e in store.events if isinstance(e, DispatchEvent) and e.kind is ChangeKind.DISPATCHED]


# -- PlanDispatches -------------------------------------------------------------------------------


def test_the_planner_gets_the_queue_the_present_riders_with_their_shifts_and_the_vehicles(uow, planner):
    plan(uow, planner)
    [problem] = planner.problems
    assert (problem.hub_id, problem.day, problem.depot.lat, problem.timezone) == (HUB, DAY, 12.97, "UTC")
    assert [s.pur_id for s in problem.stops] == ["p1", "p2", "p3", "p4"]
    riders = {r.id: r for r in problem.riders}
    assert set(riders) == {"asha", "bala"}  # chitra is absent
    assert riders["asha"].shift is None and riders["asha"].default_routes == frozenset({"R1"})
    assert riders["bala"].shift is not None and riders["bala"].shift.start == at(9)
    assert {v.id for v in problem.vehicles} == {"bike", "van"}
    assert problem.not_before == NOW  # planning today: nothing starts in the past


def test_a_plan_is_stored_with_its_trips_unplanned_pickups_and_expiry(store, uow, planner):
    proposed = plan(uow, planner)
    assert [t.id for t in proposed.trips] == ["t1", "t2"]
    assert [t.pur_ids for t in proposed.trips] == [["p1", "p2"], ["p3"]]
    assert [(u.pur_id, u.reason) for u in proposed.unplanned] == [("p4", "larger than any vehicle")]
    assert proposed.total_distance_m == 3000.0 and proposed.arrival_order_distance_m == 4500.0
    assert proposed.expires_at > NOW
    assert store.plans[proposed.id].trips == proposed.trips
    # Planning dispatches nothing.
    assert store.dispatches == {} and store.events == []


def test_planning_refuses_an_unknown_hub_or_route_and_a_past_day(store, uow, planner):
    with pytest.raises(NotFound, match="hub"):
        planning.plan_dispatches(uow(), planner, "hub-x", DAY, now=lambda: NOW)
    with pytest.raises(NotFound, match="R9"):
        plan(uow, planner, ["R1", "R9"])
    with pytest.raises(InvalidArgument, match="past"):
        planning.plan_dispatches(uow(), planner, HUB, DAY - timedelta(days=1), now=lambda: NOW)
    assert planner.problems == [] and store.plans == {}


def test_only_the_named_routes_are_planned(uow, planner):
    handlers.apply_pur_changes(uow(), [routed("q1", route="R2")])
    plan(uow, planner, ["R2"])
    assert [s.pur_id for s in planner.problems[0].stops] == ["q1"]


def test_a_plan_takes_each_routes_oldest_pickups_up_to_the_limits_and_counts_the_rest(store, uow):
    handlers.apply_pur_changes(uow(), [routed(p, route="R2") for p in ("q1", "q2", "q3")])
    planner = FakeTripPlanner.placing_nothing()
    limits = PlanningSettings(max_stops_per_route=3, max_stops=5)
    proposed = plan(uow, planner, settings=limits)
    # R1 queues p1..p4, R2 q1..q3: 3 of each at most, 5 in all, shared evenly (the odd one to the
    # longer queue), the oldest of each queue first
    assert [s.pur_id for s in planner.problems[0].stops] == ["p1", "p2", "p3", "q1", "q2"]
    assert proposed.left_for_next_plan == {"R1": 1, "R2": 1}
    assert {u.pur_id for u in store.plans[proposed.id].unplanned} == {"p1", "p2", "p3", "q1", "q2"}


def test_a_plan_within_the_limits_leaves_nothing_for_the_next(uow, planner):
    proposed = plan(uow, planner, settings=PlanningSettings(max_stops_per_route=4, max_stops=4))
    assert len(planner.problems[0].stops) == 4 and proposed.left_for_next_plan == {}


def test_a_rider_on_a_hand_made_dispatch_is_not_offered_to_the_planner(uow, planner):
    attendance = FakeAttendance()
    attendance.present[HUB] = {"asha", "bala"}
    handlers.create_dispatch(uow(), attendance, new_dispatch(hub=HUB, day=DAY, rider_id="bala", vehicle_id="van"))
    plan(uow, planner)
    assert {r.id for r in planner.problems[0].riders} == {"asha"}
    assert {v.id for v in planner.problems[0].vehicles} == {"bike"}


# -- CommitDispatchPlan ---------------------------------------------------------------------------


def test_a_commit_creates_every_trip_with_its_ordered_stops_in_one_transaction(store, uow, planner):
    proposed = plan(uow, planner)
    commits = store.commits
    result = commit(uow, proposed.id)
    assert store.commits == commits + 1
    assert result.created and result.skipped == []
    first, second = result.dispatches
    assert (first.rider_id, first.vehicle_id, first.plan_id, first.status) == (
        "asha",
        "bike",
        proposed.id,
        DispatchStatus.OPEN,
    )
    assert [(s.pur_id, s.sequence) for s in first.stops] == [("p1", 1), ("p2", 2)]
    assert first.stops[0].eta == at(8, 10)
    # asha holds two planned OPEN dispatches, one after the other.
    assert (second.rider_id, second.pur_ids, second.planned_start) == ("asha", ["p3"], at(10))
    assert {p: store.pickups[p].dispatch_id for p in ("p1", "p2", "p3")} == {
        "p1": first.id,
        "p2": first.id,
        "p3": second.id,
    }
    assert store.pickups["p4"].queued
    assert [e.pur_id for e in dispatched_events(store)] == ["p1", "p2", "p3"]
    assert all(e.reason == f"committed from plan {proposed.id}" for e in dispatched_events(store))
    assert store.plans[proposed.id].dispatch_ids == {"t1": first.id, "t2": second.id}


def test_committing_twice_creates_nothing_new(store, uow, planner):
    proposed = plan(uow, planner)
    first = commit(uow, proposed.id)
    events, commits = len(store.events), store.commits
    again = commit(uow, proposed.id, only_valid_trips=True)
    assert not again.created
    assert [d.id for d in again.dispatches] == [d.id for d in first.dispatches]
    assert (len(store.events), store.commits, len(store.dispatches)) == (events, commits, 2)


def test_an_unknown_or_expired_plan_is_not_found(store, uow, planner):
    with pytest.raises(PlanNotFound):
        commit(uow, "plan_missing")
    proposed = plan(uow, planner)
    with pytest.raises(PlanNotFound, match="expired"):
        commit(uow, proposed.id, now=proposed.expires_at)
    assert store.dispatches == {}


def test_expired_plans_are_forgotten_when_the_next_one_is_made(store, uow, planner):
    old = plan(uow, planner)
    planning.plan_dispatches(uow(), planner, HUB, DAY, now=lambda: old.expires_at + timedelta(seconds=1))
    assert old.id not in store.plans and len(store.plans) == 1


def test_a_team_lead_of_another_hub_cannot_commit(store, uow, planner):
    proposed = plan(uow, planner)

    def refuse(hub_id: str) -> None:
        raise PermissionDenied(f"not {hub_id}")

    with pytest.raises(PermissionDenied):
        planning.commit_dispatch_plan(uow(), CommitRequest(proposed.id), authorize=refuse, now=lambda: NOW)
    assert store.dispatches == {}


def cancel(uow, pur_id: str) -> None:
    handlers.apply_pur_changes(uow(), [routed(pur_id, 3, status=PickupStatus.CANCELLED)])


def test_a_changed_world_refuses_the_whole_commit_naming_what_changed(store, uow, planner):
    proposed = plan(uow, planner)
    cancel(uow, "p3")
    handlers.apply_pur_changes(uow(), [routed("p1", 3, route="R2")])
    events = len(store.events)
    with pytest.raises(WorldChanged) as refused:
        commit(uow, proposed.id)
    message = str(refused.value)
    assert "trip t1: pickup request p1 was re-routed to route R2" in message
    assert "trip t2: pickup request p3 is CANCELLED" in message
    assert store.dispatches == {} and len(store.events) == events
    assert not store.plans[proposed.id].committed


def test_only_valid_trips_commits_the_rest_and_says_what_it_skipped(store, uow, planner):
    proposed = plan(uow, planner)
    cancel(uow, "p3")
    result = commit(uow, proposed.id, only_valid_trips=True)
    assert [d.pur_ids for d in result.dispatches] == [["p1", "p2"]]
    assert [(s.trip_id, s.reason) for s in result.skipped] == [("t2", "pickup request p3 is CANCELLED")]


def test_an_absent_or_busy_rider_invalidates_their_trips(store, uow, planner):
    proposed = plan(uow, planner)
    present(store, "asha", status=Presence.ABSENT, changed_at=NOW + timedelta(minutes=1))
    with pytest.raises(WorldChanged, match="rider asha is not present"):
        commit(uow, proposed.id)
    present(store, "asha", changed_at=NOW + timedelta(minutes=2))
    attendance = FakeAttendance()
    attendance.present[HUB] = {"asha"}
    handlers.create_dispatch(uow(), attendance, new_dispatch(hub=HUB, day=DAY, rider_id="asha", vehicle_id="van"))
    with pytest.raises(WorldChanged, match="rider asha is busy on dispatch"):
        commit(uow, proposed.id)


def test_a_pickup_dispatched_meanwhile_invalidates_its_trip(store, uow, planner):
    proposed = plan(uow, planner)
    attendance = FakeAttendance()
    attendance.present[HUB] = {"bala"}
    handlers.create_dispatch(
        uow(), attendance, new_dispatch(hub=HUB, day=DAY, rider_id="bala", vehicle_id="van", pur_ids=("p3",))
    )
    result = commit(uow, proposed.id, only_valid_trips=True)
    assert result.skipped[0].trip_id == "t2" and "already in dispatch" in result.skipped[0].reason


def test_a_dropped_trip_leaves_its_pickups_queued(store, uow, planner):
    proposed = plan(uow, planner)
    result = commit(uow, proposed.id, changes=(TripChange("t1", drop=True),))
    assert [d.pur_ids for d in result.dispatches] == [["p3"]]
    assert store.pickups["p1"].queued and store.pickups["p2"].queued
    assert store.plans[proposed.id].dispatch_ids.keys() == {"t2"}


def test_a_swapped_rider_and_vehicle_are_checked_like_reassign(store, uow, planner):
    proposed = plan(uow, planner)
    with pytest.raises(WorldChanged, match="rider chitra is not present"):
        commit(uow, proposed.id, changes=(TripChange("t1", rider_id="chitra"),))
    with pytest.raises(WorldChanged, match="rider nobody does not exist"):
        commit(uow, proposed.id, changes=(TripChange("t1", rider_id="nobody"),))
    result = commit(uow, proposed.id, changes=(TripChange("t2", rider_id="bala", vehicle_id="van"),))
    assert [(d.rider_id, d.vehicle_id) for d in result.dispatches] == [("asha", "bike"), ("bala", "van")]


def test_swapping_two_trips_onto_one_rider_at_the_same_time_is_refused(store, uow):
    overlapping = FakeTripPlanner(
        lambda problem: PlanResult(
            trips=(trip("R1", "asha", "bike", ["p1"], 8, 10), trip("R1", "bala", "van", ["p2"], 9, 11)),
            unplanned=(),
        )
    )
    proposed = plan(uow, overlapping)
    with pytest.raises(WorldChanged, match="rider asha is on trip t1 of this commit at the same time"):
        commit(uow, proposed.id, changes=(TripChange("t2", rider_id="asha"),))


def test_changes_name_trips_of_the_plan_and_are_consistent(uow, planner):
    proposed = plan(uow, planner)
    with pytest.raises(InvalidArgument, match="t9"):
        commit(uow, proposed.id, changes=(TripChange("t9", drop=True),))
    with pytest.raises(InvalidArgument, match="dropped"):
        TripChange("t1", drop=True, rider_id="bala")
    with pytest.raises(InvalidArgument, match="twice"):
        CommitRequest(proposed.id, changes=(TripChange("t1", drop=True), TripChange("t1", rider_id="bala")))


def test_a_rider_with_planned_dispatches_gets_no_hand_made_one_and_starts_one_at_a_time(store, uow, planner):
    first, second = commit(uow, plan(uow, planner).id).dispatches
    attendance = FakeAttendance()
    attendance.present[HUB] = {"asha"}
    with pytest.raises(RiderBusy):
        handlers.create_dispatch(uow(), attendance, new_dispatch(hub=HUB, day=DAY, rider_id="asha", vehicle_id="van"))
    handlers.start_dispatch(uow(), first.id)
    with pytest.raises(RiderBusy):
        handlers.start_dispatch(uow(), second.id)
    handlers.complete_dispatch(uow(), first.id)
    assert handlers.start_dispatch(uow(), second.id).status is DispatchStatus.IN_PROGRESS


# -- pickups routed after a plan ------------------------------------------------------------------


def commit_in_order(uow, plan_id: str) -> planning.Committed:
    ids = iter(["dsp_a", "dsp_b", "dsp_c"])
    return planning.commit_dispatch_plan(uow(), CommitRequest(plan_id), now=lambda: NOW, next_id=lambda: next(ids))


def test_a_pickup_routed_later_joins_the_planned_dispatch_with_room_and_time(store, uow):
    back_to_back = FakeTripPlanner(
        lambda problem: PlanResult(
            trips=(
                trip("R1", "asha", "bike", ["p1"], 8, 9),
                proposed_trip("R1", "asha", "bike", ["p2"], at(9, 1), at(11)),
            ),
            unplanned=(),
        )
    )
    first, second = commit_in_order(uow, plan(uow, back_to_back).id).dispatches
    handlers.apply_pur_changes(uow(), [routed("p5")])
    # The first trip would run into the second (2.5 minutes more at the stop): p5 joins the second.
    assert store.pickups["p5"].dispatch_id == second.id
    assert store.dispatches[second.id].planned_end == at(11, 2) + timedelta(seconds=30)
    assert store.dispatches[first.id].planned_end == at(9)
    assert [s.pur_id for s in store.dispatches[second.id].current_stops()] == ["p2"]  # a late joiner has no stop


def test_a_pickup_routed_later_waits_when_no_planned_dispatch_ends_within_its_riders_shift(store, uow):
    late = FakeTripPlanner(
        lambda problem: PlanResult(trips=(proposed_trip("R1", "bala", "van", ["p1"], at(9), at(16, 59)),), unplanned=())
    )
    commit(uow, plan(uow, late).id)
    handlers.apply_pur_changes(uow(), [routed("p5")])
    assert store.pickups["p5"].queued  # bala's shift ends at 17:00
