"""Use cases of dispatch planning: PlanDispatches (propose and store a plan) and CommitDispatchPlan
(turn its trips into OPEN dispatches, all in one transaction, or none).

Planning reads the hub's queues, riders (present per the attendance read model, with their shift),
vehicles and what each already holds, and asks the `TripPlanner` outside any transaction: a plan
changes nothing but the plans table. A commit takes the locks of every route it touches, then the
plan's row (so concurrent commits of one plan run one after the other: the second finds it
committed and returns the same dispatches), then checks each trip against the world
(`domain.plans.trip_problems`) before writing anything.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dispatch_svc.domain.events import dispatch_events
from dispatch_svc.domain.model import (
    SERVICE_ACTOR,
    Actor,
    Dispatch,
    DispatchStop,
    InvalidInput,
    Load,
    NewDispatch,
    Pickup,
)
from dispatch_svc.domain.planning import (
    PlanningProblem,
    PlanningRider,
    PlanningSettings,
    PlanningStop,
    PlanningVehicle,
    PlanResult,
    Point,
    ProgressCallback,
    ShiftWindow,
    stop_quotas,
)
from dispatch_svc.domain.plans import (
    DEFAULT_PLAN_TTL,
    CommitRequest,
    DispatchPlan,
    PlanNotFound,
    PlanStop,
    PlanTrip,
    UnplannedPickup,
    World,
    WorldChanged,
    apply_changes,
    dispatch_request_id,
    trip_problems,
)
from dispatch_svc.domain.ranking import history_start
from dispatch_svc.service_layer.planner import TripPlanner
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.errors import NotFound
from mesh.kernel import new_id, utc_now

Clock = Callable[[], datetime]
DEFAULT_SETTINGS = PlanningSettings()
# Raises when the caller may not work on this hub's plans.
AuthorizeHub = Callable[[str], None]


def _anyone(hub_id: str) -> None:
    return None


def new_plan_id() -> str:
    return new_id("plan")


def new_dispatch_id() -> str:
    return new_id("dsp")


# -- PlanDispatches -------------------------------------------------------------------------------


def plan_dispatches(
    uow: AbstractDispatchUnitOfWork,
    planner: TripPlanner,
    hub_id: str,
    pickup_date: date,
    route_ids: Collection[str] = (),
    *,
    settings: PlanningSettings = DEFAULT_SETTINGS,
    ttl: timedelta = DEFAULT_PLAN_TTL,
    now: Clock = utc_now,
    next_id: Callable[[], str] = new_plan_id,
    progress: ProgressCallback | None = None,
) -> DispatchPlan:
    """Propose trips for the hub's queued pickups of the day (of `route_ids`, or of every route)
    and store the proposal until it expires. NotFound for an unknown hub or route; InvalidInput
    for a day already past in the hub's time zone. `progress` follows the planner's work."""
    moment = now()
    with uow:
        problem, left = _problem(uow, hub_id, pickup_date, route_ids, settings, moment)
    result = planner.plan(problem, progress)
    plan = _plan_of(next_id(), problem, result, moment, ttl)
    plan.left_for_next_plan = left
    with uow:
        uow.plans.delete_expired(moment)
        uow.plans.add(plan)
        uow.commit()
    return plan


def _problem(
    uow: AbstractDispatchUnitOfWork,
    hub_id: str,
    day: date,
    route_ids: Collection[str],
    settings: PlanningSettings,
    moment: datetime,
) -> tuple[PlanningProblem, dict[str, int]]:
    """The problem, bounded by the settings' limits (`stop_quotas`: each route's oldest queued
    pickups), and how many queued pickups of each route it leaves for the next plan."""
    hub = uow.hubs.get(hub_id)
    if hub is None:
        raise NotFound(f"hub {hub_id!r} does not exist (UpsertHub creates it with its depot)")
    today = moment.astimezone(hub.zone).date()
    if day < today:
        raise InvalidInput(
            f"pickup_date {day.isoformat()} is in the past (today is {today.isoformat()} at hub {hub_id})"
        )
    queued = uow.pickups.queue_counts(hub_id, day)
    if route_ids:
        known = set(uow.routes.names(hub_id, route_ids)) | set(queued)
        unknown = sorted(set(route_ids) - known)
        if unknown:
            raise NotFound(f"routes not known at hub {hub_id}: {', '.join(unknown[:10])}")
    routes = sorted(set(route_ids) & set(queued)) if route_ids else sorted(queued)
    quotas = stop_quotas({r: queued[r] for r in routes}, settings.max_stops_per_route, settings.max_stops)
    pickups: list[Pickup] = []
    left: dict[str, int] = {}
    for route_id in routes:
        taken = uow.pickups.queue(hub_id, route_id, day, limit=quotas[route_id]) if quotas[route_id] else []
        pickups.extend(taken)
        if len(taken) == quotas[route_id] and queued[route_id] > len(taken):
            left[route_id] = queued[route_id] - len(taken)
    problem = PlanningProblem(
        hub_id=hub_id,
        depot=Point(hub.lat, hub.lng),
        timezone=hub.timezone,
        day=day,
        stops=[_stop(p) for p in pickups],
        riders=_riders(uow, hub_id, day, routes, pickups),
        vehicles=_vehicles(uow, hub_id),
        settings=settings,
        not_before=moment if day == today else None,
    )
    return problem, left


def _stop(pickup: Pickup) -> PlanningStop:
    return PlanningStop(
        pur_id=pickup.pur_id,
        route_id=pickup.route_id,
        location=Point(pickup.lat, pickup.lng),
        packages=pickup.packages,
        weight_kg=pickup.weight_kg,
        # dispatching keeps the queue's order (position), not arrival times; the planner needs
        # only their order.
        arrived_at=datetime.fromtimestamp(pickup.position or 0, tz=UTC),
    )


def _riders(
    uow: AbstractDispatchUnitOfWork, hub_id: str, day: date, routes: Sequence[str], pickups: Sequence[Pickup]
) -> list[PlanningRider]:
    """The hub's active riders present that day, with their shift, route history and what they
    already hold: one with a dispatch made by hand is left out (it holds them while active)."""
    attendance = uow.attendance.attendance_for(hub_id, day)
    riders = [r for r in uow.riders.of_hub(hub_id) if r.active and r.id in attendance and attendance[r.id].present]
    by_rider, _ = uow.dispatches.bookings(rider_ids=[r.id for r in riders])
    history: dict[str, Counter[str]] = {}
    for route_id in routes:
        for past in uow.dispatches.history(hub_id, route_id, history_start(day), day):
            history.setdefault(past.rider_id, Counter())[route_id] += 1
    defaults: dict[str, set[str]] = {}
    for pickup in pickups:
        if pickup.default_rider_id:
            defaults.setdefault(pickup.default_rider_id, set()).add(pickup.route_id)
    planning = []
    for rider in riders:
        bookings = by_rider.get(rider.id, [])
        if any(b.end is None for b in bookings):
            continue
        record = attendance[rider.id]
        shift = ShiftWindow(record.shift_start, record.shift_end) if record.shift_start and record.shift_end else None
        ends = [b.end for b in bookings if b.end is not None]
        planning.append(
            PlanningRider(
                id=rider.id,
                route_history=dict(history.get(rider.id, {})),
                default_routes=frozenset(defaults.get(rider.id, ())),
                shift=shift,
                busy_until=max(ends) if ends else None,
            )
        )
    return planning


def _vehicles(uow: AbstractDispatchUnitOfWork, hub_id: str) -> list[PlanningVehicle]:
    vehicles = [v for v in uow.vehicles.of_hub(hub_id) if v.active]
    _, by_vehicle = uow.dispatches.bookings(vehicle_ids=[v.id for v in vehicles])
    planning = []
    for vehicle in vehicles:
        bookings = by_vehicle.get(vehicle.id, [])
        if any(b.end is None for b in bookings):
            continue
        ends = [b.end for b in bookings if b.end is not None]
        planning.append(
            PlanningVehicle(
                id=vehicle.id,
                type=vehicle.type,
                capacity_packages=vehicle.capacity_packages,
                capacity_kg=vehicle.capacity_kg,
                busy_until=max(ends) if ends else None,
            )
        )
    return planning


def _plan_of(
    plan_id: str, problem: PlanningProblem, result: PlanResult, moment: datetime, ttl: timedelta
) -> DispatchPlan:
    ordered = sorted(result.trips, key=lambda t: (t.route_id, t.start, t.rider_id))
    trips = [
        PlanTrip(
            id=f"t{index}",
            route_id=trip.route_id,
            rider_id=trip.rider_id,
            vehicle_id=trip.vehicle_id,
            stops=tuple(PlanStop(stop.pur_id, stop.eta) for stop in trip.stops),
            distance_m=trip.distance_m,
            start=trip.start,
            end=trip.end,
            load=Load(trip.total_packages, trip.total_weight_kg),
            reasons=trip.reasons,
        )
        for index, trip in enumerate(ordered, start=1)
    ]
    return DispatchPlan(
        id=plan_id,
        hub_id=problem.hub_id,
        pickup_date=problem.day,
        trips=trips,
        unplanned=[UnplannedPickup(u.pur_id, u.reason) for u in result.unplanned],
        created_at=moment,
        expires_at=moment + ttl,
        arrival_order_distance_m=result.arrival_order_distance_m,
    )


# -- CommitDispatchPlan ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SkippedTrip:
    trip_id: str
    reason: str


@dataclass(frozen=True)
class Committed:
    dispatches: list[Dispatch]
    skipped: list[SkippedTrip]
    # False when the plan had been committed before: nothing was written.
    created: bool


def commit_dispatch_plan(
    uow: AbstractDispatchUnitOfWork,
    request: CommitRequest,
    *,
    actor: Actor = SERVICE_ACTOR,
    authorize: AuthorizeHub = _anyone,
    now: Clock = utc_now,
    next_id: Callable[[], str] = new_dispatch_id,
    automatic: bool = False,
    reason: str = "",
) -> Committed:
    """Create every trip's dispatch, with its ordered stops, in one transaction. A plan committed
    before returns the dispatches it created. WorldChanged (naming each trip and what changed)
    when a trip no longer holds, unless `only_valid_trips`: then those trips are skipped.
    Auto-dispatch commits with `automatic` and its own `reason` for the pickups' history."""
    moment = now()
    with uow:
        plan = uow.plans.get(request.plan_id)
    if plan is None:
        raise PlanNotFound(f"plan {request.plan_id!r} does not exist or has expired")
    authorize(plan.hub_id)
    if plan.committed:
        return _replay(uow, plan)
    if plan.expired(moment):
        raise PlanNotFound(f"plan {plan.id} expired at {plan.expires_at.isoformat()}; plan again")
    trips = apply_changes(plan, request.changes)
    with uow:
        uow.lock_routes((plan.hub_id, trip.route_id, plan.pickup_date) for trip in trips)
        locked = uow.plans.get(plan.id, for_update=True)
        assert locked is not None, "a stored plan is only deleted once expired"
        if locked.committed:
            return _replay(uow, locked, within=True)
        world = _world(uow, locked, trips)
        accepted, skipped = _check(trips, world)
        if skipped and not request.only_valid_trips:
            raise WorldChanged(
                f"plan {plan.id} no longer holds: "
                + "; ".join(f"trip {s.trip_id}: {s.reason}" for s in skipped)
                + " (plan again, or commit with only_valid_trips)"
            )
        created = [_create(uow, locked, trip, world, moment, next_id(), actor, automatic, reason) for trip in accepted]
        locked.mark_committed({trip.id: d.id for trip, d in zip(accepted, created, strict=True)}, moment)
        uow.plans.mark_committed(locked)
        uow.commit()
    return Committed(created, skipped, created=True)


