"""Riders in `dispatch.riders`."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import riders
from dispatch_svc.adapters.repositories.by_id import lock_id, upsert
from dispatch_svc.domain.model import Rider
from dispatch_svc.service_layer.repositories import AbstractRiderRepository


def _rider(row: Any) -> Rider:
    return Rider(id=row.id, hub_id=row.hub_id, name=row.name, phone=row.phone, active=row.active)


class SqlAlchemyRiderRepository(AbstractRiderRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, rider: Rider, now: datetime) -> bool:
        values = {
            "id": rider.id,
            "hub_id": rider.hub_id,
            "name": rider.name,
            "phone": rider.phone,
            "active": rider.active,
        }
        return upsert(self.session, riders, values, now)

    def get(self, rider_id: str, *, lock: bool = False) -> Rider | None:
        if lock:
            lock_id(self.session, riders, rider_id)
        row = self.session.execute(sa.select(riders).where(riders.c.id == rider_id)).first()
        return _rider(row) if row else None

    def of_hub(self, hub_id: str) -> list[Rider]:
        rows = self.session.execute(sa.select(riders).where(riders.c.hub_id == hub_id).order_by(riders.c.id))
        return [_rider(row) for row in rows]
