"""The ROSTERED status: on the roster for a day with a shift window, not checked in yet.

Revision ID: attendance_0004
Revises: attendance_0003
"""

from alembic import op

revision = "attendance_0004"
down_revision = "attendance_0003"
branch_labels = None
depends_on = None

SCHEMA = "attendance"
TABLE = "attendance_records"
CHECK = "attendance_records_status_check"


def upgrade() -> None:
    op.drop_constraint(CHECK, TABLE, schema=SCHEMA)
    op.create_check_constraint(
        CHECK, TABLE, "status IN ('PRESENT', 'ABSENT', 'ON_LEAVE', 'CHECKED_OUT', 'ROSTERED')", schema=SCHEMA
    )
    # The record rule of the domain, kept by the table too: a roster names its window.
    op.create_check_constraint(
        "attendance_records_rostered_check",
        TABLE,
        "status <> 'ROSTERED' OR (shift_start IS NOT NULL AND check_in IS NULL AND check_out IS NULL)",
        schema=SCHEMA,
    )


def downgrade() -> None:
    # Rosters have no place in the older schema: they go, the rest stays.
    op.execute(f"DELETE FROM {SCHEMA}.{TABLE} WHERE status = 'ROSTERED'")
    op.drop_constraint("attendance_records_rostered_check", TABLE, schema=SCHEMA)
    op.drop_constraint(CHECK, TABLE, schema=SCHEMA)
    op.create_check_constraint(
        CHECK, TABLE, "status IN ('PRESENT', 'ABSENT', 'ON_LEAVE', 'CHECKED_OUT')", schema=SCHEMA
    )
