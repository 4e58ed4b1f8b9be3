"""The PUR news dispatch_svc applies (pur.events.v1 as `PurSnapshot`), built for tests."""

from __future__ import annotations

from datetime import date

from dispatch_svc.domain.model import PickupStatus, PurSnapshot, RouteMatch

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
        pur_id=pur_id,
        version=version,
        status=status,
        hub_id=hub,
        route_id=route,
        pickup_date=day,
        client_id="c1",
        warehouse_name="WH",
        lat=LAT,
        lng=LNG,
        packages=packages,
        weight_kg=weight,
        route_match=route_match,
        rider_id=rider,
    )
