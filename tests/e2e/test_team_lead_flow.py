"""A team lead works the exceptions through real processes: an UNROUTABLE PUR waits in the hub's
manual queue with its reason and nearest route, the lead assigns it a route by hand, it is
dispatched and takes the dispatch's rider, the dispatch gets another rider and the PUR follows,
the live board shows each change with route names, and the PUR's history tells every step with
who acted and why. Then the same new RPCs from grpcurl against the real binaries."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime

import grpc
import pytest

from firstmile.attendance.v1 import attendance_pb2, attendance_pb2_grpc
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from firstmile_client.requests import (
    assign_pickup_route_request,
    create_dispatch_request,
    list_manual_queue_request,
    list_pickup_history_request,
    reassign_dispatch_request,
    record_attendance_request,
    upsert_rider_request,
    upsert_vehicle_request,
    watch_open_pickups_by_route_request,
)
from tests.e2e.test_assignment_loop import SETTLED, create_when_hub_known, pur_request
from tests.support import auth
from tests.support.geometry import square_geojson
from tests.support.polling import eventually
from tests.support.processes import GRPCURL

pytestmark = pytest.mark.e2e

TODAY = datetime.now(UTC).date().isoformat()
LEAD = "tl-priya"
# The far PUR is 0.04 degrees north of route One's top edge: about 4.4 km, beyond routing's
# 2 km limit for NEAREST, so UNROUTABLE with One as its nearest route.
ONE_ORIGIN, TWO_ORIGIN = (77.60, 12.90), (77.70, 12.90)
FAR_POINT, INSIDE_TWO = (12.95, 77.605), (12.905, 77.705)
ASSIGN_REASON = "seller moved to the next lane; One's rider passes there daily"
REASSIGN_REASON = "rider-2 went home sick"


class Hub:
    """A fresh hub: routes One ({hub}-R1) and Two ({hub}-R2), three present riders and a van."""

    def __init__(self) -> None:
        self.id = f"HUB-{uuid.uuid4().hex[:8]}"
        self.one, self.two = f"{self.id}-R1", f"{self.id}-R2"
        self.riders = [f"{self.id}-rider-{n}" for n in (1, 2, 3)]
        self.van = f"{self.id}-van-1"

    def set_up(self, routing, dispatch, attendance) -> None:
        for route_id, name, (lng, lat) in ((self.one, "One", ONE_ORIGIN), (self.two, "Two", TWO_ORIGIN)):
            route = routing_pb2.Route(
                id=route_id,
                hub_id=self.id,
                name=name,
                geometry_geojson=square_geojson(lng, lat),
                default_rider_id=self.riders[0],
            )
            routing.UpsertRoute(routing_pb2.UpsertRouteRequest(route=route), timeout=30)
        for n, rider in enumerate(self.riders, start=1):
            dispatch.UpsertRider(upsert_rider_request(rider_id=rider, hub_id=self.id, name=f"Rider {n}"), timeout=10)
            attendance.RecordAttendance(
                record_attendance_request(
                    rider_id=rider,
                    hub_id=self.id,
                    day=TODAY,
                    status=attendance_pb2.ATTENDANCE_STATUS_PRESENT,
                    shift="MORNING",
                ),
                timeout=10,
            )
        dispatch.UpsertVehicle(
            upsert_vehicle_request(
                vehicle_id=self.van,
                hub_id=self.id,
                vehicle_type=dispatch_pb2.VEHICLE_TYPE_VAN,
                capacity_packages=100,
                capacity_kg=500,
                registration="KA01TL0001",
            ),
            timeout=10,
        )

    def lead_token(self) -> str:
        return auth.token("team-lead", hubs=[self.id], subject=LEAD)

    def client_token(self) -> str:
        return auth.token("client", client_id=f"client-{self.id}", subject=f"client-{self.id}")


@pytest.fixture
def processes(start_service):
    attendance = start_service("attendance_adapter")
    attendance.wait_serving()
    started = {
        "routing": start_service("routing_svc"),
        "pur": start_service("pur_svc"),
        "dispatch": start_service("dispatch_svc", DISPATCH_SVC_ATTENDANCE_ADDRESS=attendance.target),
        "attendance": attendance,
    }
    for process in started.values():
        process.wait_serving()
    return started


@pytest.fixture
def hub(processes) -> Iterator[Hub]:
    """The hub, set up by an admin (routes, riders, attendance, a van)."""
    hub = Hub()
    channels = {name: processes[name].channel() for name in ("routing", "dispatch", "attendance")}
    try:
        hub.set_up(
            routing_pb2_grpc.RoutingServiceStub(channels["routing"]),
            dispatch_pb2_grpc.DispatchServiceStub(channels["dispatch"]),
            attendance_pb2_grpc.AttendanceServiceStub(channels["attendance"]),
        )
        yield hub
    finally:
        for channel in channels.values():
            channel.close()


def get_pur(pur_stub, pur_id: str) -> pur_pb2.PickupRequest:
    return pur_stub.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_id), timeout=10).pickup_request


def create_far_and_inside(pur_stub, hub: Hub) -> tuple[pur_pb2.PickupRequest, pur_pb2.PickupRequest]:
    """A PUR of the hub's client 4.4 km from any route (UNROUTABLE) and one inside route Two."""
    created = [
        create_when_hub_known(pur_stub.CreatePickupRequest, pur_request(hub.id, name, lat, lng)).pickup_request
        for name, (lat, lng) in (("far", FAR_POINT), ("inside", INSIDE_TWO))
    ]
    far, inside = (settled(pur_stub, p.id) for p in created)
    assert far.status == pur_pb2.PICKUP_STATUS_UNROUTABLE and far.unroutable_reason
    assert (inside.status, inside.route_id) == (pur_pb2.PICKUP_STATUS_ROUTED, hub.two)
    return far, inside


