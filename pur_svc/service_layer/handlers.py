"""pur_svc's use cases. Each runs in one unit of work: the rows it changes and the events it
emits commit together or not at all."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from mesh.errors import AlreadyExists, InvalidArgument, MeshError, NotFound
from mesh.kernel import new_id, utc_now
from pur_svc.domain.events import RoutingReason, StatusChanged, created, routing_requested, status_changed
from pur_svc.domain.history import PUR_SVC, Actor, HistoryEntry
from pur_svc.domain.model import (
    DEFAULT_REVIEW_DISTANCE_M,
    DispatchChange,
    MapChange,
    NewPickup,
    PickupRequest,
    RouteAssignment,
)
from pur_svc.service_layer.repositories import ManualQueueFilter, PageCursor, PickupFilter, ReroutePosition
from pur_svc.service_layer.unit_of_work import AbstractPurUnitOfWork

Clock = Callable[[], datetime]

# PURs sent for re-routing per transaction after a map change (PUR_SVC_REROUTE_BATCH_SIZE).
DEFAULT_REROUTE_BATCH_SIZE = 500


def new_pur_id() -> str:
    return new_id("pur")


@contextlib.contextmanager
def batch_item(index: int | None, field: str = "requests") -> Iterator[None]:
    """An error raised inside names the batch item it is about ("requests[3]: ..."), keeping its
    kind; `None` for a request that is not one of several."""
    try:
        yield
    except MeshError as exc:
        if index is None:
            raise
        raise type(exc)(f"{field}[{index}]: {exc}") from None


def _item(requests: Sequence[NewPickup], index: int) -> contextlib.AbstractContextManager[None]:
    # A single request's errors need no "requests[i]: " to say which one they are about.
    return batch_item(None if len(requests) == 1 else index)


def _first_of_each_key(requests: Sequence[NewPickup], today: date) -> dict[tuple[str, str], int]:
    """Where each (client_id, request_id) first appears in a batch, after checking every date and
    refusing a key repeated with another body."""
    first_seen: dict[tuple[str, str], int] = {}
    for index, request in enumerate(requests):
        with _item(requests, index):
            request.check_date(today)
            key = (request.client_id, request.request_id)
            if key in first_seen and requests[first_seen[key]].fingerprint() != request.fingerprint():
                raise InvalidArgument(
                    f"request_id {request.request_id!r} repeats requests[{first_seen[key]}] with a different body"
                )
            first_seen.setdefault(key, index)
    return first_seen


@dataclass(frozen=True)
class Created:
    pickup: PickupRequest
    created: bool


def create_pickups(
    uow: AbstractPurUnitOfWork,
    requests: Sequence[NewPickup],
    *,
    actor: Actor = PUR_SVC,
    now: Clock = utc_now,
    new_id: Callable[[], str] = new_pur_id,
) -> list[Created]:
    """Create PURs idempotently, all or none. The same (client_id, request_id) with the same body
    returns the existing PUR; with a different body it is ALREADY_EXISTS. Errors name the item.
    `actor` (the caller) is recorded as the creator in each new PUR's history."""
    moment = now()
    first_seen = _first_of_each_key(requests, moment.date())
    with uow:
        known = uow.known_hubs(r.hub_id for r in requests)
        for index, request in enumerate(requests):
            if request.hub_id and request.hub_id not in known:
                with _item(requests, index):
                    raise NotFound(f"hub {request.hub_id!r} is unknown (no route map has been published for it)")

        # Insert first and read back only the keys that were taken: a new request (the usual
        # case) costs one statement, a retried one two.
        fresh = {
            key: PickupRequest.create(new_id(), requests[index], moment, actor) for key, index in first_seen.items()
        }
        inserted = uow.pickups.insert_new(list(fresh.values()))
        taken = [key for key, pur in fresh.items() if pur.id not in inserted]
        existing = uow.pickups.by_request_ids(taken) if taken else {}
        results: list[Created] = []
        for index, request in enumerate(requests):
            key = (request.client_id, request.request_id)
            pur = fresh.get(key)
            if pur is not None and pur.id in inserted:
                results.append(Created(pur, created=first_seen[key] == index))
                continue
            stored = existing[key]
            if stored.request_fingerprint != request.fingerprint():
                with _item(requests, index):
                    raise AlreadyExists(
                        f"request_id {request.request_id!r} was already used for a different pickup request ({stored.id})"
                    )
            results.append(Created(stored, created=False))
        new = [fresh[k] for k in fresh if fresh[k].id in inserted]
        uow.publish(event for p in new for event in created(p, moment))
        uow.commit()
    return results


def pickup_history(
    uow: AbstractPurUnitOfWork, pur_id: str, *, authorize: Callable[[PickupRequest], None] = lambda pur: None
) -> list[HistoryEntry]:
    """Every change of one PUR, oldest first; `authorize` raises when the caller may not see it."""
    with uow:
        pur = uow.pickups.get(pur_id)
        if pur is None:
            raise NotFound(f"pickup request {pur_id!r} does not exist")
        authorize(pur)
        return uow.pickups.history(pur_id)


