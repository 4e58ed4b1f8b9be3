"""Riders, vehicles, the pickups dispatching knows about, and dispatches with the rules of their life.

Pure domain: no gRPC, SQLAlchemy or Kafka. Every change to a dispatch bumps its `version`; every
change to a pickup's place in a dispatch bumps the pickup's `event_version` and yields one
`PickupChange`, which becomes one domain event (`events.DispatchEvent`) and so one DispatchEvent on
dispatch.events.v1 (pur_svc drops an event whose version is not greater than the last it applied
for that pickup).

A pickup (a routed PUR, as dispatching sees it) is in exactly one of these places:
- its route's queue: status ROUTED, no dispatch;
- a dispatch: status DISPATCHED (or PICKED_UP once the dispatch completed);
- nowhere: CANCELLED, UNROUTABLE or not routed any more.
`listed` says whether ListOpenPickupsByRoute shows it: queued, or in an OPEN dispatch.
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument
from mesh.kernel import Actor, PickupStatus, RouteMatch, check_id, check_text

PHONE_PATTERN = re.compile(r"\+?[0-9][0-9 -]{2,19}")
MAX_NAME = 200
MAX_PHONE = 20
MAX_REGISTRATION = 32
MAX_REASON = 500
MAX_CAPACITY_PACKAGES = 100_000
MAX_CAPACITY_KG = 100_000.0
MAX_PICKUP_PACKAGES = 100_000
MAX_PICKUP_WEIGHT_KG = 100_000.0
# Capacities are compared with this slack so that float sums of weights do not refuse an exact fit.
WEIGHT_EPSILON_KG = 1e-6

# (hub, route, pickup date): a route's queue and dispatches of one day, and the unit of locking.
RouteKey = tuple[str, str, date]


class InvalidInput(InvalidArgument):
    """Input that breaks a dispatching rule; the message names the field and the rule."""


class IllegalTransition(FailedPrecondition):
    """The dispatch or pickup is in a state that does not allow the change."""


class CapacityExceeded(IllegalTransition):
    """The vehicle cannot carry the load; the message gives the numbers."""


class PickupNotEligible(IllegalTransition):
    """A pickup is not waiting in the queue of the dispatch's route and date."""


class DuplicateRequest(AlreadyExists):
    """Another dispatch of the hub was created with this request_id first."""


class RiderBusy(FailedPrecondition):
    """The rider is on another active dispatch (a rider has at most one)."""


class VehicleBusy(FailedPrecondition):
    """The vehicle is on another active dispatch (a vehicle has at most one)."""


class DispatchStatus(enum.Enum):
    OPEN = "OPEN"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


ACTIVE_STATES = frozenset({DispatchStatus.OPEN, DispatchStatus.IN_PROGRESS})


class VehicleType(enum.Enum):
    BIKE = "BIKE"
    THREE_WHEELER = "THREE_WHEELER"
    VAN = "VAN"
    TRUCK = "TRUCK"


class ChangeKind(enum.Enum):
    """What happened to one pickup; pur_svc maps each to a PUR status (see docs/dispatch.md)."""

    DISPATCHED = "DISPATCHED"  # joined a dispatch -> PUR DISPATCHED
    RELEASED = "RELEASED"  # left its dispatch -> PUR ROUTED (back in the queue)
    STARTED = "STARTED"  # its dispatch started -> PUR stays DISPATCHED
    PICKED_UP = "PICKED_UP"  # its dispatch completed -> PUR PICKED_UP
    RIDER_CHANGED = "RIDER_CHANGED"  # its dispatch got another rider or vehicle -> PUR stays DISPATCHED


class ReleaseReason(enum.Enum):
    REMOVED = "REMOVED"  # RemovePickups, or the PUR was cancelled / re-routed while in a dispatch
    DISPATCH_CANCELLED = "DISPATCH_CANCELLED"


# -- value objects --------------------------------------------------------------------------------


# dispatch_svc acting on its own: a routed PUR joining an open dispatch, auto-dispatch.
SERVICE_ACTOR = Actor.service("dispatch_svc")


