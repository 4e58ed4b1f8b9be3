"""dispatch_svc's domain events: what its use cases publish, before anything knows about Kafka.

Each event is a frozen snapshot taken when the change is made, so later changes to the dispatch
within the same transaction cannot alter what an earlier event says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from dispatch_svc.domain.model import Actor, ChangeKind, Dispatch, DispatchStatus, PickupChange, ReleaseReason


@dataclass(frozen=True)
class DispatchEvent:
    """One pickup's change in a dispatch, with the dispatch as it was right after the change
    (published keyed by the PUR id on dispatch.events.v1)."""

    pur_id: str
    kind: ChangeKind
    version: int
    dispatch_id: str
    hub_id: str
    route_id: str
    pickup_date: date
    rider_id: str
    vehicle_id: str
    dispatch_status: DispatchStatus
    occurred_at: datetime
    # Who made the change (a caller, or dispatch_svc on its own) and why, in words.
    actor: Actor
    reason: str
    automatic: bool = False
    release_reason: ReleaseReason | None = None
    detail: str = ""
    previous_rider_id: str = ""
    previous_vehicle_id: str = ""
    moved_from_dispatch_id: str = ""


def dispatch_events(
    dispatch: Dispatch, changes: Iterable[PickupChange], occurred_at: datetime, *, actor: Actor, reason: str
) -> list[DispatchEvent]:
    """The events of `changes`, just made to `dispatch` by `actor` for `reason`."""
    return [
        DispatchEvent(
            pur_id=change.pur_id,
            kind=change.kind,
            version=change.version,
            dispatch_id=dispatch.id,
            hub_id=dispatch.hub_id,
            route_id=dispatch.route_id,
            pickup_date=dispatch.pickup_date,
            rider_id=dispatch.rider_id,
            vehicle_id=dispatch.vehicle_id,
            dispatch_status=dispatch.status,
            occurred_at=occurred_at,
            actor=actor,
            reason=reason,
            automatic=change.automatic,
            release_reason=change.release_reason,
            detail=change.detail,
            previous_rider_id=change.previous_rider_id,
            previous_vehicle_id=change.previous_vehicle_id,
            moved_from_dispatch_id=change.moved_from_dispatch_id,
        )
        for change in changes
    ]
