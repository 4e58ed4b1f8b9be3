"""List open pickups in index order: queued first, then those in a dispatch, each by arrival.

`in_dispatch` (generated from dispatch_id) joins the listing index between route and position,
so a route's queue and its dispatched part are each one range of the index: the whole listing is
one ordered index scan, and "the first N of each part" never reads past N rows.

Revision ID: dispatch_0003
Revises: dispatch_0002
"""

import sqlalchemy as sa
from alembic import op

revision = "dispatch_0003"
down_revision = "dispatch_0002"
branch_labels = None
depends_on = None

SCHEMA = "dispatch"


def upgrade() -> None:
    op.add_column(
        "open_pickups",
        sa.Column("in_dispatch", sa.Boolean, sa.Computed("dispatch_id IS NOT NULL", persisted=True), nullable=False),
        schema=SCHEMA,
    )
    op.drop_index("open_pickups_listed_idx", table_name="open_pickups", schema=SCHEMA)
    op.create_index(
        "open_pickups_listed_idx",
        "open_pickups",
        ["hub_id", "pickup_date", "route_id", "in_dispatch", "position"],
        schema=SCHEMA,
        postgresql_where=sa.text("listed"),
    )


def downgrade() -> None:
    op.drop_index("open_pickups_listed_idx", table_name="open_pickups", schema=SCHEMA)
    op.create_index(
        "open_pickups_listed_idx",
        "open_pickups",
        ["hub_id", "pickup_date", "route_id", "position"],
        schema=SCHEMA,
        postgresql_where=sa.text("listed"),
    )
    op.drop_column("open_pickups", "in_dispatch", schema=SCHEMA)