@dataclass(frozen=True)
class Load:
    """Packages and kilograms: what pickups weigh, or what a vehicle carries."""

    packages: int = 0
    weight_kg: float = 0.0

    def __add__(self, other: Load) -> Load:
        return Load(self.packages + other.packages, self.weight_kg + other.weight_kg)

    def __sub__(self, other: Load) -> Load:
        return Load(max(0, self.packages - other.packages), max(0.0, self.weight_kg - other.weight_kg))

    def fits_in(self, capacity: Load) -> bool:
        return self.packages <= capacity.packages and self.weight_kg <= capacity.weight_kg + WEIGHT_EPSILON_KG

    @property
    def empty(self) -> bool:
        return self.packages == 0 and self.weight_kg <= WEIGHT_EPSILON_KG

    def describe(self) -> str:
        return f"{self.packages} packages / {self.weight_kg:.1f} kg"

    @staticmethod
    def total(loads: Iterable[Load]) -> Load:
        packages, weight = 0, 0.0
        for load in loads:
            packages += load.packages
            weight += load.weight_kg
        return Load(packages, weight)


@dataclass(frozen=True)
class Rider:
    id: str
    hub_id: str
    name: str = ""
    phone: str = ""
    active: bool = True

    def __post_init__(self) -> None:
        check_id("rider.id", self.id)
        check_id("rider.hub_id", self.hub_id)
        check_text("rider.name", self.name, MAX_NAME)
        if self.phone and not PHONE_PATTERN.fullmatch(self.phone):
            raise InvalidInput(
                f"rider.phone must be at most {MAX_PHONE} digits, spaces or dashes, optionally after '+'"
            )


@dataclass(frozen=True)
class Vehicle:
    id: str
    hub_id: str
    type: VehicleType
    capacity_packages: int
    capacity_kg: float
    registration: str = ""
    active: bool = True

    def __post_init__(self) -> None:
        check_id("vehicle.id", self.id)
        check_id("vehicle.hub_id", self.hub_id)
        if not 1 <= self.capacity_packages <= MAX_CAPACITY_PACKAGES:
            raise InvalidInput(
                f"vehicle.capacity_packages must be between 1 and {MAX_CAPACITY_PACKAGES}, got {self.capacity_packages}"
            )
        if not (math.isfinite(self.capacity_kg) and 0.0 < self.capacity_kg <= MAX_CAPACITY_KG):
            raise InvalidInput(
                f"vehicle.capacity_kg must be a finite number greater than 0 and at most {MAX_CAPACITY_KG:g}, "
                f"got {self.capacity_kg!r}"
            )
        check_text("vehicle.registration", self.registration, MAX_REGISTRATION)

    @property
    def capacity(self) -> Load:
        return Load(self.capacity_packages, self.capacity_kg)


@dataclass(frozen=True)
class PurSnapshot:
    """A PUR's state after a change, as pur.events.v1 announces it (PickupStatusChanged)."""

    pur_id: str
    version: int
    status: PickupStatus
    hub_id: str
    route_id: str
    pickup_date: date | None
    client_id: str = ""
    warehouse_name: str = ""
    lat: float = 0.0
    lng: float = 0.0
    packages: int = 0
    weight_kg: float = 0.0
    route_match: RouteMatch | None = None
    rider_id: str = ""
    previous_route_id: str = ""


@dataclass(frozen=True)
class PickupChange:
    """One pickup's news, published as one DispatchEvent (key = PUR id)."""

    pur_id: str
    kind: ChangeKind
    version: int
    automatic: bool = False
    release_reason: ReleaseReason | None = None
    detail: str = ""
    # RIDER_CHANGED: who and what the dispatch had before.
    previous_rider_id: str = ""
    previous_vehicle_id: str = ""
    # DISPATCHED by MovePickups: the dispatch it came from.
    moved_from_dispatch_id: str = ""


# -- pickups ------------------------------------------------------------------------------------


class PurEffect(enum.Enum):
    """What a PickupStatusChanged means for dispatching (decided by `Pickup.plan`)."""

    IGNORE = "IGNORE"  # older or equal version: nothing at all
    RECORD = "RECORD"  # remember the version (and details); place unchanged
    ENQUEUE = "ENQUEUE"  # (re-)enter its route's queue: may join an OPEN dispatch
    LEAVE = "LEAVE"  # leave the queue and any dispatch: cancelled, unroutable


