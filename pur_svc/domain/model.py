"""Pickup requests and the rules of their life: validation, routing, cancellation.

Pure domain: no gRPC, SQLAlchemy or Kafka. Every state change bumps `version`, which orders the
status-change events a PUR emits; a change that would not change anything returns False so the
caller writes and emits nothing (that is what makes every consumer idempotent).
"""

from __future__ import annotations

import enum
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from mesh.errors import FailedPrecondition, InvalidArgument
from mesh.kernel import PickupStatus, RouteMatch, check_coordinates, check_id, check_text
from pur_svc.domain.history import DISPATCH_SVC, PUR_SVC, ROUTING_SVC, Actor, HistoryEntry, with_detail

PINCODE = re.compile(r"[A-Za-z0-9 -]{3,12}")
MAX_NAME = 200
MAX_ADDRESS = 500
MAX_REASON = 500
# A history reason holds a given reason (at most MAX_REASON) and the words around it.
MAX_HISTORY_REASON = 1000
MAX_PACKAGES = 100_000
MAX_WEIGHT_KG = 100_000.0
# Pickups are planned for today or the coming weeks; further out is a typo, not a plan.
MAX_DAYS_AHEAD = 366
MAX_DAYS_BEHIND = 1
# A NEAREST route farther than this (meters) puts the PUR in the manual queue for a person to
# confirm (PUR_SVC_REVIEW_DISTANCE_M).
DEFAULT_REVIEW_DISTANCE_M = 1000.0


class InvalidPickup(InvalidArgument):
    """A pickup request that breaks a rule; the message names the field and the rule."""


class IllegalTransition(FailedPrecondition):
    """The PUR's status does not allow the requested change."""


class RouteNotAssignable(FailedPrecondition):
    """The route exists but may not take this PUR (another hub's, or inactive)."""


class ReviewReason(enum.Enum):
    """Why a PUR is in the manual queue (None: it is not)."""

    UNROUTABLE = "UNROUTABLE"
    FAR_FROM_ROUTE = "FAR_FROM_ROUTE"
    ROUTE_DELETED = "ROUTE_DELETED"


ROUTABLE_STATES = frozenset({PickupStatus.PENDING_ROUTE, PickupStatus.ROUTED, PickupStatus.UNROUTABLE})
# A dispatched PUR can still be cancelled until the rider picks it up; dispatch_svc then takes it
# off the dispatch when it sees the cancellation.
CANCELLABLE_STATES = ROUTABLE_STATES | {PickupStatus.DISPATCHED}


@dataclass(frozen=True)
class Location:
    lat: float
    lng: float

    def __post_init__(self) -> None:
        check_coordinates("warehouse.location", self.lat, self.lng)


@dataclass(frozen=True)
class Warehouse:
    id: str
    name: str
    address: str
    pincode: str
    location: Location

    def __post_init__(self) -> None:
        check_id("warehouse.id", self.id, required=False)
        check_text("warehouse.name", self.name, MAX_NAME)
        check_text("warehouse.address", self.address, MAX_ADDRESS)
        if self.pincode and not PINCODE.fullmatch(self.pincode):
            raise InvalidPickup("warehouse.pincode must be 3-12 letters, digits, spaces or dashes")


