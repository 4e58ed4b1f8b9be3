"""What the rider and vehicle repositories share: upsert by id, and a writer lock per id."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session


def upsert(session: Session, table: sa.Table, values: dict[str, Any], now: datetime) -> bool:
    """Insert or replace by id; True when the row was created (xmax = 0 only for a fresh insert)."""
    insert = pg_insert(table).values(**values, created_at=now, updated_at=now)
    upserted = insert.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: insert.excluded[name] for name in (*values, "updated_at") if name != "id"},
    )
    created = sa.literal_column("(xmax = 0)", sa.Boolean).label("created")
    return bool(session.execute(upserted.returning(created)).scalar_one())


def lock_id(session: Session, table: sa.Table, entity_id: str) -> None:
    """Serialize writers of one id until commit, whether or not its row exists yet (a row lock
    cannot cover an id nobody has inserted)."""
    key = sa.func.hashtextextended(f"{table.fullname}:{entity_id}", 0)
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
