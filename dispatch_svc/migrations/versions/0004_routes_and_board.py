"""The route read model (from routing.map-changes.v1): route names for the board.

One row per (hub, route) routing_svc announced. A deleted route keeps its row, marked deleted,
with the map version that deleted it, so a redelivered older summary cannot bring it back. The
live board itself needs no table: changes are announced with NOTIFY on `dispatch_board`.

Revision ID: dispatch_0004
Revises: dispatch_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "dispatch_0004"
down_revision = "dispatch_0003"
branch_labels = None
depends_on = None

SCHEMA = "dispatch"


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("default_rider_id", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hub_id", "route_id", name="routes_pkey"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("routes", schema=SCHEMA)
