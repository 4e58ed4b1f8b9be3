"""History and bounded re-routing: every change of a PUR in `pickup_history`, the route's rider
kept apart from the rider of the dispatch, and how far a hub's re-routing after a map change got.

Revision ID: pur_0005
Revises: pur_0004
"""

import sqlalchemy as sa
from alembic import op

revision = "pur_0005"
down_revision = "pur_0004"
branch_labels = None
depends_on = None

SCHEMA = "pur"
ROUTABLE = "('PENDING_ROUTE', 'ROUTED', 'UNROUTABLE')"


def upgrade() -> None:
    op.create_table(
        "pickup_history",
        sa.Column("pur_id", sa.Text, primary_key=True),
        sa.Column("version", sa.BigInteger, primary_key=True),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("route_id", sa.Text, nullable=False),
        sa.Column("rider_id", sa.Text, nullable=False),
        sa.Column("dispatch_id", sa.Text, nullable=False),
        sa.Column("route_match", sa.Text, nullable=True),
        sa.Column("map_version", sa.BigInteger, nullable=False),
        sa.Column("actor_subject", sa.Text, nullable=False),
        sa.Column("actor_role", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        schema=SCHEMA,
    )
    # A PUR older than its history starts with its state as it is now.
    op.execute(
        f"""
        INSERT INTO {SCHEMA}.pickup_history
            (pur_id, version, changed_at, status, route_id, rider_id, dispatch_id, route_match, map_version,
             actor_subject, actor_role, reason)
        SELECT id, version, updated_at, status, route_id, rider_id, dispatch_id, route_match, map_version,
               'pur_svc', 'service', 'state when its history began (earlier changes were not recorded)'
        FROM {SCHEMA}.pickup_requests
        """
    )

    op.add_column(
        "pickup_requests", sa.Column("route_rider_id", sa.Text, nullable=False, server_default=""), schema=SCHEMA
    )
    # Until now rider_id never followed the dispatch: it is the route's rider everywhere.
    op.execute(f"UPDATE {SCHEMA}.pickup_requests SET route_rider_id = rider_id WHERE rider_id <> ''")
    op.create_index(
        "pickup_requests_reroute_idx",
        "pickup_requests",
        ["hub_id", "pickup_date", "id"],
        schema=SCHEMA,
        postgresql_where=sa.text(f"status IN {ROUTABLE}"),
    )
    # NULL: the re-routing of the hub's map_version is done (hubs mapped before now count as done).
    op.add_column("hubs", sa.Column("reroute_pickup_date", sa.Date, nullable=True), schema=SCHEMA)
    op.add_column("hubs", sa.Column("reroute_pur_id", sa.Text, nullable=True), schema=SCHEMA)


def downgrade() -> None:
    op.drop_column("hubs", "reroute_pur_id", schema=SCHEMA)
    op.drop_column("hubs", "reroute_pickup_date", schema=SCHEMA)
    op.drop_index("pickup_requests_reroute_idx", table_name="pickup_requests", schema=SCHEMA)
    op.drop_column("pickup_requests", "route_rider_id", schema=SCHEMA)
    op.drop_table("pickup_history", schema=SCHEMA)
