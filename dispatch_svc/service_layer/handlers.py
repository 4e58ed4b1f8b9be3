"""dispatch_svc's use cases. Each change runs in one unit of work: the rows it changes and the
DispatchEvents it emits (one per affected PUR) commit together or not at all.

Every change to a route's queue or dispatches first takes the route's advisory lock (hub, route,
date), so the pur-events consumer, the API and auto-dispatch never interleave on one route, on
any number of replicas. The attendance service is asked before the transaction starts, so no lock
is held while waiting for it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

import sqlalchemy.exc

from dispatch_svc.adapters.attendance import AttendanceClient
from dispatch_svc.adapters.messages import dispatch_event
from dispatch_svc.adapters.repository import DispatchCursor, DispatchFilter, RouteGroupView
from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.model import (
    Dispatch,
    IllegalTransition,
    InvalidInput,
    Load,
    NewDispatch,
    Pickup,
    PickupChange,
    PickupStatus,
    PurEffect,
    PurSnapshot,
    Rider,
    Vehicle,
    fill_from_queue,
)
from dispatch_svc.domain.ranking import (
    AttendanceView,
    RiderScore,
    VehicleScore,
    history_start,
    rank_riders,
    rank_vehicles,
)
from dispatch_svc.service_layer.unit_of_work import DispatchUnitOfWork
from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound, Unavailable

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_dispatch_id() -> str:
    return f"dsp_{uuid.uuid4().hex}"


def _publish(uow: DispatchUnitOfWork, dispatch: Dispatch, changes: Sequence[PickupChange], moment: datetime) -> None:
    uow.publish(dispatch_event(dispatch, change, moment) for change in changes)


# -- riders and vehicles --------------------------------------------------------------------------


def upsert_rider(
    uow: DispatchUnitOfWork,
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
    uow: DispatchUnitOfWork,
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


def apply_pur_changes(uow: DispatchUnitOfWork, snapshots: Sequence[PurSnapshot], *, now: Clock = utc_now) -> int:
    """Follow pur_svc's PUR changes, a batch in one transaction. A newly routed PUR enters its
    route's queue and joins the oldest OPEN dispatch of its route and date with room for it; a
    cancelled, unroutable or re-routed one leaves its dispatch (a `released` event) and the queue.
    Versions not newer than the one applied change nothing. Returns how many events were emitted."""
    moment = now()
    by_pur: dict[str, list[PurSnapshot]] = {}
    for snapshot in sorted(snapshots, key=lambda s: (s.pur_id, s.version)):
        by_pur.setdefault(snapshot.pur_id, []).append(snapshot)
    with uow:
        keys = set(uow.pickups.route_keys(by_pur).values())
        keys |= {
            (s.hub_id, s.route_id, s.pickup_date)
            for s in snapshots
            if s.status is PickupStatus.ROUTED and s.pickup_date
        }
        uow.lock_routes(keys)  # type: ignore[arg-type]
        pickups = uow.pickups.get_many(by_pur, for_update=True)
        new: dict[str, Pickup] = {}
        changed: dict[str, Pickup] = {}
        dispatches: dict[str, Dispatch] = {}
        touched: dict[str, Dispatch] = {}
        to_place: dict[str, Pickup] = {}
        events = []

        def dispatch(dispatch_id: str) -> Dispatch:
            if dispatch_id not in dispatches:
                loaded = uow.dispatches.get(dispatch_id, for_update=True)
                assert loaded is not None, f"pickup refers to missing dispatch {dispatch_id}"
                dispatches[dispatch_id] = loaded
            return dispatches[dispatch_id]

        for pur_id, history in by_pur.items():
            for snapshot in history:
                pickup = pickups.get(pur_id)
                if pickup is None:
                    if snapshot.status is PickupStatus.ROUTED:
                        pickup = Pickup.from_snapshot(snapshot)
                        pickups[pur_id] = new[pur_id] = to_place[pur_id] = pickup
                    continue  # a PUR dispatching never saw routed: nothing to follow yet
                effect = pickup.plan(snapshot)
                if effect is PurEffect.IGNORE:
                    continue
                if pur_id not in new:
                    changed[pur_id] = pickup
                if effect is PurEffect.RECORD:
                    pickup.record(snapshot)
                    continue
                if pickup.dispatch_id:
                    d = dispatch(pickup.dispatch_id)
                    changes = d.remove([pickup], moment, detail=_leave_detail(pickup, snapshot))
                    touched[d.id] = d
                    events.extend(dispatch_event(d, c, moment) for c in changes)
                if effect is PurEffect.ENQUEUE:
                    pickup.enqueue(snapshot)
                    to_place[pur_id] = pickup
                else:
                    pickup.close(snapshot)
                    to_place.pop(pur_id, None)

        open_by_route: dict[tuple[str, str, date], list[Dispatch]] = {}
        for pickup in to_place.values():
            if not pickup.queued:
                continue
            key = pickup.route_key()
            if key not in open_by_route:
                found = uow.dispatches.open_for_route(*key, for_update=True)
                open_by_route[key] = [dispatches.setdefault(d.id, d) for d in found]
            for d in open_by_route[key]:
                if d.can_take(pickup):
                    changes = d.add([pickup], moment, automatic=True)
                    touched[d.id] = d
                    events.extend(dispatch_event(d, c, moment) for c in changes)
                    break

        uow.pickups.add(list(new.values()), moment)
        uow.pickups.update(list(changed.values()), moment)
        for d in touched.values():
            uow.dispatches.update(d)
        uow.publish(events)
        uow.commit()
    return len(events)


# -- reads ----------------------------------------------------------------------------------------


def get_dispatch(uow: DispatchUnitOfWork, dispatch_id: str) -> Dispatch:
    with uow:
        found = uow.dispatches.get(dispatch_id)
    if found is None:
        raise NotFound(f"dispatch {dispatch_id!r} does not exist")
    return found


def list_dispatches(
    uow: DispatchUnitOfWork, where: DispatchFilter, page_size: int, after: DispatchCursor | None
) -> tuple[list[Dispatch], DispatchCursor | None]:
    with uow:
        rows = uow.dispatches.list(where, page_size + 1, after)
    page, more = rows[:page_size], len(rows) > page_size
    return page, (DispatchCursor(page[-1].created_at, page[-1].id) if more else None)


def list_open_pickups(
    uow: DispatchUnitOfWork, hub_id: str, pickup_date: date, route_id: str = "", per_route_limit: int = 0
) -> list[RouteGroupView]:
    with uow:
        groups = uow.pickups.open_groups(hub_id, pickup_date, route_id, per_route_limit)
        open_dispatches = uow.dispatches.oldest_open_by_route(hub_id, pickup_date, route_id)
    by_route = {g.route_id: g for g in groups}
    for route, d in open_dispatches.items():
        group = by_route.get(route)
        if group is None:  # an OPEN dispatch nothing is listed for yet: still worth seeing
            group = by_route[route] = RouteGroupView(route, 0, 0, 0.0, 0, [])
        group.open_dispatch = d
    return [by_route[route] for route in sorted(by_route)]


@dataclass(frozen=True)
class Recommendation:
    riders: list[RiderScore]
    vehicles: list[VehicleScore]
    queued_count: int
    queued_load: Load
    attendance: AttendanceView


def _rank(
    uow: DispatchUnitOfWork,
    view: AttendanceView,
    hub_id: str,
    route_id: str,
    pickup_date: date,
    load: Load,
    riders: list[Rider] | None = None,
    vehicles: list[Vehicle] | None = None,
) -> tuple[list[RiderScore], list[VehicleScore]]:
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
    uow: DispatchUnitOfWork, attendance: AttendanceClient, hub_id: str, route_id: str, pickup_date: date, limit: int
) -> Recommendation:
    """Riders and vehicles for the route's next dispatch, best first (see domain.ranking)."""
    view = attendance.available_riders(hub_id, pickup_date)
    with uow:
        riders = uow.riders.of_hub(hub_id)
        vehicles = uow.vehicles.of_hub(hub_id)
        if not riders and not vehicles:
            raise NotFound(f"hub {hub_id!r} has no riders or vehicles registered with dispatch_svc")
        count, load = uow.pickups.queue_load(hub_id, route_id, pickup_date)
        ranked_riders, ranked_vehicles = _rank(uow, view, hub_id, route_id, pickup_date, load, riders, vehicles)
    return Recommendation(ranked_riders[:limit], ranked_vehicles[:limit], count, load, view)


