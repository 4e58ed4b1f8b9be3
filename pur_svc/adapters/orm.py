"""Tables of the `pur` schema, which only pur_svc reads and writes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "pur"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)

pickup_requests = sa.Table(
    "pickup_requests",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("request_id", sa.Text, nullable=False),
    sa.Column("request_fingerprint", sa.Text, nullable=False),
    sa.Column("client_id", sa.Text, nullable=False),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("warehouse_id", sa.Text, nullable=False),
    sa.Column("warehouse_name", sa.Text, nullable=False),
    sa.Column("warehouse_address", sa.Text, nullable=False),
    sa.Column("warehouse_pincode", sa.Text, nullable=False),
    sa.Column("lat", sa.Double, nullable=False),
    sa.Column("lng", sa.Double, nullable=False),
    sa.Column("pickup_date", sa.Date, nullable=False),
    sa.Column("expected_packages", sa.Integer, nullable=False),
    sa.Column("expected_weight_kg", sa.Double, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("route_id", sa.Text, nullable=False),
    sa.Column("rider_id", sa.Text, nullable=False),
    sa.Column("dispatch_id", sa.Text, nullable=False),
    sa.Column("route_match", sa.Text, nullable=True),
    sa.Column("distance_m", sa.Double, nullable=False),
    sa.Column("map_version", sa.BigInteger, nullable=False),
    sa.Column("unroutable_reason", sa.Text, nullable=False),
    sa.Column("routed_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("cancel_reason", sa.Text, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("dispatch_version", sa.BigInteger, nullable=False, server_default="0"),
    # The manual queue (pur_0004): a PUR is in it while `review` is set.
    sa.Column("review", sa.Text, nullable=True),
    sa.Column("nearest_route_id", sa.Text, nullable=False, server_default=""),
    sa.Column("nearest_distance_m", sa.Double, nullable=False, server_default="0"),
    sa.Column("manual_reason", sa.Text, nullable=False, server_default=""),
    # The rider routing (or a manual assignment) gave, restored when a dispatch releases it (pur_0005).
    sa.Column("route_rider_id", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("client_id", "request_id", name="pickup_requests_client_request_key"),
    sa.Index("pickup_requests_hub_status_date_idx", "hub_id", "status", "pickup_date"),
    sa.Index("pickup_requests_route_idx", "route_id", "status"),
    sa.Index("pickup_requests_created_idx", "created_at", "id"),
    # Serves ListManualQueue (one hub's queue, or the hubless one, in page order): only the few
    # PURs that need a person are in it.
    sa.Index(
        "pickup_requests_manual_queue_idx",
        "hub_id",
        "created_at",
        "id",
        postgresql_where=sa.text("review IS NOT NULL"),
    ),
    # Serves the re-routing after a map change: a hub's undispatched PURs from today on, in
    # (pickup_date, id) order, a batch at a time (pur_0005).
    sa.Index(
        "pickup_requests_reroute_idx",
        "hub_id",
        "pickup_date",
        "id",
        postgresql_where=sa.text("status IN ('PENDING_ROUTE', 'ROUTED', 'UNROUTABLE')"),
    ),
)

# Hubs this service has heard of from routing.map-changes.v1, with their newest map version:
# a PUR for a hub nobody mapped is refused, and a map change knows which PURs it re-routes.
hubs = sa.Table(
    "hubs",
    metadata,
    sa.Column("hub_id", sa.Text, primary_key=True),
    sa.Column("map_version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # How far the re-routing of map_version got, in (pickup_date, id) order; NULL: done (pur_0005).
    sa.Column("reroute_pickup_date", sa.Date, nullable=True),
    sa.Column("reroute_pur_id", sa.Text, nullable=True),
)

# pur_svc's read model of routing's routes, kept from routing.map-changes.v1 (pur_0004): a manual
# assignment is checked against it. `map_version` is the version that last wrote the row, so an
# older event replayed changes nothing; a deleted route stays as a tombstone (`deleted`).
routes = sa.Table(
    "routes",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("hub_id", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("default_rider_id", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("map_version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Every change of a PUR, its state right after the change, who made it and why (pur_0005); written
# in the transaction of the change. Ordered per PUR by its revision.
pickup_history = sa.Table(
    "pickup_history",
    metadata,
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
)
