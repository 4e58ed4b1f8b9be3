"""The JSON of the attendance system's HTTP API (docs/attendance.md), read strictly.

Every field is checked for presence and type, ids and dates by the mesh kernel, statuses must be
known, ids must be the ones asked for: an answer that breaks the contract raises `WireError`
naming where (`records[3].status`) and is never used, not even in part. The same record shape is
what the Redis cache stores.
"""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from typing import Any

from attendance_adapter.domain.model import AttendanceRecord, parse_status
from mesh.errors import InvalidArgument
from mesh.kernel import parse_date, quoted

# RFC 3339 date-time with a mandatory offset ("Z" or ±HH:MM); fractions up to nanoseconds.
TIMESTAMP_PATTERN = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})"
)


class WireError(InvalidArgument):
    """A document (an upstream answer, a cache entry, a CSV cell) that breaks the contract; the
    message names the offending field. The upstream adapter turns it into SourceMalformed."""


def _field(obj: dict[str, Any], name: str, where: str, kinds: tuple[type, ...], *, required: bool) -> Any:
    if name not in obj or obj[name] is None:
        if required:
            raise WireError(f"{where}{name}: missing")
        return None
    value = obj[name]
    # bool is an int in Python; JSON true is never a number or a string here.
    if isinstance(value, bool) or not isinstance(value, kinds):
        expected = " or ".join(k.__name__ for k in kinds).replace("str", "string").replace("list", "array")
        raise WireError(f"{where}{name}: expected {expected}, got {type(value).__name__} {value!r}"[:300])
    return value


def parse_timestamp(value: str, field: str) -> datetime:
    if TIMESTAMP_PATTERN.fullmatch(value) is None:
        raise WireError(f"{field}: {quoted(value)} is not an RFC 3339 timestamp with an offset")
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise WireError(f"{field}: {value!r} is not a real moment") from None


def format_timestamp(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def record_from_json(obj: Any, where: str = "") -> AttendanceRecord:
    """One record object; `where` prefixes field names in errors (e.g. "records[2].")."""
    if not isinstance(obj, dict):
        raise WireError(f"{where.rstrip('.') or 'record'}: expected an object, got {type(obj).__name__}")
    rider_id = _field(obj, "rider_id", where, (str,), required=True)
    hub_id = _field(obj, "hub_id", where, (str,), required=True)
    day_text = _field(obj, "date", where, (str,), required=True)
    status_text = _field(obj, "status", where, (str,), required=True)
    check_in = _field(obj, "check_in_time", where, (str,), required=False)
    check_out = _field(obj, "check_out_time", where, (str,), required=False)
    shift = _field(obj, "shift", where, (str,), required=False)
    updated_at = _field(obj, "updated_at", where, (str,), required=False)
    shift_start = _field(obj, "shift_start", where, (str,), required=False)
    shift_end = _field(obj, "shift_end", where, (str,), required=False)
    try:
        return AttendanceRecord(
            rider_id=rider_id,
            hub_id=hub_id,
            date=parse_date("date", day_text),
            status=parse_status(status_text),
            check_in=parse_timestamp(check_in, "check_in_time") if check_in is not None else None,
            check_out=parse_timestamp(check_out, "check_out_time") if check_out is not None else None,
            shift=shift or "",
            updated_at=parse_timestamp(updated_at, "updated_at") if updated_at is not None else None,
            shift_start=parse_timestamp(shift_start, "shift_start") if shift_start is not None else None,
            shift_end=parse_timestamp(shift_end, "shift_end") if shift_end is not None else None,
        )
    except InvalidArgument as exc:
        raise WireError(f"{where}{exc}") from None


def record_to_json(record: AttendanceRecord) -> dict[str, Any]:
    return {
        "rider_id": record.rider_id,
        "hub_id": record.hub_id,
        "date": record.date.isoformat(),
        "status": record.status.value,
        "check_in_time": format_timestamp(record.check_in),
        "check_out_time": format_timestamp(record.check_out),
        "shift": record.shift,
        "updated_at": format_timestamp(record.updated_at),
        "shift_start": format_timestamp(record.shift_start),
        "shift_end": format_timestamp(record.shift_end),
    }


def load_json(body: bytes) -> Any:
    try:
        return json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise WireError("the body is not UTF-8") from None
    except ValueError as exc:
        raise WireError(f"the body is not JSON ({exc})") from None


def parse_hub_answer(body: bytes, hub_id: str, day: date) -> list[AttendanceRecord]:
    """`GET /hubs/{hub}/attendance?date=`: {"hub_id", "date", "records": [record, ...]}; every
    record of the asked hub and day, each rider at most once."""
    document = load_json(body)
    if not isinstance(document, dict):
        raise WireError(f"expected an object, got {type(document).__name__}")
    answered_hub = _field(document, "hub_id", "", (str,), required=True)
    answered_day = _field(document, "date", "", (str,), required=True)
    items = _field(document, "records", "", (list,), required=True)
    if answered_hub != hub_id:
        raise WireError(f"hub_id: the answer is for hub {answered_hub!r}, not {hub_id!r}")
    if answered_day != day.isoformat():
        raise WireError(f"date: the answer is for {answered_day!r}, not {day.isoformat()!r}")
    records: list[AttendanceRecord] = []
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"records[{index}]."
        record = record_from_json(item, where)
        if record.hub_id != hub_id:
            raise WireError(f"{where}hub_id: rider {record.rider_id!r} is of hub {record.hub_id!r}, not {hub_id!r}")
        if record.date != day:
            raise WireError(f"{where}date: {record.date.isoformat()!r} is not the day asked for ({day.isoformat()})")
        if record.rider_id in seen:
            raise WireError(f"{where}rider_id: {record.rider_id!r} repeats records[{seen[record.rider_id]}]")
        seen[record.rider_id] = index
        records.append(record)
    return records


def parse_rider_answer(body: bytes, rider_id: str, day: date) -> AttendanceRecord:
    """`GET /riders/{id}/attendance?date=`: one record object, of that rider and day."""
    record = record_from_json(load_json(body))
    if record.rider_id != rider_id:
        raise WireError(f"rider_id: the answer is for rider {record.rider_id!r}, not {rider_id!r}")
    if record.date != day:
        raise WireError(f"date: the answer is for {record.date.isoformat()!r}, not {day.isoformat()!r}")
    return record
