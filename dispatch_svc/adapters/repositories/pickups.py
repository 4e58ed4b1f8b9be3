"""Pickups dispatching knows about, in `dispatch.open_pickups`: where each is (queue or
dispatch) and the read model of ListOpenPickupsByRoute."""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import SCHEMA, open_pickups
from dispatch_svc.domain.model import Load, Pickup, PickupStatus, RouteKey, RouteMatch
from dispatch_svc.service_layer.repositories import AbstractPickupRepository
from dispatch_svc.service_layer.views import OpenPickupRow, RouteGroupView
from mesh.arrays import columns_of, insert_from_arrays, update_from_arrays

P = open_pickups


def _pickup(row: Any) -> Pickup:
    return Pickup(
        pur_id=row.pur_id,
        hub_id=row.hub_id,
        route_id=row.route_id,
        pickup_date=row.pickup_date,
        client_id=row.client_id,
        warehouse_name=row.warehouse_name,
        lat=row.lat,
        lng=row.lng,
        packages=row.expected_packages,
        weight_kg=row.expected_weight_kg,
        route_match=RouteMatch(row.route_match) if row.route_match else None,
        default_rider_id=row.default_rider_id,
        status=PickupStatus(row.status),
        pur_version=row.pur_version,
        dispatch_id=row.dispatch_id or "",
        listed=row.listed,
        position=row.position,
        event_version=row.event_version,
    )


def _pickup_row(p: Pickup) -> dict[str, Any]:
    return {
        "pur_id": p.pur_id,
        "hub_id": p.hub_id,
        "route_id": p.route_id,
        "pickup_date": p.pickup_date,
        "client_id": p.client_id,
        "warehouse_name": p.warehouse_name,
        "lat": p.lat,
        "lng": p.lng,
        "expected_packages": p.packages,
        "expected_weight_kg": p.weight_kg,
        "route_match": p.route_match.value if p.route_match else None,
        "default_rider_id": p.default_rider_id,
        "status": p.status.value,
        "dispatch_id": p.dispatch_id or None,
        "listed": p.listed,
        "position": p.position,
        "pur_version": p.pur_version,
        "event_version": p.event_version,
    }


_PICKUP_MUTABLE = (
    "hub_id",
    "route_id",
    "pickup_date",
    "client_id",
    "warehouse_name",
    "lat",
    "lng",
    "expected_packages",
    "expected_weight_kg",
    "route_match",
    "default_rider_id",
    "status",
    "dispatch_id",
    "listed",
    "position",
    "pur_version",
    "event_version",
)

_COLUMNS = ("pur_id", *_PICKUP_MUTABLE)  # every column _pickup_row writes
_INSERT = insert_from_arrays(P, _COLUMNS, same={"created_at": ":now", "updated_at": ":now"})
_UPDATE = update_from_arrays(P, ("pur_id",), _PICKUP_MUTABLE, {"updated_at": ":now"})


