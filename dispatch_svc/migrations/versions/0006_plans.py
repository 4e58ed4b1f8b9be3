"""Dispatch plans (PlanDispatches) kept for review until they expire, and dispatches committed from
them (CommitDispatchPlan): the plan and trip window on the dispatch, its stops in visiting order.

A rider (and a vehicle) may now hold several planned OPEN dispatches one after the other. The
unique indexes change accordingly: at most one IN_PROGRESS dispatch per rider and per vehicle,
and at most one active dispatch made by hand (no planned window) as before. Planned windows not
overlapping, and a hand-made dispatch never beside planned ones, are checked by the use cases
under the rider's and vehicle's locks (docs/dispatch.md, "Planning").

Revision ID: dispatch_0006
Revises: dispatch_0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "dispatch_0006"
down_revision = "dispatch_0005"
branch_labels = None
depends_on = None

SCHEMA = "dispatch"
ACTIVE = "status IN ('OPEN', 'IN_PROGRESS')"
BY_HAND = f"{ACTIVE} AND planned_start IS NULL"
IN_PROGRESS = "status = 'IN_PROGRESS'"


def _unique(name: str, column: str, where: str) -> None:
    op.create_index(name, "dispatches", [column], unique=True, schema=SCHEMA, postgresql_where=sa.text(where))


def upgrade() -> None:
    op.add_column("dispatches", sa.Column("plan_id", sa.Text, nullable=False, server_default=""), schema=SCHEMA)
    op.add_column("dispatches", sa.Column("planned_start", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    op.add_column("dispatches", sa.Column("planned_end", sa.DateTime(timezone=True), nullable=True), schema=SCHEMA)
    for thing in ("rider", "vehicle"):
        op.drop_index(f"dispatches_one_active_per_{thing}", table_name="dispatches", schema=SCHEMA)
        _unique(f"dispatches_one_active_per_{thing}", f"{thing}_id", BY_HAND)
        _unique(f"dispatches_one_in_progress_per_{thing}", f"{thing}_id", IN_PROGRESS)
    op.create_table(
        "dispatch_stops",
        sa.Column("dispatch_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.dispatches.id", ondelete="CASCADE"), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("pur_id", sa.Text, nullable=False),
        sa.Column("eta", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("dispatch_id", "sequence", name="dispatch_stops_pkey"),
        schema=SCHEMA,
    )
    op.create_table(
        "plans",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("pickup_date", sa.Date, nullable=False),
        sa.Column("arrival_order_distance_m", sa.Double, nullable=False),
        sa.Column("unplanned", JSONB, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
        schema=SCHEMA,
    )
    op.create_index(
        "plans_expiry_idx", "plans", ["expires_at"], schema=SCHEMA, postgresql_where=sa.text("committed_at IS NULL")
    )
    op.create_table(
        "plan_trips",
        sa.Column("plan_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.plans.id", ondelete="CASCADE"), nullable=False),
        sa.Column("trip_id", sa.Text, nullable=False),
        sa.Column("ordinal", sa.Integer, nullable=False),
        *[sa.Column(name, sa.Text, nullable=False) for name in ("route_id", "rider_id", "vehicle_id")],
        sa.Column("distance_m", sa.Double, nullable=False),
        sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("total_packages", sa.Integer, nullable=False),
        sa.Column("total_weight_kg", sa.Double, nullable=False),
        sa.Column("reasons", JSONB, nullable=False),
        sa.Column("dispatch_id", sa.Text, nullable=True),
        sa.PrimaryKeyConstraint("plan_id", "trip_id", name="plan_trips_pkey"),
        schema=SCHEMA,
    )
    op.create_table(
        "plan_stops",
        sa.Column("plan_id", sa.Text, nullable=False),
        sa.Column("trip_id", sa.Text, nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("pur_id", sa.Text, nullable=False),
        sa.Column("eta", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("plan_id", "trip_id", "sequence", name="plan_stops_pkey"),
        sa.ForeignKeyConstraint(
            ["plan_id", "trip_id"],
            [f"{SCHEMA}.plan_trips.plan_id", f"{SCHEMA}.plan_trips.trip_id"],
            ondelete="CASCADE",
            name="plan_stops_trip_fkey",
        ),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("plan_stops", schema=SCHEMA)
    op.drop_table("plan_trips", schema=SCHEMA)
    op.drop_table("plans", schema=SCHEMA)
    op.drop_table("dispatch_stops", schema=SCHEMA)
    for thing in ("rider", "vehicle"):
        op.drop_index(f"dispatches_one_in_progress_per_{thing}", table_name="dispatches", schema=SCHEMA)
        op.drop_index(f"dispatches_one_active_per_{thing}", table_name="dispatches", schema=SCHEMA)
        _unique(f"dispatches_one_active_per_{thing}", f"{thing}_id", ACTIVE)
    for column in ("planned_end", "planned_start", "plan_id"):
        op.drop_column("dispatches", column, schema=SCHEMA)
