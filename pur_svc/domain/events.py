"""What pur_svc tells the rest of the mesh, as plain domain facts.

Each event holds a copy of the PUR taken when it was published: a batch may change the same PUR
twice before its transaction commits, and each event must still say what that change made of it.
The adapters turn these into protobuf messages on Kafka topics (`pur_svc.adapters.messages`).
"""

from __future__ import annotations

import copy
import enum
from dataclasses import dataclass
from datetime import datetime

from pur_svc.domain.model import PickupRequest, PickupStatus


class RoutingReason(enum.Enum):
    CREATED = "CREATED"
    MAP_CHANGED = "MAP_CHANGED"


@dataclass(frozen=True)
class RoutingRequested:
    """routing_svc should route this PUR (again), against a map at least `min_map_version`."""

    pickup: PickupRequest
    reason: RoutingReason
    requested_at: datetime
    min_map_version: int = 0


@dataclass(frozen=True)
class StatusChanged:
    """The PUR changed; `pickup.version` orders a PUR's changes."""

    pickup: PickupRequest
    previous_status: PickupStatus | None
    changed_at: datetime
    previous_route_id: str = ""


def created(pur: PickupRequest, now: datetime) -> tuple[RoutingRequested, StatusChanged]:
    """A new PUR asks to be routed and announces itself; both events share one copy of it."""
    snapshot = copy.copy(pur)
    return RoutingRequested(snapshot, RoutingReason.CREATED, now), StatusChanged(snapshot, None, now)


def routing_requested(
    pur: PickupRequest, reason: RoutingReason, now: datetime, *, min_map_version: int = 0
) -> RoutingRequested:
    return RoutingRequested(copy.copy(pur), reason, now, min_map_version)


def status_changed(pur: PickupRequest, now: datetime, *, previous_route_id: str = "") -> StatusChanged:
    return StatusChanged(copy.copy(pur), pur.previous_status, now, previous_route_id)
