"""What routing_svc announces, as plain values snapshotted when the use case publishes them
(adapters.messages turns them into outbox rows)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from routing_svc.domain.model import LookupResult, RouteRecord


class MapChangeKind(enum.Enum):
    UPSERT = "upsert"
    DELETE = "delete"
    IMPORT = "import"


@dataclass(frozen=True, slots=True)
class RouteSummary:
    """What other services keep of a route (their read models of names, riders, activity)."""

    id: str
    name: str
    default_rider_id: str
    active: bool
    priority: int

    @classmethod
    def of(cls, record: RouteRecord) -> RouteSummary:
        return cls(record.id, record.name, record.default_rider_id or "", record.active, record.priority)


@dataclass(frozen=True, slots=True)
class RouteMapChanged:
    """A hub's map has a new version; `changed_route_ids` are sorted. `routes` are the routes
    the change created or replaced, `deleted_route_ids` those it deleted (both sorted by id)."""

    hub_id: str
    previous_map_version: int
    map_version: int
    kind: MapChangeKind
    changed_route_ids: tuple[str, ...]
    changed_at: datetime
    routes: tuple[RouteSummary, ...] = ()
    deleted_route_ids: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class PickupRouted:
    """The routing decision for one pickup request (a route, or unroutable with the reason)."""

    pur_id: str
    attempt: int
    result: LookupResult
    decided_at: datetime
