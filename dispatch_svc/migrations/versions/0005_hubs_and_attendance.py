"""Hubs (UpsertHub: the depot and time zone the planner needs) and the attendance read model
(from attendance.events.v1): one row per rider and day with the status and shift window of the
last change applied (`changed_at` orders them; an older change never overwrites a newer one).

Revision ID: dispatch_0005
Revises: dispatch_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "dispatch_0005"
down_revision = "dispatch_0004"
branch_labels = None
depends_on = None

SCHEMA = "dispatch"


def upgrade() -> None:
    op.create_table(
        "hubs",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("lng", sa.Double, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "rider_days",
        sa.Column("rider_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("shift_start", sa.DateTime(timezone=True), nullable=True),
        sa.Column("shift_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("rider_id", "day", name="rider_days_pkey"),
        sa.CheckConstraint(
            "(shift_start IS NULL) = (shift_end IS NULL) AND (shift_end IS NULL OR shift_end > shift_start)",
            name="rider_days_shift_window",
        ),
        schema=SCHEMA,
    )
    op.create_index("rider_days_hub_day_idx", "rider_days", ["hub_id", "day"], schema=SCHEMA)


def downgrade() -> None:
    op.drop_index("rider_days_hub_day_idx", table_name="rider_days", schema=SCHEMA)
    op.drop_table("rider_days", schema=SCHEMA)
    op.drop_table("hubs", schema=SCHEMA)