@dataclass(frozen=True)
class Created:
    dispatch: Dispatch
    created: bool


def _replay(existing: Dispatch, new: NewDispatch) -> Created:
    if existing.request_fingerprint != new.fingerprint():
        raise AlreadyExists(f"request_id {new.request_id!r} was already used for a different dispatch ({existing.id})")
    return Created(existing, created=False)


def _choose_rider(
    uow: DispatchUnitOfWork, view: AttendanceView, new: NewDispatch, ranked: list[RiderScore] | None
) -> Rider:
    if new.rider_id:
        rider = uow.riders.get(new.rider_id)
        if rider is None:
            raise NotFound(f"rider {new.rider_id!r} does not exist")
        # Before anything else about it: another hub's rider is not this hub's to dispatch.
        if rider.hub_id != new.hub_id:
            raise FailedPrecondition(f"rider {rider.id} is not a rider of hub {new.hub_id}")
        if not rider.active:
            raise FailedPrecondition(f"rider {rider.id} is inactive")
        if not view.known:
            raise Unavailable(
                f"attendance of rider {rider.id} on {new.pickup_date} is unknown ({view.reason}); "
                "a rider is dispatched only when known to be present: retry when attendance answers"
            )
        if not view.is_present(rider.id):
            raise FailedPrecondition(f"rider {rider.id} is not present on {new.pickup_date} per attendance")
        busy, _ = uow.dispatches.active_for(rider_ids=[rider.id])
        if rider.id in busy:
            ref = busy[rider.id]
            raise FailedPrecondition(
                f"rider {rider.id} already has an active dispatch {ref.dispatch_id} (route {ref.route_id}, {ref.status})"
            )
        return rider
    if not view.known:
        raise Unavailable(
            f"cannot choose a rider: attendance is unknown ({view.reason}); retry later or name the rider"
        )
    assert ranked is not None
    for score in ranked:
        if score.eligible:
            return score.rider
    raise FailedPrecondition(f"no active rider of hub {new.hub_id} is present and free on {new.pickup_date}")