def _replay(uow: AbstractDispatchUnitOfWork, plan: DispatchPlan, *, within: bool = False) -> Committed:
    def load() -> list[Dispatch]:
        found = [uow.dispatches.get(dispatch_id) for dispatch_id in plan.dispatch_ids.values()]
        return [d for d in found if d is not None]

    if within:
        return Committed(load(), [], created=False)
    with uow:
        return Committed(load(), [], created=False)


def _world(uow: AbstractDispatchUnitOfWork, plan: DispatchPlan, trips: Sequence[PlanTrip]) -> World:
    rider_ids = sorted({t.rider_id for t in trips})
    vehicle_ids = sorted({t.vehicle_id for t in trips})
    # Locked in id order: two commits sharing a rider run one after the other, so the windows
    # each checks are the ones it writes beside.
    riders = {rid: r for rid in rider_ids if (r := uow.riders.get(rid, lock=True)) is not None}
    vehicles = {vid: v for vid in vehicle_ids if (v := uow.vehicles.get(vid, lock=True)) is not None}
    pickups = uow.pickups.get_many([stop.pur_id for t in trips for stop in t.stops], for_update=True)
    attendance = uow.attendance.attendance_for(plan.hub_id, plan.pickup_date)
    by_rider, by_vehicle = uow.dispatches.bookings(rider_ids=rider_ids, vehicle_ids=vehicle_ids)
    return World(
        hub_id=plan.hub_id,
        pickup_date=plan.pickup_date,
        pickups=pickups,
        riders=riders,
        vehicles=vehicles,
        present={rider_id for rider_id, day in attendance.items() if day.present},
        bookings_by_rider=by_rider,
        bookings_by_vehicle=by_vehicle,
    )


