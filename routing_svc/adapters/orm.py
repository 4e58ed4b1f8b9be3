"""Tables of the `routing` schema, which only routing_svc reads and writes."""

from __future__ import annotations

from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "routing"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)
