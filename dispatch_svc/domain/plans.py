"""Stored dispatch plans (PlanDispatches) and the rules of committing one (CommitDispatchPlan).

A plan is a proposal: trips (one route, rider and vehicle each, stops in visiting order with
ETAs) and the queued pickups it could not place. It is kept until `expires_at` for review. A
commit turns each trip into one OPEN dispatch, checking first that the world still is as planned:
every stop still queued on the trip's route, the rider and vehicle still of the hub, active,
present and not busy at the trip's time. A trip that no longer holds is named with what changed
(`TripProblem`); the whole commit is refused unless the caller asked for only the valid trips.

Pure domain: no gRPC, SQLAlchemy or Kafka.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from dispatch_svc.domain.model import DispatchStatus, Load, Pickup, PickupStatus, Rider, Vehicle
from mesh.errors import FailedPrecondition, InvalidArgument, NotFound
from mesh.kernel import check_id

# How long a plan may be reviewed before it must be made again.
DEFAULT_PLAN_TTL = timedelta(minutes=30)
MAX_CHANGES = 1000


class PlanNotFound(NotFound):
    """No such plan, or it expired."""


class WorldChanged(FailedPrecondition):
    """The plan no longer holds: a pickup or rider changed since planning; the message names them."""


@dataclass(frozen=True)
class PlanStop:
    pur_id: str
    eta: datetime


@dataclass(frozen=True)
class PlanTrip:
    """One proposed trip. `id` is unique within its plan."""

    id: str
    route_id: str
    rider_id: str
    vehicle_id: str
    stops: tuple[PlanStop, ...]
    distance_m: float
    start: datetime
    end: datetime
    load: Load
    reasons: tuple[str, ...] = ()

    @property
    def pur_ids(self) -> list[str]:
        return [stop.pur_id for stop in self.stops]

    def overlaps(self, start: datetime | None, end: datetime | None) -> bool:
        """Whether [self.start, self.end] meets another window; an unknown window meets every one."""
        if start is None or end is None:
            return True
        return self.start < end and start < self.end


@dataclass(frozen=True)
class UnplannedPickup:
    pur_id: str
    reason: str


@dataclass
class DispatchPlan:
    id: str
    hub_id: str
    pickup_date: date
    trips: list[PlanTrip]
    unplanned: list[UnplannedPickup]
    created_at: datetime
    expires_at: datetime
    arrival_order_distance_m: float = 0.0
    # Set by the first commit: trip id -> the dispatch it created.
    dispatch_ids: dict[str, str] = field(default_factory=dict)
    committed_at: datetime | None = None
    # Queued pickups per route the plan did not take (over the planning limits): the next plan's.
    left_for_next_plan: dict[str, int] = field(default_factory=dict)

    @property
    def total_distance_m(self) -> float:
        return sum(trip.distance_m for trip in self.trips)

    @property
    def committed(self) -> bool:
        return self.committed_at is not None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def trip(self, trip_id: str) -> PlanTrip:
        for trip in self.trips:
            if trip.id == trip_id:
                return trip
        raise InvalidArgument(f"changes: trip {trip_id!r} is not a trip of plan {self.id}")

    def mark_committed(self, dispatch_ids: Mapping[str, str], now: datetime) -> None:
        self.dispatch_ids = dict(dispatch_ids)
        self.committed_at = now


def dispatch_request_id(plan_id: str, trip_id: str) -> str:
    """The request id of the dispatch a trip becomes: (hub, request id) is unique, so the same trip
    can never become two dispatches, whichever commits race."""
    return f"{plan_id}-{trip_id}"


@dataclass(frozen=True)
class TripChange:
    """A team lead's change to one trip before committing: leave it out, or swap its rider or vehicle."""

    trip_id: str
    drop: bool = False
    rider_id: str = ""
    vehicle_id: str = ""

    def __post_init__(self) -> None:
        check_id("changes.trip_id", self.trip_id)
        check_id("changes.rider_id", self.rider_id, required=False)
        check_id("changes.vehicle_id", self.vehicle_id, required=False)
        if self.drop and (self.rider_id or self.vehicle_id):
            raise InvalidArgument(f"changes: trip {self.trip_id} is dropped; it cannot also get a rider or vehicle")


@dataclass(frozen=True)
class CommitRequest:
    plan_id: str
    only_valid_trips: bool = False
    changes: tuple[TripChange, ...] = ()

    def __post_init__(self) -> None:
        check_id("plan_id", self.plan_id)
        if len(self.changes) > MAX_CHANGES:
            raise InvalidArgument(f"changes holds {len(self.changes)} entries; the limit is {MAX_CHANGES}")
        seen: set[str] = set()
        for change in self.changes:
            if change.trip_id in seen:
                raise InvalidArgument(f"changes: trip {change.trip_id} is named twice")
            seen.add(change.trip_id)