def settled(pur_stub, pur_id: str) -> pur_pb2.PickupRequest:
    return eventually(lambda: get_pur(pur_stub, pur_id), lambda p: p.status in SETTLED, what=f"{pur_id} routed")


def manual_queue(pur_stub, hub_id: str) -> list[pur_pb2.PickupRequest]:
    return list(pur_stub.ListManualQueue(list_manual_queue_request(hub_id=hub_id), timeout=10).pickup_requests)


def board_groups(dispatch_stub, hub_id: str) -> dict[str, dispatch_pb2.RouteGroup]:
    groups = dispatch_stub.ListOpenPickupsByRoute(
        dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=hub_id, pickup_date=TODAY), timeout=10
    ).groups
    return {g.route_id: g for g in groups}


class BoardWatch:
    """WatchOpenPickupsByRoute read by a thread into a queue, so the test can act between messages."""

    def __init__(self, dispatch_stub, hub_id: str) -> None:
        self._call = dispatch_stub.WatchOpenPickupsByRoute(
            watch_open_pickups_by_route_request(hub_id=hub_id, pickup_date=TODAY), timeout=180
        )
        self._messages: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, name="board-watch", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self._call:
                self._messages.put(message)
        except grpc.RpcError as err:
            if err.code() != grpc.StatusCode.CANCELLED:
                self._messages.put(err)

    def next(
        self, done: Callable[[dispatch_pb2.WatchOpenPickupsByRouteResponse], bool], what: str, timeout: float = 60.0
    ) -> dispatch_pb2.WatchOpenPickupsByRouteResponse:
        """The first message (from now) for which `done` holds; earlier ones are skipped."""
        skipped: list[dispatch_pb2.WatchOpenPickupsByRouteResponse] = []
        while True:
            try:
                message = self._messages.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"the board sent no {what} within {timeout:.0f} s; skipped {skipped}") from None
            if isinstance(message, grpc.RpcError):
                raise AssertionError(f"the board stream ended before {what}: {message.code()} {message.details()}")
            if done(message):
                return message
            skipped.append(message)

    def cancel(self) -> None:
        self._call.cancel()
        self._thread.join(timeout=10)


def group_of(message: dispatch_pb2.WatchOpenPickupsByRouteResponse, route_id: str) -> dispatch_pb2.RouteGroup | None:
    return next((g for g in message.groups if g.route_id == route_id), None)


