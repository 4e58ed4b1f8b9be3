"""The embedded attendance source: one row per rider and day.

Revision ID: attendance_0002
Revises: attendance_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "attendance_0002"
down_revision = "attendance_0001"
branch_labels = None
depends_on = None

SCHEMA = "attendance"


def upgrade() -> None:
    op.create_table(
        "attendance_records",
        sa.Column("rider_id", sa.Text, nullable=False),
        sa.Column("date", sa.Date, nullable=False),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("check_in", sa.DateTime(timezone=True), nullable=True),
        sa.Column("check_out", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shift", sa.Text, nullable=False, server_default=""),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rider_id", "date", name="attendance_records_pkey"),
        sa.CheckConstraint(
            "status IN ('PRESENT', 'ABSENT', 'ON_LEAVE', 'CHECKED_OUT')", name="attendance_records_status_check"
        ),
        sa.CheckConstraint(
            "check_out IS NULL OR (check_in IS NOT NULL AND check_out >= check_in)",
            name="attendance_records_times_check",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "attendance_records_hub_date_idx", "attendance_records", ["hub_id", "date", "status"], schema=SCHEMA
    )


def downgrade() -> None:
    op.drop_index("attendance_records_hub_date_idx", table_name="attendance_records", schema=SCHEMA)
    op.drop_table("attendance_records", schema=SCHEMA)