def apply_changes(plan: DispatchPlan, changes: Iterable[TripChange]) -> list[PlanTrip]:
    """The plan's trips to commit: dropped ones left out, swapped riders and vehicles in place."""
    by_trip = {change.trip_id: change for change in changes}
    for trip_id in by_trip:
        plan.trip(trip_id)  # an unknown trip is refused
    trips = []
    for trip in plan.trips:
        change = by_trip.get(trip.id)
        if change is None:
            trips.append(trip)
        elif not change.drop:
            trips.append(
                PlanTrip(
                    id=trip.id,
                    route_id=trip.route_id,
                    rider_id=change.rider_id or trip.rider_id,
                    vehicle_id=change.vehicle_id or trip.vehicle_id,
                    stops=trip.stops,
                    distance_m=trip.distance_m,
                    start=trip.start,
                    end=trip.end,
                    load=trip.load,
                    reasons=trip.reasons
                    + (("rider or vehicle changed by the team lead",) if change.rider_id or change.vehicle_id else ()),
                )
            )
    return trips


@dataclass(frozen=True)
class Booking:
    """An active dispatch holding a rider or vehicle: when (None: a dispatch made by hand, which
    holds them for as long as it is active)."""

    dispatch_id: str
    status: DispatchStatus
    start: datetime | None
    end: datetime | None


@dataclass
class World:
    """What a commit checks the trips against, read under the locks the commit holds."""

    hub_id: str
    pickup_date: date
    pickups: Mapping[str, Pickup]
    riders: Mapping[str, Rider]
    vehicles: Mapping[str, Vehicle]
    present: set[str]
    bookings_by_rider: Mapping[str, Sequence[Booking]]
    bookings_by_vehicle: Mapping[str, Sequence[Booking]]


def trip_problems(trip: PlanTrip, world: World, taken: Sequence[PlanTrip] = ()) -> list[str]:
    """What changed since planning that makes `trip` invalid, in words; empty when it still holds.
    `taken` are trips of the same commit already accepted (their riders and vehicles are booked)."""
    problems = [p for stop in trip.stops if (p := _stop_problem(stop.pur_id, trip, world))]
    problems.extend(_rider_problems(trip, world, taken))
    problems.extend(_vehicle_problems(trip, world, taken))
    return problems


def _stop_problem(pur_id: str, trip: PlanTrip, world: World) -> str:
    pickup = world.pickups.get(pur_id)
    if pickup is None:
        return f"pickup request {pur_id} is no longer known"
    if pickup.dispatch_id:
        return f"pickup request {pur_id} is already in dispatch {pickup.dispatch_id}"
    if pickup.status is not PickupStatus.ROUTED:
        return f"pickup request {pur_id} is {pickup.status.value}"
    if pickup.route_key() != (world.hub_id, trip.route_id, world.pickup_date):
        return f"pickup request {pur_id} was re-routed to route {pickup.route_id} for {pickup.pickup_date.isoformat()}"
    return ""


def _rider_problems(trip: PlanTrip, world: World, taken: Sequence[PlanTrip]) -> list[str]:
    rider = world.riders.get(trip.rider_id)
    if rider is None:
        return [f"rider {trip.rider_id} does not exist"]
    if rider.hub_id != world.hub_id:
        return [f"rider {rider.id} is not a rider of hub {world.hub_id}"]
    if not rider.active:
        return [f"rider {rider.id} is inactive"]
    if rider.id not in world.present:
        return [f"rider {rider.id} is not present on {world.pickup_date.isoformat()}"]
    return _busy(
        "rider", rider.id, trip, world.bookings_by_rider.get(rider.id, ()), [t for t in taken if t.rider_id == rider.id]
    )


def _vehicle_problems(trip: PlanTrip, world: World, taken: Sequence[PlanTrip]) -> list[str]:
    vehicle = world.vehicles.get(trip.vehicle_id)
    if vehicle is None:
        return [f"vehicle {trip.vehicle_id} does not exist"]
    if vehicle.hub_id != world.hub_id:
        return [f"vehicle {vehicle.id} is not a vehicle of hub {world.hub_id}"]
    if not vehicle.active:
        return [f"vehicle {vehicle.id} is inactive"]
    if not trip.load.fits_in(vehicle.capacity):
        return [
            f"vehicle {vehicle.id} carries at most {vehicle.capacity_packages} packages / "
            f"{vehicle.capacity_kg:.1f} kg, the trip {trip.load.describe()}"
        ]
    mine = [t for t in taken if t.vehicle_id == vehicle.id]
    return _busy("vehicle", vehicle.id, trip, world.bookings_by_vehicle.get(vehicle.id, ()), mine)


def _busy(
    kind: str, thing_id: str, trip: PlanTrip, bookings: Sequence[Booking], taken: Sequence[PlanTrip]
) -> list[str]:
    """A rider or vehicle does one trip at a time: a dispatch made by hand (no window) holds them
    while it is active; a planned one for its window."""
    for booking in bookings:
        if trip.overlaps(booking.start, booking.end):
            return [f"{kind} {thing_id} is busy on dispatch {booking.dispatch_id} ({booking.status.value})"]
    for other in taken:
        if trip.overlaps(other.start, other.end):
            return [f"{kind} {thing_id} is on trip {other.id} of this commit at the same time"]
    return []
