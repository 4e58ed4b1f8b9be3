"""Import attendance from a CSV file into the embedded table (format: docs/attendance.md):

    python -m attendance_adapter.import_csv FILE [--dry-run]

The whole file is checked first and every bad line is reported with its number; a file with any
bad line imports nothing. A good file is written in one transaction through the same use case as
RecordAttendance: records that did not change are left alone, and AttendanceChanged events for the
ones that did leave through the outbox (a running attendance_adapter publishes them). Importing
the same file twice changes nothing the second time.

Needs FIRSTMILE_DATABASE_URL (migrations applied). Refused when ATTENDANCE_ADAPTER_UPSTREAM_URL is
set: the external system is then the source of truth and the embedded table is not read.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import sqlalchemy.exc

from attendance_adapter.adapters.csv_records import CsvRejected, parse_csv
from attendance_adapter.adapters.unit_of_work import SqlAlchemyAttendanceUnitOfWork
from attendance_adapter.config import Settings
from attendance_adapter.service_layer import handlers
from mesh.commands.migrate import MigrateSettings
from mesh.config import ConfigError, load
from mesh.db import make_engine, make_session_factory
from mesh.errors import MeshError
from mesh.kernel import utc_now

MAX_ERRORS_SHOWN = 50


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "file",
        type=Path,
        help="CSV file: rider_id,hub_id,date,status[,check_in_time,check_out_time,shift,shift_start,shift_end]",
    )
    parser.add_argument("--dry-run", action="store_true", help="check the file only; write nothing")
    args = parser.parse_args(argv)

    try:
        text = args.file.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"cannot read {args.file}: {exc}", file=sys.stderr)
        return 1
    try:
        records = parse_csv(text, today=utc_now().date())
    except CsvRejected as exc:
        shown = "\n  ".join(str(e) for e in exc.errors[:MAX_ERRORS_SHOWN])
        more = len(exc.errors) - MAX_ERRORS_SHOWN
        tail = f"\n  ... and {more} more" if more > 0 else ""
        print(
            f"{args.file}: refused, nothing was imported ({len(exc.errors)} bad line(s)):\n  {shown}{tail}",
            file=sys.stderr,
        )
        return 1
    if args.dry_run:
        print(f"{args.file}: {len(records)} record(s), all valid (dry run: nothing written)")
        return 0

    try:
        settings = load(Settings)
        database = load(MigrateSettings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.upstream_url:
        print(
            "refused: ATTENDANCE_ADAPTER_UPSTREAM_URL is set, so attendance comes from the external system "
            "and the embedded table is not read; record attendance there",
            file=sys.stderr,
        )
        return 2
    if not records:
        print(f"{args.file}: no records")
        return 0

    engine = make_engine(database.database_url, pool_size=1, application_name="attendance_adapter-import")
    try:
        results = handlers.record_attendance(SqlAlchemyAttendanceUnitOfWork(make_session_factory(engine)), records)
    except MeshError as exc:
        print(f"{args.file}: refused, nothing was imported: {exc}", file=sys.stderr)
        return 1
    except sqlalchemy.exc.SQLAlchemyError as exc:
        print(f"{args.file}: nothing was imported, the database failed: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    counts = Counter(r.result for r in results)
    events = sum(r.announced for r in results)
    print(
        f"{args.file}: {len(results)} record(s) imported: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged; {events} AttendanceChanged event(s) queued"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
