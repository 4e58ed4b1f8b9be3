"""PUR history entries in PostgreSQL (`pur.pickup_history`): written by the PUR repository in the
transaction of the changes they record, read back oldest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from mesh.arrays import columns_of, insert_from_arrays
from pur_svc.adapters.orm import pickup_history
from pur_svc.domain.history import Actor, HistoryEntry
from pur_svc.domain.model import PickupStatus, RouteMatch

H = pickup_history
_COLUMNS = (
    "pur_id",
    "version",
    "changed_at",
    "status",
    "route_id",
    "rider_id",
    "dispatch_id",
    "route_match",
    "map_version",
    "actor_subject",
    "actor_role",
    "reason",
)
_INSERT = insert_from_arrays(H, _COLUMNS)


def _to_row(entry: HistoryEntry) -> dict[str, Any]:
    return {
        "pur_id": entry.pur_id,
        "version": entry.version,
        "changed_at": entry.time,
        "status": entry.status.value,
        "route_id": entry.route_id,
        "rider_id": entry.rider_id,
        "dispatch_id": entry.dispatch_id,
        "route_match": entry.route_match.value if entry.route_match else None,
        "map_version": entry.map_version,
        "actor_subject": entry.actor.subject,
        "actor_role": entry.actor.role,
        "reason": entry.reason,
    }


def _from_row(row: Any) -> HistoryEntry:
    return HistoryEntry(
        pur_id=row.pur_id,
        version=row.version,
        time=row.changed_at,
        status=PickupStatus(row.status),
        route_id=row.route_id,
        rider_id=row.rider_id,
        dispatch_id=row.dispatch_id,
        route_match=RouteMatch(row.route_match) if row.route_match else None,
        map_version=row.map_version,
        actor=Actor(row.actor_subject, row.actor_role),
        reason=row.reason,
    )


def insert_history(session: Session, entries: Sequence[HistoryEntry]) -> None:
    if entries:
        session.execute(_INSERT, columns_of([_to_row(e) for e in entries], _COLUMNS))


def read_history(session: Session, pur_id: str) -> list[HistoryEntry]:
    rows = session.execute(sa.select(H).where(H.c.pur_id == pur_id).order_by(H.c.version))
    return [_from_row(row) for row in rows]
