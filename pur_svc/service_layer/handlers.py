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
from pur_svc.domain.model import DispatchChange, MapChange, NewPickup, PickupRequest, RouteAssignment
from pur_svc.service_layer.repositories import PageCursor, PickupFilter
from pur_svc.service_layer.unit_of_work import AbstractPurUnitOfWork

Clock = Callable[[], datetime]


def new_pur_id() -> str:
    return new_id("pur")


@contextlib.contextmanager
def batch_item(index: int | None) -> Iterator[None]:
    """An error raised inside names the batch item it is about ("requests[3]: ..."), keeping its
    kind; `None` for a request that is not one of several."""
    try:
        yield
    except MeshError as exc:
        if index is None:
            raise
        raise type(exc)(f"requests[{index}]: {exc}") from None


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
    now: Clock = utc_now,
    new_id: Callable[[], str] = new_pur_id,
) -> list[Created]:
    """Create PURs idempotently, all or none. The same (client_id, request_id) with the same body
    returns the existing PUR; with a different body it is ALREADY_EXISTS. Errors name the item."""
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
        fresh = {key: PickupRequest.create(new_id(), requests[index], moment) for key, index in first_seen.items()}
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


def cancel_pickup(
    uow: AbstractPurUnitOfWork,
    pur_id: str,
    reason: str,
    *,
    authorize: Callable[[PickupRequest], None] = lambda pur: None,
    now: Clock = utc_now,
) -> PickupRequest:
    """Cancel one PUR; `authorize` raises when the caller may not touch it (nothing is written)."""
    moment = now()
    with uow:
        pur = uow.pickups.get(pur_id, for_update=True)
        if pur is None:
            raise NotFound(f"pickup request {pur_id!r} does not exist")
        authorize(pur)
        if pur.cancel(reason, moment):
            uow.pickups.update([pur])
            uow.publish([status_changed(pur, moment)])
            uow.commit()
    return pur


def apply_route_assignments(
    uow: AbstractPurUnitOfWork, assignments: Sequence[RouteAssignment], *, now: Clock = utc_now
) -> int:
    """Record routing's answers in one transaction; duplicates, stale map versions and PURs that
    moved on change nothing. Returns how many PURs changed."""
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
            if pur.apply_route_assignment(assignment, moment):
                changed[pur.id] = pur
                events.append(status_changed(pur, moment, previous_route_id=previous_route))
        uow.pickups.update(list(changed.values()))
        uow.publish(events)
        uow.commit()
    return len(changed)


def apply_map_change(uow: AbstractPurUnitOfWork, change: MapChange, *, now: Clock = utc_now) -> int:
    """A hub's route map changed: ask routing_svc to route its undispatched PURs again against
    the new version. One transaction, so a crash half way re-runs the whole change on redelivery.
    Returns how many PURs were sent for re-routing."""
    moment = now()
    with uow:
        if not uow.pickups.record_hub_map(change.hub_id, change.map_version, moment):
            return 0
        stale = uow.pickups.needing_reroute(change.hub_id, change.map_version)
        uow.publish(
            routing_requested(p, RoutingReason.MAP_CHANGED, moment, min_map_version=change.map_version) for p in stale
        )
        uow.commit()
    return len(stale)


def apply_dispatch_changes(
    uow: AbstractPurUnitOfWork, changes: Sequence[DispatchChange], *, now: Clock = utc_now
) -> int:
    """Follow dispatch_svc's news in one transaction: PURs become DISPATCHED, go back to ROUTED
    when released, become PICKED_UP. Events older than one applied change nothing. Returns how
    many PURs changed status."""
    moment = now()
    with uow:
        purs = uow.pickups.get_many_for_update(c.pur_id for c in changes)
        touched: dict[str, PickupRequest] = {}
        events: list[StatusChanged] = []
        for change in sorted(changes, key=lambda c: c.version):
            pur = purs.get(change.pur_id)
            if pur is None:
                continue
            status_before = pur.status
            if pur.apply_dispatch_change(change, moment):
                touched[pur.id] = pur
                if pur.status is not status_before:
                    events.append(status_changed(pur, moment, previous_route_id=pur.route_id))
        uow.pickups.update(list(touched.values()))
        uow.publish(events)
        uow.commit()
    return len(events)
