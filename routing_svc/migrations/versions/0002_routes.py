"""Routes and the map version of each hub.

Revision ID: routing_0002
Revises: routing_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "routing_0002"
down_revision = "routing_0001"
branch_labels = None
depends_on = None

SCHEMA = "routing"


def upgrade() -> None:
    op.create_table(
        "routes",
        sa.Column("id", sa.Text(collation="C"), primary_key=True),
        sa.Column("hub_id", sa.Text(collation="C"), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("geometry_geojson", sa.Text, nullable=False),
        sa.Column("default_rider_id", sa.Text, nullable=True),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("cell_count", sa.Integer, nullable=False),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_index("routes_hub_id_idx", "routes", ["hub_id", "id"], schema=SCHEMA)
    op.create_table(
        "hub_maps",
        sa.Column("hub_id", sa.Text(collation="C"), primary_key=True),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("hub_maps", schema=SCHEMA)
    op.drop_index("routes_hub_id_idx", table_name="routes", schema=SCHEMA)
    op.drop_table("routes", schema=SCHEMA)
