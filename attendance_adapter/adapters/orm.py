"""Tables of the `attendance` schema, which only attendance_adapter reads and writes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "attendance"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)

# The embedded attendance source (local runs, or a site without an attendance system): one row
# per rider and day, fed by RecordAttendance and `python -m attendance_adapter.import_csv`.
attendance_records = sa.Table(
    "attendance_records",
    metadata,
    sa.Column("rider_id", sa.Text, nullable=False),
    sa.Column("date", sa.Date, nullable=False),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("check_in", sa.DateTime(timezone=True), nullable=True),
    sa.Column("check_out", sa.DateTime(timezone=True), nullable=True),
    sa.Column("shift", sa.Text, nullable=False, server_default=""),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("shift_start", sa.DateTime(timezone=True), nullable=True),
    sa.Column("shift_end", sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint("rider_id", "date", name="attendance_records_pkey"),
    sa.CheckConstraint(
        "status IN ('PRESENT', 'ABSENT', 'ON_LEAVE', 'CHECKED_OUT', 'ROSTERED')",
        name="attendance_records_status_check",
    ),
    sa.CheckConstraint(
        "check_out IS NULL OR (check_in IS NOT NULL AND check_out >= check_in)",
        name="attendance_records_times_check",
    ),
    sa.CheckConstraint(
        "(shift_start IS NULL) = (shift_end IS NULL) AND (shift_end IS NULL OR shift_end > shift_start)",
        name="attendance_records_shift_window_check",
    ),
    sa.CheckConstraint(
        "status <> 'ROSTERED' OR (shift_start IS NOT NULL AND check_in IS NULL AND check_out IS NULL)",
        name="attendance_records_rostered_check",
    ),
    # ListAvailableRiders: a hub's riders of a day.
    sa.Index("attendance_records_hub_date_idx", "hub_id", "date", "status"),
)
