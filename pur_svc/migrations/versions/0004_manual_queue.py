"""The manual queue: review fields on pickup requests, the index that lists a hub's queue, and
the read model of routing's routes that manual assignments are checked against.

Revision ID: pur_0004
Revises: pur_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "pur_0004"
down_revision = "pur_0003"
branch_labels = None
depends_on = None

SCHEMA = "pur"


def upgrade() -> None:
    # Constant defaults: PostgreSQL adds these columns without rewriting the table.
    op.add_column("pickup_requests", sa.Column("review", sa.Text, nullable=True), schema=SCHEMA)
    op.add_column(
        "pickup_requests", sa.Column("nearest_route_id", sa.Text, nullable=False, server_default=""), schema=SCHEMA
    )
    op.add_column(
        "pickup_requests",
        sa.Column("nearest_distance_m", sa.Double, nullable=False, server_default="0"),
        schema=SCHEMA,
    )
    op.add_column(
        "pickup_requests", sa.Column("manual_reason", sa.Text, nullable=False, server_default=""), schema=SCHEMA
    )
    # PURs left unroutable before the queue existed belong in it.
    op.execute(f"UPDATE {SCHEMA}.pickup_requests SET review = 'UNROUTABLE' WHERE status = 'UNROUTABLE'")
    op.create_index(
        "pickup_requests_manual_queue_idx",
        "pickup_requests",
        ["hub_id", "created_at", "id"],
        schema=SCHEMA,
        postgresql_where=sa.text("review IS NOT NULL"),
    )
    op.create_table(
        "routes",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("default_rider_id", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("routes", schema=SCHEMA)
    op.drop_index("pickup_requests_manual_queue_idx", table_name="pickup_requests", schema=SCHEMA)
    for column in ("manual_reason", "nearest_distance_m", "nearest_route_id", "review"):
        op.drop_column("pickup_requests", column, schema=SCHEMA)