def _check(trips: Sequence[PlanTrip], world: World) -> tuple[list[PlanTrip], list[SkippedTrip]]:
    accepted: list[PlanTrip] = []
    skipped: list[SkippedTrip] = []
    for trip in trips:
        problems = trip_problems(trip, world, accepted)
        if problems:
            skipped.append(SkippedTrip(trip.id, "; ".join(problems)))
        else:
            accepted.append(trip)
    return accepted, skipped


def _create(
    uow: AbstractDispatchUnitOfWork,
    plan: DispatchPlan,
    trip: PlanTrip,
    world: World,
    moment: datetime,
    dispatch_id: str,
    actor: Actor,
    automatic: bool = False,
    reason: str = "",
) -> Dispatch:
    new = NewDispatch(
        request_id=dispatch_request_id(plan.id, trip.id),
        hub_id=plan.hub_id,
        route_id=trip.route_id,
        pickup_date=plan.pickup_date,
        rider_id=trip.rider_id,
        vehicle_id=trip.vehicle_id,
        pur_ids=tuple(trip.pur_ids),
    )
    rider, vehicle = world.riders[trip.rider_id], world.vehicles[trip.vehicle_id]
    dispatch = Dispatch.create(dispatch_id, new, rider, vehicle, moment, automatic=automatic)
    dispatch.plan_id = plan.id
    dispatch.stops = [DispatchStop(stop.pur_id, index, stop.eta) for index, stop in enumerate(trip.stops, start=1)]
    dispatch.planned_start, dispatch.planned_end = trip.start, trip.end
    pickups = [world.pickups[pur_id] for pur_id in trip.pur_ids]
    changes = dispatch.add(pickups, moment, automatic=automatic)
    uow.dispatches.add(dispatch)
    uow.pickups.update(pickups, moment)
    why = reason or f"committed from plan {plan.id}"
    uow.publish(dispatch_events(dispatch, changes, moment, actor=actor, reason=why))
    return dispatch


