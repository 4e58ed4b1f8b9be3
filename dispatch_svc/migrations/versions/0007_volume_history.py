"""Volume history for forecasting (docs/dispatch.md, "Volume history and forecasts").

- `volume_days`: one row per hub, route and day. The observed columns are kept up to date by the
  pur.events.v1 consumer from `volume_observations`; the imported columns hold what
  ImportVolumeHistory wrote (all set or all NULL). An imported day takes the place of the observed.
- `volume_observations`: what each PUR adds to its day's observed volume, so a PUR counts exactly
  once, moves with a re-route, and leaves when it stops counting (cancelled, unroutable).
- `volume_backtests`: the last backtest per hub and series (route_id '' = the hub's total), with a
  fingerprint of the history and settings it was computed on.

The PURs dispatch_svc saw before this migration (every routed one is in `open_pickups`) are
counted by it, by the same rule as the consumer's (domain.volumes). An index on `open_pickups`
by hub and day serves the fleet need's look at a route's recent pickups (the listed index covers
only open ones).

Revision ID: dispatch_0007
Revises: dispatch_0006
"""

import sqlalchemy as sa
from alembic import op

revision = "dispatch_0007"
down_revision = "dispatch_0006"
branch_labels = None
depends_on = None

SCHEMA = "dispatch"
# domain.volumes.COUNTED, as stored in open_pickups.status (a migration does not import the domain).
COUNTED = "'ROUTED', 'DISPATCHED', 'PICKED_UP'"


def upgrade() -> None:
    op.create_table(
        "volume_days",
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("observed_pickups", sa.Integer, nullable=False, server_default="0"),
        sa.Column("observed_packages", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("observed_weight_kg", sa.Double, nullable=False, server_default="0"),
        sa.Column("imported_pickups", sa.Integer, nullable=True),
        sa.Column("imported_packages", sa.BigInteger, nullable=True),
        sa.Column("imported_weight_kg", sa.Double, nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hub_id", "route_id", "day", name="volume_days_pkey"),
        sa.CheckConstraint(
            "observed_pickups >= 0 AND observed_packages >= 0 AND observed_weight_kg >= 0",
            name="volume_days_observed_not_negative",
        ),
        sa.CheckConstraint(
            "(imported_at IS NULL) = (imported_pickups IS NULL) AND (imported_at IS NULL) = (imported_packages IS NULL)"
            " AND (imported_at IS NULL) = (imported_weight_kg IS NULL)"
            " AND (imported_at IS NULL OR (imported_pickups >= 0 AND imported_packages >= 0"
            " AND imported_weight_kg >= 0 AND imported_weight_kg < 'Infinity'::float8))",
            name="volume_days_imported_whole",
        ),
        schema=SCHEMA,
    )
    op.create_table(
        "volume_observations",
        sa.Column("pur_id", sa.Text, primary_key=True),
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("day", sa.Date, nullable=False),
        sa.Column("packages", sa.Integer, nullable=False),
        sa.Column("weight_kg", sa.Double, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "volume_backtests",
        sa.Column("hub_id", sa.Text, nullable=False),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=False),
        sa.Column("mase", sa.Double, nullable=True),
        sa.Column("coverage", sa.Double, nullable=True),
        sa.Column("origins", sa.Integer, nullable=False),
        sa.Column("horizon", sa.Integer, nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("hub_id", "route_id", name="volume_backtests_pkey"),
        schema=SCHEMA,
    )
    op.create_index("open_pickups_hub_day_idx", "open_pickups", ["hub_id", "pickup_date"], schema=SCHEMA)
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.volume_observations (pur_id, hub_id, route_id, day, packages, weight_kg, updated_at)
        SELECT pur_id, hub_id, route_id, pickup_date, expected_packages, expected_weight_kg, now()
        FROM {SCHEMA}.open_pickups WHERE status IN ({COUNTED})
        """
    )
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.volume_days
            (hub_id, route_id, day, observed_pickups, observed_packages, observed_weight_kg, updated_at)
        SELECT hub_id, route_id, day, count(*), sum(packages), sum(weight_kg), now()
        FROM {SCHEMA}.volume_observations GROUP BY hub_id, route_id, day
        """
    )


def downgrade() -> None:
    op.drop_index("open_pickups_hub_day_idx", table_name="open_pickups", schema=SCHEMA)
    op.drop_table("volume_backtests", schema=SCHEMA)
    op.drop_table("volume_observations", schema=SCHEMA)
    op.drop_table("volume_days", schema=SCHEMA)
