"""The attendance system's JSON contract (docs/attendance.md), read strictly, and the cache format."""

from __future__ import annotations

import dataclasses
import importlib
import json
import pkgutil
import typing
from datetime import UTC, date, datetime, timedelta, timezone

import pytest

import attendance_adapter
from attendance_adapter.adapters.cache import decode_snapshot, encode_snapshot, redis_key
from attendance_adapter.adapters.wire import (
    WireError,
    parse_hub_answer,
    parse_rider_answer,
    record_from_json,
    record_to_json,
)
from attendance_adapter.domain.model import AttendanceStatus, Snapshot
from attendance_adapter.service_layer.ports import CacheKey

DAY = date(2025, 1, 31)


def item(**changes):
    body = {
        "rider_id": "R-1",
        "hub_id": "BLR-1",
        "date": "2025-01-31",
        "status": "PRESENT",
        "check_in_time": "2025-01-31T06:02:00+05:30",
        "check_out_time": None,
        "shift": "MORNING",
        "updated_at": "2025-01-31T00:32:10Z",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


def hub_body(records, **changes) -> bytes:
    body = {"hub_id": "BLR-1", "date": "2025-01-31", "records": records}
    body.update(changes)
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def test_a_good_hub_answer():
    records = parse_hub_answer(
        hub_body([item(), item(rider_id="R-2", status="ON_LEAVE", check_in_time=None, shift=None)]), "BLR-1", DAY
    )
    assert [(r.rider_id, r.status) for r in records] == [
        ("R-1", AttendanceStatus.PRESENT),
        ("R-2", AttendanceStatus.ON_LEAVE),
    ]
    first = records[0]
    assert first.check_in == datetime(2025, 1, 31, 6, 2, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert first.updated_at == datetime(2025, 1, 31, 0, 32, 10, tzinfo=UTC)
    assert (first.shift, records[1].shift, records[1].check_in) == ("MORNING", "", None)


def test_an_empty_hub_and_unknown_extra_fields_are_fine():
    assert parse_hub_answer(hub_body([], extra="ignored"), "BLR-1", DAY) == []
    assert parse_hub_answer(hub_body([item(source_system="HRMS")]), "BLR-1", DAY)[0].rider_id == "R-1"


def test_nanosecond_timestamps_are_read():
    record = record_from_json(item(check_in_time="2025-01-31T00:32:10.123456789Z"))
    assert record.check_in == datetime(2025, 1, 31, 0, 32, 10, 123456, tzinfo=UTC)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>Bad gateway</html>", "not JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "expected an object"),
        (
            hub_body(
                ...,
            ),
            "records: missing",
        ),
        (hub_body({"R-1": "PRESENT"}), "records: expected array"),
        (hub_body([], hub_id="BLR-2"), "the answer is for hub 'BLR-2'"),
        (hub_body([], date="2025-01-30"), "the answer is for '2025-01-30'"),
        (hub_body([], hub_id=...), "hub_id: missing"),
        (hub_body(["R-1"]), r"records\[0\]: expected an object"),
        (hub_body([item(status="HERE")]), r"records\[0\]\.status: 'HERE' is not one of"),
        (hub_body([item(status="present")]), r"records\[0\]\.status: 'present' is not one of"),
        (hub_body([item(status=1)]), r"records\[0\]\.status: expected string"),
        (hub_body([item(status=...)]), r"records\[0\]\.status: missing"),
        (hub_body([item(rider_id=...)]), r"records\[0\]\.rider_id: missing"),
        (hub_body([item(rider_id=17)]), r"records\[0\]\.rider_id: expected string, got int"),
        (hub_body([item(rider_id=True)]), r"records\[0\]\.rider_id: expected string, got bool"),
        (hub_body([item(date="2025-02-30")]), r"records\[0\]\.date '2025-02-30' is not a real date"),
        (hub_body([item(date="2025-1-31")]), r"records\[0\]\.date must be a date as \"YYYY-MM-DD\""),
        (hub_body([item(rider_id="R 1")]), r"records\[0\]\.rider_id must be 1-64 characters"),
        (hub_body([item(rider_id="R-1\n")]), r"records\[0\]\.rider_id must be 1-64 characters"),
        (hub_body([item(rider_id="")]), r"records\[0\]\.rider_id is required"),
        (hub_body([item(check_in_time="2025-01-31T06:02:00Z\n")]), "is not an RFC 3339 timestamp"),
        (
            hub_body([item(), item(rider_id="R-7", hub_id="HYD-1")]),
            r"records\[1\]\.hub_id: rider 'R-7' is of hub 'HYD-1'",
        ),
        (hub_body([item(date="2025-01-30", check_in_time=None)]), r"records\[0\]\.date: '2025-01-30' is not the day"),
        (hub_body([item(), item()]), r"records\[1\]\.rider_id: 'R-1' repeats records\[0\]"),
        (hub_body([item(check_in_time="06:02")]), r"check_in_time: '06:02' is not an RFC 3339 timestamp"),
        (hub_body([item(check_in_time="2025-01-31T06:02:00")]), "is not an RFC 3339 timestamp with an offset"),
        (hub_body([item(check_in_time=1738300000)]), r"check_in_time: expected string"),
        (
            hub_body([item(status="PRESENT", check_out_time="2025-01-31T14:00:00+05:30")]),
            "PRESENT with a check_out_time",
        ),
        (hub_body([item(status="CHECKED_OUT", check_out_time="2025-01-31T05:00:00+05:30")]), "is before check_in_time"),
        (hub_body([item(shift=["MORNING"])]), r"shift: expected string"),
    ],
)
def test_malformed_hub_answers_are_errors(body, message):
    with pytest.raises(WireError, match=message):
        parse_hub_answer(body, "BLR-1", DAY)


