"""Tables of the `dispatch` schema, which only dispatch_svc reads and writes."""

from __future__ import annotations

from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "dispatch"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)