# -- pickups routed after a plan ----------------------------------------------------------------


class PlannedRoom:
    """Whether a planned OPEN dispatch has time for one more pickup routed after its plan: its
    window grows by the stop's service time (fixed + per package; the detour is not estimated) and
    must still end within its rider's shift and before the rider's next planned dispatch. A
    dispatch made by hand has no window: only its capacity counts. Reads are cached per batch."""

    def __init__(self, uow: AbstractDispatchUnitOfWork, settings: PlanningSettings = DEFAULT_SETTINGS) -> None:
        self.uow = uow
        self.settings = settings
        self._shift_ends: dict[tuple[str, date], dict[str, datetime | None]] = {}

    def _service(self, pickup: Pickup) -> timedelta:
        return timedelta(
            seconds=self.settings.service_seconds_per_stop + self.settings.service_seconds_per_package * pickup.packages
        )

    def _shift_end(self, dispatch: Dispatch) -> datetime | None:
        key = (dispatch.hub_id, dispatch.pickup_date)
        if key not in self._shift_ends:
            hub = self.uow.hubs.get(dispatch.hub_id)
            default = None
            if hub is not None:
                zone = ZoneInfo(hub.timezone)
                start = datetime.combine(dispatch.pickup_date, self.settings.day_start, tzinfo=zone)
                default = datetime.combine(dispatch.pickup_date, self.settings.day_end, tzinfo=zone)
                if default <= start:
                    default += timedelta(days=1)
            days = self.uow.attendance.attendance_for(*key)
            ends: dict[str, datetime | None] = {rider_id: day.shift_end or default for rider_id, day in days.items()}
            ends[""] = default
            self._shift_ends[key] = ends
        ends = self._shift_ends[key]
        return ends.get(dispatch.rider_id, ends[""])

    def allows(self, dispatch: Dispatch, pickup: Pickup) -> bool:
        if dispatch.planned_end is None:
            return True
        new_end = dispatch.planned_end + self._service(pickup)
        shift_end = self._shift_end(dispatch)
        if shift_end is not None and new_end > shift_end:
            return False
        by_rider, _ = self.uow.dispatches.bookings(rider_ids=[dispatch.rider_id])
        return not any(
            b.dispatch_id != dispatch.id and b.start is not None and dispatch.planned_end <= b.start < new_end
            for b in by_rider.get(dispatch.rider_id, [])
        )

    def take(self, dispatch: Dispatch, pickup: Pickup) -> None:
        """The dispatch's window after `pickup` joins it."""
        if dispatch.planned_end is not None:
            dispatch.planned_end += self._service(pickup)
