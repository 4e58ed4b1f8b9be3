"""Pickup requests and the hubs pur_svc has heard of.

Revision ID: pur_0002
Revises: pur_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "pur_0002"
down_revision = "pur_0001"
branch_labels = None
depends_on = None

SCHEMA = "pur"


def upgrade() -> None:
    text_columns = [
        "request_id",
        "request_fingerprint",
        "client_id",
        "hub_id",
        "warehouse_id",
        "warehouse_name",
        "warehouse_address",
        "warehouse_pincode",
        "status",
        "route_id",
        "rider_id",
        "dispatch_id",
        "unroutable_reason",
        "cancel_reason",
    ]
    op.create_table(
        "pickup_requests",
        sa.Column("id", sa.Text, primary_key=True),
        *[sa.Column(name, sa.Text, nullable=False) for name in text_columns],
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("lng", sa.Double, nullable=False),
        sa.Column("pickup_date", sa.Date, nullable=False),
        sa.Column("expected_packages", sa.Integer, nullable=False),
        sa.Column("expected_weight_kg", sa.Double, nullable=False),
        sa.Column("route_match", sa.Text, nullable=True),
        sa.Column("distance_m", sa.Double, nullable=False),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("client_id", "request_id", name="pickup_requests_client_request_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "pickup_requests_hub_status_date_idx", "pickup_requests", ["hub_id", "status", "pickup_date"], schema=SCHEMA
    )
    op.create_index("pickup_requests_route_idx", "pickup_requests", ["route_id", "status"], schema=SCHEMA)
    op.create_index("pickup_requests_created_idx", "pickup_requests", ["created_at", "id"], schema=SCHEMA)
    op.create_table(
        "hubs",
        sa.Column("hub_id", sa.Text, primary_key=True),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("hubs", schema=SCHEMA)
    op.drop_table("pickup_requests", schema=SCHEMA)