def in_order(entries: Sequence[pur_pb2.PickupHistoryEntry], steps: Sequence[tuple[str, Callable]]) -> list:
    """The entries matching `steps`, each found after the previous one; fails naming the first
    step with no matching entry after its predecessor."""
    found, position = [], 0
    for what, matches in steps:
        hit = next((i for i in range(position, len(entries)) if matches(entries[i])), None)
        assert hit is not None, f"no history entry for '{what}' after entry {position}: {list(entries)}"
        found.append(entries[hit])
        position = hit + 1
    return found


def test_team_lead_assigns_an_unroutable_pur_which_follows_its_dispatch_rider(processes, hub: Hub):
    client_channel = processes["pur"].channel(hub.client_token())
    lead_channels = {name: processes[name].channel(hub.lead_token()) for name in ("pur", "dispatch")}
    pur = pur_pb2_grpc.PickupServiceStub(lead_channels["pur"])
    dispatch = dispatch_pb2_grpc.DispatchServiceStub(lead_channels["dispatch"])
    watch = None
    try:
        far, inside = create_far_and_inside(pur_pb2_grpc.PickupServiceStub(client_channel), hub)

        # The queue: the far PUR, why, and the nearest route (One, about 4.4 km away); not the routed one.
        queued = eventually(
            lambda: {p.id: p for p in manual_queue(pur, hub.id)}, lambda q: far.id in q, what="the far PUR queued"
        )
        waiting = queued[far.id]
        assert inside.id not in queued
        assert waiting.review == pur_pb2.REVIEW_REASON_UNROUTABLE
        assert waiting.status == pur_pb2.PICKUP_STATUS_UNROUTABLE and waiting.unroutable_reason
        assert waiting.nearest_route_id == hub.one
        assert 4_000 < waiting.nearest_distance_m < 5_000, waiting.nearest_distance_m

        # The board before the lead acts: route Two, named, with the routed PUR. Names come from
        # dispatch_svc's read model of map changes, which may trail the PUR by a moment.
        eventually(
            lambda: board_groups(dispatch, hub.id),
            lambda g: hub.two in g and g[hub.two].route_name == "Two",
            what="route Two on the board, named",
        )
        watch = BoardWatch(dispatch, hub.id)
        snapshot = watch.next(lambda m: m.snapshot, "snapshot")
        two = group_of(snapshot, hub.two)
        assert two is not None and two.route_name == "Two" and inside.id in {p.pur_id for p in two.pickups}
        assert group_of(snapshot, hub.one) is None

        assigned = pur.AssignPickupRoute(
            assign_pickup_route_request(pur_id=far.id, route_id=hub.one, reason=ASSIGN_REASON), timeout=10
        ).pickup_request
        assert (assigned.status, assigned.route_id, assigned.route_match, assigned.rider_id) == (
            pur_pb2.PICKUP_STATUS_ROUTED,
            hub.one,
            common_pb2.ROUTE_MATCH_MANUAL,
            hub.riders[0],
        )
        assert assigned.manual_reason == ASSIGN_REASON
        assert assigned.review == pur_pb2.REVIEW_REASON_UNSPECIFIED
        assert assigned.map_version == inside.map_version  # the hub's current map
        again = pur.AssignPickupRoute(
            assign_pickup_route_request(pur_id=far.id, route_id=hub.one, reason=ASSIGN_REASON), timeout=10
        ).pickup_request
        assert again.version == assigned.version, "repeating the same assignment changed the PUR"
        assert far.id not in {p.id for p in manual_queue(pur, hub.id)}

        joined = watch.next(
            lambda m: not m.snapshot and far.id in {p.pur_id for p in getattr(group_of(m, hub.one), "pickups", [])},
            "change: the assigned PUR on route One",
        )
        assert getattr(group_of(joined, hub.one), "route_name", None) == "One"

        # A dispatch with rider-2, not One's default rider: the PUR takes the dispatch's rider.
        created = dispatch.CreateDispatch(
            create_dispatch_request(
                request_id=f"tl-{far.id}",
                hub_id=hub.id,
                route_id=hub.one,
                pickup_date=TODAY,
                rider_id=hub.riders[1],
                vehicle_id=hub.van,
            ),
            timeout=10,
        ).dispatch
        assert list(created.pur_ids) == [far.id]
        dispatched = eventually(
            lambda: get_pur(pur, far.id),
            lambda p: p.status == pur_pb2.PICKUP_STATUS_DISPATCHED,
            what="the PUR DISPATCHED",
        )
        assert (dispatched.dispatch_id, dispatched.rider_id, dispatched.route_match) == (
            created.id,
            hub.riders[1],
            common_pb2.ROUTE_MATCH_MANUAL,
        )
        watch.next(
            lambda m: getattr(group_of(m, hub.one), "open_dispatch", dispatch_pb2.Dispatch()).id == created.id,
            "change: route One's open dispatch",
        )

        reassigned = dispatch.ReassignDispatch(
            reassign_dispatch_request(dispatch_id=created.id, rider_id=hub.riders[2], reason=REASSIGN_REASON),
            timeout=10,
        ).dispatch
        assert (reassigned.rider_id, reassigned.status) == (hub.riders[2], dispatch_pb2.DISPATCH_STATUS_OPEN)
        followed = eventually(
            lambda: get_pur(pur, far.id), lambda p: p.rider_id == hub.riders[2], what="rider_id to follow"
        )
        assert (followed.status, followed.dispatch_id) == (pur_pb2.PICKUP_STATUS_DISPATCHED, created.id)
        watch.next(
            lambda m: getattr(group_of(m, hub.one), "open_dispatch", dispatch_pb2.Dispatch()).rider_id == hub.riders[2],
            "change: the open dispatch's new rider",
        )

        history = pur.ListPickupHistory(list_pickup_history_request(far.id), timeout=10).entries
        check_history(history, hub, created.id)
    finally:
        if watch is not None:
            watch.cancel()
        for channel in (client_channel, *lead_channels.values()):
            channel.close()


