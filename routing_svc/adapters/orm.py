"""Tables of the `routing` schema, which only routing_svc reads and writes."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "routing"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)

# One row per route. `id` is unique across hubs (a route never moves between hubs). The geometry
# is kept as the normalized GeoJSON the domain produced, so it reads back exactly. `map_version`
# is the hub map version in which the route last changed; `cell_count` is its H3 coverage at the
# configured resolution, computed when the map version was compiled.
routes = sa.Table(
    "routes",
    metadata,
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
    sa.Index("routes_hub_id_idx", "hub_id", "id"),
)

# One row per hub that has ever had a route: its current map version. Every change to a hub's
# routes locks this row (SELECT ... FOR UPDATE), so a hub's changes are serialized and each one
# gets the next version. A hub whose routes were all deleted keeps its row (an empty map).
hub_maps = sa.Table(
    "hub_maps",
    metadata,
    sa.Column("hub_id", sa.Text(collation="C"), primary_key=True),
    sa.Column("map_version", sa.BigInteger, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
