"""Hubs (the depot every trip starts and ends at, and the hub's time zone) and the attendance read
model (from attendance.events.v1): who is present (or rostered) at a hub on a day, and within
which shift.

Pure domain: a Hub or an AttendanceChange that breaks a rule cannot be built (InvalidArgument
naming the field)."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from zoneinfo import ZoneInfo, available_timezones

from mesh.errors import InvalidArgument
from mesh.kernel import check_coordinates, check_id, check_text, quoted

MAX_HUB_NAME = 200
MAX_TIMEZONE = 64


@cache
def _known_timezones() -> frozenset[str]:
    return frozenset(available_timezones())


def check_timezone(field: str, value: str) -> ZoneInfo:
    """An IANA time zone name zoneinfo knows ("Asia/Kolkata"). Checked against the list of zones,
    not by opening it: ZoneInfo also opens paths and directories of the zone database."""
    check_text(field, value, MAX_TIMEZONE, required=True)
    if value not in _known_timezones():
        raise InvalidArgument(f"{field}: {quoted(value)} is not an IANA time zone name")
    return ZoneInfo(value)


@dataclass(frozen=True)
class Hub:
    id: str
    name: str
    lat: float
    lng: float
    timezone: str

    def __post_init__(self) -> None:
        check_id("hub.id", self.id)
        check_text("hub.name", self.name, MAX_HUB_NAME)
        check_coordinates("hub.location", self.lat, self.lng)
        check_timezone("hub.timezone", self.timezone)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class Presence(enum.Enum):
    """A rider's attendance status for a day (attendance_adapter's AttendanceStatus)."""

    PRESENT = "PRESENT"
    ABSENT = "ABSENT"
    ON_LEAVE = "ON_LEAVE"
    CHECKED_OUT = "CHECKED_OUT"
    # On the day's roster with a shift window, not checked in yet: not present (the planner
    # leaves them out) but expected, so neither gone nor absent from the fleet a day needs.
    ROSTERED = "ROSTERED"

    @property
    def gone(self) -> bool:
        """Not coming back that day: an OPEN dispatch of such a rider is released."""
        return self in (Presence.ABSENT, Presence.ON_LEAVE, Presence.CHECKED_OUT)


@dataclass(frozen=True)
class RiderDay:
    """What the read model knows of one rider on one day. `shift_start`/`shift_end` are both set
    or both None (None: the day's default window applies)."""

    status: Presence
    shift_start: datetime | None = None
    shift_end: datetime | None = None

    @property
    def present(self) -> bool:
        """Checked in: the planner and dispatching take only these riders."""
        return self.status is Presence.PRESENT

    @property
    def rostered(self) -> bool:
        """Counts as the day's rostered capacity when the fleet a day needs is compared with
        who will work: PRESENT or ROSTERED (the window is the recorded one, else the default)."""
        return self.status in (Presence.PRESENT, Presence.ROSTERED)


@dataclass(frozen=True)
class AttendanceChange:
    """One AttendanceChanged event as the read model applies it. `changed_at` orders the changes
    of one rider and day: an older one than the stored is ignored (redelivery, reordering)."""

    rider_id: str
    hub_id: str
    day: date
    status: Presence
    changed_at: datetime
    shift_start: datetime | None = None
    shift_end: datetime | None = None

    def __post_init__(self) -> None:
        check_id("rider_id", self.rider_id)
        check_id("hub_id", self.hub_id)
        if (self.shift_start is None) != (self.shift_end is None):
            raise InvalidArgument("record.shift_start and record.shift_end must be set together")
        if self.shift_start is not None and self.shift_end is not None and self.shift_end <= self.shift_start:
            raise InvalidArgument("record.shift_end must be after record.shift_start")

    @property
    def rider_day(self) -> RiderDay:
        return RiderDay(self.status, self.shift_start, self.shift_end)