@dataclass
class Pickup:
    pur_id: str
    hub_id: str
    route_id: str
    pickup_date: date
    client_id: str
    warehouse_name: str
    lat: float
    lng: float
    packages: int
    weight_kg: float
    route_match: RouteMatch | None
    default_rider_id: str
    status: PickupStatus
    pur_version: int
    dispatch_id: str = ""
    listed: bool = False
    # Arrival order in the queue or the dispatch; None = "assign the next one" (the repository does).
    position: int | None = None
    event_version: int = 0

    @classmethod
    def from_snapshot(cls, snapshot: PurSnapshot) -> Pickup:
        assert snapshot.pickup_date is not None
        pickup = cls(
            pur_id=snapshot.pur_id,
            hub_id=snapshot.hub_id,
            route_id=snapshot.route_id,
            pickup_date=snapshot.pickup_date,
            client_id=snapshot.client_id,
            warehouse_name=snapshot.warehouse_name,
            lat=snapshot.lat,
            lng=snapshot.lng,
            packages=snapshot.packages,
            weight_kg=snapshot.weight_kg,
            route_match=snapshot.route_match,
            default_rider_id=snapshot.rider_id,
            status=PickupStatus.ROUTED,
            pur_version=snapshot.version,
        )
        pickup.listed = True
        return pickup

    @property
    def load(self) -> Load:
        return Load(self.packages, self.weight_kg)

    @property
    def queued(self) -> bool:
        return self.status is PickupStatus.ROUTED and not self.dispatch_id

    def route_key(self) -> RouteKey:
        return (self.hub_id, self.route_id, self.pickup_date)

    def plan(self, snapshot: PurSnapshot) -> PurEffect:
        """Decide what a newer PUR state means here. Echoes of dispatch_svc's own events
        (DISPATCHED, PICKED_UP, and ROUTED after a release) only record the version: dispatch_svc
        is the source of truth for dispatch membership, pur_svc for route and cancellation."""
        if snapshot.version <= self.pur_version:
            return PurEffect.IGNORE
        if self.status is PickupStatus.PICKED_UP:
            return PurEffect.RECORD  # collected: nothing pur_svc says can move it any more
        status = snapshot.status
        if status is PickupStatus.ROUTED:
            same_place = (snapshot.hub_id, snapshot.route_id, snapshot.pickup_date) == self.route_key()
            if same_place and self.status in (PickupStatus.ROUTED, PickupStatus.DISPATCHED):
                return PurEffect.RECORD
            return PurEffect.ENQUEUE
        if status in (PickupStatus.CANCELLED, PickupStatus.UNROUTABLE, PickupStatus.PENDING_ROUTE):
            return PurEffect.LEAVE if self.status is not status else PurEffect.RECORD
        return PurEffect.RECORD  # DISPATCHED / PICKED_UP echoes

    def record(self, snapshot: PurSnapshot) -> None:
        """Remember the version; refresh details that do not move the pickup."""
        self.pur_version = snapshot.version
        if snapshot.status is PickupStatus.ROUTED and snapshot.route_id == self.route_id:
            self.default_rider_id = snapshot.rider_id
            self.route_match = snapshot.route_match or self.route_match

    def enqueue(self, snapshot: PurSnapshot) -> None:
        """Enter the queue of the snapshot's route (the caller took it out of any dispatch first)."""
        assert not self.dispatch_id and snapshot.pickup_date is not None
        self.pur_version = snapshot.version
        self.hub_id = snapshot.hub_id
        self.route_id = snapshot.route_id
        self.pickup_date = snapshot.pickup_date
        self.client_id = snapshot.client_id
        self.warehouse_name = snapshot.warehouse_name
        self.lat, self.lng = snapshot.lat, snapshot.lng
        self.packages, self.weight_kg = snapshot.packages, snapshot.weight_kg
        self.route_match = snapshot.route_match
        self.default_rider_id = snapshot.rider_id
        self.status = PickupStatus.ROUTED
        self.listed = True
        self.position = None

    def close(self, snapshot: PurSnapshot) -> None:
        """Leave the queue for good (cancelled, unroutable); the caller released it from its dispatch."""
        assert not self.dispatch_id
        self.pur_version = snapshot.version
        self.status = snapshot.status
        self.listed = False

    def _next_event(self, kind: ChangeKind, **details: Any) -> PickupChange:
        """The pickup's next change; `details` are PickupChange's optional fields."""
        self.event_version += 1
        return PickupChange(self.pur_id, kind, self.event_version, **details)


