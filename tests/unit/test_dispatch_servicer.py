"""DispatchServicer's translations between protobuf and the use cases, without a database: calls
through grpc_testing on the fakes of tests/support/fakes_dispatch.py, the error kinds a bad request
raises (the server's interceptor maps kinds to status codes; grpc_testing does not), and the hub
scope every method checks for a team lead."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import grpc
import pytest

from dispatch_svc.domain.hubs import Hub
from dispatch_svc.domain.model import CapacityExceeded, RouteMatch, VehicleType
from dispatch_svc.domain.planning import (
    GreatCircleTravelModel,
    PlanningSettings,
    PlanResult,
    Unplanned,
    UnplannedReason,
)
from dispatch_svc.entrypoints.grpc_api import ACCESS, DispatchServicer
from dispatch_svc.service_layer import handlers
from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client.requests import (
    forecast_fleet_need_request,
    forecast_pickup_volume_request,
    import_volume_history_request,
    volume_history_row,
)
from mesh.access import Scope
from mesh.auth import Principal, Role
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.kernel import utc_now
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_dispatch import DispatchStore, FakeDispatchUnitOfWork
from tests.support.fakes_dispatch_plans import FakeTripPlanner
from tests.support.fakes_forecaster import SeasonalNaiveForecaster
from tests.support.planning_inputs import proposed_trip, record_attendance
from tests.support.servicer_calls import NoDeadline, ServedAs, calling

SERVICE = dispatch_pb2.DESCRIPTOR.services_by_name["DispatchService"]
HUB = "hub-1"
TODAY = utc_now().date()
DAY = TODAY.isoformat()
LEAD = Principal("lead", Role.TEAM_LEAD, hubs=frozenset({HUB}))
TRAVEL = GreatCircleTravelModel(1.35, dict.fromkeys(VehicleType, 20.0))
YESTERDAYS_VOLUME = volume_history_row(
    date=(TODAY - timedelta(days=1)).isoformat(), route_id="R1", pickups=4, packages=8, weight_kg=6.0
)
OTHER_LEAD = Principal("other", Role.TEAM_LEAD, hubs=frozenset({"hub-2"}))


class Dispatching:
    def __init__(self) -> None:
        self.store = DispatchStore()
        self.attendance = FakeAttendance(age=timedelta(seconds=90))
        self.planner = FakeTripPlanner(lambda problem: PlanResult((), ()))
        self.servicer = DispatchServicer(
            self.uow, self.attendance, planner=self.planner, forecaster=SeasonalNaiveForecaster(), travel=TRAVEL
        )

    def uow(self) -> FakeDispatchUnitOfWork:
        return FakeDispatchUnitOfWork(self.store)

    def served_as(self, principal: Principal) -> ServedAs:
        return ServedAs(self.servicer, SERVICE, ACCESS, principal)

    def call(self, method: str, request: Any, principal: Principal = LEAD) -> tuple[Any, grpc.StatusCode, str]:
        return self.served_as(principal).call(method, request)

    def ok(self, method: str, request: Any, principal: Principal = LEAD) -> Any:
        return self.served_as(principal).ok(method, request)

    def raised(self, method: str, request: Any, principal: Principal = LEAD) -> Exception:
        return self.served_as(principal).raised(method, request)


@pytest.fixture
def dispatching() -> Dispatching:
    d = Dispatching()
    for name in ("asha", "bala"):
        d.ok("UpsertRider", dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=name, hub_id=HUB, name=name)))
        d.attendance.present[HUB].add(name)
    bike = dispatch_pb2.Vehicle(
        id="bike", hub_id=HUB, type=dispatch_pb2.VEHICLE_TYPE_BIKE, capacity_packages=10, capacity_kg=20.0
    )
    d.ok("UpsertVehicle", dispatch_pb2.UpsertVehicleRequest(vehicle=bike))
    return d


def route(dispatching: Dispatching, *pur_ids: str, packages: int = 3) -> None:
    snapshots = [
        pur_snapshot(p, hub=HUB, day=TODAY, packages=packages, weight=1.5, route_match=RouteMatch.NEAREST)
        for p in pur_ids
    ]
    handlers.apply_pur_changes(dispatching.uow(), snapshots)


def test_upserts_answer_with_what_was_stored_and_whether_it_was_created(dispatching):
    rider = dispatch_pb2.Rider(id="asha", hub_id=HUB, name="Asha K", phone="+91 98450 00000", active=False)
    replaced = dispatching.ok("UpsertRider", dispatch_pb2.UpsertRiderRequest(rider=rider))
    assert not replaced.created and replaced.rider == rider
    fresh = dispatching.ok("UpsertRider", dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id="c", hub_id=HUB)))
    assert fresh.created and fresh.rider.HasField("active") and fresh.rider.active  # unset means active
    assert dispatching.store.riders["asha"].phone == "+91 98450 00000" and not dispatching.store.riders["asha"].active


def test_open_pickups_and_a_created_dispatch_in_protobuf(dispatching):
    route(dispatching, "p1", "p2")
    created = dispatching.ok(
        "CreateDispatch",
        dispatch_pb2.CreateDispatchRequest(request_id="r-1", hub_id=HUB, route_id="R1", pickup_date=DAY),
    )
    d = created.dispatch
    assert (
        created.created
        and d.id.startswith("dsp_")
        and (d.request_id, d.rider_id, d.vehicle_id)
        == (
            "r-1",
            "asha",
            "bike",
        )
    )
    assert (list(d.pur_ids), d.total_packages, d.total_weight_kg) == (["p1", "p2"], 6, 3.0)
    assert d.status == dispatch_pb2.DISPATCH_STATUS_OPEN and d.pickup_date == DAY and d.created_at.seconds > 0
    assert not d.HasField("started_at")

    listed = dispatching.ok(
        "ListOpenPickupsByRoute", dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=DAY)
    )
    [group] = listed.groups
    assert (group.route_id, group.pur_count, group.queued_count, group.expected_packages) == ("R1", 2, 0, 6)
    first = group.pickups[0]
    assert (first.pur_id, first.status, first.dispatch_id, first.route_match) == (
        "p1",
        pur_pb2.PICKUP_STATUS_DISPATCHED,
        d.id,
        common_pb2.ROUTE_MATCH_NEAREST,
    )
    assert (first.location.lat, first.location.lng) == (12.9, 77.6)
    assert group.open_dispatch == d

    got = dispatching.ok("GetDispatch", dispatch_pb2.GetDispatchRequest(id=d.id))
    assert got.dispatch == d


def test_recommendations_carry_scores_reasons_and_attendance_freshness(dispatching):
    route(dispatching, "p1")
    rec = dispatching.ok(
        "RecommendDispatch", dispatch_pb2.RecommendDispatchRequest(hub_id=HUB, route_id="R1", pickup_date=DAY)
    )
    assert [r.rider_id for r in rec.riders] == ["asha", "bala"] and rec.riders[0].present
    assert rec.riders[0].reasons[-1] == "present today"
    assert (rec.vehicles[0].vehicle_id, rec.vehicles[0].type, rec.vehicles[0].fits_load) == (
        "bike",
        dispatch_pb2.VEHICLE_TYPE_BIKE,
        True,
    )
    assert (rec.queued_pur_count, rec.queued_packages, rec.queued_weight_kg) == (1, 3, 1.5)
    freshness = rec.attendance_freshness
    assert freshness.source == attendance_pb2.ATTENDANCE_SOURCE_LIVE and not freshness.stale
    assert freshness.age.seconds >= 90


def test_bad_requests_raise_the_kernels_and_the_domains_errors_untranslated(dispatching):
    route(dispatching, "p1", "p2", "p3", packages=4)
    cases = {
        "UpsertRider": (dispatch_pb2.UpsertRiderRequest(), "rider is required"),
        "CreateDispatch": (
            dispatch_pb2.CreateDispatchRequest(request_id="x", hub_id=HUB, route_id="R1", pickup_date="2026-13-01"),
            "pickup_date '2026-13-01' is not a real date",
        ),
        "GetDispatch": (dispatch_pb2.GetDispatchRequest(id="a b"), "id must be 1-64 characters"),
        "CancelDispatch": (dispatch_pb2.CancelDispatchRequest(id="d", reason="x" * 501), "reason must be at most 500"),
    }
    for method, (request, message) in cases.items():
        error = dispatching.raised(method, request)
        assert isinstance(error, InvalidArgument) and message in str(error), (method, error)
    too_much = dispatch_pb2.CreateDispatchRequest(
        request_id="big", hub_id=HUB, route_id="R1", pickup_date=DAY, pur_ids=["p1", "p2", "p3"]
    )
    error = dispatching.raised("CreateDispatch", too_much)
    assert isinstance(error, CapacityExceeded) and "would carry 12 packages" in str(error)
    _, code, details = dispatching.call("CreateDispatch", too_much)
    assert code is not grpc.StatusCode.OK and "would carry 12 packages" in details


def test_a_team_lead_of_another_hub_is_refused_and_nothing_is_written(dispatching):
    route(dispatching, "p1")
    d = dispatching.ok(
        "CreateDispatch",
        dispatch_pb2.CreateDispatchRequest(request_id="r-1", hub_id=HUB, route_id="R1", pickup_date=DAY),
    ).dispatch
    commits = dispatching.store.commits
    for method, request in (
        ("GetDispatch", dispatch_pb2.GetDispatchRequest(id=d.id)),
        ("CancelDispatch", dispatch_pb2.CancelDispatchRequest(id=d.id, reason="mine")),
        ("UpsertRider", dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id="asha", hub_id="hub-2"))),
        ("ListDispatches", dispatch_pb2.ListDispatchesRequest(hub_id=HUB)),
    ):
        assert isinstance(dispatching.raised(method, request, OTHER_LEAD), PermissionDenied), method
    assert dispatching.store.commits == commits and dispatching.store.riders["asha"].hub_id == HUB


def test_every_method_checks_the_hub_scope_of_a_team_lead(dispatching):
    route(dispatching, "p1", "p2")
    van = dispatch_pb2.Vehicle(
        id="van", hub_id=HUB, type=dispatch_pb2.VEHICLE_TYPE_VAN, capacity_packages=5, capacity_kg=5
    )
    dispatching.ok("UpsertVehicle", dispatch_pb2.UpsertVehicleRequest(vehicle=van))
    d, other = [
        dispatching.ok(
            "CreateDispatch",
            dispatch_pb2.CreateDispatchRequest(
                request_id=f"r-{i}",
                hub_id=HUB,
                route_id="R1",
                pickup_date=DAY,
                rider_id=rider,
                vehicle_id=vehicle,
            ),
        ).dispatch
        for i, (rider, vehicle) in enumerate((("asha", "bike"), ("bala", "van")))
    ]
    requests = {
        "UpsertRider": dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id="c", hub_id=HUB)),
        "UpsertVehicle": dispatch_pb2.UpsertVehicleRequest(
            vehicle=dispatch_pb2.Vehicle(id="v", hub_id=HUB, type=1, capacity_packages=1, capacity_kg=1)
        ),
        "ListOpenPickupsByRoute": dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=DAY),
        "RecommendDispatch": dispatch_pb2.RecommendDispatchRequest(hub_id=HUB, route_id="R1", pickup_date=DAY),
        "CreateDispatch": dispatch_pb2.CreateDispatchRequest(
            request_id="r-0", hub_id=HUB, route_id="R1", pickup_date=DAY, rider_id="asha", vehicle_id="bike"
        ),
        "GetDispatch": dispatch_pb2.GetDispatchRequest(id=d.id),
        "ListDispatches": dispatch_pb2.ListDispatchesRequest(hub_id=HUB),
        "AddPickups": dispatch_pb2.AddPickupsRequest(dispatch_id=d.id, pur_ids=["p2"]),
        "MovePickups": dispatch_pb2.MovePickupsRequest(
            from_dispatch_id=d.id, to_dispatch_id=other.id, pur_ids=["p2"], reason="balance the load"
        ),
        "RemovePickups": dispatch_pb2.RemovePickupsRequest(dispatch_id=d.id, pur_ids=["p2"]),
        "ReassignDispatch": dispatch_pb2.ReassignDispatchRequest(id=d.id, vehicle_id="bike", reason="same bike"),
        "StartDispatch": dispatch_pb2.StartDispatchRequest(id=d.id),
        "CompleteDispatch": dispatch_pb2.CompleteDispatchRequest(id=d.id),
        "CancelDispatch": dispatch_pb2.CancelDispatchRequest(id=other.id),
        "WatchOpenPickupsByRoute": dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=HUB, pickup_date=DAY),
        "PlanDispatches": dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date=DAY),
        "CommitDispatchPlan": dispatch_pb2.CommitDispatchPlanRequest(plan_id=plan_of_the_day(dispatching).id),
        "ImportVolumeHistory": import_volume_history_request(hub_id=HUB, rows=[YESTERDAYS_VOLUME]),
        "ForecastPickupVolume": forecast_pickup_volume_request(hub_id=HUB, route_id="R1", start_date=DAY, days=1),
        "ForecastFleetNeed": forecast_fleet_need_request(hub_id=HUB, date=DAY),
    }
    hub_scoped = {name for name, rule in ACCESS.items() if rule.scope is Scope.HUB}
    assert set(requests) == hub_scoped
    for method, request in requests.items():
        with calling(LEAD, ACCESS, method) as caller:
            answer = getattr(dispatching.servicer, method)(request, NoDeadline())
            if isinstance(answer, Iterator):  # a stream runs when first read
                next(answer)
            assert caller.scope_checked, method


def test_a_reassignment_and_a_move_answer_with_the_dispatches_and_name_the_caller(dispatching):
    route(dispatching, "p1", "p2")
    dispatching.ok("UpsertRider", dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id="chitra", hub_id=HUB)))
    dispatching.attendance.present[HUB].add("chitra")
    van = dispatch_pb2.Vehicle(
        id="van", hub_id=HUB, type=dispatch_pb2.VEHICLE_TYPE_VAN, capacity_packages=50, capacity_kg=50
    )
    dispatching.ok("UpsertVehicle", dispatch_pb2.UpsertVehicleRequest(vehicle=van))
    source, target = [
        dispatching.ok(
            "CreateDispatch",
            dispatch_pb2.CreateDispatchRequest(
                request_id=f"r-{rider}", hub_id=HUB, route_id="R1", pickup_date=DAY, rider_id=rider, vehicle_id=vehicle
            ),
        ).dispatch
        for rider, vehicle in (("asha", "bike"), ("bala", "van"))
    ]
    reassigned = dispatching.ok(
        "ReassignDispatch", dispatch_pb2.ReassignDispatchRequest(id=source.id, rider_id="chitra", reason="asha ill")
    ).dispatch
    assert (reassigned.rider_id, reassigned.vehicle_id, reassigned.version) == ("chitra", "bike", source.version + 1)
    moved = dispatching.ok(
        "MovePickups",
        dispatch_pb2.MovePickupsRequest(
            from_dispatch_id=source.id, to_dispatch_id=target.id, pur_ids=["p2"], reason="bala passes by"
        ),
    )
    assert (list(moved.from_dispatch.pur_ids), moved.from_dispatch.total_packages) == (["p1"], 3)
    assert (list(moved.to_dispatch.pur_ids), moved.to_dispatch.rider_id) == (["p2"], "bala")
    rider_changed, joined = dispatching.store.events[-2:]
    assert (rider_changed.pur_id, rider_changed.rider_id, rider_changed.reason) == ("p2", "chitra", "asha ill")
    assert (joined.moved_from_dispatch_id, joined.reason) == (source.id, "bala passes by")
    assert {(e.actor.subject, e.actor.role) for e in (rider_changed, joined)} == {("lead", "team-lead")}


def test_reassignments_and_moves_refuse_bad_requests_untranslated(dispatching):
    for method, request, message in (
        ("ReassignDispatch", dispatch_pb2.ReassignDispatchRequest(id="d1", rider_id="asha"), "reason is required"),
        ("ReassignDispatch", dispatch_pb2.ReassignDispatchRequest(id="d1", rider_id="a b", reason="x"), "rider_id"),
        ("ReassignDispatch", dispatch_pb2.ReassignDispatchRequest(rider_id="asha", reason="x"), "id is required"),
        (
            "MovePickups",
            dispatch_pb2.MovePickupsRequest(from_dispatch_id="d1", to_dispatch_id="d2", reason="x"),
            "pur_ids must not be empty",
        ),
        (
            "MovePickups",
            dispatch_pb2.MovePickupsRequest(from_dispatch_id="d1", to_dispatch_id="d1", pur_ids=["p1"], reason="x"),
            "another dispatch",
        ),
        (
            "MovePickups",
            dispatch_pb2.MovePickupsRequest(
                from_dispatch_id="d1", to_dispatch_id="d2", pur_ids=["p1"], reason="x" * 501
            ),
            "reason must be at most 500",
        ),
    ):
        error = dispatching.raised(method, request)
        assert isinstance(error, InvalidArgument) and message in str(error), (method, error)


# -- planning -------------------------------------------------------------------------------------


def plan_of_the_day(dispatching: Dispatching) -> dispatch_pb2.DispatchPlan:
    dispatching.store.hubs.setdefault(HUB, Hub(HUB, "Hub One", 12.97, 77.59, "UTC"))
    return dispatching.ok("PlanDispatches", dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date=DAY)).plan


def test_a_plan_and_its_commit_in_protobuf(dispatching):
    route(dispatching, "p1", "p2", "p3")
    start = utc_now().replace(microsecond=0) + timedelta(hours=1)
    trip = proposed_trip("R1", "asha", "bike", ["p2", "p1"], start, start + timedelta(minutes=30))
    dispatching.planner.propose = lambda problem: PlanResult(
        (trip,), (Unplanned("p3", UnplannedReason.NO_RIDER_OR_VEHICLE_LEFT),)
    )
    plan = plan_of_the_day(dispatching)
    assert plan.id.startswith("plan_") and (plan.hub_id, plan.pickup_date) == (HUB, DAY)
    [planned] = plan.trips
    assert (planned.id, planned.rider_id, planned.vehicle_id, planned.total_packages) == ("t1", "asha", "bike", 6)
    assert [s.pur_id for s in planned.stops] == ["p2", "p1"]
    assert planned.stops[0].eta.seconds == int((start + timedelta(minutes=10)).timestamp())
    assert (plan.total_distance_m, plan.arrival_order_distance_m) == (2000.0, 3000.0)
    assert [(u.pur_id, u.reason) for u in plan.unplanned] == [("p3", "no rider or vehicle left")]
    assert plan.expires_at.seconds > plan.created_at.seconds

    record_attendance(dispatching.store, "asha", hub=HUB, day=TODAY, changed_at=utc_now())
    committed = dispatching.ok("CommitDispatchPlan", dispatch_pb2.CommitDispatchPlanRequest(plan_id=plan.id))
    [d] = committed.dispatches
    assert (d.plan_id, d.rider_id, list(d.pur_ids)) == (plan.id, "asha", ["p2", "p1"])
    assert [(s.pur_id, s.sequence) for s in d.stops] == [("p2", 1), ("p1", 2)]
    again = dispatching.ok(
        "CommitDispatchPlan", dispatch_pb2.CommitDispatchPlanRequest(plan_id=plan.id, only_valid_trips=True)
    )
    assert [x.id for x in again.dispatches] == [d.id] and not again.skipped


def test_a_plan_over_the_limits_says_how_many_each_route_left_for_the_next_plan(dispatching):
    route(dispatching, "p1", "p2", "p3")
    dispatching.servicer._planning = PlanningSettings(max_stops_per_route=2, max_stops=10)
    dispatching.store.hubs.setdefault(HUB, Hub(HUB, "Hub One", 12.97, 77.59, "UTC"))
    response = dispatching.ok("PlanDispatches", dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date=DAY))
    assert [(left.route_id, left.pickups) for left in response.left_for_next_plan] == [("R1", 1)]
    assert [s.pur_id for s in dispatching.planner.problems[-1].stops] == ["p1", "p2"]


def test_planning_requests_are_checked_before_anything_runs(dispatching):
    bad = {
        "hub_id": dispatch_pb2.PlanDispatchesRequest(hub_id="bad id", pickup_date=DAY),
        "pickup_date": dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date="11/05/2026"),
        "route_ids[0]": dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date=DAY, route_ids=[""]),
    }
    for field, request in bad.items():
        error = dispatching.raised("PlanDispatches", request)
        assert isinstance(error, InvalidArgument) and field in str(error), field
    commit = dispatch_pb2.CommitDispatchPlanRequest(
        plan_id="plan_1", changes=[dispatch_pb2.TripChange(trip_id="t1", drop=True, rider_id="bala")]
    )
    assert isinstance(dispatching.raised("CommitDispatchPlan", commit), InvalidArgument)
    assert dispatching.planner.problems == []


def test_a_team_lead_of_another_hub_may_not_plan_or_commit_its_plans(dispatching):
    plan = plan_of_the_day(dispatching)
    request = dispatch_pb2.PlanDispatchesRequest(hub_id=HUB, pickup_date=DAY)
    assert isinstance(dispatching.raised("PlanDispatches", request, OTHER_LEAD), PermissionDenied)
    commit = dispatch_pb2.CommitDispatchPlanRequest(plan_id=plan.id)
    assert isinstance(dispatching.raised("CommitDispatchPlan", commit, OTHER_LEAD), PermissionDenied)
