"""Use cases of hubs (UpsertHub) and of the attendance read model (attendance.events.v1).

A rider who becomes ABSENT, ON_LEAVE or CHECKED_OUT for a day loses that day's OPEN dispatches:
each is cancelled ("released") with the reason in words, its pickups go back to their route's
queue, and the reason reaches each PUR's history through DispatchEvent.reason. An IN_PROGRESS
dispatch is left alone: the rider is already out with it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime

from dispatch_svc.domain.events import dispatch_events
from dispatch_svc.domain.hubs import AttendanceChange, Hub
from dispatch_svc.domain.model import SERVICE_ACTOR, Dispatch, DispatchStatus
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from dispatch_svc.service_layer.views import DispatchFilter
from mesh.kernel import utc_now

Clock = Callable[[], datetime]
# More OPEN dispatches than this for one rider and day is not a plan (the planner's trips per
# rider are a handful); the rest are released by the next change.
MAX_RELEASED_PER_RIDER = 100


def upsert_hub(uow: AbstractDispatchUnitOfWork, hub: Hub, *, now: Clock = utc_now) -> bool:
    """Create or replace a hub; True when it was created."""
    with uow:
        created = uow.hubs.upsert(hub, now())
        uow.commit()
    return created


def release_reason(change: AttendanceChange) -> str:
    words = change.status.value.lower().replace("_", " ")
    return f"rider {change.rider_id} is {words} on {change.day.isoformat()}: dispatch released"


def apply_attendance_changes(
    uow: AbstractDispatchUnitOfWork, changes: Sequence[AttendanceChange], *, now: Clock = utc_now
) -> list[str]:
    """Store a batch of attendance changes (an older change of a rider's day than the stored one
    changes nothing) and release the OPEN dispatches of every rider whose day is now gone, all in
    one transaction. Returns the ids of the released dispatches."""
    moment = now()
    latest: dict[tuple[str, date], AttendanceChange] = {}
    with uow:
        for change in sorted(changes, key=lambda c: c.changed_at):
            if uow.attendance.apply(change, moment):
                latest[(change.rider_id, change.day)] = change
        gone = [change for _, change in sorted(latest.items()) if change.status.gone]
        released = _release(uow, gone, moment)
        uow.commit()
    return released


def _open_dispatches_of(uow: AbstractDispatchUnitOfWork, change: AttendanceChange) -> list[Dispatch]:
    rider = uow.riders.get(change.rider_id)
    hubs = sorted({change.hub_id} | ({rider.hub_id} if rider is not None else set()))
    found: list[Dispatch] = []
    for hub_id in hubs:
        where = DispatchFilter(
            hub_id=hub_id, pickup_date=change.day, rider_id=change.rider_id, status=DispatchStatus.OPEN
        )
        found.extend(uow.dispatches.list(where, MAX_RELEASED_PER_RIDER, None))
    return found


def _release(uow: AbstractDispatchUnitOfWork, gone: list[AttendanceChange], moment: datetime) -> list[str]:
    candidates = {d.id: (d, change) for change in gone for d in _open_dispatches_of(uow, change)}
    if not candidates:
        return []
    uow.lock_routes(d.route_key() for d, _ in candidates.values())
    released: list[str] = []
    for dispatch_id, (_, change) in sorted(candidates.items()):
        dispatch = uow.dispatches.get(dispatch_id, for_update=True)
        # Re-read under the route's lock: it may have started, ended or changed rider meanwhile.
        if dispatch is None or dispatch.status is not DispatchStatus.OPEN or dispatch.rider_id != change.rider_id:
            continue
        found = uow.pickups.get_many(dispatch.pur_ids, for_update=True)
        members = [found[p] for p in dispatch.pur_ids if p in found]
        reason = release_reason(change)
        pickup_changes = dispatch.cancel(members, reason, moment) or []
        uow.pickups.update(members, moment)
        uow.dispatches.update(dispatch)
        uow.publish(dispatch_events(dispatch, pickup_changes, moment, actor=SERVICE_ACTOR, reason=reason))
        released.append(dispatch.id)
    return released
