"""The demo hub's fleet: riders, vehicles, attendance and some dispatch history.

Everything is deterministic (a seed, and the day for attendance and history) and loaded
idempotently, so re-runs change nothing: riders and vehicles are upserted, attendance is recorded
(create or replace), and history pickups and dispatches use request ids derived from the day.

History: pur_svc accepts pickup dates at most one day back, so past dispatches can only be made
for *yesterday*. For most routes the demo creates a few small pickups dated yesterday (client
`demo-history`), waits until they are routed, then runs 1-3 dispatches per route through the
real lifecycle (CreateDispatch -> StartDispatch -> CompleteDispatch). These COMPLETED dispatches
are the history RecommendDispatch learns from.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime

import grpc
import shapely
from shapely.geometry import Point, shape
from shapely.prepared import prep

from demo.workload import IST
from firstmile.attendance.v1 import attendance_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client.channels import explain
from firstmile_client.endpoints import Endpoint
from firstmile_client.requests import (
    create_dispatch_request,
    create_pickup_request,
    record_attendance_request,
    upsert_rider_request,
    upsert_vehicle_request,
)
from firstmile_client.stubs import MeshClients

DEFAULT_RIDERS = 50
SPARE_RIDERS = 10
HISTORY_CLIENT = "demo-history"
HISTORY_PURS_PER_DISPATCH = 3
HISTORY_DISPATCH_CHOICES = (0, 1, 1, 2, 2, 3)
"""How many dispatches a route had yesterday, drawn per route (0 = no history: a new route)."""
HISTORY_DEFAULT_RIDER_SHARE = 0.7
RPC_TIMEOUT_S = 15.0
ROUTING_WAIT_S = 60.0
QUEUE_WAIT_S = 30.0

FIRST_NAMES = (
    "Aarav", "Abhishek", "Ajay", "Akash", "Amit", "Anil", "Arjun", "Ashok", "Basavaraj", "Bharath",
    "Chandan", "Darshan", "Deepak", "Dinesh", "Ganesh", "Girish", "Gopal", "Harish", "Imran", "Irfan",
    "Jagadish", "Karthik", "Kiran", "Krishna", "Lokesh", "Mahesh", "Manjunath", "Mohan", "Mohammed", "Naveen",
    "Nikhil", "Prakash", "Pradeep", "Praveen", "Raghu", "Rahul", "Rajesh", "Rakesh", "Ramesh", "Ravi",
    "Sachin", "Santosh", "Sandeep", "Shivakumar", "Sidharth", "Srinivas", "Sudeep", "Sunil", "Suresh", "Syed",
    "Tejas", "Umesh", "Vasanth", "Venkatesh", "Vijay", "Vikram", "Vinay", "Vinod", "Yashwanth", "Zubair",
)  # fmt: skip
LAST_NAMES = (
    "Gowda", "Reddy", "Kumar", "Naik", "Shetty", "Rao", "Patil", "Hegde", "Khan", "Pasha",
    "Nair", "Iyer", "Murthy", "Prasad", "Singh", "Yadav", "Hussain", "Shenoy", "Bhat", "Pillai",
)  # fmt: skip

VEHICLE_KINDS = {
    # type: (how many, capacity in packages, capacity in kg, id prefix)
    dispatch_pb2.VEHICLE_TYPE_BIKE: (44, 40, 60.0, "BK"),
    dispatch_pb2.VEHICLE_TYPE_THREE_WHEELER: (12, 200, 500.0, "3W"),
    dispatch_pb2.VEHICLE_TYPE_VAN: (4, 700, 1200.0, "VAN"),
}
VEHICLE_LABELS = {
    dispatch_pb2.VEHICLE_TYPE_BIKE: "bike",
    dispatch_pb2.VEHICLE_TYPE_THREE_WHEELER: "three-wheeler",
    dispatch_pb2.VEHICLE_TYPE_VAN: "van",
    dispatch_pb2.VEHICLE_TYPE_TRUCK: "truck",
}
ATTENDANCE_WEIGHTS = (
    (attendance_pb2.ATTENDANCE_STATUS_PRESENT, 0.86),
    (attendance_pb2.ATTENDANCE_STATUS_ABSENT, 0.08),
    (attendance_pb2.ATTENDANCE_STATUS_ON_LEAVE, 0.06),
)


# ------------------------------------------------------------------------------- the data


@dataclass(frozen=True)
class RiderSpec:
    id: str
    name: str
    phone: str
    spare: bool


@dataclass(frozen=True)
class VehicleSpec:
    id: str
    type: int
    capacity_packages: int
    capacity_kg: float
    registration: str

    @property
    def label(self) -> str:
        return VEHICLE_LABELS.get(self.type, "vehicle")


@dataclass(frozen=True)
class AttendanceSpec:
    rider_id: str
    day: date
    status: int
    check_in: datetime | None
    shift: str


@dataclass(frozen=True)
class HistoryDispatch:
    """One planned dispatch of yesterday on a route, with its pickups' request ids."""

    request_id: str
    route_id: str
    rider_id: str
    vehicle_id: str
    pickup_request_ids: tuple[str, ...]


