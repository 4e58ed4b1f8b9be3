"""dispatch_svc's use cases. Each change runs in one unit of work: the rows it changes and the
domain events it publishes (one per affected PUR) commit together or not at all.

Every change to a route's queue or dispatches first takes the route's lock (hub, route, date), so
the pur-events consumer, the API and auto-dispatch never interleave on one route, on any number
of replicas. Attendance is asked before the transaction starts, so no lock is held while waiting
for it.

Every DispatchEvent names its actor and reason: the caller (`actor`, which the servicer passes from
the call's token) for changes a person asks for, `SERVICE_ACTOR` when dispatch_svc acts on its own
(a routed PUR joining an open dispatch, auto-dispatch) or when a handler is called outside an RPC.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from dispatch_svc.domain.board import BoardChange
from dispatch_svc.domain.events import DispatchEvent, dispatch_events
from dispatch_svc.domain.model import (
    SERVICE_ACTOR,
    Actor,
    Dispatch,
    DuplicateRequest,
    Load,
    NewDispatch,
    Pickup,
    PickupChange,
    PickupMove,
    PickupStatus,
    PurEffect,
    PurSnapshot,
    Reassignment,
    Rider,
    RiderBusy,
    RouteKey,
    Vehicle,
    VehicleBusy,
    fill_from_queue,
)
from dispatch_svc.domain.planning import PlanningSettings
from dispatch_svc.domain.ranking import (
    AttendanceView,
    RiderScore,
    VehicleScore,
    history_start,
    rank_riders,
    rank_vehicles,
)
from dispatch_svc.domain.routes import RouteMapChange
from dispatch_svc.service_layer.attendance import AttendancePort
from dispatch_svc.service_layer.forecasts import record_observed_volume
from dispatch_svc.service_layer.plans import DEFAULT_SETTINGS, PlannedRoom
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from dispatch_svc.service_layer.views import DispatchCursor, DispatchFilter, RouteGroupView
from mesh.errors import AlreadyExists, FailedPrecondition, NotFound, Unavailable
from mesh.kernel import new_id, utc_now

Clock = Callable[[], datetime]


def new_dispatch_id() -> str:
    return new_id("dsp")


# -- riders and vehicles --------------------------------------------------------------------------


def upsert_rider(
    uow: AbstractDispatchUnitOfWork,
    rider: Rider,
    *,
    authorize: Callable[[Rider], None] = lambda stored: None,
    now: Clock = utc_now,
) -> bool:
    """Create or replace a rider; `authorize(stored)` raises when the caller may not replace the
    rider stored under this id (another hub's), before anything is written."""
    with uow:
        stored = uow.riders.get(rider.id, lock=True)
        if stored is not None:
            authorize(stored)
        created = uow.riders.upsert(rider, now())
        uow.commit()
    return created


def upsert_vehicle(
    uow: AbstractDispatchUnitOfWork,
    vehicle: Vehicle,
    *,
    authorize: Callable[[Vehicle], None] = lambda stored: None,
    now: Clock = utc_now,
) -> bool:
    """Create or replace a vehicle; `authorize(stored)` as for upsert_rider."""
    with uow:
        stored = uow.vehicles.get(vehicle.id, lock=True)
        if stored is not None:
            authorize(stored)
        created = uow.vehicles.upsert(vehicle, now())
        uow.commit()
    return created


# -- pur.events.v1 --------------------------------------------------------------------------------


def apply_pur_changes(
    uow: AbstractDispatchUnitOfWork,
    snapshots: Sequence[PurSnapshot],
    *,
    now: Clock = utc_now,
    settings: PlanningSettings = DEFAULT_SETTINGS,
) -> int:
    """Follow pur_svc's PUR changes, a batch in one transaction. A newly routed PUR enters its
    route's queue and joins the oldest OPEN dispatch of its route and date with room for it; a
    cancelled, unroutable or re-routed one leaves its dispatch (a `released` event) and the queue.
    Versions not newer than the one applied change nothing. Returns how many events were emitted.
    `settings` (the service's configured ones) give the service times and default shift that decide
    whether a planned dispatch still has time for a joining pickup.

    Cancel versus complete: this is the entry point where a PUR's CANCELLED status reaches its
    dispatch, and `complete_dispatch` the one where the dispatch completes. Both take the lock of
    the dispatch's route before reading the pickup, so they run one after the other: a PUR whose
    dispatch completed first is PICKED_UP and stays so (the cancellation is only recorded; pur_svc
    follows the PickupPickedUp already sent); one cancelled first leaves its OPEN or IN_PROGRESS
    dispatch (`released`, REMOVED, "pickup request cancelled") and the completion no longer
    includes it. Never both."""
    histories: dict[str, list[PurSnapshot]] = {}
    for snapshot in sorted(snapshots, key=lambda s: (s.pur_id, s.version)):
        histories.setdefault(snapshot.pur_id, []).append(snapshot)
    with uow:
        uow.lock_routes(_routes_of(uow, histories, snapshots))
        batch = _PurBatch(uow, histories, now(), settings)
        for history in histories.values():
            for snapshot in history:
                batch.apply(snapshot)
        batch.place_queued()
        batch.save()
        record_observed_volume(uow, [*batch.new.values(), *batch.changed.values()], batch.moment)
        uow.publish(batch.events)
        uow.commit()
    return len(batch.events)


def _routes_of(
    uow: AbstractDispatchUnitOfWork, pur_ids: Iterable[str], snapshots: Sequence[PurSnapshot]
) -> set[RouteKey]:
    """The routes a batch may change: where its known PURs are now, and where they are routed to."""
    keys = set(uow.pickups.route_keys(pur_ids).values())
    for s in snapshots:
        if s.status is PickupStatus.ROUTED and s.pickup_date:
            keys.add((s.hub_id, s.route_id, s.pickup_date))
    return keys


def _leave_detail(pickup: Pickup, snapshot: PurSnapshot) -> str:
    if snapshot.status is PickupStatus.CANCELLED:
        return "pickup request cancelled"
    if snapshot.status is PickupStatus.UNROUTABLE:
        return "pickup request became unroutable"
    if snapshot.status is PickupStatus.ROUTED and snapshot.route_id != pickup.route_id:
        return f"pickup request re-routed to route {snapshot.route_id}"
    if snapshot.status is PickupStatus.ROUTED:
        return f"pickup request moved to {snapshot.pickup_date}"
    return f"pickup request is {snapshot.status.value}"


def _left_dispatches(pickups: Mapping[str, Pickup], histories: Mapping[str, Sequence[PurSnapshot]]) -> set[str]:
    """The dispatches of pickups some snapshot of their history moves (judged on the stored state)."""
    moving = (PurEffect.ENQUEUE, PurEffect.LEAVE)
    return {
        pickup.dispatch_id
        for pur_id, pickup in pickups.items()
        if pickup.dispatch_id and any(pickup.plan(s) in moving for s in histories.get(pur_id, ()))
    }


class _PurBatch:
    """One apply_pur_changes transaction: the pickups and dispatches it loaded (locked), what it
    changed, and the events it made, in order."""

    def __init__(
        self,
        uow: AbstractDispatchUnitOfWork,
        histories: Mapping[str, Sequence[PurSnapshot]],
        moment: datetime,
        settings: PlanningSettings,
    ) -> None:
        self.uow = uow
        self.moment = moment
        # service times and the default shift of a planned dispatch a queued pickup may join
        self.settings = settings
        self.pickups = uow.pickups.get_many(histories, for_update=True)
        self.new: dict[str, Pickup] = {}
        self.changed: dict[str, Pickup] = {}
        self.to_place: dict[str, Pickup] = {}
        # The dispatches its pickups will likely leave, in one read (`_dispatch` reads any other).
        self.dispatches = uow.dispatches.get_many(_left_dispatches(self.pickups, histories), for_update=True)
        self.touched: dict[str, Dispatch] = {}
        self.events: list[DispatchEvent] = []

    def apply(self, snapshot: PurSnapshot) -> None:
        pur_id = snapshot.pur_id
        pickup = self.pickups.get(pur_id)
        if pickup is None:
            if snapshot.status is PickupStatus.ROUTED:
                pickup = Pickup.from_snapshot(snapshot)
                self.pickups[pur_id] = self.new[pur_id] = self.to_place[pur_id] = pickup
            return  # a PUR dispatching never saw routed: nothing to follow yet
        effect = pickup.plan(snapshot)
        if effect is PurEffect.IGNORE:
            return
        if pur_id not in self.new:
            self.changed[pur_id] = pickup
        if effect is PurEffect.RECORD:
            pickup.record(snapshot)
            return
        if pickup.dispatch_id:
            dispatch = self._dispatch(pickup.dispatch_id)
            why = _leave_detail(pickup, snapshot)
            self._changed(dispatch, dispatch.remove([pickup], self.moment, detail=why), why)
        if effect is PurEffect.ENQUEUE:
            pickup.enqueue(snapshot)
            self.to_place[pur_id] = pickup
        else:
            pickup.close(snapshot)
            self.to_place.pop(pur_id, None)

    def place_queued(self) -> None:
        """Each queued pickup joins the oldest OPEN dispatch of its route and day with room for it
        (a planned one: also with time for it within its rider's shift, `plans.PlannedRoom`)."""
        queued = [pickup for pickup in self.to_place.values() if pickup.queued]
        if not queued:
            return
        found = self.uow.dispatches.open_for_routes({p.route_key() for p in queued}, for_update=True)
        open_by_route = {key: [self.dispatches.setdefault(d.id, d) for d in ds] for key, ds in found.items()}
        room = PlannedRoom(self.uow, self.settings)
        for pickup in queued:
            for dispatch in open_by_route.get(pickup.route_key(), []):
                if dispatch.can_take(pickup) and room.allows(dispatch, pickup):
                    room.take(dispatch, pickup)
                    joined = dispatch.add([pickup], self.moment, automatic=True)
                    self._changed(dispatch, joined, f"joined the open dispatch of {dispatch.route_id}")
                    break

    def save(self) -> None:
        self.uow.pickups.add(list(self.new.values()), self.moment)
        self.uow.pickups.update(list(self.changed.values()), self.moment)
        self.uow.dispatches.update_many(list(self.touched.values()))

    def _dispatch(self, dispatch_id: str) -> Dispatch:
        if dispatch_id not in self.dispatches:
            loaded = self.uow.dispatches.get(dispatch_id, for_update=True)
            assert loaded is not None, f"pickup refers to missing dispatch {dispatch_id}"
            self.dispatches[dispatch_id] = loaded
        return self.dispatches[dispatch_id]

    def _changed(self, dispatch: Dispatch, changes: list[PickupChange], reason: str) -> None:
        self.touched[dispatch.id] = dispatch
        self.events.extend(dispatch_events(dispatch, changes, self.moment, actor=SERVICE_ACTOR, reason=reason))


# -- routing.map-changes.v1 -----------------------------------------------------------------------


def apply_route_map_changes(
    uow: AbstractDispatchUnitOfWork, changes: Sequence[RouteMapChange], *, now: Clock = utc_now
) -> None:
    """Keep the route read model (names on the board), a batch of parts in one transaction, in
    the order they came; each route's group is announced on every day's board of its hub."""
    with uow:
        for change in changes:
            uow.routes.apply(change, now())
            uow.announce(BoardChange(change.hub_id, route_id, None) for route_id in change.route_ids())
        uow.commit()


# -- reads ----------------------------------------------------------------------------------------


def get_dispatch(uow: AbstractDispatchUnitOfWork, dispatch_id: str) -> Dispatch:
    with uow:
        found = uow.dispatches.get(dispatch_id)
    if found is None:
        raise NotFound(f"dispatch {dispatch_id!r} does not exist")
    return found


def list_dispatches(
    uow: AbstractDispatchUnitOfWork, where: DispatchFilter, page_size: int, after: DispatchCursor | None
) -> tuple[list[Dispatch], DispatchCursor | None]:
    with uow:
        rows = uow.dispatches.list(where, page_size + 1, after)
    page, more = rows[:page_size], len(rows) > page_size
    return page, (DispatchCursor(page[-1].created_at, page[-1].id) if more else None)


def list_open_pickups(
    uow: AbstractDispatchUnitOfWork, hub_id: str, pickup_date: date, route_id: str = "", per_route_limit: int = 0
) -> list[RouteGroupView]:
    with uow:
        groups = uow.pickups.open_groups(hub_id, pickup_date, route_id, per_route_limit)
        open_dispatches = uow.dispatches.oldest_open_by_route(hub_id, pickup_date, route_id)
        return _board(uow, hub_id, groups, open_dispatches)


def board_groups(
    uow: AbstractDispatchUnitOfWork, hub_id: str, pickup_date: date, route_ids: Collection[str] | None = None
) -> list[RouteGroupView]:
    """The board (every pickup of every group), or only the groups of `route_ids` (a route
    without a group has left the board): what WatchOpenPickupsByRoute sends."""
    with uow:
        groups = uow.pickups.open_groups(hub_id, pickup_date, route_ids=route_ids)
        open_dispatches = uow.dispatches.oldest_open_by_route(hub_id, pickup_date, route_ids=route_ids)
        return _board(uow, hub_id, groups, open_dispatches)


def _board(
    uow: AbstractDispatchUnitOfWork, hub_id: str, groups: list[RouteGroupView], open_dispatches: dict[str, Dispatch]
) -> list[RouteGroupView]:
    """The groups with their oldest OPEN dispatch and route name (one read of the read model)."""
    by_route = {g.route_id: g for g in groups}
    for route, d in open_dispatches.items():
        group = by_route.get(route)
        if group is None:  # an OPEN dispatch nothing is listed for yet: still worth seeing
            group = by_route[route] = RouteGroupView(route, 0, 0, 0.0, 0, [])
        group.open_dispatch = d
    names = uow.routes.names(hub_id, list(by_route)) if by_route else {}
    for route, group in by_route.items():
        group.route_name = names.get(route, "")
    return [by_route[route] for route in sorted(by_route)]


@dataclass(frozen=True)
class Recommendation:
    riders: list[RiderScore]
    vehicles: list[VehicleScore]
    queued_count: int
    queued_load: Load
    attendance: AttendanceView


def _rank(
    uow: AbstractDispatchUnitOfWork,
    view: AttendanceView,
    key: RouteKey,
    load: Load,
    riders: list[Rider] | None = None,
    vehicles: list[Vehicle] | None = None,
) -> tuple[list[RiderScore], list[VehicleScore]]:
    hub_id, route_id, pickup_date = key
    riders = uow.riders.of_hub(hub_id) if riders is None else riders
    vehicles = uow.vehicles.of_hub(hub_id) if vehicles is None else vehicles
    history = uow.dispatches.history(hub_id, route_id, history_start(pickup_date), pickup_date)
    busy_riders, busy_vehicles = uow.dispatches.active_for(
        rider_ids=[r.id for r in riders], vehicle_ids=[v.id for v in vehicles]
    )
    defaults = uow.pickups.default_rider_ids(hub_id, route_id, pickup_date)[:1]
    return (
        rank_riders(riders, view, history, busy_riders, defaults, pickup_date),
        rank_vehicles(vehicles, load, history, busy_vehicles, pickup_date),
    )


def recommend(
    uow: AbstractDispatchUnitOfWork,
    attendance: AttendancePort,
    hub_id: str,
    route_id: str,
    pickup_date: date,
    limit: int,
) -> Recommendation:
    """Riders and vehicles for the route's next dispatch, best first (see domain.ranking)."""
    view = attendance.available_riders(hub_id, pickup_date)
    with uow:
        riders = uow.riders.of_hub(hub_id)
        vehicles = uow.vehicles.of_hub(hub_id)
        if not riders and not vehicles:
            raise NotFound(f"hub {hub_id!r} has no riders or vehicles registered with dispatch_svc")
        count, load = uow.pickups.queue_load(hub_id, route_id, pickup_date)
        ranked_riders, ranked_vehicles = _rank(uow, view, (hub_id, route_id, pickup_date), load, riders, vehicles)
    return Recommendation(ranked_riders[:limit], ranked_vehicles[:limit], count, load, view)


# -- creating dispatches ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Created:
    dispatch: Dispatch
    created: bool


def create_dispatch(
    uow: AbstractDispatchUnitOfWork,
    attendance: AttendancePort,
    new: NewDispatch,
    *,
    actor: Actor = SERVICE_ACTOR,
    now: Clock = utc_now,
    next_id: Callable[[], str] = new_dispatch_id,
) -> Created:
    """Create an OPEN dispatch, idempotently on (hub, request_id): a repeat with the same body
    returns the dispatch it created; with another body it is ALREADY_EXISTS."""
    with uow:
        existing = uow.dispatches.by_request_id(new.hub_id, new.request_id)
    if existing is not None:
        return _replay(existing, new)
    view = attendance.available_riders(new.hub_id, new.pickup_date)
    try:
        return _create_or_replay(uow, view, new, now(), next_id(), actor)
    except DuplicateRequest:
        # A concurrent create with this request id (on another route) committed first.
        with uow:
            existing = uow.dispatches.by_request_id(new.hub_id, new.request_id)
        if existing is None:
            raise
        return _replay(existing, new)


def _create_or_replay(
    uow: AbstractDispatchUnitOfWork,
    view: AttendanceView,
    new: NewDispatch,
    moment: datetime,
    dispatch_id: str,
    actor: Actor,
) -> Created:
    with uow:
        uow.lock_routes([new.route_key()])
        existing = uow.dispatches.by_request_id(new.hub_id, new.request_id)
        if existing is not None:
            return _replay(existing, new)
        dispatch = _create_locked(uow, view, new, moment, dispatch_id, actor=actor, reason="dispatch created")
        uow.commit()
    return Created(dispatch, created=True)


def _replay(existing: Dispatch, new: NewDispatch) -> Created:
    if existing.request_fingerprint != new.fingerprint():
        raise AlreadyExists(f"request_id {new.request_id!r} was already used for a different dispatch ({existing.id})")
    return Created(existing, created=False)


def _create_locked(
    uow: AbstractDispatchUnitOfWork,
    view: AttendanceView,
    new: NewDispatch,
    moment: datetime,
    dispatch_id: str,
    *,
    actor: Actor,
    reason: str,
    automatic: bool = False,
) -> Dispatch:
    """Create the dispatch inside `uow`, the route's lock held; the caller commits."""
    if new.pur_ids:
        pickups = _lock_route_pickups(uow, new.pur_ids, new.route_key())
        load = Load.total(p.load for p in pickups)
        queue: list[Pickup] = []
    else:
        queue = uow.pickups.queue(new.hub_id, new.route_id, new.pickup_date, for_update=True)
        pickups = []
        load = Load.total(p.load for p in queue)
    ranked_riders = ranked_vehicles = None
    if not new.rider_id or not new.vehicle_id:
        ranked_riders, ranked_vehicles = _rank(uow, view, new.route_key(), load)
    if new.rider_id:
        rider = _named_rider(uow, view, new.hub_id, new.pickup_date, new.rider_id, lock=True)
    else:
        # locked and checked again like a named one: a plan committed meanwhile may have booked it
        chosen = _best_rider(view, new, ranked_riders or []).id
        rider = _named_rider(uow, view, new.hub_id, new.pickup_date, chosen, lock=True)
    if new.vehicle_id:
        vehicle = _named_vehicle(uow, new.hub_id, new.vehicle_id, lock=True)
    else:
        vehicle = _named_vehicle(uow, new.hub_id, _best_vehicle(new, ranked_vehicles or []).id, lock=True)
    if not new.pur_ids:
        pickups = fill_from_queue(queue, vehicle.capacity)
        if automatic and not pickups:
            raise FailedPrecondition(f"vehicle {vehicle.id} cannot carry any of the {len(queue)} queued pickups")
    dispatch = Dispatch.create(dispatch_id, new, rider, vehicle, moment, automatic=automatic)
    changes = dispatch.add(pickups, moment, automatic=automatic)
    uow.dispatches.add(dispatch)
    uow.pickups.update(pickups, moment)
    uow.publish(dispatch_events(dispatch, changes, moment, actor=actor, reason=reason))
    return dispatch


def _named_rider(
    uow: AbstractDispatchUnitOfWork,
    view: AttendanceView,
    hub_id: str,
    pickup_date: date,
    rider_id: str,
    *,
    lock: bool = False,
) -> Rider:
    """The rider `rider_id`, if it may take a dispatch of the hub on that day: of the hub, active,
    present per attendance and on no other active dispatch. `lock` holds the rider until commit, as
    CommitDispatchPlan does, so a plan's trip and a new dispatch cannot both book the rider."""
    rider = uow.riders.get(rider_id, lock=lock)
    if rider is None:
        raise NotFound(f"rider {rider_id!r} does not exist")
    # Before anything else about it: another hub's rider is not this hub's to dispatch.
    if rider.hub_id != hub_id:
        raise FailedPrecondition(f"rider {rider.id} is not a rider of hub {hub_id}")
    if not rider.active:
        raise FailedPrecondition(f"rider {rider.id} is inactive")
    if not view.known:
        raise Unavailable(
            f"attendance of rider {rider.id} on {pickup_date} is unknown ({view.reason}); "
            "a rider is dispatched only when known to be present: retry when attendance answers"
        )
    if not view.is_present(rider.id):
        raise FailedPrecondition(f"rider {rider.id} is not present on {pickup_date} per attendance")
    busy, _ = uow.dispatches.active_for(rider_ids=[rider.id])
    if rider.id in busy:
        ref = busy[rider.id]
        raise RiderBusy(
            f"rider {rider.id} already has an active dispatch {ref.dispatch_id} (route {ref.route_id}, {ref.status})"
        )
    return rider


def _best_rider(view: AttendanceView, new: NewDispatch, ranked: list[RiderScore]) -> Rider:
    if not view.known:
        raise Unavailable(
            f"cannot choose a rider: attendance is unknown ({view.reason}); retry later or name the rider"
        )
    for score in ranked:
        if score.eligible:
            return score.rider
    raise FailedPrecondition(f"no active rider of hub {new.hub_id} is present and free on {new.pickup_date}")


def _named_vehicle(uow: AbstractDispatchUnitOfWork, hub_id: str, vehicle_id: str, *, lock: bool = False) -> Vehicle:
    """The vehicle `vehicle_id`, if it may take a dispatch of the hub: of the hub, active and on no
    other active dispatch (its capacity is the dispatch's to check); `lock` as for `_named_rider`."""
    vehicle = uow.vehicles.get(vehicle_id, lock=lock)
    if vehicle is None:
        raise NotFound(f"vehicle {vehicle_id!r} does not exist")
    if vehicle.hub_id != hub_id:
        raise FailedPrecondition(f"vehicle {vehicle.id} is not a vehicle of hub {hub_id}")
    if not vehicle.active:
        raise FailedPrecondition(f"vehicle {vehicle.id} is inactive")
    _, busy = uow.dispatches.active_for(vehicle_ids=[vehicle.id])
    if vehicle.id in busy:
        ref = busy[vehicle.id]
        raise VehicleBusy(
            f"vehicle {vehicle.id} is already on active dispatch {ref.dispatch_id} (route {ref.route_id}, {ref.status})"
        )
    return vehicle


def _best_vehicle(new: NewDispatch, ranked: list[VehicleScore]) -> Vehicle:
    for score in ranked:
        if not score.on_active_dispatch:
            return score.vehicle
    raise FailedPrecondition(f"no active vehicle of hub {new.hub_id} is free")


def _lock_route_pickups(uow: AbstractDispatchUnitOfWork, pur_ids: Sequence[str], key: RouteKey) -> list[Pickup]:
    """Lock the named pickups, which must all be of the route `key` (whose lock the caller
    holds). They are checked before they are locked, so a pickup of another route (whose lock
    we do not hold) is refused without waiting on it."""
    seen = uow.pickups.route_keys(pur_ids)
    missing = [pur_id for pur_id in pur_ids if pur_id not in seen]
    if missing:
        raise NotFound(f"pickup requests not known to dispatch_svc (never routed?): {', '.join(missing[:10])}")
    foreign = [pur_id for pur_id in pur_ids if seen[pur_id] != key]
    if foreign:
        hub_id, route_id, day = seen[foreign[0]]
        raise FailedPrecondition(
            f"pickup request {foreign[0]} is on route {route_id} for {day.isoformat()} (hub {hub_id}), "
            f"not route {key[1]} for {key[2].isoformat()}"
        )
    found = uow.pickups.get_many(pur_ids, for_update=True)
    return [found[pur_id] for pur_id in dict.fromkeys(pur_ids)]


# -- changing dispatches --------------------------------------------------------------------------

# Raises when the caller may not change this dispatch (before anything is written).
Authorize = Callable[[Dispatch], None]
# Makes one change to a locked dispatch; None when it was already made (a retry writes nothing).
Change = Callable[[AbstractDispatchUnitOfWork, Dispatch, datetime], list[PickupChange] | None]


def _anyone(dispatch: Dispatch) -> None:
    return None


def _find(uow: AbstractDispatchUnitOfWork, dispatch_id: str, *, for_update: bool = False) -> Dispatch:
    found = uow.dispatches.get(dispatch_id, for_update=for_update)
    if found is None:
        raise NotFound(f"dispatch {dispatch_id!r} does not exist")
    return found


def _change_dispatch(
    uow: AbstractDispatchUnitOfWork,
    dispatch_id: str,
    change: Change,
    moment: datetime,
    authorize: Authorize,
    *,
    actor: Actor,
    reason: str,
) -> Dispatch:
    with uow:
        found = _find(uow, dispatch_id)
        authorize(found)
        uow.lock_routes([found.route_key()])
        dispatch = _find(uow, dispatch_id, for_update=True)
        changes = change(uow, dispatch, moment)
        if changes is None:
            return dispatch
        uow.dispatches.update(dispatch)
        uow.publish(dispatch_events(dispatch, changes, moment, actor=actor, reason=reason))
        uow.commit()
    return dispatch


def _members(uow: AbstractDispatchUnitOfWork, dispatch: Dispatch) -> list[Pickup]:
    found = uow.pickups.get_many(dispatch.pur_ids, for_update=True)
    return [found[p] for p in dispatch.pur_ids if p in found]


def add_pickups(
    uow: AbstractDispatchUnitOfWork,
    dispatch_id: str,
    pur_ids: Sequence[str],
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def change(uow: AbstractDispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        pickups = _lock_route_pickups(uow, pur_ids, dispatch.route_key())
        changes = dispatch.add(pickups, moment)
        joined = {c.pur_id for c in changes}
        uow.pickups.update([p for p in pickups if p.pur_id in joined], moment)
        return changes or None

    return _change_dispatch(uow, dispatch_id, change, now(), authorize, actor=actor, reason="added to the dispatch")


def remove_pickups(
    uow: AbstractDispatchUnitOfWork,
    dispatch_id: str,
    pur_ids: Sequence[str],
    reason: str,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    why = reason or "removed from the dispatch"

    def change(uow: AbstractDispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        members = set(dispatch.pur_ids)
        found = uow.pickups.get_many([p for p in pur_ids if p in members], for_update=True)
        changes = dispatch.remove(list(found.values()), moment, detail=why)
        uow.pickups.update([found[c.pur_id] for c in changes], moment)
        return changes or None

    return _change_dispatch(uow, dispatch_id, change, now(), authorize, actor=actor, reason=why)


def _lifecycle(step: Callable[[Dispatch, list[Pickup], datetime], list[PickupChange] | None]) -> Change:
    """A change of the dispatch's state that moves all its members along."""

    def change(uow: AbstractDispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        members = _members(uow, dispatch)
        changes = step(dispatch, members, moment)
        if changes is not None:
            uow.pickups.update(members, moment)
        return changes

    return change


def start_dispatch(
    uow: AbstractDispatchUnitOfWork,
    dispatch_id: str,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    return _change_dispatch(
        uow, dispatch_id, _lifecycle(Dispatch.start), now(), authorize, actor=actor, reason="dispatch started"
    )


def complete_dispatch(
    uow: AbstractDispatchUnitOfWork,
    dispatch_id: str,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    """IN_PROGRESS -> COMPLETED: its pickups are PICKED_UP. The completion side of cancel versus
    complete (see apply_pur_changes): a PUR whose cancellation was applied first is no longer a
    member, so it is not picked up."""
    return _change_dispatch(
        uow, dispatch_id, _lifecycle(Dispatch.complete), now(), authorize, actor=actor, reason="dispatch completed"
    )


def cancel_dispatch(
    uow: AbstractDispatchUnitOfWork,
    dispatch_id: str,
    reason: str,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def cancel(dispatch: Dispatch, members: list[Pickup], moment: datetime) -> list[PickupChange] | None:
        return dispatch.cancel(members, reason, moment)

    why = f"dispatch cancelled: {reason}" if reason else "dispatch cancelled"
    return _change_dispatch(uow, dispatch_id, _lifecycle(cancel), now(), authorize, actor=actor, reason=why)


def reassign_dispatch(
    uow: AbstractDispatchUnitOfWork,
    attendance: AttendancePort,
    request: Reassignment,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    """Give an OPEN dispatch another rider or vehicle (or both), with CreateDispatch's checks: of
    the hub, active, present (riders), on no other active dispatch, and a vehicle that carries the
    dispatch's load. Each of its pickups gets a `rider_changed` event with the new rider. A repeat
    of the change it already made returns the dispatch as it is and writes nothing."""
    with uow:
        found = _find(uow, request.dispatch_id)
    authorize(found)
    # Attendance is asked before the route's lock is taken, and only when the rider changes.
    view = None
    if request.rider_id and request.rider_id != found.rider_id:
        view = attendance.available_riders(found.hub_id, found.pickup_date)

    def reassign(uow: AbstractDispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        rider = vehicle = None
        new_rider = request.rider_id and request.rider_id != dispatch.rider_id
        new_vehicle = request.vehicle_id and request.vehicle_id != dispatch.vehicle_id
        if new_rider or new_vehicle:
            dispatch.check_reassignable()
        if new_rider:
            if view is None:
                raise Unavailable(f"dispatch {dispatch.id} got rider {dispatch.rider_id} meanwhile; retry")
            # Locked like CreateDispatch and CommitDispatchPlan lock them (route, rider, vehicle), so
            # a plan committed meanwhile cannot book the same rider or vehicle.
            rider = _named_rider(uow, view, dispatch.hub_id, dispatch.pickup_date, request.rider_id, lock=True)
        if new_vehicle:
            vehicle = _named_vehicle(uow, dispatch.hub_id, request.vehicle_id, lock=True)
        members = _members(uow, dispatch)
        changes = dispatch.reassign(rider, vehicle, members, moment)
        if changes is not None:
            uow.pickups.update(members, moment)
        return changes

    return _change_dispatch(uow, request.dispatch_id, reassign, now(), authorize, actor=actor, reason=request.reason)


def move_pickups(
    uow: AbstractDispatchUnitOfWork,
    request: PickupMove,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> tuple[Dispatch, Dispatch]:
    """Move pickups from one OPEN dispatch to another of the same hub, route and day, all or
    nothing, within the target's capacity (packages and kilograms). Each moved pickup gets a
    `dispatched` event on the target naming the source. -> (source, target) after the move."""
    moment = now()
    with uow:
        source = _find(uow, request.from_dispatch_id)
        authorize(source)
        target = _find(uow, request.to_dispatch_id)
        authorize(target)
        # A dispatch never changes route or day: checked now, the route's one lock covers both.
        source.check_same_route(target)
        uow.lock_routes([source.route_key()])
        source = _find(uow, request.from_dispatch_id, for_update=True)
        target = _find(uow, request.to_dispatch_id, for_update=True)
        members = set(source.pur_ids)
        pickups = uow.pickups.get_many([p for p in request.pur_ids if p in members], for_update=True)
        changes = source.move_to(target, request.pur_ids, list(pickups.values()), moment)
        uow.dispatches.update(source)
        uow.dispatches.update(target)
        uow.pickups.update([pickups[c.pur_id] for c in changes], moment)
        uow.publish(dispatch_events(target, changes, moment, actor=actor, reason=request.reason))
        uow.commit()
    return source, target
