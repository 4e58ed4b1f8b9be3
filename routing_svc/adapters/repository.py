"""Routes and hub map versions in PostgreSQL: rows in and out of the domain, and the queries the
use cases need.

Every change to a hub's routes first locks the hub's `hub_maps` row (`lock_hub_map`), so the
changes of one hub are serialized and each gets the next map version; readers that need a
consistent (version, routes) pair take the same row `FOR SHARE` (`hub_map_snapshot`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from routing_svc.adapters.orm import hub_maps, routes
from routing_svc.domain.errors import RouteIdTaken
from routing_svc.domain.model import HubMapSnapshot, RouteRecord
from routing_svc.service_layer.repositories import AbstractRouteRepository

T = routes


def _from_row(row: Any) -> RouteRecord:
    return RouteRecord(
        id=row.id,
        hub_id=row.hub_id,
        name=row.name,
        geometry_geojson=row.geometry_geojson,
        default_rider_id=row.default_rider_id,
        priority=row.priority,
        active=row.active,
        cell_count=row.cell_count,
        map_version=row.map_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _to_row(record: RouteRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "hub_id": record.hub_id,
        "name": record.name,
        "geometry_geojson": record.geometry_geojson,
        "default_rider_id": record.default_rider_id,
        "priority": record.priority,
        "active": record.active,
        "cell_count": record.cell_count,
        "map_version": record.map_version,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }


_MUTABLE = (
    "name",
    "geometry_geojson",
    "default_rider_id",
    "priority",
    "active",
    "cell_count",
    "map_version",
    "updated_at",
)


class SqlAlchemyRouteRepository(AbstractRouteRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- hub map versions -------------------------------------------------------------------

    def lock_hub_map(self, hub_id: str, now: datetime) -> int:
        """Lock the hub's map row for this transaction (creating it at version 0 if the hub is
        new) and return its current version. Concurrent changes of the hub wait here."""
        self.session.execute(
            pg_insert(hub_maps)
            .values(hub_id=hub_id, map_version=0, updated_at=now)
            .on_conflict_do_nothing(index_elements=[hub_maps.c.hub_id])
        )
        return self.session.execute(
            sa.select(hub_maps.c.map_version).where(hub_maps.c.hub_id == hub_id).with_for_update()
        ).scalar_one()

    def set_hub_map_version(self, hub_id: str, map_version: int, now: datetime) -> None:
        self.session.execute(
            sa.update(hub_maps).where(hub_maps.c.hub_id == hub_id).values(map_version=map_version, updated_at=now)
        )

    def hub_map_version(self, hub_id: str) -> int | None:
        """The hub's current map version, or None for a hub that never had a route (or has
        only the version-0 placeholder of a change that did not commit anything)."""
        version = self.session.execute(sa.select(hub_maps.c.map_version).where(hub_maps.c.hub_id == hub_id)).scalar()
        return version if version else None

    def hub_map_versions(self) -> dict[str, int]:
        """Every hub with a map, and its current version."""
        rows = self.session.execute(
            sa.select(hub_maps.c.hub_id, hub_maps.c.map_version).where(hub_maps.c.map_version > 0)
        )
        return {row.hub_id: row.map_version for row in rows}

    def hub_map_snapshot(self, hub_id: str) -> HubMapSnapshot | None:
        """The hub's version and active routes as of one moment: the hub row is read FOR SHARE,
        which waits for a change in progress and keeps the next one out until this transaction
        ends, so the routes read next belong to exactly that version."""
        version = self.session.execute(
            sa.select(hub_maps.c.map_version).where(hub_maps.c.hub_id == hub_id).with_for_update(read=True)
        ).scalar()
        if not version:
            return None
        rows = self.session.execute(sa.select(T).where(T.c.hub_id == hub_id, T.c.active.is_(True)).order_by(T.c.id))
        return HubMapSnapshot(hub_id, version, [_from_row(row) for row in rows])

    # -- routes -----------------------------------------------------------------------------

    def get(self, route_id: str) -> RouteRecord | None:
        row = self.session.execute(sa.select(T).where(T.c.id == route_id)).first()
        return _from_row(row) if row else None

    def hub_routes(self, hub_id: str) -> dict[str, RouteRecord]:
        """All routes of the hub, active or not, by id (call with the hub map locked)."""
        rows = self.session.execute(sa.select(T).where(T.c.hub_id == hub_id))
        return {row.id: _from_row(row) for row in rows}

    def hubs_of(self, route_ids: Iterable[str]) -> dict[str, str]:
        """route id -> hub id of the given ids that exist (in any hub)."""
        ids = sorted(set(route_ids))
        if not ids:
            return {}
        rows = self.session.execute(sa.select(T.c.id, T.c.hub_id).where(T.c.id.in_(ids)))
        return {row.id: row.hub_id for row in rows}

    def insert(self, records: Sequence[RouteRecord]) -> None:
        """Insert new routes in id order. The primary key is the cross-hub uniqueness of route
        ids: a concurrent insert of the same id in another hub violates it."""
        if not records:
            return
        try:
            self.session.execute(sa.insert(T), [_to_row(r) for r in sorted(records, key=lambda r: r.id)])
        except sa.exc.IntegrityError:
            ids = ", ".join(sorted(r.id for r in records))
            raise RouteIdTaken(f"route id(s) {ids} were just taken by another hub") from None

    def update(self, records: Sequence[RouteRecord]) -> None:
        if not records:
            return
        statement = (
            sa.update(T)
            .where(T.c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(f"b_{name}") for name in _MUTABLE})
        )
        rows = []
        for record in sorted(records, key=lambda r: r.id):
            row = _to_row(record)
            rows.append({"b_id": record.id, **{f"b_{name}": row[name] for name in _MUTABLE}})
        self.session.connection().execute(statement, rows)

    def set_cell_counts(self, cell_counts: Mapping[str, int]) -> None:
        if not cell_counts:
            return
        statement = sa.update(T).where(T.c.id == sa.bindparam("b_id")).values(cell_count=sa.bindparam("b_count"))
        self.session.connection().execute(
            statement, [{"b_id": route_id, "b_count": count} for route_id, count in sorted(cell_counts.items())]
        )

    def delete(self, route_ids: Iterable[str]) -> None:
        ids = sorted(set(route_ids))
        if ids:
            self.session.execute(sa.delete(T).where(T.c.id.in_(ids)))

    def list(
        self,
        hub_id: str,
        *,
        include_inactive: bool,
        page_size: int,
        after_id: str | None,
        with_geometry: bool = True,
    ) -> list[RouteRecord]:
        """One page of the hub's routes ordered by id (byte order: the column's collation is "C")."""
        columns = (
            list(T.c)
            if with_geometry
            else [sa.literal("").label("geometry_geojson") if c.name == "geometry_geojson" else c for c in T.c]
        )
        statement = sa.select(*columns).where(T.c.hub_id == hub_id)
        if not include_inactive:
            statement = statement.where(T.c.active.is_(True))
        if after_id is not None:
            statement = statement.where(T.c.id > after_id)
        statement = statement.order_by(T.c.id).limit(page_size)
        return [_from_row(row) for row in self.session.execute(statement)]