@dataclass(frozen=True)
class HistoryPickup:
    request_id: str
    route_id: str
    lat: float
    lng: float
    packages: int
    weight_kg: float


def riders(hub_id: str, *, seed: int = 1) -> list[RiderSpec]:
    """rider-001..rider-050 (the routes' default riders) and rider-051..rider-060 (spares)."""
    rng = random.Random(f"riders-{hub_id}-{seed}")
    first = list(FIRST_NAMES)
    rng.shuffle(first)
    result = []
    for n in range(1, DEFAULT_RIDERS + SPARE_RIDERS + 1):
        name = f"{first[(n - 1) % len(first)]} {rng.choice(LAST_NAMES)}"
        phone = f"+91{rng.choice('6789')}{rng.randrange(10**8, 10**9):09d}"
        result.append(RiderSpec(f"rider-{n:03d}", name, phone, spare=n > DEFAULT_RIDERS))
    return result


def vehicles(hub_id: str, *, seed: int = 1) -> list[VehicleSpec]:
    """Bikes, three-wheelers and a few vans, with Karnataka registrations."""
    rng = random.Random(f"vehicles-{hub_id}-{seed}")
    result = []
    for kind, (count, packages, kg, prefix) in VEHICLE_KINDS.items():
        for n in range(1, count + 1):
            series = rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") + rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ")
            registration = f"KA-{rng.choice((1, 3, 5, 51, 53)):02d}-{series}-{rng.randrange(1000, 10000)}"
            result.append(VehicleSpec(f"{hub_id}-{prefix}-{n:02d}", kind, packages, kg, registration))
    return result


def attendance(hub_id: str, rider_ids: Sequence[str], day: date, *, seed: int = 1) -> list[AttendanceSpec]:
    """The day's attendance: most riders PRESENT (checked in 07:45-09:15 IST), a few ABSENT or
    ON_LEAVE; the same for the same hub, day and seed."""
    rng = random.Random(f"attendance-{hub_id}-{day.isoformat()}-{seed}")
    statuses = [status for status, _ in ATTENDANCE_WEIGHTS]
    weights = [weight for _, weight in ATTENDANCE_WEIGHTS]
    result = []
    for rider_id in rider_ids:
        status = rng.choices(statuses, weights)[0]
        minutes = rng.randrange(0, 90)
        check_in = None
        if status == attendance_pb2.ATTENDANCE_STATUS_PRESENT:
            local = datetime.combine(day, dtime(7, 45), tzinfo=IST) + timedelta(minutes=minutes)
            check_in = local.astimezone(UTC)
        shift = "morning 08:00-17:00" if status == attendance_pb2.ATTENDANCE_STATUS_PRESENT else ""
        result.append(AttendanceSpec(rider_id, day, status, check_in, shift))
    return result


def present_ids(records: Sequence[AttendanceSpec]) -> set[str]:
    return {r.rider_id for r in records if r.status == attendance_pb2.ATTENDANCE_STATUS_PRESENT}


