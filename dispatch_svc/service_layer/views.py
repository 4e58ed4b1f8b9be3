"""Read models and query parameters the use cases hand between repositories and entrypoints."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NamedTuple

from dispatch_svc.domain.model import Dispatch, DispatchStatus


class OpenPickupRow(NamedTuple):
    """One listed pickup (ListOpenPickupsByRoute's read model). Plain values straight from the
    row, so that listing tens of thousands stays cheap: `status` and `route_match` are the
    PickupStatus / RouteMatch values as stored, `dispatch_id` is None while queued."""

    pur_id: str
    client_id: str
    warehouse_name: str
    lat: float
    lng: float
    packages: int
    weight_kg: float
    status: str
    dispatch_id: str | None
    route_match: str | None


@dataclass
class RouteGroupView:
    route_id: str
    pur_count: int
    packages: int
    weight_kg: float
    queued_count: int
    pickups: list[OpenPickupRow]
    open_dispatch: Dispatch | None = None
    # From the route read model; empty while routing_svc's summary has not arrived.
    route_name: str = ""


@dataclass(frozen=True)
class DispatchFilter:
    hub_id: str
    route_id: str = ""
    pickup_date: date | None = None
    rider_id: str = ""
    status: DispatchStatus | None = None


@dataclass(frozen=True)
class DispatchCursor:
    """Position after the last row of a page: rows are ordered by (created_at, id) descending."""

    created_at: datetime
    id: str
