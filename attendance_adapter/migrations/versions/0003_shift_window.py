"""The rider's working window of the day on each record (shift_start, shift_end: both or neither,
the end after the start), which dispatch_svc's planner fits trips into.

Revision ID: attendance_0003
Revises: attendance_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "attendance_0003"
down_revision = "attendance_0002"
branch_labels = None
depends_on = None

SCHEMA = "attendance"
TABLE = "attendance_records"


def upgrade() -> None:
    op.add_column(TABLE, sa.Column("shift_start", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column(TABLE, sa.Column("shift_end", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.create_check_constraint(
        "attendance_records_shift_window_check",
        TABLE,
        "(shift_start IS NULL) = (shift_end IS NULL) AND (shift_end IS NULL OR shift_end > shift_start)",
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_constraint("attendance_records_shift_window_check", TABLE, schema=SCHEMA)
    op.drop_column(TABLE, "shift_end", schema=SCHEMA)
    op.drop_column(TABLE, "shift_start", schema=SCHEMA)