def plan_history(
    hub_id: str,
    routes: Sequence[tuple[str, str]],
    present: set[str],
    fleet_vehicles: Sequence[VehicleSpec],
    day: date,
    *,
    seed: int = 1,
) -> list[HistoryDispatch]:
    """Yesterday's dispatches: per route (id, default rider) 0-3 dispatches, mostly by the route's
    default rider, otherwise by the route's backup (a spare rider); only riders present that day."""
    rng = random.Random(f"history-{hub_id}-{day.isoformat()}-{seed}")
    spares = [f"rider-{n:03d}" for n in range(DEFAULT_RIDERS + 1, DEFAULT_RIDERS + SPARE_RIDERS + 1)]
    bikes = [v.id for v in fleet_vehicles if v.type == dispatch_pb2.VEHICLE_TYPE_BIKE]
    others = [v.id for v in fleet_vehicles if v.type != dispatch_pb2.VEHICLE_TYPE_BIKE]
    plan = []
    for index, (route_id, default_rider) in enumerate(routes):
        count = rng.choice(HISTORY_DISPATCH_CHOICES)
        backups = [spares[index % len(spares)], spares[(index + 3) % len(spares)]]
        usual_vehicle = bikes[index % len(bikes)] if index % 5 else others[(index // 5) % len(others)]
        for k in range(count):
            candidates = []
            if default_rider in present and rng.random() < HISTORY_DEFAULT_RIDER_SHARE:
                candidates.append(default_rider)
            candidates += [r for r in backups if r in present]
            if default_rider in present:
                candidates.append(default_rider)
            if not candidates:
                continue
            vehicle = usual_vehicle if rng.random() < 0.8 else bikes[(index + 7 * (k + 1)) % len(bikes)]
            key = f"hist-{day.isoformat()}-{route_id}-{k + 1}"
            plan.append(
                HistoryDispatch(
                    request_id=key,
                    route_id=route_id,
                    rider_id=candidates[0],
                    vehicle_id=vehicle,
                    pickup_request_ids=tuple(f"{key}-{n + 1}" for n in range(HISTORY_PURS_PER_DISPATCH)),
                )
            )
    return plan


def history_pickups(collection: dict, plan: Sequence[HistoryDispatch], *, seed: int = 1) -> list[HistoryPickup]:
    """Small pickups (2-8 packages) at points well inside their route and outside every other route,
    so that routing gives them that route."""
    geometries = {f["properties"]["id"]: shape(f["geometry"]) for f in collection["features"]}
    result = []
    for dispatch in plan:
        rng = random.Random(f"history-pickups-{dispatch.request_id}-{seed}")
        own = geometries[dispatch.route_id]
        inner = own.buffer(-0.0008)
        if inner.is_empty:
            inner = own
        others = prep(
            shapely.union_all([g for rid, g in geometries.items() if rid != dispatch.route_id]).buffer(0.0008)
        )
        xmin, ymin, xmax, ymax = inner.bounds
        inner_prepared = prep(inner)
        for request_id in dispatch.pickup_request_ids:
            point = None
            for _ in range(2000):
                candidate = Point(rng.uniform(xmin, xmax), rng.uniform(ymin, ymax))
                if inner_prepared.contains(candidate) and not others.contains(candidate):
                    point = candidate
                    break
            if point is None:
                point = inner.representative_point()
            packages = rng.randint(2, 8)
            result.append(
                HistoryPickup(
                    request_id,
                    dispatch.route_id,
                    round(point.y, 6),
                    round(point.x, 6),
                    packages,
                    round(packages * rng.uniform(0.4, 1.5), 1),
                )  # fmt: skip
            )
    return result


# --------------------------------------------------------------------------------- loading


@dataclass
class LoadSummary:
    riders: int = 0
    riders_created: int = 0
    vehicles: list[VehicleSpec] = field(default_factory=list)
    vehicles_created: int = 0
    attendance_today: list[AttendanceSpec] = field(default_factory=list)
    history_day: date | None = None
    history_planned: int = 0
    history_completed: int = 0
    history_new: int = 0
    history_routes: int = 0
    history_pickups: int = 0
    history_skipped: list[str] = field(default_factory=list)

    def lines(self, today: date) -> list[str]:
        counts = {status: 0 for status, _ in ATTENDANCE_WEIGHTS}
        for record in self.attendance_today:
            counts[record.status] = counts.get(record.status, 0) + 1
        kinds: dict[str, int] = {}
        for vehicle in self.vehicles:
            kinds[vehicle.label] = kinds.get(vehicle.label, 0) + 1
        lines = [
            f"Fleet: {self.riders} riders ({DEFAULT_RIDERS} routes' default riders + {SPARE_RIDERS} spares; "
            f"{self.riders_created} new), {len(self.vehicles)} vehicles ("
            + ", ".join(f"{n} {kind}s" for kind, n in kinds.items())
            + f"; {self.vehicles_created} new)",
            f"Attendance {today}: {counts[attendance_pb2.ATTENDANCE_STATUS_PRESENT]} present, "
            f"{counts[attendance_pb2.ATTENDANCE_STATUS_ABSENT]} absent, "
            f"{counts[attendance_pb2.ATTENDANCE_STATUS_ON_LEAVE]} on leave (recorded in attendance_adapter's "
            "embedded source; absent riders are never recommended)",
        ]
        if self.history_day is not None:
            lines.append(
                f"History: {self.history_completed} COMPLETED dispatches on {self.history_day} (yesterday) over "
                f"{self.history_routes} routes, {self.history_pickups} small pickups of client '{HISTORY_CLIENT}' "
                f"({self.history_new} dispatches new this run). pur_svc takes pickup dates at most 1 day back, "
                "so yesterday is all the history the API can make; it is real history, run through "
                "Create -> Start -> Complete."
            )
        for note in self.history_skipped[:3]:
            lines.append(f"  note: {note}")
        if len(self.history_skipped) > 3:
            lines.append(f"  ... and {len(self.history_skipped) - 3} more skipped dispatches")
        return lines


def load(
    clients: MeshClients,
    hub_id: str,
    collection: dict,
    today: date,
    *,
    seed: int = 1,
) -> LoadSummary:
    """Upserts riders and vehicles, records attendance for yesterday and today, and makes
    yesterday's history. Idempotent."""
    summary = LoadSummary()
    fleet_riders = riders(hub_id, seed=seed)
    for spec in fleet_riders:
        response = _call(
            clients.dispatch.UpsertRider,
            upsert_rider_request(rider_id=spec.id, hub_id=hub_id, name=spec.name, phone=spec.phone),
            clients.dispatch_endpoint,
            "UpsertRider",
        )
        summary.riders += 1
        summary.riders_created += int(response.created)
    summary.vehicles = vehicles(hub_id, seed=seed)
    for spec in summary.vehicles:
        request = upsert_vehicle_request(
            vehicle_id=spec.id, hub_id=hub_id, vehicle_type=spec.type, capacity_packages=spec.capacity_packages,
            capacity_kg=spec.capacity_kg, registration=spec.registration,
        )  # fmt: skip
        response = _call(clients.dispatch.UpsertVehicle, request, clients.dispatch_endpoint, "UpsertVehicle")
        summary.vehicles_created += int(response.created)

    rider_ids = [r.id for r in fleet_riders]
    yesterday = today - timedelta(days=1)
    attendance_yesterday = attendance(hub_id, rider_ids, yesterday, seed=seed)
    summary.attendance_today = attendance(hub_id, rider_ids, today, seed=seed)
    for record in attendance_yesterday + summary.attendance_today:
        _record_attendance(clients, hub_id, record)

    routes = [(f["properties"]["id"], f["properties"].get("default_rider_id", "")) for f in collection["features"]]
    plan = plan_history(
        hub_id, sorted(routes), present_ids(attendance_yesterday), summary.vehicles, yesterday, seed=seed
    )
    summary.history_day = yesterday
    summary.history_planned = len(plan)
    if plan:
        _make_history(clients, hub_id, collection, plan, yesterday, summary, seed=seed)
    return summary


def _record_attendance(clients: MeshClients, hub_id: str, record: AttendanceSpec) -> None:
    request = record_attendance_request(
        rider_id=record.rider_id, hub_id=hub_id, day=record.day.isoformat(), status=record.status,
        shift=record.shift, check_in=record.check_in,
    )  # fmt: skip
    _call(clients.attendance.RecordAttendance, request, clients.attendance_endpoint, "RecordAttendance")


def _make_history(
    clients: MeshClients,
    hub_id: str,
    collection: dict,
    plan: Sequence[HistoryDispatch],
    day: date,
    summary: LoadSummary,
    *,
    seed: int,
) -> None:
    pickups = history_pickups(collection, plan, seed=seed)
    by_request: dict[str, str] = {}  # request_id -> PUR id
    for start in range(0, len(pickups), 500):
        batch = pickups[start : start + 500]
        request = pur_pb2.BatchCreatePickupRequestsRequest(requests=[_pickup_request(hub_id, p, day) for p in batch])
        response = _call(
            clients.pur.BatchCreatePickupRequests, request, clients.pur_endpoint, "BatchCreatePickupRequests"
        )
        for pickup in response.pickup_requests:
            by_request[pickup.request_id] = pickup.id
    routed = _wait_routed(clients, hub_id, day, set(by_request.values()))
    summary.history_pickups = len(pickups)
    routes_done = set()
    for dispatch in plan:
        pur_ids = [
            by_request[r] for r in dispatch.pickup_request_ids if routed.get(by_request.get(r, "")) == dispatch.route_id
        ]
        if not pur_ids:
            summary.history_skipped.append(f"{dispatch.request_id}: its pickups were routed to another route")
            continue
        outcome = _run_dispatch(clients, hub_id, day, dispatch, pur_ids)
        if outcome is None:
            summary.history_completed += 1
            routes_done.add(dispatch.route_id)
        elif outcome == "new":
            summary.history_completed += 1
            summary.history_new += 1
            routes_done.add(dispatch.route_id)
        else:
            summary.history_skipped.append(f"{dispatch.request_id}: {outcome}")
    summary.history_routes = len(routes_done)


def _pickup_request(hub_id: str, pickup: HistoryPickup, day: date) -> pur_pb2.CreatePickupRequestRequest:
    return create_pickup_request(
        request_id=pickup.request_id,
        client_id=HISTORY_CLIENT,
        hub_id=hub_id,
        pickup_date=day.isoformat(),
        lat=pickup.lat,
        lng=pickup.lng,
        packages=pickup.packages,
        weight_kg=pickup.weight_kg,
        warehouse_id=f"WH-HIST-{pickup.route_id}",
        warehouse_name=f"{HISTORY_CLIENT} warehouse on {pickup.route_id}",
        address=f"near {pickup.route_id}, Bengaluru",
        pincode="560034",
    )


def _wait_routed(clients: MeshClients, hub_id: str, day: date, pur_ids: set[str]) -> dict[str, str]:
    """PUR id -> route id of the history pickups once all are settled (or the wait ends)."""
    deadline = time.monotonic() + ROUTING_WAIT_S
    while True:
        routes: dict[str, str] = {}
        settled = 0
        token = ""
        while True:
            request = pur_pb2.ListPickupRequestsRequest(
                hub_id=hub_id, pickup_date=day.isoformat(), client_id=HISTORY_CLIENT, page_size=1000, page_token=token
            )
            response = _call(clients.pur.ListPickupRequests, request, clients.pur_endpoint, "ListPickupRequests")
            for pickup in response.pickup_requests:
                if pickup.id in pur_ids and pickup.status != pur_pb2.PICKUP_STATUS_PENDING_ROUTE:
                    settled += 1
                    if pickup.route_id:
                        routes[pickup.id] = pickup.route_id
            token = response.next_page_token
            if not token:
                break
        if settled >= len(pur_ids) or time.monotonic() > deadline:
            return routes
        time.sleep(0.5)


def _run_dispatch(
    clients: MeshClients, hub_id: str, day: date, plan: HistoryDispatch, pur_ids: list[str]
) -> str | None:
    """Create -> Start -> Complete; None if it was already done, "new" if this call made it,
    otherwise why it was skipped."""
    request = create_dispatch_request(
        request_id=plan.request_id, hub_id=hub_id, route_id=plan.route_id, pickup_date=day.isoformat(),
        rider_id=plan.rider_id, vehicle_id=plan.vehicle_id, pur_ids=pur_ids,
    )  # fmt: skip
    deadline = time.monotonic() + QUEUE_WAIT_S
    while True:
        try:
            created = clients.dispatch.CreateDispatch(request, timeout=RPC_TIMEOUT_S)
            break
        except grpc.RpcError as exc:
            code = exc.code()
            # NOT_FOUND / FAILED_PRECONDITION while dispatch_svc has not consumed the ROUTED events yet
            if code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.UNAVAILABLE):
                if time.monotonic() < deadline:
                    time.sleep(0.5)
                    continue
                return f"CreateDispatch {code.name}: {exc.details()}"
            if code == grpc.StatusCode.ALREADY_EXISTS:
                return f"already made with another body (the map changed?): {exc.details()}"
            raise explain(exc, clients.dispatch_endpoint, "CreateDispatch") from None
    dispatch = created.dispatch
    if dispatch.status == dispatch_pb2.DISPATCH_STATUS_OPEN:
        dispatch = _call(
            clients.dispatch.StartDispatch, dispatch_pb2.StartDispatchRequest(id=dispatch.id),
            clients.dispatch_endpoint, "StartDispatch",
        ).dispatch  # fmt: skip
    if dispatch.status == dispatch_pb2.DISPATCH_STATUS_IN_PROGRESS:
        dispatch = _call(
            clients.dispatch.CompleteDispatch, dispatch_pb2.CompleteDispatchRequest(id=dispatch.id),
            clients.dispatch_endpoint, "CompleteDispatch",
        ).dispatch  # fmt: skip
    if dispatch.status != dispatch_pb2.DISPATCH_STATUS_COMPLETED:
        return f"ended {dispatch_pb2.DispatchStatus.Name(dispatch.status)}"
    return "new" if created.created else None


def _call(method, request, endpoint: Endpoint, what: str):
    try:
        return method(request, timeout=RPC_TIMEOUT_S)
    except grpc.RpcError as exc:
        raise explain(exc, endpoint, what) from None


# ----------------------------------------------------------------------------- the board


@dataclass(frozen=True)
class RouteBoard:
    """One route's open pickups today and the recommendation for its next dispatch."""

    group: dispatch_pb2.RouteGroup
    recommendation: dispatch_pb2.RecommendDispatchResponse | None


def open_pur_total(clients: MeshClients, hub_id: str, day: date) -> int:
    return sum(g.pur_count for g in _groups(clients, hub_id, day))


def _groups(clients: MeshClients, hub_id: str, day: date) -> list[dispatch_pb2.RouteGroup]:
    request = dispatch_pb2.ListOpenPickupsByRouteRequest(
        hub_id=hub_id, pickup_date=day.isoformat(), pickups_per_route_limit=1
    )
    return list(
        _call(
            clients.dispatch.ListOpenPickupsByRoute, request, clients.dispatch_endpoint, "ListOpenPickupsByRoute"
        ).groups
    )


def wait_for_queue(
    clients: MeshClients, hub_id: str, day: date, expected_total: int, timeout_s: float = QUEUE_WAIT_S
) -> int:
    """Waits until dispatch_svc has queued at least `expected_total` open pickups for the day (it
    follows pur.events.v1 asynchronously); returns the total it reached."""
    deadline = time.monotonic() + timeout_s
    while True:
        total = open_pur_total(clients, hub_id, day)
        if total >= expected_total or time.monotonic() > deadline:
            return total
        time.sleep(0.5)


def board(
    clients: MeshClients, hub_id: str, day: date, route_ids: Sequence[str]
) -> tuple[list[dispatch_pb2.RouteGroup], list[RouteBoard]]:
    """All route groups of the day, and those of `route_ids` (in that order) with recommendations."""
    groups = _groups(clients, hub_id, day)
    by_id = {g.route_id: g for g in groups}
    boards = []
    for group in (by_id[r] for r in route_ids if r in by_id):
        request = dispatch_pb2.RecommendDispatchRequest(
            route_id=group.route_id, hub_id=hub_id, pickup_date=day.isoformat(), limit=3
        )
        try:
            recommendation = clients.dispatch.RecommendDispatch(request, timeout=RPC_TIMEOUT_S)
        except grpc.RpcError as exc:
            raise explain(exc, clients.dispatch_endpoint, "RecommendDispatch") from None
        boards.append(RouteBoard(group, recommendation))
    return groups, boards
