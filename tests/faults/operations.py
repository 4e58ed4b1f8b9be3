"""What people do while the load runs, through the same faults: a team lead dispatches, cancels
and completes, works the manual queue (routes UNROUTABLE PURs by hand) and overrides dispatches
(another rider, pickups moved to another dispatch), plans two routes' queues and commits the plan
(twice at once); a map editor publishes a new route map version. What they did is recorded for
the checks."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc
import numpy as np

from firstmile.attendance.v1 import attendance_pb2
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client.requests import (
    assign_pickup_route_request,
    batch_assign_pickup_routes_request,
    commit_dispatch_plan_request,
    create_dispatch_request,
    import_routes_request,
    list_manual_queue_request,
    move_pickups_request,
    plan_dispatches_request,
    reassign_dispatch_request,
    record_attendance_request,
    upsert_hub_request,
    upsert_rider_request,
    upsert_vehicle_request,
)
from tests.faults.cluster import Mesh
from tests.faults.injector import Timeline
from tests.faults.load import RETRYABLE
from tests.faults.routes import HUB, NEW_PREMIUM_ROUTE, PREMIUM_CENTRE_ROUTE, RIDER_CHANGED_ROUTE

MANUAL_PER_ROUND = 30
MOVED_PICKUPS = 25
# Riders and vans beyond one per dispatch route: the replacement dispatch, the second dispatch
# of the busiest route, and the rider a reassignment hands a dispatch to.
SPARE_RIDERS = 3
PLANNED_ROUTES = 2
# Its day (08:00-20:00 local for riders without a shift) is now or ahead on every UTC clock, and
# its date never ahead of UTC's: the suite's day (UTC) is planned whenever the suite runs.
HUB_TIMEZONE = "Pacific/Honolulu"
HUB_DEPOT = (12.9352, 77.6245)


def call(method: Callable, request, *, timeout: float = 30.0, give_up_s: float = 180.0):
    """An RPC retried through outages; the request carries its own idempotency key (if any)."""
    give_up = time.monotonic() + give_up_s
    while True:
        try:
            return method(request, timeout=timeout, wait_for_ready=True)
        except grpc.RpcError as err:
            if err.code() not in RETRYABLE or time.monotonic() > give_up:
                raise
            time.sleep(0.5)


class Operations:
    """What people do while the load runs: a TL creates dispatches, routes UNROUTABLE PURs by
    hand (before and after the map change), reassigns dispatches to other riders, opens a second
    dispatch on the busiest route and moves pickups to it, cancels one dispatch and creates
    another, completes one; a map editor publishes map version 2."""

    def __init__(
        self,
        mesh: Mesh,
        v2: dict,
        routes: list[str],
        *,
        pickup_date: str,
        load_seconds: float,
        rng: np.random.Generator,
    ) -> None:
        self._routing = mesh.clients.routing
        self._dispatch = mesh.clients.dispatch
        self._attendance = mesh.clients.attendance
        self._pur = mesh.clients.pur
        self._timeline: Timeline | None = None
        self._v2 = v2
        self._routes = routes
        self._date = pickup_date
        self._load_seconds = load_seconds
        # Its own generator: the injector's thread draws from the suite's at the same time.
        self._rng = rng
        # Manual routes exist in both map versions and keep their rider (the checks know it).
        self._manual_routes = {f["properties"]["id"] for f in v2["features"]} - {NEW_PREMIUM_ROUTE, RIDER_CHANGED_ROUTE}
        self.dispatch_ids: list[str] = []
        self.map_v2_version = 0
        self.manual: dict[str, str] = {}  # PUR id -> the route a person assigned it (answered OK)
        self.manual_skipped: list[str] = []  # picked from the queue, but no longer assignable
        self.reassigned: dict[str, str] = {}  # dispatch id -> the rider it was given
        self.moved: dict[str, str] = {}  # PUR id -> the dispatch it was moved to
        self.planning = ""  # why the suite did not plan (a dispatch_svc without planning), else empty
        self.plan_commits: list[list[str]] = []  # the dispatch ids each commit of the plan answered
        self._thread = threading.Thread(target=self._run, name="operations", daemon=True)
        self.error: BaseException | None = None

    def set_up_fleet(self) -> None:
        for n in range(1, len(self._routes) + 1 + SPARE_RIDERS):
            rider, van = f"fault-rider-{n}", f"fault-van-{n}"
            call(self._dispatch.UpsertRider, upsert_rider_request(rider_id=rider, hub_id=HUB, name=f"Rider {n}"))
            call(
                self._dispatch.UpsertVehicle,
                upsert_vehicle_request(
                    vehicle_id=van,
                    hub_id=HUB,
                    vehicle_type=dispatch_pb2.VEHICLE_TYPE_VAN,
                    capacity_packages=100_000,
                    capacity_kg=100_000,
                    registration=f"KA01FT{n:04d}",
                ),
            )
            call(
                self._attendance.RecordAttendance,
                record_attendance_request(
                    rider_id=rider,
                    hub_id=HUB,
                    day=self._date,
                    status=attendance_pb2.ATTENDANCE_STATUS_PRESENT,
                    shift="MORNING",
                ),
            )

        try:
            call(
                self._dispatch.UpsertHub,
                upsert_hub_request(
                    hub_id=HUB, name="Faults", lat=HUB_DEPOT[0], lng=HUB_DEPOT[1], timezone=HUB_TIMEZONE
                ),
            )
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.UNIMPLEMENTED:
                raise
            self.planning = "dispatch_svc has no UpsertHub"

    def start(self, timeline: Timeline) -> None:
        self._timeline = timeline
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        if self.error is not None:
            raise AssertionError(f"an operation failed: {self.error!r}") from self.error

    def _run(self) -> None:
        steps = [
            (0.25, f"op: CreateDispatch x{len(self._routes)}", self._create_dispatches),
            (0.32, f"op: AssignPickupRoute x{MANUAL_PER_ROUND}", self._assign_one_by_one),
            (0.40, "op: ReassignDispatch; CreateDispatch, MovePickups", self._reassign_and_move),
            (0.50, "op: ImportRoutes map version 2", self._publish_map_v2),
            (0.58, f"op: BatchAssignPickupRoutes x{MANUAL_PER_ROUND}", self._assign_in_a_batch),
            (0.65, "op: CancelDispatch, CreateDispatch", self._cancel_and_replace),
            (0.72, "op: ReassignDispatch", self._reassign_replacement),
            (0.80, "op: StartDispatch, CompleteDispatch", self._complete),
            (0.86, f"op: PlanDispatches x{PLANNED_ROUTES} routes, CommitDispatchPlan twice at once", self._plan),
        ]
        try:
            for share, what, action in steps:
                self._timeline.sleep_until(share * self._load_seconds)
                self._timeline.run(what, action)
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def _create(self, request_id: str, route: str, n: int) -> dispatch_pb2.Dispatch:
        return call(
            self._dispatch.CreateDispatch,
            create_dispatch_request(
                request_id=request_id,
                hub_id=HUB,
                route_id=route,
                pickup_date=self._date,
                rider_id=f"fault-rider-{n}",
                vehicle_id=f"fault-van-{n}",
            ),
        ).dispatch

    def _create_dispatches(self) -> str:
        created = [self._create(f"fault-d{k}", route, k + 1) for k, route in enumerate(self._routes)]
        self.dispatch_ids = [d.id for d in created]
        return ", ".join(f"{d.route_id}: {len(d.pur_ids)} PURs" for d in created)

    def _publish_map_v2(self) -> str:
        answer = call(self._routing.ImportRoutes, import_routes_request(HUB, self._v2), timeout=120)
        self.map_v2_version = answer.map_version
        return f"map version {answer.map_version}: {answer.created_count} created, {answer.updated_count} updated, {answer.deleted_count} deleted"

    def _cancel_and_replace(self) -> str:
        call(
            self._dispatch.CancelDispatch,
            dispatch_pb2.CancelDispatchRequest(id=self.dispatch_ids[1], reason="van broke down"),
        )
        again = self._create("fault-d1-again", self._routes[1], len(self._routes) + 1)
        self.dispatch_ids.append(again.id)
        return f"{self._routes[1]}: cancelled, new dispatch took {len(again.pur_ids)} PURs"

    def _complete(self) -> str:
        call(self._dispatch.StartDispatch, dispatch_pb2.StartDispatchRequest(id=self.dispatch_ids[0]))
        done = call(
            self._dispatch.CompleteDispatch, dispatch_pb2.CompleteDispatchRequest(id=self.dispatch_ids[0])
        ).dispatch
        return f"{done.route_id}: {len(done.pur_ids)} PURs picked up"

    # -- the manual queue ------------------------------------------------------------------------

    def _pick_from_queue(self) -> list[tuple[str, str]]:
        """UNROUTABLE PURs of the queue, each with the route a person would give it: every other
        one its nearest route (when that route may be chosen), the rest the route whose dispatch
        stays OPEN all run, so some join a dispatch and take its rider."""
        queue = call(
            self._pur.ListManualQueue,
            list_manual_queue_request(
                hub_id=HUB, pickup_date=self._date, review=pur_pb2.REVIEW_REASON_UNROUTABLE, page_size=1000
            ),
        ).pickup_requests
        waiting = [p for p in queue if p.id not in self.manual]
        chosen = self._rng.choice(len(waiting), size=min(MANUAL_PER_ROUND, len(waiting)), replace=False)
        picks = []
        for k, index in enumerate(sorted(chosen)):
            pur = waiting[int(index)]
            nearest = pur.nearest_route_id if pur.nearest_route_id in self._manual_routes else ""
            picks.append((pur.id, nearest if k % 2 == 0 and nearest else self._routes[-1]))
        return picks

    def _assign_one_by_one(self) -> str:
        picks = self._pick_from_queue()
        for pur_id, route_id in picks:
            self._assign([(pur_id, route_id)], batch=False)
        return self._assigned_summary(picks)

    def _assign_in_a_batch(self) -> str:
        picks = self._pick_from_queue()
        if picks:
            self._assign(picks, batch=True)
        return self._assigned_summary(picks)

    def _assign(self, picks: list[tuple[str, str]], *, batch: bool) -> None:
        """Assignments answered OK are recorded as made, whatever happens to them later (the
        checks then prove they stuck). A refusal (FAILED_PRECONDITION) after a retried attempt
        may mean that attempt went through and the PUR then joined a dispatch: read back, a PUR
        MANUAL on the chosen route counts as assigned; a refused batch is retried one by one."""
        requests = [
            assign_pickup_route_request(pur_id=pur_id, route_id=route_id, reason="fault suite: assigned by hand")
            for pur_id, route_id in picks
        ]
        try:
            if batch:
                call(self._pur.BatchAssignPickupRoutes, batch_assign_pickup_routes_request(requests))
            else:
                call(self._pur.AssignPickupRoute, requests[0])
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            if batch:
                for pick in picks:
                    self._assign([pick], batch=False)
                return
            pur_id, route_id = picks[0]
            pur = call(self._pur.GetPickupRequest, pur_pb2.GetPickupRequestRequest(id=pur_id)).pickup_request
            if (pur.route_match, pur.route_id) != (common_pb2.ROUTE_MATCH_MANUAL, route_id):
                self.manual_skipped.append(f"{pur_id}: {err.details()}")
                return
        self.manual.update(picks)

    def _assigned_summary(self, picks: list[tuple[str, str]]) -> str:
        done = [p for p in picks if p[0] in self.manual]
        routes = {route for _, route in done}
        return f"{len(done)} of {len(picks)} queued PURs routed by hand to {len(routes)} routes"

    # -- dispatch overrides ----------------------------------------------------------------------

    def _reassign(self, dispatch_id: str, n: int) -> dispatch_pb2.Dispatch:
        """Rider and van `n` for the dispatch; a repeat (after a lost answer) changes nothing."""
        dispatch = call(
            self._dispatch.ReassignDispatch,
            reassign_dispatch_request(
                dispatch_id=dispatch_id,
                rider_id=f"fault-rider-{n}",
                vehicle_id=f"fault-van-{n}",
                reason="fault suite: rider went home sick",
            ),
        ).dispatch
        self.reassigned[dispatch.id] = dispatch.rider_id
        return dispatch

    def _reassign_and_move(self) -> str:
        spare = len(self._routes) + 2
        previous = call(self._dispatch.GetDispatch, dispatch_pb2.GetDispatchRequest(id=self.dispatch_ids[3]))
        reassigned = self._reassign(self.dispatch_ids[3], spare + 1)
        # A second dispatch on the busiest route takes some of the first one's pickups.
        second = self._create("fault-d0-second", self._routes[0], spare)
        self.dispatch_ids.append(second.id)
        source = call(self._dispatch.GetDispatch, dispatch_pb2.GetDispatchRequest(id=self.dispatch_ids[0])).dispatch
        members = sorted(source.pur_ids)
        chosen = self._rng.choice(len(members), size=min(MOVED_PICKUPS, len(members)), replace=False)
        pur_ids = [members[int(i)] for i in sorted(chosen)]
        self._move(source.id, second.id, pur_ids)
        return (
            f"{reassigned.id}: rider {previous.dispatch.rider_id} -> {reassigned.rider_id}; "
            f"{len(pur_ids)} pickups moved {source.id} -> {second.id}"
        )

    def _move(self, from_id: str, to_id: str, pur_ids: list[str]) -> None:
        """MovePickups is refused once the pickups are no longer in the source: after a retried
        attempt, that refusal with every pickup in the target means the attempt went through."""
        try:
            call(
                self._dispatch.MovePickups,
                move_pickups_request(
                    from_dispatch_id=from_id, to_dispatch_id=to_id, pur_ids=pur_ids, reason="fault suite: balancing"
                ),
            )
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
            target = call(self._dispatch.GetDispatch, dispatch_pb2.GetDispatchRequest(id=to_id)).dispatch
            if not set(pur_ids) <= set(target.pur_ids):
                raise
        self.moved.update(dict.fromkeys(pur_ids, to_id))

    def _reassign_replacement(self) -> str:
        # Rider 4 is free again: the first reassignment took dispatch 3 off them.
        replacement = self._reassign(self.dispatch_ids[-1], len(self._routes))
        return f"{replacement.id} ({replacement.route_id}): rider -> {replacement.rider_id}"

    # -- planning --------------------------------------------------------------------------------

    def _plan(self) -> str:
        """Two routes no other operation touches are planned, and the plan committed from two
        threads at once (each retried through the faults): both answers must name the same
        dispatches, and no pickup may end in two (check_dispatches)."""
        if self.planning:
            return f"skipped: {self.planning}"
        candidates = sorted(self._manual_routes - set(self._routes) - {PREMIUM_CENTRE_ROUTE})
        chosen = [candidates[int(i)] for i in sorted(self._rng.choice(len(candidates), PLANNED_ROUTES, replace=False))]
        request = plan_dispatches_request(hub_id=HUB, pickup_date=self._date, route_ids=chosen)
        try:
            plan = call(self._dispatch.PlanDispatches, request, timeout=120, give_up_s=0).plan
        except grpc.RpcError as err:
            details = err.details() or ""
            if err.code() == grpc.StatusCode.UNIMPLEMENTED or "planner" in details:
                self.planning = f"dispatch_svc cannot plan: {details}"
                return f"skipped: {self.planning}"
            if err.code() not in RETRYABLE:
                raise
            plan = call(self._dispatch.PlanDispatches, request, timeout=120).plan
        commit_request = commit_dispatch_plan_request(plan_id=plan.id, only_valid_trips=True)
        answers: list[list[str]] = []
        errors: list[BaseException] = []

        def commit() -> None:
            try:
                answer = call(self._dispatch.CommitDispatchPlan, commit_request, timeout=60)
                answers.append(sorted(d.id for d in answer.dispatches))
            except BaseException as exc:  # noqa: BLE001 - raised below, in the operations thread
                errors.append(exc)

        threads = [threading.Thread(target=commit, name=f"commit-{k}") for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        self.plan_commits = answers
        stops = sum(len(t.stops) for t in plan.trips)
        return (
            f"{', '.join(chosen)}: {len(plan.trips)} trips, {stops} stops, {len(plan.unplanned)} unplanned; "
            f"commits answered {[len(a) for a in answers]} dispatches"
        )
