"""dispatch_svc's inputs built for tests: the PUR news it applies (pur.events.v1 as `PurSnapshot`)
and what CreateDispatch asks for (`NewDispatch`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from dispatch_svc.domain.hubs import AttendanceChange, Presence
from dispatch_svc.domain.model import NewDispatch, PickupStatus, PurSnapshot, RouteMatch

LAT, LNG = 12.9, 77.6


def pur_snapshot(
    pur_id: str,
    version: int = 2,
    *,
    hub: str,
    day: date,
    status: PickupStatus = PickupStatus.ROUTED,
    route: str = "R1",
    packages: int = 3,
    weight: float = 4.0,
    rider: str = "",
    route_match: RouteMatch | None = RouteMatch.EXACT,
) -> PurSnapshot:
    """PUR `pur_id` at `version`, by default routed to R1 of `hub` for `day` with 3 packages / 4 kg."""
    return PurSnapshot(
        pur_id,
        version,
        status,
        hub,
        route,
        day,
        client_id="c1",
        warehouse_name="WH",
        lat=LAT,
        lng=LNG,
        packages=packages,
        weight_kg=weight,
        route_match=route_match,
        rider_id=rider,
    )


def new_dispatch(request_id: str = "req-1", *, hub: str, day: date, route: str = "R1", **fields: Any) -> NewDispatch:
    """A dispatch of `route`; `fields` name its rider_id, vehicle_id or pur_ids, else the use case
    recommends them and takes the queue."""
    return NewDispatch(request_id=request_id, hub_id=hub, route_id=route, pickup_date=day, **fields)


def attendance_change(
    rider: str, status: Presence, *, hub: str, day: date, at: datetime, minute: int = 0, **fields: Any
) -> AttendanceChange:
    """An attendance.events.v1 change as dispatch_svc reads it: `rider` became `status` at `at` + `minute`."""
    values = {
        "rider_id": rider,
        "hub_id": hub,
        "day": day,
        "status": status,
        "changed_at": at + timedelta(minutes=minute),
    }
    return AttendanceChange(**(values | fields))
