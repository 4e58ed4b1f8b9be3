"""Rider attendance and the rules of answering about it: statuses, records, freshness.

Pure domain: no gRPC, SQLAlchemy, Redis or HTTP. A record that breaks a rule cannot be built
(an `InvalidArgument`, such as `InvalidAttendance`, names the field and the rule), so anything
that reaches the service layer, whether typed by a person, read from the embedded table or sent
by the upstream system, obeys the same rules. Freshness is decided here, from timestamps and a clock the caller passes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta

from mesh.errors import InvalidArgument
from mesh.kernel import check_id, check_text, quoted

MAX_SHIFT = 64
# Recorded attendance is for days around today: planned leave ahead, corrections behind. Further
# out is a typo (2205 for 2025), not a plan.
MAX_DAYS_AHEAD = 366
MAX_DAYS_BEHIND = 366
# Check-in and check-out must fall near the record's day (in UTC, so every time zone and night
# shifts that end the next morning fit): from the day before to two days after.
TIME_WINDOW_BEFORE = timedelta(days=1)
TIME_WINDOW_AFTER = timedelta(days=2)


class InvalidAttendance(InvalidArgument):
    """Attendance data that breaks a rule; the message names the field and the rule."""


class AttendanceStatus(enum.Enum):
    PRESENT = "PRESENT"
    ABSENT = "ABSENT"
    ON_LEAVE = "ON_LEAVE"
    CHECKED_OUT = "CHECKED_OUT"
    # On the roster for the day with a shift window, not checked in yet: the hub's plan for a
    # future day, which dispatch_svc compares with the forecast fleet need. Not available.
    ROSTERED = "ROSTERED"


STATUS_NAMES = ", ".join(s.value for s in AttendanceStatus)


def parse_status(value: object, field: str = "status") -> AttendanceStatus:
    """Exactly one of the status names (upper case); anything else is an error, never a guess."""
    if isinstance(value, str):
        try:
            return AttendanceStatus(value)
        except ValueError:
            pass
    raise InvalidAttendance(f"{field}: {quoted(value)} is not one of {STATUS_NAMES}")


def check_recordable_day(day: date, today: date, field: str = "date") -> None:
    """Attendance is recorded for days near today (see MAX_DAYS_AHEAD / MAX_DAYS_BEHIND)."""
    if not today - timedelta(days=MAX_DAYS_BEHIND) <= day <= today + timedelta(days=MAX_DAYS_AHEAD):
        raise InvalidAttendance(
            f"{field}: {day.isoformat()} must be between {MAX_DAYS_BEHIND} days before and {MAX_DAYS_AHEAD} days "
            f"after today ({today.isoformat()})"
        )


def _check_moment(value: datetime | None, field: str, day: date) -> None:
    if value is None:
        return
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidAttendance(f"{field}: {value.isoformat()} has no UTC offset")
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    # Compared as an offset from the day's start: start ± the window overflows near year 1 or 9999.
    if not -TIME_WINDOW_BEFORE <= value - start < TIME_WINDOW_AFTER:
        raise InvalidAttendance(
            f"{field}: {value.isoformat()} is too far from the record's day {day.isoformat()} "
            f"(allowed: from the day before to the end of the day after, UTC)"
        )


@dataclass(frozen=True)
class AttendanceRecord:
    """One rider's attendance on one day. Rules checked on construction:

    - rider_id, hub_id: ids (mesh.kernel); shift at most 64 printable characters;
    - check-in and check-out carry a UTC offset and fall near the day;
    - a check-out needs a check-in and is not before it;
    - PRESENT has no check-out (a rider who checked out is CHECKED_OUT);
    - ABSENT and ON_LEAVE have neither check-in nor check-out;
    - ROSTERED has neither check-in nor check-out (checking in makes the rider PRESENT) and needs
      its shift window;
    - shift_start and shift_end (the rider's working window, which the dispatch planner fits
      trips into) are both set or both unset, carry a UTC offset, fall near the day, and the end
      is after the start.
    """

    rider_id: str
    hub_id: str
    date: date
    status: AttendanceStatus
    check_in: datetime | None = None
    check_out: datetime | None = None
    shift: str = ""
    updated_at: datetime | None = None
    shift_start: datetime | None = None
    shift_end: datetime | None = None

    def __post_init__(self) -> None:
        check_id("rider_id", self.rider_id)
        check_id("hub_id", self.hub_id)
        if not isinstance(self.status, AttendanceStatus):
            raise InvalidAttendance(f"status: {self.status!r} is not one of {STATUS_NAMES}")
        check_text("shift", self.shift, MAX_SHIFT)
        # A shift is a label on one line ("MORNING", "06:00-14:00"): no tab or newline either.
        if not self.shift.isprintable():
            raise InvalidAttendance("shift must be printable characters on one line")
        _check_moment(self.check_in, "check_in_time", self.date)
        _check_moment(self.check_out, "check_out_time", self.date)
        self._check_shift_window()
        if self.updated_at is not None and self.updated_at.tzinfo is None:
            raise InvalidAttendance("updated_at: has no UTC offset")
        if self.check_out is not None:
            if self.check_in is None:
                raise InvalidAttendance("check_out_time: set without a check_in_time")
            if self.check_out < self.check_in:
                raise InvalidAttendance(
                    f"check_out_time: {self.check_out.isoformat()} is before check_in_time {self.check_in.isoformat()}"
                )
        if self.status is AttendanceStatus.PRESENT and self.check_out is not None:
            raise InvalidAttendance("status: PRESENT with a check_out_time; a rider who checked out is CHECKED_OUT")
        if self.status in (AttendanceStatus.ABSENT, AttendanceStatus.ON_LEAVE, AttendanceStatus.ROSTERED) and (
            self.check_in is not None or self.check_out is not None
        ):
            raise InvalidAttendance(f"status: {self.status.value} with a check-in or check-out time")
        if self.status is AttendanceStatus.ROSTERED and self.shift_start is None:
            raise InvalidAttendance("status: ROSTERED without shift_start and shift_end; a roster names the window")

    def _check_shift_window(self) -> None:
        if (self.shift_start is None) != (self.shift_end is None):
            raise InvalidAttendance("shift_start and shift_end: set both or neither")
        _check_moment(self.shift_start, "shift_start", self.date)
        _check_moment(self.shift_end, "shift_end", self.date)
        if self.shift_start is not None and self.shift_end is not None and self.shift_end <= self.shift_start:
            raise InvalidAttendance(
                f"shift_end: {self.shift_end.isoformat()} is not after shift_start {self.shift_start.isoformat()}"
            )

    @property
    def available(self) -> bool:
        """Available for dispatches: PRESENT only (ABSENT, ON_LEAVE, CHECKED_OUT and ROSTERED, not
        checked in yet, are not)."""
        return self.status is AttendanceStatus.PRESENT

    def same_facts(self, other: AttendanceRecord) -> bool:
        """Equal in everything but `updated_at`: recording it again changes nothing."""
        return all(getattr(self, f.name) == getattr(other, f.name) for f in fields(self) if f.name != "updated_at")

    def announces_change_from(self, previous: AttendanceRecord | None) -> bool:
        """Whether replacing `previous` by this record is news for consumers of
        attendance.events.v1: a new record, another status, another hub for the day, or another
        shift window (the dispatch planner's)."""
        return (
            previous is None
            or previous.status is not self.status
            or previous.hub_id != self.hub_id
            or (previous.shift_start, previous.shift_end) != (self.shift_start, self.shift_end)
        )


def available_riders(records: Iterable[AttendanceRecord]) -> list[AttendanceRecord]:
    """The PRESENT records, ordered by rider id."""
    return sorted((r for r in records if r.available), key=lambda r: r.rider_id)


# --------------------------------------------------------------------------------------------
# Freshness
# --------------------------------------------------------------------------------------------


class Origin(enum.Enum):
    """Where an answer's data came from (the API's AttendanceSource)."""

    LIVE = "LIVE"  # fetched from the upstream system for this call
    CACHED = "CACHED"  # the cache, within its time-to-live
    STALE = "STALE"  # the last known data, past its time-to-live, because the upstream failed
    EMBEDDED = "EMBEDDED"  # the adapter's own table


def age_of(fetched_at: datetime, now: datetime) -> timedelta:
    """now - fetched_at, never negative (replicas' clocks may differ by a little)."""
    return max(timedelta(0), now - fetched_at)


@dataclass(frozen=True)
class Freshness:
    origin: Origin
    fetched_at: datetime
    age: timedelta
    stale_reason: str = ""

    @property
    def stale(self) -> bool:
        return self.origin is Origin.STALE

    @classmethod
    def live(cls, fetched_at: datetime, now: datetime) -> Freshness:
        return cls(Origin.LIVE, fetched_at, age_of(fetched_at, now))

    @classmethod
    def cached(cls, fetched_at: datetime, now: datetime) -> Freshness:
        return cls(Origin.CACHED, fetched_at, age_of(fetched_at, now))

    @classmethod
    def stale_since(cls, fetched_at: datetime, now: datetime, reason: str) -> Freshness:
        return cls(Origin.STALE, fetched_at, age_of(fetched_at, now), reason or "the upstream system failed")

    @classmethod
    def embedded(cls, now: datetime) -> Freshness:
        return cls(Origin.EMBEDDED, now, timedelta(0))


@dataclass(frozen=True)
class CachePolicy:
    """How long an upstream answer is served without asking again (`ttl`). Past that the
    upstream is asked; if it fails, the older answer is still served, flagged stale."""

    ttl: timedelta

    def __post_init__(self) -> None:
        if self.ttl <= timedelta(0):
            raise ValueError("ttl must be positive")

    def is_fresh(self, fetched_at: datetime, now: datetime) -> bool:
        return age_of(fetched_at, now) < self.ttl


@dataclass(frozen=True)
class Snapshot:
    """What a source said about one hub or one rider for one day, and when it said it. For a
    rider, no records means the source does not know the rider on that day."""

    fetched_at: datetime
    records: tuple[AttendanceRecord, ...]


@dataclass(frozen=True)
class RiderAttendance:
    rider_id: str
    date: date
    record: AttendanceRecord | None
    freshness: Freshness


@dataclass(frozen=True)
class HubAttendance:
    hub_id: str
    date: date
    records: tuple[AttendanceRecord, ...]
    freshness: Freshness

    def available(self) -> list[AttendanceRecord]:
        return available_riders(self.records)