def _choose_vehicle(uow: DispatchUnitOfWork, new: NewDispatch, ranked: list[VehicleScore] | None) -> Vehicle:
    if new.vehicle_id:
        vehicle = uow.vehicles.get(new.vehicle_id)
        if vehicle is None:
            raise NotFound(f"vehicle {new.vehicle_id!r} does not exist")
        if vehicle.hub_id != new.hub_id:
            raise FailedPrecondition(f"vehicle {vehicle.id} is not a vehicle of hub {new.hub_id}")
        if not vehicle.active:
            raise FailedPrecondition(f"vehicle {vehicle.id} is inactive")
        _, busy = uow.dispatches.active_for(vehicle_ids=[vehicle.id])
        if vehicle.id in busy:
            ref = busy[vehicle.id]
            raise FailedPrecondition(
                f"vehicle {vehicle.id} is already on active dispatch {ref.dispatch_id} (route {ref.route_id}, {ref.status})"
            )
        return vehicle
    assert ranked is not None
    for score in ranked:
        if not score.on_active_dispatch:
            return score.vehicle
    raise FailedPrecondition(f"no active vehicle of hub {new.hub_id} is free")


def _lock_route_pickups(uow: DispatchUnitOfWork, pur_ids: Sequence[str], key: tuple[str, str, date]) -> list[Pickup]:
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


def _create_locked(
    uow: DispatchUnitOfWork,
    view: AttendanceView,
    new: NewDispatch,
    moment: datetime,
    dispatch_id: str,
    *,
    automatic: bool,
) -> Dispatch:
    """Create the dispatch inside `uow`, the route's lock held; the caller commits."""
    if new.pur_ids:
        pickups = _lock_route_pickups(uow, new.pur_ids, (new.hub_id, new.route_id, new.pickup_date))
        load = Load.total(p.load for p in pickups)
        queue: list[Pickup] = []
    else:
        queue = uow.pickups.queue(new.hub_id, new.route_id, new.pickup_date, for_update=True)
        pickups = []
        load = Load.total(p.load for p in queue)
    ranked_riders = ranked_vehicles = None
    if not new.rider_id or not new.vehicle_id:
        ranked_riders, ranked_vehicles = _rank(uow, view, new.hub_id, new.route_id, new.pickup_date, load)
    rider = _choose_rider(uow, view, new, ranked_riders)
    vehicle = _choose_vehicle(uow, new, ranked_vehicles)
    if not new.pur_ids:
        pickups = fill_from_queue(queue, vehicle.capacity)
        if automatic and not pickups:
            raise FailedPrecondition(f"vehicle {vehicle.id} cannot carry any of the {len(queue)} queued pickups")
    try:
        dispatch = Dispatch.create(dispatch_id, new, rider, vehicle, moment, automatic=automatic)
        changes = dispatch.add(pickups, moment, automatic=automatic)
    except IllegalTransition as exc:
        raise FailedPrecondition(str(exc)) from None
    uow.dispatches.add(dispatch)
    uow.pickups.update(pickups, moment)
    _publish(uow, dispatch, changes, moment)
    return dispatch


