"""Pickup requests as pur_svc's use cases take them (`NewPickup`), built for tests."""

from __future__ import annotations

from datetime import date

from pur_svc.domain.model import Location, NewPickup, Warehouse


def new_pickup(
    request_id: str = "r1", *, client: str, hub: str, day: date, lat: float = 12.97, packages: int = 3
) -> NewPickup:
    """Client `client`'s request `request_id`: `packages` packages (2.5 kg) from Seller One's
    warehouse in `hub`, for `day`."""
    return NewPickup(
        request_id=request_id,
        client_id=client,
        hub_id=hub,
        warehouse=Warehouse("wh-1", "Seller One", "1 MG Road", "560001", Location(lat, 77.59)),
        pickup_date=day,
        expected_packages=packages,
        expected_weight_kg=2.5,
    )
