"""Vehicles in `dispatch.vehicles`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import vehicles
from dispatch_svc.adapters.repositories.by_id import lock_id, upsert
from dispatch_svc.domain.model import Vehicle, VehicleType
from dispatch_svc.service_layer.repositories import AbstractVehicleRepository


def _vehicle(row: Any) -> Vehicle:
    return Vehicle(
        id=row.id,
        hub_id=row.hub_id,
        type=VehicleType(row.type),
        capacity_packages=row.capacity_packages,
        capacity_kg=row.capacity_kg,
        registration=row.registration,
        active=row.active,
    )


class SqlAlchemyVehicleRepository(AbstractVehicleRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, vehicle: Vehicle, now: datetime) -> bool:
        values = {
            "id": vehicle.id,
            "hub_id": vehicle.hub_id,
            "type": vehicle.type.value,
            "capacity_packages": vehicle.capacity_packages,
            "capacity_kg": vehicle.capacity_kg,
            "registration": vehicle.registration,
            "active": vehicle.active,
        }
        return upsert(self.session, vehicles, values, now)

    def get(self, vehicle_id: str, *, lock: bool = False) -> Vehicle | None:
        if lock:
            lock_id(self.session, vehicles, vehicle_id)
        row = self.session.execute(sa.select(vehicles).where(vehicles.c.id == vehicle_id)).first()
        return _vehicle(row) if row else None

    def of_hub(self, hub_id: str) -> list[Vehicle]:
        rows = self.session.execute(sa.select(vehicles).where(vehicles.c.hub_id == hub_id).order_by(vehicles.c.id))
        return [_vehicle(row) for row in rows]
