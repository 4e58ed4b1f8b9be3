"""Attendance as CSV (docs/attendance.md), read strictly: every bad line is reported with its
number, and a file with any bad line is refused whole.

    rider_id,hub_id,date,status,check_in_time,check_out_time,shift,shift_start,shift_end
    R-001,BLR-KORAMANGALA,2025-01-31,PRESENT,2025-01-31T06:02:00+05:30,,MORNING,2025-01-31T06:00:00+05:30,2025-01-31T14:00:00+05:30

The first line names the columns (any order; rider_id, hub_id, date and status are required,
check_in_time, check_out_time, shift, shift_start and shift_end optional; the shift's start and
end go together). Statuses are the API's names (case does not
matter here); times are RFC 3339 with an offset ("T" or a space between date and time); empty
cells mean "not set"; blank lines are skipped. A rider appears at most once per day.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime

from attendance_adapter.adapters.wire import parse_timestamp
from attendance_adapter.domain.model import AttendanceRecord, check_recordable_day, parse_status
from mesh.errors import InvalidArgument
from mesh.kernel import parse_date

REQUIRED_COLUMNS = ("rider_id", "hub_id", "date", "status")
OPTIONAL_COLUMNS = ("check_in_time", "check_out_time", "shift", "shift_start", "shift_end")
COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


class CsvRejected(InvalidArgument):
    """The file has bad lines; `errors` lists each with its line number."""

    def __init__(self, errors: list[LineError]) -> None:
        super().__init__("\n".join(str(e) for e in errors))
        self.errors = errors


def _moment(value: str, field: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    if len(value) > 10 and value[10] == " ":
        value = f"{value[:10]}T{value[11:]}"
    return parse_timestamp(value, field)


def _header(row: list[str]) -> list[str]:
    names = [name.strip().lower() for name in row]
    problems = []
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        problems.append(f"unknown column(s) {', '.join(repr(n) for n in unknown)} (known: {', '.join(COLUMNS)})")
    missing = [n for n in REQUIRED_COLUMNS if n not in names]
    if missing:
        problems.append(f"missing column(s) {', '.join(missing)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        problems.append(f"repeated column(s) {', '.join(repeated)}")
    if problems:
        raise CsvRejected([LineError(1, "; ".join(problems))])
    return names


def _record(values: dict[str, str], today: date) -> AttendanceRecord:
    day = parse_date("date", values["date"].strip())
    check_recordable_day(day, today)
    return AttendanceRecord(
        rider_id=values["rider_id"].strip(),
        hub_id=values["hub_id"].strip(),
        date=day,
        status=parse_status(values["status"].strip().upper()),
        check_in=_moment(values.get("check_in_time", ""), "check_in_time"),
        check_out=_moment(values.get("check_out_time", ""), "check_out_time"),
        shift=values.get("shift", "").strip(),
        shift_start=_moment(values.get("shift_start", ""), "shift_start"),
        shift_end=_moment(values.get("shift_end", ""), "shift_end"),
    )


def parse_csv(text: str, *, today: date) -> list[AttendanceRecord]:
    """Every record of the file, or CsvRejected listing every bad line."""
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""), strict=True)
    header: list[str] | None = None
    records: list[AttendanceRecord] = []
    errors: list[LineError] = []
    first_line: dict[tuple[str, date], int] = {}
    try:
        for row in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = _header(row)
                continue
            if len(row) != len(header):
                errors.append(LineError(line, f"expected {len(header)} fields, got {len(row)}"))
                continue
            try:
                record = _record(dict(zip(header, row, strict=True)), today)
            except InvalidArgument as exc:
                errors.append(LineError(line, str(exc)))
                continue
            key = (record.rider_id, record.date)
            if key in first_line:
                errors.append(
                    LineError(
                        line, f"rider {record.rider_id} on {record.date.isoformat()} repeats line {first_line[key]}"
                    )
                )
                continue
            first_line[key] = line
            records.append(record)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"not valid CSV ({exc})"))
    if header is None and not errors:
        errors.append(LineError(1, f"the file is empty; the first line must name the columns ({', '.join(COLUMNS)})"))
    if errors:
        raise CsvRejected(errors)
    return records
