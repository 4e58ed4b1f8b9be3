"""In-memory hubs and attendance read model of dispatch_svc (the stores live in
`fakes_dispatch.DispatchStore`, so they follow its transactions)."""

from __future__ import annotations

from datetime import date, datetime

from dispatch_svc.domain.hubs import AttendanceChange, Hub, RiderDay
from dispatch_svc.service_layer.repositories import AbstractAttendanceRepository, AbstractHubRepository


class FakeHubRepository(AbstractHubRepository):
    def __init__(self, hubs: dict[str, Hub]) -> None:
        self.hubs = hubs

    def upsert(self, hub: Hub, now: datetime) -> bool:
        created = hub.id not in self.hubs
        self.hubs[hub.id] = hub
        return created

    def get(self, hub_id: str) -> Hub | None:
        return self.hubs.get(hub_id)


class FakeAttendanceRepository(AbstractAttendanceRepository):
    """(rider, day) -> the last change applied, like dispatch.rider_days."""

    def __init__(self, days: dict[tuple[str, date], AttendanceChange]) -> None:
        self.days = days

    def apply(self, change: AttendanceChange, now: datetime) -> bool:
        stored = self.days.get((change.rider_id, change.day))
        if stored is not None and stored.changed_at > change.changed_at:
            return False
        self.days[(change.rider_id, change.day)] = change
        return True

    def attendance_for(self, hub_id: str, day: date) -> dict[str, RiderDay]:
        return {
            rider_id: change.rider_day
            for (rider_id, when), change in sorted(self.days.items())
            if when == day and change.hub_id == hub_id
        }
