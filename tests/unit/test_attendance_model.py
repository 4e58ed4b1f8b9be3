"""Attendance domain rules: statuses, dates, records, availability, freshness; and the settings."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from attendance_adapter.config import Settings
from attendance_adapter.domain.model import (
    AttendanceRecord,
    AttendanceStatus,
    CachePolicy,
    Freshness,
    InvalidAttendance,
    Origin,
    available_riders,
    check_recordable_day,
    parse_status,
)
from mesh.config import ConfigError, load
from mesh.errors import InvalidArgument

DAY = date(2025, 1, 31)
IST = timezone(timedelta(hours=5, minutes=30))


def at(hour: int, minute: int = 0, day: date = DAY, tz=IST) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)


def record(**changes) -> AttendanceRecord:
    fields = {"rider_id": "R-1", "hub_id": "BLR-1", "date": DAY, "status": AttendanceStatus.PRESENT, "check_in": at(6)}
    fields.update(changes)
    return AttendanceRecord(**fields)


# -- statuses and days --------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["PRESENT", "ABSENT", "ON_LEAVE", "CHECKED_OUT"])
def test_every_status_name_parses(name):
    assert parse_status(name) is AttendanceStatus(name)


@pytest.mark.parametrize("value", ["HERE", "present", " PRESENT", "", "ATTENDANCE_STATUS_PRESENT", None, 1, True])
def test_unknown_statuses_are_errors_not_guesses(value):
    with pytest.raises(InvalidAttendance, match="is not one of PRESENT, ABSENT, ON_LEAVE, CHECKED_OUT"):
        parse_status(value)


def test_recordable_days_are_near_today():
    check_recordable_day(DAY, DAY)
    check_recordable_day(DAY + timedelta(days=366), DAY)
    check_recordable_day(DAY - timedelta(days=366), DAY)
    with pytest.raises(InvalidAttendance, match="must be between"):
        check_recordable_day(date(2205, 1, 31), DAY)
    with pytest.raises(InvalidAttendance, match="must be between"):
        check_recordable_day(DAY - timedelta(days=367), DAY)


# -- records -------------------------------------------------------------------------------------


def test_a_consistent_record_builds():
    r = record(status=AttendanceStatus.CHECKED_OUT, check_out=at(14, 5), shift="06:00-14:00")
    assert r.check_out - r.check_in == timedelta(hours=8, minutes=5)
    assert not r.available
    assert record().available


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": AttendanceStatus.CHECKED_OUT, "check_out": at(5)}, "is before check_in_time"),
        ({"check_in": None, "status": AttendanceStatus.CHECKED_OUT, "check_out": at(14)}, "without a check_in_time"),
        ({"check_out": at(14)}, "PRESENT with a check_out_time"),
        ({"status": AttendanceStatus.ABSENT}, "ABSENT with a check-in"),
        ({"status": AttendanceStatus.ON_LEAVE}, "ON_LEAVE with a check-in"),
        ({"check_in": datetime(2025, 1, 31, 6, 0)}, "has no UTC offset"),
        ({"check_in": at(6, day=date(2025, 1, 20))}, "too far from the record's day"),
        ({"rider_id": ""}, "rider_id is required"),
        ({"rider_id": "R 1"}, "rider_id must be 1-64 characters"),
        ({"rider_id": "R1\n"}, "rider_id must be 1-64 characters"),
        ({"date": date(1, 1, 1), "check_in": at(6)}, "too far from the record's day"),
        ({"date": date(9999, 12, 31), "check_in": at(6)}, "too far from the record's day"),
        ({"hub_id": "x" * 65}, "hub_id must be 1-64 characters"),
        ({"shift": "x" * 65}, "shift must be at most 64 characters"),
        ({"shift": "MORNING\n"}, "shift must be printable characters on one line"),
        ({"shift": "MORN\x00ING"}, "shift must not contain control characters"),
        ({"status": "PRESENT"}, "status"),
    ],
)
def test_inconsistent_records_are_refused(changes, message):
    # Ids and text are the kernel's rules (InvalidArgument); the rest are attendance's own.
    with pytest.raises(InvalidArgument, match=message):
        record(**changes)


def test_attendance_errors_are_invalid_arguments():
    assert issubclass(InvalidAttendance, InvalidArgument)
    with pytest.raises(InvalidAttendance):
        record(check_out=at(14))


def test_night_shift_checking_out_next_morning_is_fine():
    r = record(status=AttendanceStatus.CHECKED_OUT, check_in=at(22), check_out=at(6, day=DAY + timedelta(days=1)))
    assert r.check_out > r.check_in


def test_same_facts_ignore_updated_at_and_time_zones():
    a = record(updated_at=datetime(2025, 1, 31, 1, tzinfo=UTC))
    b = record(check_in=at(6).astimezone(UTC), updated_at=datetime(2025, 1, 31, 2, tzinfo=UTC))
    assert a.same_facts(b)
    assert not a.same_facts(record(shift="MORNING"))


def test_what_is_announced():
    present = record()
    assert present.announces_change_from(None)
    assert not present.announces_change_from(record(shift="EVENING"))
    assert present.announces_change_from(record(status=AttendanceStatus.ABSENT, check_in=None))
    assert present.announces_change_from(record(hub_id="BLR-2"))


def test_only_present_riders_are_available_in_rider_order():
    records = [
        record(rider_id="R-3"),
        record(rider_id="R-1"),
        record(rider_id="R-2", status=AttendanceStatus.ON_LEAVE, check_in=None),
        record(rider_id="R-4", status=AttendanceStatus.ABSENT, check_in=None),
        record(rider_id="R-5", status=AttendanceStatus.CHECKED_OUT, check_out=at(9)),
    ]
    assert [r.rider_id for r in available_riders(records)] == ["R-1", "R-3"]


# -- freshness -----------------------------------------------------------------------------------


def test_cache_policy_fresh_until_ttl():
    policy = CachePolicy(timedelta(seconds=60))
    fetched = datetime(2025, 1, 31, 6, tzinfo=UTC)
    assert policy.is_fresh(fetched, fetched)
    assert policy.is_fresh(fetched, fetched + timedelta(seconds=59.9))
    assert not policy.is_fresh(fetched, fetched + timedelta(seconds=60))
    # Another replica's clock a little ahead: the age is 0, not negative.
    assert policy.is_fresh(fetched, fetched - timedelta(seconds=2))
    with pytest.raises(ValueError):
        CachePolicy(timedelta(0))


def test_freshness_kinds():
    fetched = datetime(2025, 1, 31, 6, tzinfo=UTC)
    now = fetched + timedelta(minutes=5)
    assert Freshness.cached(fetched, now).age == timedelta(minutes=5)
    assert not Freshness.cached(fetched, now).stale
    stale = Freshness.stale_since(fetched, now, "upstream timeout after 3 attempts")
    assert (stale.origin, stale.stale, stale.age, stale.stale_reason) == (
        Origin.STALE,
        True,
        timedelta(minutes=5),
        "upstream timeout after 3 attempts",
    )
    assert Freshness.live(now, fetched).age == timedelta(0)
    assert Freshness.embedded(now).age == timedelta(0)


# -- settings ------------------------------------------------------------------------------------


def _settings(monkeypatch, **env: str) -> Settings:
    for name in list(os.environ):
        if name.startswith("ATTENDANCE_ADAPTER_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(f"ATTENDANCE_ADAPTER_{name}", value)
    return load(Settings)


def test_settings_default_to_the_embedded_source(monkeypatch):
    settings = _settings(monkeypatch)
    assert (settings.upstream_url, settings.upstream_token, settings.grpc_port) == ("", None, 50054)


def test_an_upstream_needs_a_token(monkeypatch):
    with pytest.raises(ConfigError, match="ATTENDANCE_ADAPTER_UPSTREAM_TOKEN: .*required"):
        _settings(monkeypatch, UPSTREAM_URL="https://attendance.example.com/api")
    settings = _settings(monkeypatch, UPSTREAM_URL="https://attendance.example.com/api/", UPSTREAM_TOKEN="t0k")
    assert settings.upstream_url == "https://attendance.example.com/api"
    assert settings.upstream_token.get_secret_value() == "t0k"
    assert "t0k" not in repr(settings)


@pytest.mark.parametrize(
    "url", ["attendance.example.com", "ftp://x", "https://", "https://u:p@x.example", "https://x?y=1"]
)
def test_upstream_url_must_be_a_base_url(monkeypatch, url):
    with pytest.raises(ConfigError, match="ATTENDANCE_ADAPTER_UPSTREAM_URL"):
        _settings(monkeypatch, UPSTREAM_URL=url, UPSTREAM_TOKEN="t")


def test_last_known_outlives_the_cache_ttl(monkeypatch):
    with pytest.raises(ConfigError, match="ATTENDANCE_ADAPTER_LAST_KNOWN_TTL_SECONDS"):
        _settings(monkeypatch, CACHE_TTL_SECONDS="600", LAST_KNOWN_TTL_SECONDS="300")
