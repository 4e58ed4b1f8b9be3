"""Riders, vehicles, the pickups dispatching knows, dispatches and their membership.

Revision ID: dispatch_0002
Revises: dispatch_0001
"""

import sqlalchemy as sa
from alembic import op

revision = "dispatch_0002"
down_revision = "dispatch_0001"
branch_labels = None
depends_on = None

SCHEMA = "dispatch"
ACTIVE = sa.text("status IN ('OPEN', 'IN_PROGRESS')")


def _stamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.execute(sa.text(f"CREATE SEQUENCE {SCHEMA}.pickup_position_seq"))
    op.create_table(
        "riders",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("phone", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        *_stamps(),
        schema=SCHEMA,
    )
    op.create_index("riders_hub_idx", "riders", ["hub_id", "id"], schema=SCHEMA)
    op.create_table(
        "vehicles",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("capacity_packages", sa.Integer, nullable=False),
        sa.Column("capacity_kg", sa.Double, nullable=False),
        sa.Column("registration", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        *_stamps(),
        sa.CheckConstraint("capacity_packages > 0 AND capacity_kg > 0", name="vehicles_capacity_positive"),
        schema=SCHEMA,
    )
    op.create_index("vehicles_hub_idx", "vehicles", ["hub_id", "id"], schema=SCHEMA)
    op.create_table(
        "open_pickups",
        sa.Column("pur_id", sa.Text, primary_key=True),
        *[sa.Column(name, sa.Text, nullable=False) for name in ("hub_id", "route_id")],
        sa.Column("pickup_date", sa.Date, nullable=False),
        *[sa.Column(name, sa.Text, nullable=False) for name in ("client_id", "warehouse_name")],
        sa.Column("lat", sa.Double, nullable=False),
        sa.Column("lng", sa.Double, nullable=False),
        sa.Column("expected_packages", sa.Integer, nullable=False),
        sa.Column("expected_weight_kg", sa.Double, nullable=False),
        sa.Column("route_match", sa.Text, nullable=True),
        sa.Column("default_rider_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("dispatch_id", sa.Text, nullable=True),
        sa.Column("listed", sa.Boolean, nullable=False),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("pur_version", sa.BigInteger, nullable=False),
        sa.Column("event_version", sa.BigInteger, nullable=False),
        *_stamps(),
        schema=SCHEMA,
    )
    op.create_index(
        "open_pickups_listed_idx",
        "open_pickups",
        ["hub_id", "pickup_date", "route_id", "position"],
        schema=SCHEMA,
        postgresql_where=sa.text("listed"),
    )
    op.create_table(
        "dispatches",
        sa.Column("id", sa.Text, primary_key=True),
        *[
            sa.Column(name, sa.Text, nullable=False)
            for name in ("request_id", "request_fingerprint", "hub_id", "route_id")
        ],
        sa.Column("pickup_date", sa.Date, nullable=False),
        *[sa.Column(name, sa.Text, nullable=False) for name in ("rider_id", "vehicle_id", "status")],
        sa.Column("total_packages", sa.Integer, nullable=False),
        sa.Column("total_weight_kg", sa.Double, nullable=False),
        sa.Column("automatic", sa.Boolean, nullable=False),
        sa.Column("cancel_reason", sa.Text, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
        *_stamps(),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.UniqueConstraint("hub_id", "request_id", name="dispatches_request_key"),
        schema=SCHEMA,
    )
    op.create_index(
        "dispatches_one_active_per_rider",
        "dispatches",
        ["rider_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "dispatches_one_active_per_vehicle",
        "dispatches",
        ["vehicle_id"],
        unique=True,
        schema=SCHEMA,
        postgresql_where=ACTIVE,
    )
    op.create_index(
        "dispatches_route_idx", "dispatches", ["hub_id", "route_id", "status", "pickup_date"], schema=SCHEMA
    )
    op.create_index(
        "dispatches_hub_created_idx",
        "dispatches",
        ["hub_id", sa.text("created_at DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_table(
        "dispatch_pickups",
        sa.Column("dispatch_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.dispatches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("pur_id", sa.Text, nullable=False),
        sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dispatch_id", "pur_id", name="dispatch_pickups_pkey"),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("dispatch_pickups", schema=SCHEMA)
    op.drop_table("dispatches", schema=SCHEMA)
    op.drop_table("open_pickups", schema=SCHEMA)
    op.drop_table("vehicles", schema=SCHEMA)
    op.drop_table("riders", schema=SCHEMA)
    op.execute(sa.text(f"DROP SEQUENCE {SCHEMA}.pickup_position_seq"))
