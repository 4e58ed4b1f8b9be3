"""Tables of the `dispatch` schema, which only dispatch_svc reads and writes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import MetaData
from sqlalchemy.dialects.postgresql import JSONB

from mesh.outbox import Outbox

SCHEMA = "dispatch"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)

ACTIVE_WHERE = sa.text("status IN ('OPEN', 'IN_PROGRESS')")
BY_HAND_WHERE = sa.text("status IN ('OPEN', 'IN_PROGRESS') AND planned_start IS NULL")
IN_PROGRESS_WHERE = sa.text("status = 'IN_PROGRESS'")
LISTED_WHERE = sa.text("listed")

# Arrival order of pickups in a queue or a dispatch (assigned whenever one enters either).
position_seq = sa.Sequence("pickup_position_seq", metadata=metadata, schema=SCHEMA)

riders = sa.Table(
    "riders",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("phone", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("riders_hub_idx", "hub_id", "id"),
)

vehicles = sa.Table(
    "vehicles",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("capacity_packages", sa.Integer, nullable=False),
    sa.Column("capacity_kg", sa.Double, nullable=False),
    sa.Column("registration", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("capacity_packages > 0 AND capacity_kg > 0", name="vehicles_capacity_positive"),
    sa.Index("vehicles_hub_idx", "hub_id", "id"),
)

# Every routed PUR dispatching has heard of (from pur.events.v1), and where it is now.
open_pickups = sa.Table(
    "open_pickups",
    metadata,
    sa.Column("pur_id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("pickup_date", sa.Date, nullable=False),
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("warehouse_name", sa.Text, nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("lng", sa.Double, nullable=False),
    sa.Column("expected_packages", sa.Integer, nullable=False),
    sa.Column("expected_weight_kg", sa.Double, nullable=False),
    sa.Column("route_match", sa.Text, nullable=True),
    sa.Column("default_rider_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("dispatch_id", sa.Text, nullable=True),
    sa.Column("in_dispatch", sa.Boolean, sa.Computed("dispatch_id IS NOT NULL", persisted=True), nullable=False),
    # Queued or in an OPEN dispatch: what ListOpenPickupsByRoute shows.
    sa.Column("listed", sa.Boolean, nullable=False),
    sa.Column("position", sa.BigInteger, nullable=False),
    # The last PickupStatusChanged version applied; older or equal ones are ignored.
    sa.Column("pur_version", sa.BigInteger, nullable=False),
    # The last DispatchEvent version emitted for this PUR (strictly increasing per PUR).
    sa.Column("event_version", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The hot path: a hub's open pickups of a day by route, queued ones first, each part in
    # arrival order (and a route's queue is one range of it).
    sa.Index(
        "open_pickups_listed_idx",
        "hub_id",
        "pickup_date",
        "route_id",
        "in_dispatch",
        "position",
        postgresql_where=LISTED_WHERE,
    ),
)

dispatches = sa.Table(
    "dispatches",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("request_fingerprint", sa.Text, nullable=False),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("pickup_date", sa.Date, nullable=False),
    sa.Column("rider_id", sa.Text, nullable=False),
    sa.Column("vehicle_id", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("total_packages", sa.Integer, nullable=False),
    sa.Column("total_weight_kg", sa.Double, nullable=False),
    sa.Column("automatic", sa.Boolean, nullable=False),
    sa.Column("cancel_reason", sa.Text, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
    # Committed from a plan: the plan and the trip's window ('' and NULL for one made by hand).
    sa.Column("plan_id", sa.Text, nullable=False, server_default=""),
    sa.Column("planned_start", sa.DateTime(timezone=True), nullable=True),
    sa.Column("planned_end", sa.DateTime(timezone=True), nullable=True),
    sa.UniqueConstraint("hub_id", "request_id", name="dispatches_request_key"),
    # A rider (and a vehicle) is on at most one active dispatch made by hand and one IN_PROGRESS,
    # even under concurrent creates; planned ones follow each other (windows checked under the
    # rider's lock, docs/dispatch.md).
    sa.Index("dispatches_one_active_per_rider", "rider_id", unique=True, postgresql_where=BY_HAND_WHERE),
    sa.Index("dispatches_one_active_per_vehicle", "vehicle_id", unique=True, postgresql_where=BY_HAND_WHERE),
    sa.Index("dispatches_one_in_progress_per_rider", "rider_id", unique=True, postgresql_where=IN_PROGRESS_WHERE),
    sa.Index("dispatches_one_in_progress_per_vehicle", "vehicle_id", unique=True, postgresql_where=IN_PROGRESS_WHERE),
    # History for recommendations, and the OPEN dispatches a routed PUR may join.
    sa.Index("dispatches_route_idx", "hub_id", "route_id", "status", "pickup_date"),
    sa.Index("dispatches_hub_created_idx", "hub_id", sa.text("created_at DESC"), sa.text("id DESC")),
)

# Membership in join order. Rows stay when a dispatch is cancelled (a record of what it held).
dispatch_pickups = sa.Table(
    "dispatch_pickups",
    metadata,
    sa.Column("dispatch_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.dispatches.id", ondelete="CASCADE"), nullable=False),
    sa.Column("pur_id", sa.Text, nullable=False),
    sa.Column("seq", sa.BigInteger, sa.Identity(), nullable=False),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("dispatch_id", "pur_id", name="dispatch_pickups_pkey"),
)

# The route read model (from routing.map-changes.v1): names for the board. Deleted routes stay,
# marked, with the map version that deleted them, so an older summary cannot revive them.
routes = sa.Table(
    "routes",
    metadata,
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
)

# UpsertHub's hubs: the depot and time zone the planner needs.
hubs = sa.Table(
    "hubs",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("lng", sa.Double, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The attendance read model (from attendance.events.v1): the last change per rider and day.
rider_days = sa.Table(
    "rider_days",
    metadata,
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
    sa.Index("rider_days_hub_day_idx", "hub_id", "day"),
)


# Stops of a dispatch committed from a plan, in visiting order.
dispatch_stops = sa.Table(
    "dispatch_stops",
    metadata,
    sa.Column("dispatch_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.dispatches.id", ondelete="CASCADE"), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("pur_id", sa.Text, nullable=False),
    sa.Column("eta", sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint("dispatch_id", "sequence", name="dispatch_stops_pkey"),
)

# PlanDispatches' proposals, kept until they expire (uncommitted ones are then deleted).
plans = sa.Table(
    "plans",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("pickup_date", sa.Date, nullable=False),
    sa.Column("arrival_order_distance_m", sa.Double, nullable=False),
    sa.Column("unplanned", JSONB, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("committed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Index("plans_expiry_idx", "expires_at", postgresql_where=sa.text("committed_at IS NULL")),
)

plan_trips = sa.Table(
    "plan_trips",
    metadata,
    sa.Column("plan_id", sa.Text, sa.ForeignKey(f"{SCHEMA}.plans.id", ondelete="CASCADE"), nullable=False),
    sa.Column("trip_id", sa.Text, nullable=False),
    sa.Column("ordinal", sa.Integer, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("rider_id", sa.Text, nullable=False),
    sa.Column("vehicle_id", sa.Text, nullable=False),
    sa.Column("distance_m", sa.Double, nullable=False),
    sa.Column("start_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("end_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("total_packages", sa.Integer, nullable=False),
    sa.Column("total_weight_kg", sa.Double, nullable=False),
    sa.Column("reasons", JSONB, nullable=False),
    # Set by the commit that created the trip's dispatch.
    sa.Column("dispatch_id", sa.Text, nullable=True),
    sa.PrimaryKeyConstraint("plan_id", "trip_id", name="plan_trips_pkey"),
)

plan_stops = sa.Table(
    "plan_stops",
    metadata,
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
)

# Daily volume per hub, route and day (migration dispatch_0007): observed from pur.events.v1 and
# imported (ImportVolumeHistory; all imported columns set or all NULL). An imported day wins.
volume_days = sa.Table(
    "volume_days",
    metadata,
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
)

# What each PUR adds to its day's observed volume: a PUR counts once, wherever it is now.
volume_observations = sa.Table(
    "volume_observations",
    metadata,
    sa.Column("pur_id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("day", sa.Date, nullable=False),
    sa.Column("packages", sa.Integer, nullable=False),
    sa.Column("weight_kg", sa.Double, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# The last backtest per hub and series (route_id '' = the hub's total) and the history it judged.
volume_backtests = sa.Table(
    "volume_backtests",
    metadata,
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
)