def test_rider_answers():
    assert parse_rider_answer(json.dumps(item()).encode(), "R-1", DAY).hub_id == "BLR-1"
    with pytest.raises(WireError, match="the answer is for rider 'R-2'"):
        parse_rider_answer(json.dumps(item(rider_id="R-2")).encode(), "R-1", DAY)
    with pytest.raises(WireError, match="the answer is for '2025-01-30'"):
        parse_rider_answer(json.dumps(item(date="2025-01-30", check_in_time=None)).encode(), "R-1", DAY)
    with pytest.raises(WireError, match="hub_id: missing"):
        parse_rider_answer(json.dumps(item(hub_id=...)).encode(), "R-1", DAY)


def test_records_round_trip_through_the_contract_and_the_cache():
    record = record_from_json(item(status="CHECKED_OUT", check_out_time="2025-01-31T14:00:00+05:30"))
    assert record_from_json(record_to_json(record)) == record
    snapshot = Snapshot(datetime(2025, 1, 31, 1, tzinfo=UTC), (record,))
    assert decode_snapshot(encode_snapshot(snapshot)) == snapshot
    with pytest.raises(WireError):
        decode_snapshot(b'{"v": 99}')


def test_cache_keys_name_the_kind_the_id_and_the_day():
    assert redis_key(CacheKey("hub", "BLR-1", DAY)) == "attendance:v1:hub:BLR-1:2025-01-31"
    assert redis_key(CacheKey("rider", "R-1", DAY)) == "attendance:v1:rider:R-1:2025-01-31"


def attendance_modules() -> list[str]:
    return [
        m.name
        for m in pkgutil.walk_packages(attendance_adapter.__path__, "attendance_adapter.")
        if not m.name.endswith("__main__") and ".migrations" not in m.name
    ]


@pytest.mark.parametrize("module_name", attendance_modules())
def test_every_dataclass_annotation_names_something_real(module_name):
    # With postponed annotations a misspelt or unimported name (CacheKey.date once named `date`
    # without importing it) only fails when something asks for the type hints.
    module = importlib.import_module(module_name)
    for value in vars(module).values():
        if dataclasses.is_dataclass(value) and value.__module__ == module_name:
            typing.get_type_hints(value)