# -- dispatches ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class NewDispatch:
    """What CreateDispatch asks for; empty rider/vehicle/pur_ids mean "recommend" / "the queue"."""

    request_id: str
    hub_id: str
    route_id: str
    pickup_date: date
    rider_id: str = ""
    vehicle_id: str = ""
    pur_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_id("request_id", self.request_id)
        check_id("hub_id", self.hub_id)
        check_id("route_id", self.route_id)
        check_id("rider_id", self.rider_id, required=False)
        check_id("vehicle_id", self.vehicle_id, required=False)
        for index, pur_id in enumerate(self.pur_ids):
            check_id(f"pur_ids[{index}]", pur_id)

    def route_key(self) -> RouteKey:
        return (self.hub_id, self.route_id, self.pickup_date)

    def fingerprint(self) -> str:
        body = {
            "hub_id": self.hub_id,
            "route_id": self.route_id,
            "pickup_date": self.pickup_date.isoformat(),
            "rider_id": self.rider_id,
            "vehicle_id": self.vehicle_id,
            "pur_ids": list(self.pur_ids),
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Reassignment:
    """What ReassignDispatch asks for: an empty rider_id or vehicle_id keeps the dispatch's."""

    dispatch_id: str
    rider_id: str
    vehicle_id: str
    reason: str

    def __post_init__(self) -> None:
        check_id("id", self.dispatch_id)
        check_id("rider_id", self.rider_id, required=False)
        check_id("vehicle_id", self.vehicle_id, required=False)
        check_text("reason", self.reason, MAX_REASON, required=True)


@dataclass(frozen=True)
class PickupMove:
    """What MovePickups asks for: pickups from one OPEN dispatch to another of its route and day."""

    from_dispatch_id: str
    to_dispatch_id: str
    pur_ids: tuple[str, ...]
    reason: str

    def __post_init__(self) -> None:
        check_id("from_dispatch_id", self.from_dispatch_id)
        check_id("to_dispatch_id", self.to_dispatch_id)
        if self.from_dispatch_id == self.to_dispatch_id:
            raise InvalidInput("to_dispatch_id must name another dispatch than from_dispatch_id")
        if not self.pur_ids:
            raise InvalidInput("pur_ids must not be empty")
        for index, pur_id in enumerate(self.pur_ids):
            check_id(f"pur_ids[{index}]", pur_id)
        check_text("reason", self.reason, MAX_REASON, required=True)


@dataclass(frozen=True)
class DispatchStop:
    """A stop of a dispatch committed from a plan: its place in the visiting order, from 1."""

    pur_id: str
    sequence: int
    eta: datetime


@dataclass
class Dispatch:
    id: str
    request_id: str
    request_fingerprint: str
    hub_id: str
    route_id: str
    pickup_date: date
    rider_id: str
    vehicle_id: str
    # The vehicle's capacity (read with the vehicle whenever the dispatch is loaded).
    capacity: Load
    created_at: datetime
    updated_at: datetime
    status: DispatchStatus = DispatchStatus.OPEN
    pur_ids: list[str] = field(default_factory=list)
    load: Load = field(default_factory=Load)
    automatic: bool = False
    started_at: datetime | None = None
    completed_at: datetime | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str = ""
    version: int = 1
    # Committed from a plan: the plan, the stops in visiting order, and the trip's window (a
    # rider or vehicle may hold several planned OPEN dispatches whose windows do not overlap).
    plan_id: str = ""
    stops: list[DispatchStop] = field(default_factory=list)
    planned_start: datetime | None = None
    planned_end: datetime | None = None

    @classmethod
    def create(
        cls,
        dispatch_id: str,
        new: NewDispatch,
        rider: Rider,
        vehicle: Vehicle,
        now: datetime,
        *,
        automatic: bool = False,
    ) -> Dispatch:
        _check_assignable(new.hub_id, rider, vehicle)
        return cls(
            id=dispatch_id,
            request_id=new.request_id,
            request_fingerprint=new.fingerprint(),
            hub_id=new.hub_id,
            route_id=new.route_id,
            pickup_date=new.pickup_date,
            rider_id=rider.id,
            vehicle_id=vehicle.id,
            capacity=vehicle.capacity,
            created_at=now,
            updated_at=now,
            automatic=automatic,
        )

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATES

    def route_key(self) -> RouteKey:
        return (self.hub_id, self.route_id, self.pickup_date)

    def room(self) -> Load:
        return self.capacity - self.load

    def holds_at_once(self, other: Dispatch) -> bool:
        """Whether two active dispatches of one rider or vehicle would need them at the same time:
        both started, either made by hand (no window: it holds them while active), or planned
        windows that overlap."""
        if self.status is DispatchStatus.IN_PROGRESS and other.status is DispatchStatus.IN_PROGRESS:
            return True
        if None in (self.planned_start, self.planned_end, other.planned_start, other.planned_end):
            return True
        assert self.planned_start and self.planned_end and other.planned_start and other.planned_end
        return self.planned_start < other.planned_end and other.planned_start < self.planned_end

    def current_stops(self) -> list[DispatchStop]:
        """The planned stops of pickups still in it, in visiting order (pickups that joined later
        have none)."""
        members = set(self.pur_ids)
        return [stop for stop in self.stops if stop.pur_id in members]

    def can_take(self, pickup: Pickup) -> bool:
        return (self.load + pickup.load).fits_in(self.capacity)

    # -- membership ---------------------------------------------------------------------------

    def add(self, pickups: Sequence[Pickup], now: datetime, *, automatic: bool = False) -> list[PickupChange]:
        """Add queued pickups of this route and date; all or nothing. Pickups already in the
        dispatch are ignored. CapacityExceeded gives the numbers."""
        if not self.active:
            raise IllegalTransition(
                f"dispatch {self.id} is {self.status.value}; pickups can be added only while OPEN or IN_PROGRESS"
            )
        new: list[Pickup] = []
        seen: set[str] = set(self.pur_ids)
        for pickup in pickups:
            if pickup.pur_id in seen:
                continue
            seen.add(pickup.pur_id)
            self._check_eligible(pickup)
            new.append(pickup)
        if not new:
            return []
        total = self.load + Load.total(p.load for p in new)
        if not total.fits_in(self.capacity):
            raise CapacityExceeded(
                f"dispatch {self.id} would carry {total.describe()} but vehicle {self.vehicle_id} carries at most "
                f"{self.capacity.packages} packages / {self.capacity.weight_kg:.1f} kg "
                f"(already loaded {self.load.describe()}, adding {Load.total(p.load for p in new).describe()})"
            )
        changes = []
        for pickup in new:
            pickup.status = PickupStatus.DISPATCHED
            pickup.dispatch_id = self.id
            pickup.listed = self.status is DispatchStatus.OPEN
            pickup.position = None
            self.pur_ids.append(pickup.pur_id)
            changes.append(pickup._next_event(ChangeKind.DISPATCHED, automatic=automatic))
        self.load = total
        self._touch(now)
        return changes

    def _check_eligible(self, pickup: Pickup) -> None:
        if pickup.route_key() != self.route_key():
            raise PickupNotEligible(
                f"pickup request {pickup.pur_id} is on route {pickup.route_id} for {pickup.pickup_date.isoformat()} "
                f"(hub {pickup.hub_id}), not route {self.route_id} for {self.pickup_date.isoformat()}"
            )
        if pickup.dispatch_id:
            raise PickupNotEligible(f"pickup request {pickup.pur_id} is already in dispatch {pickup.dispatch_id}")
        if pickup.status is not PickupStatus.ROUTED:
            raise PickupNotEligible(f"pickup request {pickup.pur_id} is {pickup.status.value}, not ROUTED")

    def remove(
        self,
        pickups: Sequence[Pickup],
        now: datetime,
        *,
        reason: ReleaseReason = ReleaseReason.REMOVED,
        detail: str = "",
    ) -> list[PickupChange]:
        """Take pickups out; they return to their route's queue. Pickups not in it are ignored."""
        if not self.active:
            raise IllegalTransition(
                f"dispatch {self.id} is {self.status.value}; pickups can be removed only while OPEN or IN_PROGRESS"
            )
        check_text("reason", detail, MAX_REASON)
        members = set(self.pur_ids)
        leaving = []
        for pickup in pickups:
            if pickup.pur_id in members and pickup.dispatch_id == self.id:
                members.discard(pickup.pur_id)
                leaving.append(pickup)
        if not leaving:
            return []
        gone = {p.pur_id for p in leaving}
        self.pur_ids = [pur_id for pur_id in self.pur_ids if pur_id not in gone]
        self.load = Load() if not self.pur_ids else self.load - Load.total(p.load for p in leaving)
        changes = [self._release(p, reason, detail) for p in leaving]
        self._touch(now)
        return changes

    def _release(self, pickup: Pickup, reason: ReleaseReason, detail: str) -> PickupChange:
        pickup.status = PickupStatus.ROUTED
        pickup.dispatch_id = ""
        pickup.listed = True
        pickup.position = None
        return pickup._next_event(ChangeKind.RELEASED, release_reason=reason, detail=detail)

    def move_to(
        self, target: Dispatch, pur_ids: Sequence[str], pickups: Sequence[Pickup], now: datetime
    ) -> list[PickupChange]:
        """Move the pickups `pur_ids` (`pickups` holds them) into `target`, an OPEN dispatch of the
        same route and day; all or nothing. Each moved pickup gets one DISPATCHED change naming
        this dispatch as where it came from."""
        for dispatch in (self, target):
            if dispatch.status is not DispatchStatus.OPEN:
                raise IllegalTransition(
                    f"dispatch {dispatch.id} is {dispatch.status.value}; pickups move only between OPEN dispatches"
                )
        self.check_same_route(target)
        wanted = list(dict.fromkeys(pur_ids))
        members = set(self.pur_ids)
        strangers = [pur_id for pur_id in wanted if pur_id not in members]
        if strangers:
            raise PickupNotEligible(
                f"pickup requests not in dispatch {self.id}: {', '.join(strangers[:10])}"
                + (f" and {len(strangers) - 10} more" if len(strangers) > 10 else "")
            )
        by_id = {p.pur_id: p for p in self._members(pickups)}
        assert all(pur_id in by_id for pur_id in wanted), "a member of the dispatch is missing from the pickups given"
        moving = [by_id[pur_id] for pur_id in wanted]
        moved = Load.total(p.load for p in moving)
        total = target.load + moved
        if not total.fits_in(target.capacity):
            raise CapacityExceeded(
                f"dispatch {target.id} would carry {total.describe()} but vehicle {target.vehicle_id} carries at most "
                f"{target.capacity.packages} packages / {target.capacity.weight_kg:.1f} kg "
                f"(already loaded {target.load.describe()}, moving {moved.describe()})"
            )
        gone = set(wanted)
        self.pur_ids = [pur_id for pur_id in self.pur_ids if pur_id not in gone]
        self.load = Load() if not self.pur_ids else self.load - moved
        target.pur_ids.extend(wanted)
        target.load = total
        changes = []
        for pickup in moving:
            pickup.dispatch_id = target.id
            pickup.position = None
            changes.append(pickup._next_event(ChangeKind.DISPATCHED, moved_from_dispatch_id=self.id))
        self._touch(now)
        target._touch(now)
        return changes

    def check_same_route(self, other: Dispatch) -> None:
        """Pickups move only between dispatches of one hub, route and day."""
        if other.route_key() != self.route_key():
            raise IllegalTransition(
                f"dispatch {other.id} is of route {other.route_id} for {other.pickup_date.isoformat()} "
                f"(hub {other.hub_id}), not route {self.route_id} for {self.pickup_date.isoformat()} (hub {self.hub_id})"
            )

    # -- rider and vehicle ----------------------------------------------------------------------

    def check_reassignable(self) -> None:
        if self.status is not DispatchStatus.OPEN:
            raise IllegalTransition(
                f"dispatch {self.id} is {self.status.value}; only an OPEN dispatch can get another rider or vehicle"
            )

    def reassign(
        self, rider: Rider | None, vehicle: Vehicle | None, members: Sequence[Pickup], now: datetime
    ) -> list[PickupChange] | None:
        """Give an OPEN dispatch another rider or vehicle (None keeps the dispatch's); its pickups
        stay in it and each gets a RIDER_CHANGED change. None when nothing changes (a repeat)."""
        rider = None if rider is None or rider.id == self.rider_id else rider
        vehicle = None if vehicle is None or vehicle.id == self.vehicle_id else vehicle
        if rider is None and vehicle is None:
            return None
        self.check_reassignable()
        if rider is not None:
            _check_assignable(self.hub_id, rider)
        if vehicle is not None:
            _check_assignable(self.hub_id, vehicle)
            if not self.load.fits_in(vehicle.capacity):
                raise CapacityExceeded(
                    f"dispatch {self.id} carries {self.load.describe()} but vehicle {vehicle.id} carries at most "
                    f"{vehicle.capacity_packages} packages / {vehicle.capacity_kg:.1f} kg"
                )
        previous_rider, previous_vehicle = self.rider_id, self.vehicle_id
        if rider is not None:
            self.rider_id = rider.id
        if vehicle is not None:
            self.vehicle_id, self.capacity = vehicle.id, vehicle.capacity
        changes = [
            p._next_event(
                ChangeKind.RIDER_CHANGED, previous_rider_id=previous_rider, previous_vehicle_id=previous_vehicle
            )
            for p in self._members(members)
        ]
        self._touch(now)
        return changes

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, members: Sequence[Pickup], now: datetime) -> list[PickupChange] | None:
        """OPEN -> IN_PROGRESS. None when it already is IN_PROGRESS (a retry changes nothing)."""
        if self.status is DispatchStatus.IN_PROGRESS:
            return None
        if self.status is not DispatchStatus.OPEN:
            raise IllegalTransition(f"dispatch {self.id} is {self.status.value}; only an OPEN dispatch can start")
        if not self.pur_ids:
            raise IllegalTransition(f"dispatch {self.id} has no pickups; add some before starting it")
        self.status = DispatchStatus.IN_PROGRESS
        self.started_at = now
        changes = []
        for pickup in self._members(members):
            pickup.listed = False
            changes.append(pickup._next_event(ChangeKind.STARTED))
        self._touch(now)
        return changes

    def complete(self, members: Sequence[Pickup], now: datetime) -> list[PickupChange] | None:
        """IN_PROGRESS -> COMPLETED; its pickups are picked up. None when already COMPLETED."""
        if self.status is DispatchStatus.COMPLETED:
            return None
        if self.status is not DispatchStatus.IN_PROGRESS:
            raise IllegalTransition(
                f"dispatch {self.id} is {self.status.value}; only an IN_PROGRESS dispatch can be completed"
                + (" (start it first)" if self.status is DispatchStatus.OPEN else "")
            )
        self.status = DispatchStatus.COMPLETED
        self.completed_at = now
        changes = []
        for pickup in self._members(members):
            pickup.status = PickupStatus.PICKED_UP
            pickup.listed = False
            changes.append(pickup._next_event(ChangeKind.PICKED_UP))
        self._touch(now)
        return changes

    def cancel(self, members: Sequence[Pickup], reason: str, now: datetime) -> list[PickupChange] | None:
        """OPEN or IN_PROGRESS -> CANCELLED; its pickups go back to their route's queue. None when
        already CANCELLED. `pur_ids` and the totals stay as a record of what it held."""
        check_text("reason", reason, MAX_REASON)
        if self.status is DispatchStatus.CANCELLED:
            return None
        if not self.active:
            raise IllegalTransition(
                f"dispatch {self.id} is {self.status.value}; only an OPEN or IN_PROGRESS dispatch can be cancelled"
            )
        self.status = DispatchStatus.CANCELLED
        self.cancelled_at = now
        self.cancel_reason = reason
        detail = reason or "dispatch cancelled"
        changes = [self._release(p, ReleaseReason.DISPATCH_CANCELLED, detail) for p in self._members(members)]
        self._touch(now)
        return changes

    def _members(self, pickups: Sequence[Pickup]) -> list[Pickup]:
        """The given pickups that are in this dispatch, in the dispatch's order."""
        by_id = {p.pur_id: p for p in pickups if p.dispatch_id == self.id}
        return [by_id[pur_id] for pur_id in self.pur_ids if pur_id in by_id]

    def _touch(self, now: datetime) -> None:
        self.updated_at = now
        self.version += 1


def _check_assignable(hub_id: str, *things: Rider | Vehicle) -> None:
    """Riders and vehicles go only on dispatches of their hub, and only while active."""
    for thing in things:
        kind = "rider" if isinstance(thing, Rider) else "vehicle"
        if not thing.active:
            raise IllegalTransition(f"{kind} {thing.id} is inactive")
        if thing.hub_id != hub_id:
            raise IllegalTransition(f"{kind} {thing.id} belongs to hub {thing.hub_id}, not {hub_id}")


def fill_from_queue(queue: Sequence[Pickup], room: Load) -> list[Pickup]:
    """Queued pickups (in arrival order) a vehicle with `room` left takes: first fit, so a
    pickup too big for what is left is skipped and smaller later ones still go."""
    taken: list[Pickup] = []
    load = Load()
    for pickup in queue:
        if (load + pickup.load).fits_in(room):
            taken.append(pickup)
            load = load + pickup.load
    return taken