def get_pickup(uow: AbstractPurUnitOfWork, pur_id: str) -> PickupRequest:
    with uow:
        pur = uow.pickups.get(pur_id)
    if pur is None:
        raise NotFound(f"pickup request {pur_id!r} does not exist")
    return pur


def list_pickups(
    uow: AbstractPurUnitOfWork, where: PickupFilter, page_size: int, after: PageCursor | None
) -> tuple[list[PickupRequest], PageCursor | None]:
    with uow:
        rows = uow.pickups.list_page(where, page_size + 1, after)
    page, more = rows[:page_size], len(rows) > page_size
    return page, (PageCursor(page[-1].created_at, page[-1].id) if more else None)


def list_manual_queue(
    uow: AbstractPurUnitOfWork, where: ManualQueueFilter, page_size: int, after: PageCursor | None
) -> tuple[list[PickupRequest], PageCursor | None]:
    with uow:
        rows = uow.pickups.list_manual_queue(where, page_size + 1, after)
    page, more = rows[:page_size], len(rows) > page_size
    return page, (PageCursor(page[-1].created_at, page[-1].id) if more else None)


@dataclass(frozen=True)
class ManualAssignment:
    """A team lead's choice of route for one PUR, and why."""

    pur_id: str
    route_id: str
    reason: str


def assign_routes(
    uow: AbstractPurUnitOfWork,
    assignments: Sequence[ManualAssignment],
    *,
    authorize: Callable[[PickupRequest], None] = lambda pur: None,
    actor: Actor = PUR_SVC,
    now: Clock = utc_now,
) -> list[PickupRequest]:
    """Route PURs by hand, all or nothing; returns them in request order. Each PUR is checked by
    `authorize` (which raises when the caller may not touch it) before its route is looked up,
    then against the route read model: an unknown or deleted route is NOT_FOUND, one of another
    hub or inactive FAILED_PRECONDITION. An assignment already in force changes nothing. With
    several assignments, an error names the item ("assignments[2]: ...")."""
    moment = now()
    first_seen: dict[str, int] = {}
    for index, assignment in enumerate(assignments):
        if assignment.pur_id in first_seen:
            raise InvalidArgument(
                f"assignments[{index}]: pickup request {assignment.pur_id!r} repeats "
                f"assignments[{first_seen[assignment.pur_id]}]"
            )
        first_seen[assignment.pur_id] = index
    with uow:
        purs = uow.pickups.get_many_for_update(a.pur_id for a in assignments)
        routes = uow.routes.get_many(a.route_id for a in assignments)
        map_versions = uow.pickups.hub_map_versions({r.hub_id for r in routes.values()})
        changed: list[PickupRequest] = []
        events: list[StatusChanged] = []
        for index, assignment in enumerate(assignments):
            with batch_item(index if len(assignments) > 1 else None, "assignments"):
                pur = purs.get(assignment.pur_id)
                if pur is None:
                    raise NotFound(f"pickup request {assignment.pur_id!r} does not exist")
                authorize(pur)
                route = routes.get(assignment.route_id)
                if route is None:
                    raise NotFound(f"route {assignment.route_id!r} does not exist")
                previous_route = pur.route_id
                if pur.assign_manually(route, map_versions.get(route.hub_id, 0), assignment.reason, moment, actor):
                    changed.append(pur)
                    events.append(status_changed(pur, moment, previous_route_id=previous_route))
        uow.pickups.update(changed)
        uow.publish(events)
        uow.commit()
    return [purs[a.pur_id] for a in assignments]


def cancel_pickup(
    uow: AbstractPurUnitOfWork,
    pur_id: str,
    reason: str,
    *,
    authorize: Callable[[PickupRequest], None] = lambda pur: None,
    actor: Actor = PUR_SVC,
    now: Clock = utc_now,
) -> PickupRequest:
    """Cancel one PUR; `authorize` raises when the caller may not touch it (nothing is written)."""
    moment = now()
    with uow:
        pur = uow.pickups.get(pur_id, for_update=True)
        if pur is None:
            raise NotFound(f"pickup request {pur_id!r} does not exist")
        authorize(pur)
        if pur.cancel(reason, moment, actor):
            uow.pickups.update([pur])
            uow.publish([status_changed(pur, moment)])
            uow.commit()
    return pur


