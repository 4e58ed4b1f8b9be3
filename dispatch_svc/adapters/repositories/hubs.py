"""Hubs in `dispatch.hubs`, and the attendance read model in `dispatch.rider_days`."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import hubs, rider_days
from dispatch_svc.domain.hubs import AttendanceChange, Hub, Presence, RiderDay
from dispatch_svc.service_layer.repositories import AbstractAttendanceRepository, AbstractHubRepository


class SqlAlchemyHubRepository(AbstractHubRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, hub: Hub, now: datetime) -> bool:
        statement = insert(hubs).values(
            id=hub.id, name=hub.name, lat=hub.lat, lng=hub.lng, timezone=hub.timezone, created_at=now, updated_at=now
        )
        # xmax = 0 only on a row this statement inserted.
        created: bool = self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[hubs.c.id],
                set_={name: statement.excluded[name] for name in ("name", "lat", "lng", "timezone", "updated_at")},
            ).returning(sa.literal_column("xmax = 0"))
        ).scalar_one()
        return created

    def get(self, hub_id: str) -> Hub | None:
        row = self.session.execute(sa.select(hubs).where(hubs.c.id == hub_id)).one_or_none()
        if row is None:
            return None
        return Hub(id=row.id, name=row.name, lat=row.lat, lng=row.lng, timezone=row.timezone)


class SqlAlchemyAttendanceRepository(AbstractAttendanceRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(self, change: AttendanceChange, now: datetime) -> bool:
        statement = insert(rider_days).values(
            rider_id=change.rider_id,
            day=change.day,
            hub_id=change.hub_id,
            status=change.status.value,
            shift_start=change.shift_start,
            shift_end=change.shift_end,
            changed_at=change.changed_at,
            updated_at=now,
        )
        applied = self.session.execute(
            statement.on_conflict_do_update(
                index_elements=[rider_days.c.rider_id, rider_days.c.day],
                set_={
                    name: statement.excluded[name]
                    for name in ("hub_id", "status", "shift_start", "shift_end", "changed_at", "updated_at")
                },
                where=rider_days.c.changed_at <= statement.excluded.changed_at,
            ).returning(rider_days.c.rider_id)
        ).first()
        return applied is not None

    def attendance_for(self, hub_id: str, day: date) -> dict[str, RiderDay]:
        rows = self.session.execute(
            sa.select(rider_days)
            .where(rider_days.c.hub_id == hub_id, rider_days.c.day == day)
            .order_by(rider_days.c.rider_id)
        )
        return {row.rider_id: RiderDay(Presence(row.status), row.shift_start, row.shift_end) for row in rows}
