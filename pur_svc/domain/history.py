"""A PUR's history: who changed it, why, and what it was right after each change.

Pure domain. A `PickupRequest` records one `HistoryEntry` per change as it happens; the
repository stores the entries it holds whenever it writes the PUR, so each entry commits in the
transaction of the change it records.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mesh.kernel import Actor, PickupStatus, RouteMatch

SERVICE_ROLE = Actor.SERVICE_ROLE
MAX_ACTOR_SUBJECT = 200


PUR_SVC = Actor.service("pur_svc")
ROUTING_SVC = Actor.service("routing_svc")
DISPATCH_SVC = Actor.service("dispatch_svc")


@dataclass(frozen=True)
class HistoryEntry:
    """One change of a PUR: its state right after the change, who made it and why. `version` is
    the PUR's revision after the change, so a PUR's entries are ordered by it."""

    pur_id: str
    version: int
    time: datetime
    status: PickupStatus
    route_id: str
    rider_id: str
    dispatch_id: str
    route_match: RouteMatch | None
    map_version: int
    actor: Actor
    reason: str


def with_detail(what: str, detail: str) -> str:
    """`what` happened, followed by the words a person or service gave, if any."""
    return f"{what}: {detail}" if detail else what