class SqlAlchemyPickupRepository(AbstractPickupRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, pur_ids: Iterable[str], *, for_update: bool = False) -> dict[str, Pickup]:
        ids = sorted(set(pur_ids))
        if not ids:
            return {}
        statement = sa.select(P).where(P.c.pur_id.in_(ids)).order_by(P.c.pur_id)
        if for_update:
            statement = statement.with_for_update()
        return {row.pur_id: _pickup(row) for row in self.session.execute(statement)}

    def route_keys(self, pur_ids: Iterable[str]) -> dict[str, RouteKey]:
        ids = sorted(set(pur_ids))
        if not ids:
            return {}
        rows = self.session.execute(
            sa.select(P.c.pur_id, P.c.hub_id, P.c.route_id, P.c.pickup_date).where(P.c.pur_id.in_(ids))
        )
        return {row.pur_id: (row.hub_id, row.route_id, row.pickup_date) for row in rows}

    def _assign_positions(self, pickups: Sequence[Pickup]) -> None:
        missing = [p for p in pickups if p.position is None]
        if not missing:
            return
        values = (
            self.session.execute(
                sa.text(f"SELECT nextval('{SCHEMA}.pickup_position_seq') FROM generate_series(1, :n)"),
                {"n": len(missing)},
            )
            .scalars()
            .all()
        )
        for pickup, position in zip(missing, values, strict=True):
            pickup.position = position

    def add(self, pickups: Sequence[Pickup], now: datetime) -> None:
        if not pickups:
            return
        self._assign_positions(pickups)
        self.session.execute(_INSERT, columns_of([_pickup_row(p) for p in pickups], _COLUMNS) | {"now": now})

    def update(self, pickups: Sequence[Pickup], now: datetime) -> None:
        if not pickups:
            return
        self._assign_positions(pickups)
        # Callers hold the rows' locks already (their routes' locks, then get_many(for_update=True)
        # in key order), so one UPDATE over arrays cannot deadlock whatever order its join takes.
        rows = [_pickup_row(p) for p in pickups]
        self.session.execute(_UPDATE, columns_of(rows, ("pur_id", *_PICKUP_MUTABLE)) | {"now": now})

    def queue(
        self, hub_id: str, route_id: str, pickup_date: date, *, for_update: bool = False, limit: int | None = None
    ) -> list[Pickup]:
        statement = (
            sa.select(P)
            .where(
                P.c.hub_id == hub_id,
                P.c.pickup_date == pickup_date,
                P.c.route_id == route_id,
                P.c.listed,
                ~P.c.in_dispatch,
            )
            .order_by(P.c.position)
            .limit(limit)
        )
        if for_update:
            statement = statement.with_for_update()
        return [_pickup(row) for row in self.session.execute(statement)]

    def queue_load(self, hub_id: str, route_id: str, pickup_date: date) -> tuple[int, Load]:
        row = self.session.execute(
            sa.select(
                sa.func.count(),
                sa.func.coalesce(sa.func.sum(P.c.expected_packages), 0),
                sa.func.coalesce(sa.func.sum(P.c.expected_weight_kg), 0.0),
            ).where(
                P.c.hub_id == hub_id,
                P.c.pickup_date == pickup_date,
                P.c.route_id == route_id,
                P.c.listed,
                ~P.c.in_dispatch,
            )
        ).one()
        return int(row[0]), Load(int(row[1]), float(row[2]))

    def queue_counts(self, hub_id: str, pickup_date: date) -> dict[str, int]:
        rows = self.session.execute(
            sa.select(P.c.route_id, sa.func.count())
            .where(P.c.hub_id == hub_id, P.c.pickup_date == pickup_date, P.c.listed, ~P.c.in_dispatch)
            .group_by(P.c.route_id)
            .order_by(P.c.route_id)
        )
        return {row[0]: int(row[1]) for row in rows}

    def default_rider_ids(self, hub_id: str, route_id: str, pickup_date: date) -> list[str]:
        rows = self.session.execute(
            sa.select(P.c.default_rider_id, sa.func.count())
            .where(
                P.c.hub_id == hub_id,
                P.c.pickup_date == pickup_date,
                P.c.route_id == route_id,
                P.c.listed,
                P.c.default_rider_id != "",
            )
            .group_by(P.c.default_rider_id)
        )
        counts = Counter({row[0]: int(row[1]) for row in rows})
        return [rider for rider, _ in counts.most_common()]

    def open_groups(
        self,
        hub_id: str,
        pickup_date: date,
        route_id: str = "",
        per_route_limit: int = 0,
        *,
        route_ids: Collection[str] | None = None,
    ) -> list[RouteGroupView]:
        """In exactly the order of open_pickups_listed_idx (hub, date, route, in_dispatch, position)."""
        if route_ids is not None and not route_ids:
            return []
        # Short OLTP reads: JIT compilation would cost far more than it saves (seconds on a hub
        # with hundreds of thousands of open pickups, where the planner's estimates pass
        # jit_above_cost).
        self.session.execute(sa.text("SET LOCAL jit = off"))
        where = [P.c.hub_id == hub_id, P.c.pickup_date == pickup_date, P.c.listed]
        if route_id:
            where.append(P.c.route_id == route_id)
        if route_ids is not None:
            where.append(P.c.route_id.in_(sorted(route_ids)))
        if per_route_limit > 0:
            return self._open_groups_limited(hub_id, pickup_date, where, per_route_limit)
        # Every row is returned anyway: one ordered index scan, totals summed here in one pass.
        statement = sa.select(*_OPEN_COLUMNS, P.c.route_id).where(*where)
        statement = statement.order_by(P.c.route_id, P.c.in_dispatch, P.c.position)
        groups: list[RouteGroupView] = []
        make = OpenPickupRow._make
        current: RouteGroupView | None = None
        for row in self.session.execute(statement):
            if current is None or current.route_id != row[10]:
                current = RouteGroupView(row[10], 0, 0, 0.0, 0, [])
                groups.append(current)
            item = make(row[:10])
            current.pickups.append(item)
            current.packages += item.packages
            current.weight_kg += item.weight_kg
            if item.dispatch_id is None:
                current.queued_count += 1
        for group in groups:
            group.pur_count = len(group.pickups)
        return groups

    def _open_groups_limited(
        self, hub_id: str, pickup_date: date, where: list[sa.ColumnElement[bool]], limit: int
    ) -> list[RouteGroupView]:
        """Totals per route by aggregation (of the rows `where` selects), and per route the first
        `limit` queued and the first `limit` dispatched pickups (LATERAL: each a short range scan
        of the index)."""
        totals = (
            sa.select(
                P.c.route_id,
                sa.func.count().label("n"),
                sa.func.sum(P.c.expected_packages).label("packages"),
                sa.func.sum(P.c.expected_weight_kg).label("weight"),
                sa.func.count().filter(~P.c.in_dispatch).label("queued"),
            )
            .where(*where)
            .group_by(P.c.route_id)
            .cte("totals")
        )

        def first(in_dispatch: bool) -> sa.Select:
            inner = P.alias("p")
            return (
                sa.select(*(inner.c[c.name] for c in _OPEN_COLUMNS), inner.c.in_dispatch, inner.c.position)
                .where(
                    inner.c.hub_id == hub_id,
                    inner.c.pickup_date == pickup_date,
                    inner.c.listed,
                    inner.c.route_id == totals.c.route_id,
                    inner.c.in_dispatch == (sa.true() if in_dispatch else sa.false()),
                )
                .order_by(inner.c.position)
                .limit(limit)
            )

        picked = sa.union_all(first(False), first(True)).subquery().lateral("picked")
        statement = (
            sa.select(
                *list(picked.c)[:10], totals.c.route_id, totals.c.n, totals.c.packages, totals.c.weight, totals.c.queued
            )
            .select_from(totals.join(picked, sa.true(), isouter=True))
            .order_by(totals.c.route_id, picked.c.in_dispatch, picked.c.position)
        )
        groups: list[RouteGroupView] = []
        make = OpenPickupRow._make
        current: RouteGroupView | None = None
        for row in self.session.execute(statement):
            if current is None or current.route_id != row[10]:
                current = RouteGroupView(row[10], int(row[11]), int(row[12]), float(row[13]), int(row[14]), [])
                groups.append(current)
            if row[0] is not None and len(current.pickups) < limit:
                current.pickups.append(make(row[:10]))
        return groups


_OPEN_COLUMNS = (
    P.c.pur_id,
    P.c.client_id,
    P.c.warehouse_name,
    P.c.lat,
    P.c.lng,
    P.c.expected_packages,
    P.c.expected_weight_kg,
    P.c.status,
    P.c.dispatch_id,
    P.c.route_match,
)