def _constraint(exc: sqlalchemy.exc.IntegrityError) -> str:
    diag = getattr(exc.orig, "diag", None)
    return getattr(diag, "constraint_name", "") or ""


def create_dispatch(
    uow: DispatchUnitOfWork,
    attendance: AttendanceClient,
    new: NewDispatch,
    *,
    now: Clock = utc_now,
    new_id: Callable[[], str] = new_dispatch_id,
) -> Created:
    """Create an OPEN dispatch, idempotently on (hub, request_id): a repeat with the same body
    returns the dispatch it created; with another body it is ALREADY_EXISTS."""
    with uow:
        existing = uow.dispatches.by_request_id(new.hub_id, new.request_id)
    if existing is not None:
        return _replay(existing, new)
    view = attendance.available_riders(new.hub_id, new.pickup_date)
    moment = now()
    try:
        with uow:
            uow.lock_routes([(new.hub_id, new.route_id, new.pickup_date)])
            existing = uow.dispatches.by_request_id(new.hub_id, new.request_id)
            if existing is not None:
                return _replay(existing, new)
            dispatch = _create_locked(uow, view, new, moment, new_id(), automatic=False)
            uow.commit()
    except sqlalchemy.exc.IntegrityError as exc:
        constraint = _constraint(exc)
        if constraint == "dispatches_request_key":
            with uow:
                existing = uow.dispatches.by_request_id(new.hub_id, new.request_id)
            if existing is not None:
                return _replay(existing, new)
        if constraint == "dispatches_one_active_per_rider":
            raise FailedPrecondition("the rider got another active dispatch meanwhile; choose another rider") from None
        if constraint == "dispatches_one_active_per_vehicle":
            raise FailedPrecondition(
                "the vehicle got another active dispatch meanwhile; choose another vehicle"
            ) from None
        raise
    return Created(dispatch, created=True)


# -- changing dispatches --------------------------------------------------------------------------

# Raises when the caller may not change this dispatch (before anything is written).
Authorize = Callable[[Dispatch], None]


def _anyone(dispatch: Dispatch) -> None:
    return None


def _change_dispatch(
    uow: DispatchUnitOfWork,
    dispatch_id: str,
    change: Callable[[DispatchUnitOfWork, Dispatch, datetime], list[PickupChange] | None],
    moment: datetime,
    authorize: Authorize,
) -> Dispatch:
    with uow:
        found = uow.dispatches.get(dispatch_id)
        if found is None:
            raise NotFound(f"dispatch {dispatch_id!r} does not exist")
        authorize(found)
        uow.lock_routes([found.route_key()])
        dispatch = uow.dispatches.get(dispatch_id, for_update=True)
        assert dispatch is not None
        try:
            changes = change(uow, dispatch, moment)
        except InvalidInput as exc:
            raise InvalidArgument(str(exc)) from None
        except IllegalTransition as exc:
            raise FailedPrecondition(str(exc)) from None
        if changes is None:
            return dispatch  # a repeat of a transition already made: nothing to write
        uow.dispatches.update(dispatch)
        _publish(uow, dispatch, changes, moment)
        uow.commit()
    return dispatch


def _members(uow: DispatchUnitOfWork, dispatch: Dispatch) -> list[Pickup]:
    found = uow.pickups.get_many(dispatch.pur_ids, for_update=True)
    return [found[p] for p in dispatch.pur_ids if p in found]