@dataclass(frozen=True)
class NewPickup:
    """What a client asks for; validated on construction."""

    request_id: str
    client_id: str
    hub_id: str
    warehouse: Warehouse
    pickup_date: date
    expected_packages: int
    expected_weight_kg: float

    def __post_init__(self) -> None:
        check_id("request_id", self.request_id)
        check_id("client_id", self.client_id)
        check_id("hub_id", self.hub_id, required=False)
        if not 1 <= self.expected_packages <= MAX_PACKAGES:
            raise InvalidPickup(f"expected_packages must be between 1 and {MAX_PACKAGES}, got {self.expected_packages}")
        if not (math.isfinite(self.expected_weight_kg) and 0.0 <= self.expected_weight_kg <= MAX_WEIGHT_KG):
            raise InvalidPickup(f"expected_weight_kg must be a finite number in [0, {MAX_WEIGHT_KG:g}]")

    def check_date(self, today: date) -> None:
        if not today - timedelta(days=MAX_DAYS_BEHIND) <= self.pickup_date <= today + timedelta(days=MAX_DAYS_AHEAD):
            raise InvalidPickup(
                f"pickup_date {self.pickup_date.isoformat()} must be between {MAX_DAYS_BEHIND} day before and "
                f"{MAX_DAYS_AHEAD} days after today ({today.isoformat()})"
            )

    def fingerprint(self) -> str:
        """Digest of the request body: the same request_id with another body is a conflict.

        Stored with each PUR, so the digest never changes: SHA-256 of the sorted-key JSON of
        `dataclasses.asdict(self)` with the date in ISO form (a unit test holds it to that
        definition). The dict is written out because asdict deep-copies every value: 32 against
        9 us per PUR, measured."""
        w = self.warehouse
        body = {
            "request_id": self.request_id,
            "client_id": self.client_id,
            "hub_id": self.hub_id,
            "warehouse": {
                "id": w.id,
                "name": w.name,
                "address": w.address,
                "pincode": w.pincode,
                "location": {"lat": w.location.lat, "lng": w.location.lng},
            },
            "pickup_date": self.pickup_date.isoformat(),
            "expected_packages": self.expected_packages,
            "expected_weight_kg": self.expected_weight_kg,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class KnownRoute:
    """A route as pur_svc knows it from routing_svc's map changes (its route read model)."""

    id: str
    hub_id: str
    name: str
    default_rider_id: str
    active: bool
    priority: int


@dataclass(frozen=True)
class MapChange:
    """routing_svc published map `map_version` of `hub_id`, or one `part` of it: the routes it
    created or replaced and the ids of those it deleted (a large change comes in several parts,
    each with its share)."""

    hub_id: str
    map_version: int
    routes: tuple[KnownRoute, ...] = ()
    deleted_route_ids: tuple[str, ...] = ()
    part: int = 1
    parts: int = 1


@dataclass(frozen=True)
class RouteAssignment:
    """routing_svc's answer for one PUR at one map version."""

    pur_id: str
    hub_id: str
    route_id: str
    rider_id: str
    match: RouteMatch
    distance_m: float
    h3_cell: str
    map_version: int
    unroutable_reason: str = ""
    # Unroutable: the nearest route beyond routing's limit, when there is one.
    nearest_route_id: str = ""
    nearest_distance_m: float = 0.0

    def describe(self) -> str:
        """The answer in words, for the PUR's history."""
        where = f"(map v{self.map_version})"
        if self.match is RouteMatch.NONE:
            return f"unroutable: {self.unroutable_reason} {where}"
        if self.match is RouteMatch.NEAREST:
            return f"routed: nearest route {self.route_id}, {self.distance_m:.0f} m away {where}"
        return f"routed: inside route {self.route_id} {where}"


class DispatchChangeKind(enum.Enum):
    DISPATCHED = "DISPATCHED"
    RELEASED = "RELEASED"
    PICKED_UP = "PICKED_UP"
    STARTED = "STARTED"
    RIDER_CHANGED = "RIDER_CHANGED"


@dataclass(frozen=True)
class DispatchChange:
    """dispatch_svc's news about one PUR; `version` increases per PUR, so order is known.
    `rider_id` is the dispatch's rider after the change; `actor` and `reason` say who made it and
    why, for the PUR's history."""

    pur_id: str
    dispatch_id: str
    kind: DispatchChangeKind
    version: int
    rider_id: str = ""
    actor: Actor = DISPATCH_SVC
    reason: str = ""
    # DISPATCHED by MovePickups: the dispatch it left.
    moved_from: str = ""


@dataclass
class PickupRequest:
    id: str
    request_id: str
    request_fingerprint: str
    client_id: str
    hub_id: str
    warehouse: Warehouse
    pickup_date: date
    expected_packages: int
    expected_weight_kg: float
    created_at: datetime
    updated_at: datetime
    status: PickupStatus = PickupStatus.PENDING_ROUTE
    route_id: str = ""
    # The rider now: the route's while routed, the dispatch's while dispatched or picked up.
    rider_id: str = ""
    dispatch_id: str = ""
    route_match: RouteMatch | None = None
    distance_m: float = 0.0
    map_version: int = 0
    unroutable_reason: str = ""
    routed_at: datetime | None = None
    cancel_reason: str = ""
    version: int = 1
    # The newest dispatch_svc event applied (its per-PUR version); older ones are ignored.
    dispatch_version: int = 0
    # The manual queue: why a person should look (None: no need), the nearest route routing
    # found for an unroutable or far PUR, and the reason a team lead gave for a manual route.
    review: ReviewReason | None = None
    nearest_route_id: str = ""
    nearest_distance_m: float = 0.0
    manual_reason: str = ""
    # The rider its routing (or a manual assignment) gave it, which it gets back when released.
    route_rider_id: str = ""
    # Status before the last change, for the status-change event; not persisted.
    previous_status: PickupStatus | None = field(default=None, compare=False)
    # History entries not stored yet, and the change still being made (time, actor, reason): its
    # entry is taken when the next change starts or the entries are collected, so it shows the
    # PUR as the whole change left it.
    pending_history: tuple[HistoryEntry, ...] = field(default=(), compare=False, repr=False)
    open_change: tuple[datetime, Actor, str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def create(cls, pur_id: str, new: NewPickup, now: datetime, actor: Actor = PUR_SVC) -> PickupRequest:
        new.check_date(now.date())
        pur = cls(
            id=pur_id,
            request_id=new.request_id,
            request_fingerprint=new.fingerprint(),
            client_id=new.client_id,
            hub_id=new.hub_id,
            warehouse=new.warehouse,
            pickup_date=new.pickup_date,
            expected_packages=new.expected_packages,
            expected_weight_kg=new.expected_weight_kg,
            created_at=now,
            updated_at=now,
        )
        pur._open_entry(now, actor, "created")
        return pur

    def apply_route_assignment(
        self, assignment: RouteAssignment, now: datetime, review_distance_m: float = DEFAULT_REVIEW_DISTANCE_M
    ) -> bool:
        """Record routing's answer. Ignored when the PUR left the routable states (dispatched,
        picked up, cancelled), when a team lead chose its route, when the answer comes from an
        older map than the one recorded, or when it repeats the answer already recorded for this
        map version. An unroutable PUR, or one farther than `review_distance_m` from its nearest
        route, goes to the manual queue."""
        if self.status not in ROUTABLE_STATES or self.route_match is RouteMatch.MANUAL:
            return False
        if assignment.map_version < self.map_version:
            return False
        if assignment.map_version == self.map_version and self.status is not PickupStatus.PENDING_ROUTE:
            return False
        status = PickupStatus.UNROUTABLE if assignment.match is RouteMatch.NONE else PickupStatus.ROUTED
        self._change(status, now, actor=ROUTING_SVC, reason=assignment.describe())
        if assignment.hub_id:
            self.hub_id = assignment.hub_id
        self.route_id = assignment.route_id
        self.rider_id = self.route_rider_id = assignment.rider_id
        self.route_match = assignment.match
        self.distance_m = assignment.distance_m
        self.map_version = assignment.map_version
        self.unroutable_reason = assignment.unroutable_reason
        self.routed_at = now
        self.manual_reason = ""
        self._review_routing(assignment, review_distance_m)
        return True

    def _review_routing(self, assignment: RouteAssignment, review_distance_m: float) -> None:
        if assignment.match is RouteMatch.NONE:
            self.review = ReviewReason.UNROUTABLE
            self.nearest_route_id, self.nearest_distance_m = assignment.nearest_route_id, assignment.nearest_distance_m
        elif assignment.match is RouteMatch.NEAREST and assignment.distance_m > review_distance_m:
            self.review = ReviewReason.FAR_FROM_ROUTE
            self.nearest_route_id, self.nearest_distance_m = assignment.route_id, assignment.distance_m
        else:
            self.review, self.nearest_route_id, self.nearest_distance_m = None, "", 0.0

    def assign_manually(
        self, route: KnownRoute, map_version: int, reason: str, now: datetime, actor: Actor = PUR_SVC
    ) -> bool:
        """A team lead routes the PUR by hand: ROUTED to `route` (MANUAL) with its default rider,
        out of the manual queue. A PUR without a hub takes the route's. Repeating the assignment
        in force changes nothing (False)."""
        check_manual_reason(reason)
        if self.status not in ROUTABLE_STATES:
            raise IllegalTransition(
                f"pickup request {self.id} is {self.status.value}: only PENDING_ROUTE, ROUTED or UNROUTABLE "
                "requests are routed by hand"
            )
        if self.hub_id and route.hub_id != self.hub_id:
            raise RouteNotAssignable(
                f"route {route.id!r} is of hub {route.hub_id!r}, not of the request's hub {self.hub_id!r}"
            )
        if not route.active:
            raise RouteNotAssignable(f"route {route.id!r} is inactive and takes no pickups")
        if (
            self.status is PickupStatus.ROUTED
            and self.route_match is RouteMatch.MANUAL
            and (self.route_id, self.manual_reason, self.review) == (route.id, reason, None)
        ):
            return False
        self._change(PickupStatus.ROUTED, now, actor=actor, reason=with_detail(f"routed by hand to {route.id}", reason))
        self.hub_id = route.hub_id
        self.route_id = route.id
        self.rider_id = self.route_rider_id = route.default_rider_id
        self.route_match = RouteMatch.MANUAL
        self.distance_m = 0.0
        self.map_version = map_version
        self.unroutable_reason = ""
        self.routed_at = now
        self.manual_reason = reason
        self.review, self.nearest_route_id, self.nearest_distance_m = None, "", 0.0
        return True

    def lose_manual_route(self, map_version: int, now: datetime) -> bool:
        """Map `map_version` deleted the route a team lead chose: back to the manual queue,
        UNROUTABLE without a route or rider. Only an undispatched manual PUR is affected."""
        if self.status not in ROUTABLE_STATES or self.route_match is not RouteMatch.MANUAL:
            return False
        deleted = self.route_id
        self._change(PickupStatus.UNROUTABLE, now, reason=f"unroutable: its manual route {deleted} was deleted")
        self.route_id = ""
        self.rider_id = self.route_rider_id = ""
        self.route_match = RouteMatch.NONE
        self.map_version = max(self.map_version, map_version)
        self.unroutable_reason = f"its manual route {deleted} was deleted (map version {map_version})"
        self.manual_reason = ""
        self.review, self.nearest_route_id, self.nearest_distance_m = ReviewReason.ROUTE_DELETED, "", 0.0
        return True

    def needs_reroute(self, hub_id: str, map_version: int) -> bool:
        """True when a new map of `hub_id` may change this PUR's route: it is not dispatched yet
        and was routed against an older version (or not routed at all)."""
        return (
            self.status in ROUTABLE_STATES
            and self.route_match is not RouteMatch.MANUAL
            and self.hub_id == hub_id
            and self.map_version < map_version
        )

    def apply_dispatch_change(self, change: DispatchChange, now: datetime) -> bool:
        """Follow the PUR's dispatch: joined (DISPATCHED, with the dispatch's rider), its rider
        changed, released back to its route's queue (ROUTED, with the route's rider again), picked
        up (PICKED_UP). Returns True when anything must be saved; the status may stay as it is (an
        event older than one applied, or one about a cancelled PUR)."""
        if change.version <= self.dispatch_version:
            return False
        self.dispatch_version = change.version
        kind = change.kind
        on_this_dispatch = bool(self.dispatch_id) and self.dispatch_id == change.dispatch_id
        if kind is DispatchChangeKind.DISPATCHED and self.status in (PickupStatus.ROUTED, PickupStatus.DISPATCHED):
            if self.status is not PickupStatus.DISPATCHED or not on_this_dispatch:
                what = f"dispatched on {change.dispatch_id}"
                if change.moved_from:
                    what = f"moved from {change.moved_from} to {change.dispatch_id}"
                self._follow_dispatch(PickupStatus.DISPATCHED, change, now, what)
        elif kind is DispatchChangeKind.RIDER_CHANGED and self.status is PickupStatus.DISPATCHED and on_this_dispatch:
            if change.rider_id and change.rider_id != self.rider_id:
                self._follow_dispatch(PickupStatus.DISPATCHED, change, now, f"rider changed to {change.rider_id}")
        elif kind is DispatchChangeKind.RELEASED and on_this_dispatch:
            self._release(change, now)
        elif kind is DispatchChangeKind.PICKED_UP and self.status is PickupStatus.DISPATCHED:
            self._follow_dispatch(PickupStatus.PICKED_UP, change, now, f"picked up on {change.dispatch_id}")
        elif kind is DispatchChangeKind.PICKED_UP and self.status is PickupStatus.CANCELLED and on_this_dispatch:
            # The parcel's fate wins: the rider collected it before dispatch_svc saw the cancel.
            what = "picked up before the cancellation reached the dispatch"
            self._follow_dispatch(PickupStatus.PICKED_UP, change, now, what)
        return True

    def _follow_dispatch(self, status: PickupStatus, change: DispatchChange, now: datetime, what: str) -> None:
        self._change(status, now, actor=change.actor, reason=with_detail(what, change.reason))
        self.dispatch_id = change.dispatch_id
        self.rider_id = change.rider_id or self.rider_id

    def _release(self, change: DispatchChange, now: datetime) -> None:
        """Off its dispatch: a dispatched PUR goes back to its route's queue with the route's rider;
        a cancelled one stays cancelled, now off the dispatch too (dispatch_svc took the cancel)."""
        if self.status not in (PickupStatus.DISPATCHED, PickupStatus.CANCELLED):
            return
        status = PickupStatus.ROUTED if self.status is PickupStatus.DISPATCHED else PickupStatus.CANCELLED
        what = f"released from {change.dispatch_id}"
        self._change(status, now, actor=change.actor, reason=with_detail(what, change.reason))
        self.dispatch_id = ""
        self.rider_id = self.route_rider_id

    def cancel(self, reason: str, now: datetime, actor: Actor = PUR_SVC) -> bool:
        if self.status is PickupStatus.CANCELLED:
            return False
        if self.status not in CANCELLABLE_STATES:
            raise IllegalTransition(f"pickup request {self.id} is {self.status.value} and can no longer be cancelled")
        check_cancel_reason(reason)
        self._change(PickupStatus.CANCELLED, now, actor=actor, reason=with_detail("cancelled", reason))
        self.cancel_reason = reason
        return True

    def take_history(self) -> tuple[HistoryEntry, ...]:
        """The entries of the changes made since the last call, oldest first, for storage."""
        self._close_entry()
        entries, self.pending_history = self.pending_history, ()
        return entries

    def _change(self, status: PickupStatus, now: datetime, *, actor: Actor = PUR_SVC, reason: str = "") -> None:
        """Start a change to `status`: the PUR's next revision, and its history entry (taken once
        the rest of the change is made, see `_close_entry`)."""
        self._open_entry(now, actor, reason or f"status {status.value}")
        self.previous_status = self.status
        self.status = status
        self.updated_at = now
        self.version += 1
        if status not in ROUTABLE_STATES:
            # Dispatched, picked up or cancelled: nothing left for the manual queue to decide.
            self.review = None

    def _open_entry(self, now: datetime, actor: Actor, reason: str) -> None:
        self._close_entry()
        self.open_change = (now, actor, reason)

    def _close_entry(self) -> None:
        if self.open_change is None:
            return
        time, actor, reason = self.open_change
        entry = HistoryEntry(
            pur_id=self.id,
            version=self.version,
            time=time,
            status=self.status,
            route_id=self.route_id,
            rider_id=self.rider_id,
            dispatch_id=self.dispatch_id,
            route_match=self.route_match,
            map_version=self.map_version,
            actor=actor,
            reason=reason[:MAX_HISTORY_REASON],
        )
        # Rebound, never appended to: copies of the PUR (event snapshots) keep their own tuple.
        self.pending_history = (*self.pending_history, entry)
        self.open_change = None


def check_cancel_reason(reason: str) -> None:
    check_text("reason", reason, MAX_REASON)


def check_manual_reason(reason: str) -> None:
    check_text("reason", reason, MAX_REASON, required=True)
