"""The CSV import format: good files parse, every bad line is reported with its number."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from attendance_adapter import import_csv
from attendance_adapter.adapters.csv_records import CsvRejected, parse_csv
from attendance_adapter.domain.model import AttendanceStatus
from attendance_adapter.import_csv import main

TODAY = date(2025, 1, 31)
HEADER = "rider_id,hub_id,date,status,check_in_time,check_out_time,shift\n"


def errors_of(text: str) -> list[str]:
    with pytest.raises(CsvRejected) as caught:
        parse_csv(text, today=TODAY)
    return [str(e) for e in caught.value.errors]


def test_a_good_file():
    records = parse_csv(
        "\ufeff"
        + HEADER
        + "R-1,BLR-1,2025-01-31,PRESENT,2025-01-31T06:02:00+05:30,,MORNING\n"
        + "\n"
        + "R-2,BLR-1,2025-01-31,on_leave,,,\n"
        + 'R-3,BLR-1,2025-01-31,CHECKED_OUT,2025-01-31 00:30:00Z,2025-01-31 08:30:00Z,"06:00-14:00"\n',
        today=TODAY,
    )
    assert [(r.rider_id, r.status) for r in records] == [
        ("R-1", AttendanceStatus.PRESENT),
        ("R-2", AttendanceStatus.ON_LEAVE),
        ("R-3", AttendanceStatus.CHECKED_OUT),
    ]
    assert records[2].check_out == datetime(2025, 1, 31, 8, 30, tzinfo=UTC)
    assert records[2].shift == "06:00-14:00"
    assert records[1].check_in is None


def test_optional_columns_may_be_left_out_and_reordered():
    records = parse_csv("status,date,hub_id,rider_id\nABSENT,2025-01-31,BLR-1,R-1\n", today=TODAY)
    assert records[0].status is AttendanceStatus.ABSENT


def test_every_bad_line_is_reported_with_its_number():
    text = (
        HEADER
        + "R-1,BLR-1,2025-01-31,PRESENT,,,\n"  # line 2: good
        + "R-2,BLR-1,2025-01-31,HERE,,,\n"  # 3
        + "R-3,BLR-1,2025-02-30,PRESENT,,,\n"  # 4
        + "R-4,BLR-1,2025-01-31,PRESENT\n"  # 5
        + "R-5,BLR-1,2025-01-31,CHECKED_OUT,2025-01-31T10:00:00Z,2025-01-31T09:00:00Z,\n"  # 6
        + "R-1,BLR-1,2025-01-31,ABSENT,,,\n"  # 7
        + "R 6,BLR-1,2025-01-31,PRESENT,,,\n"  # 8
        + "R-7,BLR-1,2025-01-31,PRESENT,06:00,,\n"  # 9
        + "R-8,BLR-1,2205-01-31,PRESENT,,,\n"  # 10
        + "R-9,BLR-1,2025-01-31,ABSENT,2025-01-31T06:00:00Z,,\n"  # 11
    )
    errors = errors_of(text)
    assert errors[0] == "line 3: status: 'HERE' is not one of PRESENT, ABSENT, ON_LEAVE, CHECKED_OUT, ROSTERED"
    assert errors[1] == "line 4: date '2025-02-30' is not a real date"
    assert errors[2] == "line 5: expected 7 fields, got 4"
    assert errors[3].startswith("line 6: check_out_time: 2025-01-31T09:00:00+00:00 is before check_in_time")
    assert errors[4] == "line 7: rider R-1 on 2025-01-31 repeats line 2"
    assert errors[5] == "line 8: rider_id must be 1-64 characters of letters, digits, '.', '_', ':' or '-', got 'R 6'"
    assert errors[6] == "line 9: check_in_time: '06:00' is not an RFC 3339 timestamp with an offset"
    assert errors[7].startswith("line 10: date: 2205-01-31 must be between 366 days before and 366 days after today")
    assert errors[8] == "line 11: status: ABSENT with a check-in or check-out time"
    assert len(errors) == 9


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("rider_id,hub_id,date\n", "line 1: missing column(s) status"),
        ("rider_id,hub_id,date,status,note\n", "line 1: unknown column(s) 'note'"),
        ("rider_id,hub_id,date,status,status\n", "line 1: repeated column(s) status"),
    ],
)
def test_a_bad_header_is_reported(header, message):
    assert errors_of(header + "R-1,BLR-1,2025-01-31,PRESENT\n")[0].startswith(message)


def test_an_empty_file_is_refused():
    assert errors_of("\n\n") == [
        "line 1: the file is empty; the first line must name the columns "
        "(rider_id, hub_id, date, status, check_in_time, check_out_time, shift, shift_start, shift_end)"
    ]


def test_broken_quoting_is_reported():
    errors = errors_of(HEADER + 'R-1,BLR-1,2025-01-31,PRESENT,,,"MORN"ING\n')
    assert errors[0].startswith("line 2: not valid CSV")


def test_a_header_only_file_has_no_records():
    assert parse_csv(HEADER, today=TODAY) == []


@pytest.fixture
def no_database(monkeypatch):
    """The command's environment, with a database it must never reach."""
    monkeypatch.setenv("FIRSTMILE_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/nothing")
    monkeypatch.delenv("ATTENDANCE_ADAPTER_UPSTREAM_URL", raising=False)
    monkeypatch.delenv("ATTENDANCE_ADAPTER_UPSTREAM_TOKEN", raising=False)
    monkeypatch.setattr(import_csv, "make_engine", lambda *args, **kwargs: pytest.fail("the database was reached"))
    return monkeypatch


def test_the_command_refuses_a_bad_file_whole_and_names_the_lines(tmp_path, capsys, no_database):
    today = datetime.now(UTC).date().isoformat()
    path = tmp_path / "attendance.csv"
    path.write_text(HEADER + f"R-1,BLR-1,{today},PRESENT,,,\nR-2,BLR-1,{today},HERE,,,\n")
    assert main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "refused, nothing was imported (1 bad line(s))" in err
    assert "line 3: status: 'HERE' is not one of PRESENT, ABSENT, ON_LEAVE, CHECKED_OUT" in err


def test_the_command_dry_run_checks_only(tmp_path, capsys, no_database):
    today = datetime.now(UTC).date().isoformat()
    path = tmp_path / "attendance.csv"
    path.write_text(HEADER + f"R-1,BLR-1,{today},PRESENT,,,\n")
    assert main([str(path), "--dry-run"]) == 0
    assert "1 record(s), all valid (dry run: nothing written)" in capsys.readouterr().out


def test_the_command_is_refused_when_fronting_an_external_system(tmp_path, capsys, no_database):
    path = tmp_path / "attendance.csv"
    path.write_text(f"rider_id,hub_id,date,status\nR-1,BLR-1,{datetime.now(UTC).date().isoformat()},PRESENT\n")
    no_database.setenv("ATTENDANCE_ADAPTER_UPSTREAM_URL", "https://attendance.example.com")
    no_database.setenv("ATTENDANCE_ADAPTER_UPSTREAM_TOKEN", "t")
    assert main([str(path)]) == 2
    assert "ATTENDANCE_ADAPTER_UPSTREAM_URL is set" in capsys.readouterr().err