def apply_route_assignments(
    uow: AbstractPurUnitOfWork,
    assignments: Sequence[RouteAssignment],
    *,
    review_distance_m: float = DEFAULT_REVIEW_DISTANCE_M,
    now: Clock = utc_now,
) -> int:
    """Record routing's answers in one transaction; duplicates, stale map versions, PURs that
    moved on and PURs routed by hand change nothing. Unroutable PURs, and those farther than
    `review_distance_m` from their nearest route, go to the manual queue. Returns how many PURs
    changed."""
    moment = now()
    with uow:
        purs = uow.pickups.get_many_for_update(a.pur_id for a in assignments)
        changed: dict[str, PickupRequest] = {}
        events: list[StatusChanged] = []
        for assignment in assignments:
            pur = purs.get(assignment.pur_id)
            if pur is None:
                continue
            previous_route = pur.route_id
            if pur.apply_route_assignment(assignment, moment, review_distance_m):
                changed[pur.id] = pur
                events.append(status_changed(pur, moment, previous_route_id=previous_route))
        uow.pickups.update(list(changed.values()))
        uow.publish(events)
        uow.commit()
    return len(changed)


def apply_map_change(
    uow: AbstractPurUnitOfWork,
    change: MapChange,
    *,
    batch_size: int = DEFAULT_REROUTE_BATCH_SIZE,
    now: Clock = utc_now,
) -> int:
    """A hub's route map changed (or one part of the change arrived): keep the part's routes and
    deletions in the route read model, send the PURs a team lead had routed to a deleted route
    back to the manual queue and record the hub's new map version, in one transaction; then,
    once per map version whatever the number of parts, ask routing_svc to route the hub's
    undispatched PURs again against the new version (`reroute`). A redelivered change (a crash
    half way) re-applies its part and finishes the re-routing where it stopped. Returns how many
    PURs were sent for re-routing."""
    moment = now()
    with uow:
        uow.routes.upsert(change.routes, change.map_version, moment)
        deleted = uow.routes.delete(change.hub_id, change.deleted_route_ids, change.map_version, moment)
        orphaned = _return_to_queue(uow, deleted, change.map_version, moment)
        uow.pickups.record_hub_map(change.hub_id, change.map_version, moment)
        uow.publish(orphaned)
        uow.commit()
    return reroute(uow, change.hub_id, change.map_version, batch_size=batch_size, now=now)


def reroute(
    uow: AbstractPurUnitOfWork,
    hub_id: str,
    map_version: int,
    *,
    batch_size: int = DEFAULT_REROUTE_BATCH_SIZE,
    now: Clock = utc_now,
) -> int:
    """Ask routing_svc to route again, against map `map_version`, the hub's PURs it may change:
    undispatched, not routed by hand, for today or later (`reroute_candidates`). In batches of
    at most `batch_size`, each its own short transaction with its events, which also records
    how far the re-routing got: run again after a crash, it goes on from there; once done, or
    once a newer map superseded this one, it sends nothing. Returns how many PURs were sent."""
    sent = 0
    while True:
        moment = now()
        with uow:
            position = uow.pickups.reroute_position(hub_id, map_version)
            if position is None:
                return sent
            batch = uow.pickups.reroute_candidates(hub_id, map_version, position, moment.date(), batch_size)
            done = len(batch) < batch_size
            uow.pickups.record_reroute_position(
                hub_id, None if done else ReroutePosition(batch[-1].pickup_date, batch[-1].id)
            )
            uow.publish(
                routing_requested(p, RoutingReason.MAP_CHANGED, moment, min_map_version=map_version) for p in batch
            )
            uow.commit()
        sent += len(batch)
        if done:
            return sent


def _return_to_queue(
    uow: AbstractPurUnitOfWork, deleted_route_ids: Sequence[str], map_version: int, now: datetime
) -> list[StatusChanged]:
    """The undispatched PURs routed by hand to a deleted route go back to the manual queue."""
    if not deleted_route_ids:
        return []
    changed: list[PickupRequest] = []
    events: list[StatusChanged] = []
    for pur in uow.pickups.manual_on_routes(deleted_route_ids):
        previous_route = pur.route_id
        if pur.lose_manual_route(map_version, now):
            changed.append(pur)
            events.append(status_changed(pur, now, previous_route_id=previous_route))
    uow.pickups.update(changed)
    return events


def apply_dispatch_changes(
    uow: AbstractPurUnitOfWork, changes: Sequence[DispatchChange], *, now: Clock = utc_now
) -> int:
    """Follow dispatch_svc's news in one transaction: PURs become DISPATCHED with the dispatch's
    rider, follow its rider changes, go back to ROUTED (and the route's rider) when released,
    become PICKED_UP. Events older than one applied change nothing. Returns how many changes
    were made (each has its status-change event and history entry)."""
    moment = now()
    with uow:
        purs = uow.pickups.get_many_for_update(c.pur_id for c in changes)
        touched: dict[str, PickupRequest] = {}
        events: list[StatusChanged] = []
        for change in sorted(changes, key=lambda c: c.version):
            pur = purs.get(change.pur_id)
            if pur is None:
                continue
            version_before = pur.version
            if pur.apply_dispatch_change(change, moment):
                touched[pur.id] = pur
                if pur.version != version_before:
                    events.append(status_changed(pur, moment, previous_route_id=pur.route_id))
        uow.pickups.update(list(touched.values()))
        uow.publish(events)
        uow.commit()
    return len(events)
