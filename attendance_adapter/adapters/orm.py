"""Tables of the `attendance` schema, which only attendance_adapter reads and writes."""

from __future__ import annotations

from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "attendance"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)