def check_history(entries: Sequence[pur_pb2.PickupHistoryEntry], hub: Hub, dispatch_id: str) -> None:
    versions = [e.version for e in entries]
    assert versions == sorted(set(versions)), f"history not oldest first: {versions}"
    for entry in entries:
        assert entry.HasField("time") and entry.actor.subject and entry.actor.role and entry.reason, entry
    created, unroutable, manual, dispatched, rider_changed = in_order(
        entries,
        [
            ("created", lambda e: e.status == pur_pb2.PICKUP_STATUS_PENDING_ROUTE),
            ("unroutable", lambda e: e.status == pur_pb2.PICKUP_STATUS_UNROUTABLE),
            ("manual route", lambda e: e.route_match == common_pb2.ROUTE_MATCH_MANUAL),
            ("dispatched", lambda e: e.status == pur_pb2.PICKUP_STATUS_DISPATCHED),
            ("rider changed", lambda e: e.rider_id == hub.riders[2]),
        ],
    )
    assert (created.actor.subject, created.actor.role) == (f"client-{hub.id}", "client")
    assert unroutable.actor.role == "service" and not unroutable.route_id
    assert (manual.status, manual.route_id, manual.rider_id, manual.actor.subject, manual.actor.role) == (
        pur_pb2.PICKUP_STATUS_ROUTED,
        hub.one,
        hub.riders[0],
        LEAD,
        "team-lead",
    )
    assert ASSIGN_REASON in manual.reason and manual.map_version >= 1
    assert (dispatched.dispatch_id, dispatched.rider_id, dispatched.actor.subject, dispatched.actor.role) == (
        dispatch_id,
        hub.riders[1],
        LEAD,
        "team-lead",
    )
    assert (rider_changed.status, rider_changed.dispatch_id, rider_changed.actor.subject) == (
        pur_pb2.PICKUP_STATUS_DISPATCHED,
        dispatch_id,
        LEAD,
    )
    assert REASSIGN_REASON in rider_changed.reason
    assert entries[-1] == rider_changed, "the rider change is the PUR's last change"


# ---------------------------------------------------------------------------------------- grpcurl


def grpcurl_args(token: str, target: str, method: str, body: dict | None = None) -> list[str]:
    data = ["-d", json.dumps(body)] if body is not None else []
    return [str(GRPCURL), "-plaintext", "-H", f"authorization: Bearer {token}", *data, target, method]