def add_pickups(
    uow: DispatchUnitOfWork,
    dispatch_id: str,
    pur_ids: Sequence[str],
    *,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def change(uow: DispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        pickups = _lock_route_pickups(uow, pur_ids, dispatch.route_key())
        changes = dispatch.add(pickups, moment)
        joined = {c.pur_id for c in changes}
        uow.pickups.update([p for p in pickups if p.pur_id in joined], moment)
        return changes or None

    return _change_dispatch(uow, dispatch_id, change, now(), authorize)


def remove_pickups(
    uow: DispatchUnitOfWork,
    dispatch_id: str,
    pur_ids: Sequence[str],
    reason: str,
    *,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def change(uow: DispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        members = set(dispatch.pur_ids)
        found = uow.pickups.get_many([p for p in pur_ids if p in members], for_update=True)
        changes = dispatch.remove(list(found.values()), moment, detail=reason or "removed from the dispatch")
        uow.pickups.update([found[c.pur_id] for c in changes], moment)
        return changes or None

    return _change_dispatch(uow, dispatch_id, change, now(), authorize)


def start_dispatch(
    uow: DispatchUnitOfWork,
    dispatch_id: str,
    *,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def change(uow: DispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        members = _members(uow, dispatch)
        changes = dispatch.start(members, moment)
        if changes is not None:
            uow.pickups.update(members, moment)
        return changes

    return _change_dispatch(uow, dispatch_id, change, now(), authorize)


def complete_dispatch(
    uow: DispatchUnitOfWork,
    dispatch_id: str,
    *,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def change(uow: DispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        members = _members(uow, dispatch)
        changes = dispatch.complete(members, moment)
        if changes is not None:
            uow.pickups.update(members, moment)
        return changes

    return _change_dispatch(uow, dispatch_id, change, now(), authorize)


def cancel_dispatch(
    uow: DispatchUnitOfWork,
    dispatch_id: str,
    reason: str,
    *,
    authorize: Authorize = _anyone,
    now: Clock = utc_now,
) -> Dispatch:
    def change(uow: DispatchUnitOfWork, dispatch: Dispatch, moment: datetime) -> list[PickupChange] | None:
        members = _members(uow, dispatch)
        changes = dispatch.cancel(members, reason, moment)
        if changes is not None:
            uow.pickups.update(members, moment)
        return changes

    return _change_dispatch(uow, dispatch_id, change, now(), authorize)


# -- auto-dispatch --------------------------------------------------------------------------------


@dataclass(frozen=True)
class AutoOutcome:
    hub_id: str
    route_id: str
    reason: str  # why it was due
    dispatch: Dispatch | None = None
    skipped: str = ""  # why nothing was created


def auto_dispatch_hub(
    uow: DispatchUnitOfWork,
    attendance: AttendanceClient,
    policy: AutoDispatchPolicy,
    hub_id: str,
    *,
    now: Clock = utc_now,
    new_id: Callable[[], str] = new_dispatch_id,
) -> list[AutoOutcome]:
    """Create a dispatch, with the top recommendation and the route's queue, for each route of
    the hub whose queue is due (threshold reached or cut-off passed) for the hub's local today.
    Each route in its own transaction under its lock, taken with try-lock: a route another
    replica is working on is skipped this round, and the due check is repeated under the lock."""
    moment = now()
    today = policy.local_today(moment)
    with uow:
        counts = uow.pickups.queue_counts(hub_id, today)
    due = {route: reason for route, count in counts.items() if (reason := policy.due(count, moment))}
    if not due:
        return []
    view = attendance.available_riders(hub_id, today)
    outcomes = []
    for route_id, reason in due.items():
        if not view.known:
            outcomes.append(AutoOutcome(hub_id, route_id, reason, skipped=f"attendance unknown ({view.reason})"))
            continue
        new = NewDispatch(request_id=f"auto-{uuid.uuid4().hex}", hub_id=hub_id, route_id=route_id, pickup_date=today)
        try:
            with uow:
                if not uow.try_lock_route((hub_id, route_id, today)):
                    outcomes.append(AutoOutcome(hub_id, route_id, reason, skipped="route busy (another replica)"))
                    continue
                count, _ = uow.pickups.queue_load(hub_id, route_id, today)
                if policy.due(count, moment) is None:
                    continue
                dispatch = _create_locked(uow, view, new, moment, new_id(), automatic=True)
                uow.commit()
            outcomes.append(AutoOutcome(hub_id, route_id, reason, dispatch=dispatch))
        except (FailedPrecondition, Unavailable, NotFound) as exc:
            outcomes.append(AutoOutcome(hub_id, route_id, reason, skipped=str(exc)))
        except sqlalchemy.exc.IntegrityError as exc:
            outcomes.append(
                AutoOutcome(
                    hub_id,
                    route_id,
                    reason,
                    skipped=f"conflict on {_constraint(exc) or 'a unique key'}; retried next round",
                )
            )
    return outcomes
