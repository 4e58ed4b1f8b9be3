"""The route read model in `dispatch.routes` (domain.routes)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import routes
from dispatch_svc.domain.routes import RouteMapChange
from dispatch_svc.service_layer.repositories import AbstractRouteRepository

R = routes


def _upsert(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert or replace each (hub, route), unless the stored row is of a newer map version."""
    if not rows:
        return
    statement = insert(R)
    replaced = {name: statement.excluded[name] for name in rows[0] if name not in ("hub_id", "route_id")}
    session.execute(
        statement.on_conflict_do_update(
            index_elements=[R.c.hub_id, R.c.route_id],
            set_=replaced,
            where=R.c.map_version <= statement.excluded.map_version,
        ),
        # One order for every writer: two batches of one hub cannot deadlock.
        sorted(rows, key=lambda row: row["route_id"]),
    )


class SqlAlchemyRouteRepository(AbstractRouteRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(self, change: RouteMapChange, now: datetime) -> None:
        stamp: dict[str, Any] = {"hub_id": change.hub_id, "map_version": change.map_version, "updated_at": now}
        kept = [
            stamp
            | {
                "route_id": r.route_id,
                "name": r.name,
                "default_rider_id": r.default_rider_id,
                "active": r.active,
                "priority": r.priority,
                "deleted": False,
            }
            for r in change.routes
        ]
        # A deleted route never seen keeps an empty name: its row only guards against older news.
        gone = [
            stamp | {"route_id": route_id, "name": "", "default_rider_id": "", "active": False, "priority": 0}
            for route_id in change.deleted_route_ids
        ]
        _upsert(self.session, kept)
        if gone:
            statement = insert(R)
            self.session.execute(
                statement.on_conflict_do_update(
                    index_elements=[R.c.hub_id, R.c.route_id],
                    set_={
                        "deleted": True,
                        "active": False,
                        "map_version": statement.excluded.map_version,
                        "updated_at": statement.excluded.updated_at,
                    },
                    where=R.c.map_version <= statement.excluded.map_version,
                ),
                [row | {"deleted": True} for row in sorted(gone, key=lambda row: row["route_id"])],
            )

    def names(self, hub_id: str, route_ids: Collection[str] | None = None) -> dict[str, str]:
        statement = sa.select(R.c.route_id, R.c.name).where(R.c.hub_id == hub_id)
        if route_ids is not None:
            if not route_ids:
                return {}
            statement = statement.where(R.c.route_id.in_(sorted(route_ids)))
        return {row.route_id: row.name for row in self.session.execute(statement)}