def grpcurl(token: str, target: str, method: str, body: dict) -> dict:
    done = subprocess.run(grpcurl_args(token, target, method, body), capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, f"grpcurl {method}: {done.stderr}"
    return json.loads(done.stdout)


def json_messages(text: str) -> list[dict]:
    """The JSON objects grpcurl printed one after another for a stream."""
    decoder, messages, position = json.JSONDecoder(), list[dict](), 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position >= len(text):
            return messages
        message, position = decoder.raw_decode(text, position)
        messages.append(message)


class GrpcurlStream:
    """A server-streaming call in a grpcurl process; its output is gathered by a thread."""

    def __init__(self, args: list[str]) -> None:
        self._process = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self._text = ""
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            with self._lock:
                self._text += line

    def messages(self) -> list[dict]:
        with self._lock:
            text = self._text
        try:
            return json_messages(text)
        except json.JSONDecodeError:  # the last message is still being printed
            return json_messages(text[: text.rfind("\n}") + 2])

    def stop(self) -> str:
        self._process.terminate()
        try:
            _, stderr = self._process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            _, stderr = self._process.communicate()
        self._thread.join(timeout=5)
        return stderr


def test_grpcurl_lists_the_queue_assigns_a_route_watches_the_board_and_reads_history(processes, hub: Hub):
    pur_target, dispatch_target = processes["pur"].target, processes["dispatch"].target
    with processes["pur"].channel(hub.client_token()) as channel:
        far, _ = create_far_and_inside(pur_pb2_grpc.PickupServiceStub(channel), hub)
    lead = hub.lead_token()

    listed = eventually(
        lambda: grpcurl(lead, pur_target, "firstmile.pur.v1.PickupService/ListManualQueue", {"hub_id": hub.id}),
        lambda answer: far.id in {p["id"] for p in answer.get("pickup_requests", [])},
        what="the far PUR in the queue (grpcurl)",
    )
    waiting = next(p for p in listed["pickup_requests"] if p["id"] == far.id)
    assert (waiting["review"], waiting["nearest_route_id"]) == ("REVIEW_REASON_UNROUTABLE", hub.one)

    board = GrpcurlStream(
        grpcurl_args(
            lead,
            dispatch_target,
            "firstmile.dispatch.v1.DispatchService/WatchOpenPickupsByRoute",
            {"hub_id": hub.id, "pickup_date": TODAY},
        )
    )
    try:
        eventually(board.messages, lambda m: any(x.get("snapshot") for x in m), 30, "the board's snapshot (grpcurl)")
        assigned = grpcurl(
            lead,
            pur_target,
            "firstmile.pur.v1.PickupService/AssignPickupRoute",
            {"id": far.id, "route_id": hub.one, "reason": "grpcurl: assigned by hand"},
        )["pickup_request"]
        assert (assigned["status"], assigned["route_id"], assigned["route_match"]) == (
            "PICKUP_STATUS_ROUTED",
            hub.one,
            "ROUTE_MATCH_MANUAL",
        )

        def one_with_far(messages: list[dict]) -> list[dict]:
            return [
                g
                for m in messages
                if not m.get("snapshot")
                for g in m.get("groups", [])
                if g.get("route_id") == hub.one and far.id in {p.get("pur_id") for p in g.get("pickups", [])}
            ]

        # The name comes from dispatch_svc's read model of map changes; a group seen before the
        # name arrived is sent again, named, when it does.
        eventually(
            board.messages,
            lambda m: any(g.get("route_name") == "One" for g in one_with_far(m)),
            60,
            "the change on the board, route One named (grpcurl)",
        )
    finally:
        stderr = board.stop()
    assert "Unimplemented" not in stderr and "PermissionDenied" not in stderr, stderr

    history = grpcurl(lead, pur_target, "firstmile.pur.v1.PickupService/ListPickupHistory", {"id": far.id})
    manual = [e for e in history["entries"] if e.get("route_match") == "ROUTE_MATCH_MANUAL"]
    assert manual and manual[0]["actor"] == {"subject": LEAD, "role": "team-lead"}
    assert "grpcurl: assigned by hand" in manual[0]["reason"]
