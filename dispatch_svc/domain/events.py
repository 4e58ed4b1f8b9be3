"""dispatch_svc's domain events: what its use cases publish, before anything knows about Kafka.

Each event is a frozen snapshot taken when the change is made, so later changes to the dispatch
within the same transaction cannot alter what an earlier event says.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime

from dispatch_svc.domain.model import ChangeKind, Dispatch, DispatchStatus, PickupChange, ReleaseReason


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
    automatic: bool = False
    release_reason: ReleaseReason | None = None
    detail: str = ""


def dispatch_events(dispatch: Dispatch, changes: Iterable[PickupChange], occurred_at: datetime) -> list[DispatchEvent]:
    """The events of `changes`, just made to `dispatch`."""
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
            automatic=change.automatic,
            release_reason=change.release_reason,
            detail=change.detail,
        )
        for change in changes
    ]
