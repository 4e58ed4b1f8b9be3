"""Who works at a hub on a day, as the use cases ask it.

Two sources: the port an attendance adapter implements (`AttendancePort`: who is present today,
live from attendance_adapter) and the attendance read model (`uow.attendance`, from
attendance.events.v1: every rider's status and shift window per day, rosters of future days
included).

An outage is an answer, not an exception: `available_riders` returns `AttendanceView.unknown(...)`
when attendance cannot be read, and the use cases then treat nobody as present.
"""

from __future__ import annotations

import abc
from datetime import date

from dispatch_svc.domain.hubs import RiderDay
from dispatch_svc.domain.ranking import AttendanceView
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork


class AttendancePort(abc.ABC):
    """Present riders of a hub on a day. Implementations never raise for an outage."""

    @abc.abstractmethod
    def available_riders(self, hub_id: str, day: date) -> AttendanceView: ...


def rostered_riders(uow: AbstractDispatchUnitOfWork, hub_id: str, day: date) -> dict[str, RiderDay]:
    """Rider id -> day of the hub's active riders who count as the day's rostered capacity
    (PRESENT or ROSTERED per the read model; `RiderDay.rostered`), in rider id order. Call inside
    `with uow`. A rider the read model has no record of that day is not rostered."""
    days = uow.attendance.attendance_for(hub_id, day)
    return {
        rider.id: days[rider.id]
        for rider in uow.riders.of_hub(hub_id)
        if rider.active and rider.id in days and days[rider.id].rostered
    }
