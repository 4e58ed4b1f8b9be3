"""Pickup requests in PostgreSQL: rows in and out of the domain model, and the queries the use
cases need. Reads for update lock the rows (`FOR UPDATE`) so concurrent consumers serialize per PUR."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from pur_svc.adapters.orm import hubs, pickup_requests
from pur_svc.domain.model import Location, PickupRequest, PickupStatus, RouteMatch, Warehouse
from pur_svc.service_layer.repositories import AbstractPickupRepository, PageCursor, PickupFilter

T = pickup_requests


def _to_row(pur: PickupRequest) -> dict[str, Any]:
    return {
        "id": pur.id,
        "request_id": pur.request_id,
        "request_fingerprint": pur.request_fingerprint,
        "client_id": pur.client_id,
        "hub_id": pur.hub_id,
        "warehouse_id": pur.warehouse.id,
        "warehouse_name": pur.warehouse.name,
        "warehouse_address": pur.warehouse.address,
        "warehouse_pincode": pur.warehouse.pincode,
        "lat": pur.warehouse.location.lat,
        "lng": pur.warehouse.location.lng,
        "pickup_date": pur.pickup_date,
        "expected_packages": pur.expected_packages,
        "expected_weight_kg": pur.expected_weight_kg,
        "status": pur.status.value,
        "route_id": pur.route_id,
        "rider_id": pur.rider_id,
        "dispatch_id": pur.dispatch_id,
        "route_match": pur.route_match.value if pur.route_match else None,
        "distance_m": pur.distance_m,
        "map_version": pur.map_version,
        "unroutable_reason": pur.unroutable_reason,
        "routed_at": pur.routed_at,
        "cancel_reason": pur.cancel_reason,
        "version": pur.version,
        "dispatch_version": pur.dispatch_version,
        "created_at": pur.created_at,
        "updated_at": pur.updated_at,
    }


def _from_row(row: Any) -> PickupRequest:
    return PickupRequest(
        id=row.id,
        request_id=row.request_id,
        request_fingerprint=row.request_fingerprint,
        client_id=row.client_id,
        hub_id=row.hub_id,
        warehouse=Warehouse(
            id=row.warehouse_id,
            name=row.warehouse_name,
            address=row.warehouse_address,
            pincode=row.warehouse_pincode,
            location=Location(row.lat, row.lng),
        ),
        pickup_date=row.pickup_date,
        expected_packages=row.expected_packages,
        expected_weight_kg=row.expected_weight_kg,
        status=PickupStatus(row.status),
        route_id=row.route_id,
        rider_id=row.rider_id,
        dispatch_id=row.dispatch_id,
        route_match=RouteMatch(row.route_match) if row.route_match else None,
        distance_m=row.distance_m,
        map_version=row.map_version,
        unroutable_reason=row.unroutable_reason,
        routed_at=row.routed_at,
        cancel_reason=row.cancel_reason,
        version=row.version,
        dispatch_version=row.dispatch_version,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_MUTABLE = (
    "hub_id",
    "status",
    "route_id",
    "rider_id",
    "dispatch_id",
    "route_match",
    "distance_m",
    "map_version",
    "unroutable_reason",
    "routed_at",
    "cancel_reason",
    "version",
    "dispatch_version",
    "updated_at",
)


class PickupRepository(AbstractPickupRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def insert_new(self, purs: Sequence[PickupRequest]) -> set[str]:
        if not purs:
            return set()
        # Rows as executemany parameters, not .values(rows): the statement then compiles once
        # and is cached, instead of once per batch size.
        statement = (
            pg_insert(T).on_conflict_do_nothing(constraint="pickup_requests_client_request_key").returning(T.c.id)
        )
        return {row.id for row in self.session.execute(statement, [_to_row(p) for p in purs])}

    def by_request_ids(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], PickupRequest]:
        keys = list(keys)
        if not keys:
            return {}
        rows = self.session.execute(sa.select(T).where(sa.tuple_(T.c.client_id, T.c.request_id).in_(keys)))
        return {(r.client_id, r.request_id): _from_row(r) for r in rows}

    def get(self, pur_id: str, *, for_update: bool = False) -> PickupRequest | None:
        statement = sa.select(T).where(T.c.id == pur_id)
        if for_update:
            statement = statement.with_for_update()
        row = self.session.execute(statement).first()
        return _from_row(row) if row else None

    def get_many_for_update(self, pur_ids: Iterable[str]) -> dict[str, PickupRequest]:
        ids = sorted(set(pur_ids))
        if not ids:
            return {}
        rows = self.session.execute(sa.select(T).where(T.c.id.in_(ids)).order_by(T.c.id).with_for_update())
        return {row.id: _from_row(row) for row in rows}

    def update(self, purs: Sequence[PickupRequest]) -> None:
        if not purs:
            return
        statement = (
            sa.update(T)
            .where(T.c.id == sa.bindparam("b_id"))
            .values({name: sa.bindparam(f"b_{name}") for name in _MUTABLE})
        )
        rows = []
        for pur in purs:
            row = _to_row(pur)
            rows.append({"b_id": pur.id, **{f"b_{name}": row[name] for name in _MUTABLE}})
        self.session.connection().execute(statement, rows)

    def list_page(self, where: PickupFilter, page_size: int, after: PageCursor | None) -> list[PickupRequest]:
        statement = sa.select(T)
        if where.hub_id:
            statement = statement.where(T.c.hub_id == where.hub_id)
        if where.status is not None:
            statement = statement.where(T.c.status == where.status.value)
        if where.route_id:
            statement = statement.where(T.c.route_id == where.route_id)
        if where.pickup_date is not None:
            statement = statement.where(T.c.pickup_date == where.pickup_date)
        if where.client_id:
            statement = statement.where(T.c.client_id == where.client_id)
        if after is not None:
            statement = statement.where(
                sa.tuple_(T.c.created_at, T.c.id) > sa.tuple_(sa.literal(after.created_at), sa.literal(after.id))
            )
        statement = statement.order_by(T.c.created_at, T.c.id).limit(page_size)
        return [_from_row(row) for row in self.session.execute(statement)]

    def needing_reroute(self, hub_id: str, map_version: int) -> list[PickupRequest]:
        routable = [s.value for s in (PickupStatus.PENDING_ROUTE, PickupStatus.ROUTED, PickupStatus.UNROUTABLE)]
        unplaced = [s.value for s in (PickupStatus.PENDING_ROUTE, PickupStatus.UNROUTABLE)]
        statement = (
            sa.select(T)
            .where(
                sa.or_(
                    sa.and_(T.c.hub_id == hub_id, T.c.status.in_(routable), T.c.map_version < map_version),
                    sa.and_(T.c.hub_id == "", T.c.status.in_(unplaced)),
                )
            )
            .order_by(T.c.id)
        )
        return [_from_row(row) for row in self.session.execute(statement)]

    # -- hubs -------------------------------------------------------------------------------

    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        ids = {h for h in hub_ids if h}
        if not ids:
            return set()
        return set(self.session.execute(sa.select(hubs.c.hub_id).where(hubs.c.hub_id.in_(ids))).scalars())

    def record_hub_map(self, hub_id: str, map_version: int, now: datetime) -> bool:
        statement = (
            pg_insert(hubs)
            .values(hub_id=hub_id, map_version=map_version, updated_at=now)
            .on_conflict_do_update(
                index_elements=[hubs.c.hub_id],
                set_={"map_version": map_version, "updated_at": now},
                where=hubs.c.map_version < map_version,
            )
            .returning(hubs.c.hub_id)
        )
        return self.session.execute(statement).first() is not None
