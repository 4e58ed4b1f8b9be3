"""What routing_svc announces, as plain values snapshotted when the use case publishes them
(adapters.messages turns them into outbox rows)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from routing_svc.domain.model import LookupResult


class MapChangeKind(enum.Enum):
    UPSERT = "upsert"
    DELETE = "delete"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class RouteMapChanged:
    """A hub's map has a new version; `changed_route_ids` are sorted."""

    hub_id: str
    previous_map_version: int
    map_version: int
    kind: MapChangeKind
    changed_route_ids: tuple[str, ...]
    changed_at: datetime


@dataclass(frozen=True, slots=True)
class PickupRouted:
    """The routing decision for one pickup request (a route, or unroutable with the reason)."""

    pur_id: str
    attempt: int
    result: LookupResult
    decided_at: datetime
