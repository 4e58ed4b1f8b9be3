"""Tables of the `pur` schema, which only pur_svc reads and writes."""

from __future__ import annotations

from sqlalchemy import MetaData

from mesh.outbox import Outbox

SCHEMA = "pur"

metadata = MetaData(schema=SCHEMA)
outbox = Outbox(SCHEMA, metadata)
