"""What people do while the load runs, through the same faults: a team lead dispatches, cancels
and completes; a map editor publishes a new route map version."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import grpc

from firstmile.attendance.v1 import attendance_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile_client.requests import (
    create_dispatch_request,
    import_routes_request,
    record_attendance_request,
    upsert_rider_request,
    upsert_vehicle_request,
)
from tests.faults.cluster import Mesh
from tests.faults.injector import Timeline
from tests.faults.load import RETRYABLE
from tests.faults.routes import HUB


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
    """What people do while the load runs: a TL creates dispatches, cancels one and creates
    another, completes one; a map editor publishes map version 2."""

    def __init__(self, mesh: Mesh, v2: dict, routes: list[str], *, pickup_date: str, load_seconds: float) -> None:
        self._routing = mesh.clients.routing
        self._dispatch = mesh.clients.dispatch
        self._attendance = mesh.clients.attendance
        self._timeline: Timeline | None = None
        self._v2 = v2
        self._routes = routes
        self._date = pickup_date
        self._load_seconds = load_seconds
        self.dispatch_ids: list[str] = []
        self.map_v2_version = 0
        self._thread = threading.Thread(target=self._run, name="operations", daemon=True)
        self.error: BaseException | None = None

    def set_up_fleet(self) -> None:
        for n in range(1, len(self._routes) + 2):
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
            (0.50, "op: ImportRoutes map version 2", self._publish_map_v2),
            (0.65, "op: CancelDispatch, CreateDispatch", self._cancel_and_replace),
            (0.80, "op: StartDispatch, CompleteDispatch", self._complete),
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
