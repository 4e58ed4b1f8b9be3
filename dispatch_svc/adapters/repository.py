"""dispatch_svc's tables in PostgreSQL: rows in and out of the domain model, and the queries the
use cases need. Reads for update lock rows (`FOR UPDATE`, in id order so batches cannot deadlock);
the unit of work also takes a transaction-scoped advisory lock per (hub, route, date) before any
change to that route's queue or dispatches, so every such change is serialized across replicas."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import SCHEMA, dispatch_pickups, dispatches, open_pickups, riders, vehicles
from dispatch_svc.domain.model import (
    ACTIVE_STATES,
    Dispatch,
    DispatchStatus,
    Load,
    Pickup,
    PickupStatus,
    Rider,
    RouteMatch,
    Vehicle,
    VehicleType,
)
from dispatch_svc.domain.ranking import ActiveDispatchRef, PastDispatch

P = open_pickups
D = dispatches
M = dispatch_pickups
ACTIVE_VALUES = [s.value for s in ACTIVE_STATES]


# -- riders and vehicles --------------------------------------------------------------------------


def _upsert(session: Session, table: sa.Table, values: dict[str, Any], now: datetime) -> bool:
    """Insert or replace by id; True when the row was created (xmax = 0 only for a fresh insert)."""
    statement = pg_insert(table).values(**values, created_at=now, updated_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.id],
        set_={name: statement.excluded[name] for name in (*values, "updated_at") if name != "id"},
    ).returning(sa.literal_column("(xmax = 0)").label("created"))
    return bool(session.execute(statement).scalar_one())


def _lock_id(session: Session, table: sa.Table, entity_id: str) -> None:
    """Serialize writers of one id until commit, whether or not its row exists yet (a row lock
    cannot cover an id nobody has inserted)."""
    key = sa.func.hashtextextended(f"{table.fullname}:{entity_id}", 0)
    session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))


def _rider(row: Any) -> Rider:
    return Rider(id=row.id, hub_id=row.hub_id, name=row.name, phone=row.phone, active=row.active)


def _vehicle(row: Any) -> Vehicle:
    return Vehicle(
        id=row.id,
        hub_id=row.hub_id,
        type=VehicleType(row.type),
        capacity_packages=row.capacity_packages,
        capacity_kg=row.capacity_kg,
        registration=row.registration,
        active=row.active,
    )


class RiderRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, rider: Rider, now: datetime) -> bool:
        values = {
            "id": rider.id,
            "hub_id": rider.hub_id,
            "name": rider.name,
            "phone": rider.phone,
            "active": rider.active,
        }
        return _upsert(self.session, riders, values, now)

    def get(self, rider_id: str, *, lock: bool = False) -> Rider | None:
        """`lock`: hold the id (existing or not) until commit, for a read-check-write."""
        if lock:
            _lock_id(self.session, riders, rider_id)
        row = self.session.execute(sa.select(riders).where(riders.c.id == rider_id)).first()
        return _rider(row) if row else None

    def of_hub(self, hub_id: str) -> list[Rider]:
        rows = self.session.execute(sa.select(riders).where(riders.c.hub_id == hub_id).order_by(riders.c.id))
        return [_rider(row) for row in rows]


class VehicleRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def upsert(self, vehicle: Vehicle, now: datetime) -> bool:
        values = {
            "id": vehicle.id,
            "hub_id": vehicle.hub_id,
            "type": vehicle.type.value,
            "capacity_packages": vehicle.capacity_packages,
            "capacity_kg": vehicle.capacity_kg,
            "registration": vehicle.registration,
            "active": vehicle.active,
        }
        return _upsert(self.session, vehicles, values, now)

    def get(self, vehicle_id: str, *, lock: bool = False) -> Vehicle | None:
        """`lock`: hold the id (existing or not) until commit, for a read-check-write."""
        if lock:
            _lock_id(self.session, vehicles, vehicle_id)
        row = self.session.execute(sa.select(vehicles).where(vehicles.c.id == vehicle_id)).first()
        return _vehicle(row) if row else None

    def of_hub(self, hub_id: str) -> list[Vehicle]:
        rows = self.session.execute(sa.select(vehicles).where(vehicles.c.hub_id == hub_id).order_by(vehicles.c.id))
        return [_vehicle(row) for row in rows]


# -- pickups --------------------------------------------------------------------------------------


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


class OpenPickupRow(NamedTuple):
    """One listed pickup (ListOpenPickupsByRoute's read model). Plain values straight from the
    row, so that listing tens of thousands stays cheap: `status` and `route_match` are the
    PickupStatus / RouteMatch values as stored, `dispatch_id` is None while queued."""

    pur_id: str
    client_id: str
    warehouse_name: str
    lat: float
    lng: float
    packages: int
    weight_kg: float
    status: str
    dispatch_id: str | None
    route_match: str | None


@dataclass
class RouteGroupView:
    route_id: str
    pur_count: int
    packages: int
    weight_kg: float
    queued_count: int
    pickups: list[OpenPickupRow]
    open_dispatch: Dispatch | None = None


class PickupRepository:
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

    def route_keys(self, pur_ids: Iterable[str]) -> dict[str, tuple[str, str, date]]:
        """Where the known PURs are now (no lock): the routes a batch must lock."""
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
        self.session.execute(sa.insert(P), [{**_pickup_row(p), "created_at": now, "updated_at": now} for p in pickups])

    def update(self, pickups: Sequence[Pickup], now: datetime) -> None:
        if not pickups:
            return
        self._assign_positions(pickups)
        statement = (
            sa.update(P)
            .where(P.c.pur_id == sa.bindparam("b_pur_id"))
            .values({name: sa.bindparam(f"b_{name}") for name in (*_PICKUP_MUTABLE, "updated_at")})
        )
        rows = []
        for pickup in pickups:
            row = _pickup_row(pickup) | {"updated_at": now}
            rows.append({f"b_{name}": value for name, value in row.items()})
        self.session.connection().execute(statement, rows)

    def queue(self, hub_id: str, route_id: str, pickup_date: date, *, for_update: bool = False) -> list[Pickup]:
        """The route's queued pickups for the day, in arrival order."""
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
        """Queued pickups per route of a hub for a day (auto-dispatch's scan)."""
        rows = self.session.execute(
            sa.select(P.c.route_id, sa.func.count())
            .where(P.c.hub_id == hub_id, P.c.pickup_date == pickup_date, P.c.listed, ~P.c.in_dispatch)
            .group_by(P.c.route_id)
            .order_by(P.c.route_id)
        )
        return {row[0]: int(row[1]) for row in rows}

    def default_rider_ids(self, hub_id: str, route_id: str, pickup_date: date) -> list[str]:
        """The rider routing gave the route's pickups of the day (the most common one first)."""
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
        self, hub_id: str, pickup_date: date, route_id: str = "", per_route_limit: int = 0
    ) -> list[RouteGroupView]:
        """A hub's listed pickups of a day, grouped by route (ordered by route id), queued ones
        first, then those in an OPEN dispatch, each part in arrival order: exactly the order of
        open_pickups_listed_idx (hub, date, route, in_dispatch, position). Totals cover all of a
        route's pickups; at most `per_route_limit` (0 = all) pickups are returned per route."""
        # Short OLTP reads: JIT compilation would cost far more than it saves (seconds on a hub
        # with hundreds of thousands of open pickups, where the planner's estimates pass
        # jit_above_cost).
        self.session.execute(sa.text("SET LOCAL jit = off"))
        if per_route_limit > 0:
            return self._open_groups_limited(hub_id, pickup_date, route_id, per_route_limit)
        # Every row is returned anyway: one ordered index scan, totals summed here in one pass.
        statement = sa.select(*_OPEN_COLUMNS, P.c.route_id).where(
            P.c.hub_id == hub_id, P.c.pickup_date == pickup_date, P.c.listed
        )
        if route_id:
            statement = statement.where(P.c.route_id == route_id)
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

    def _open_groups_limited(self, hub_id: str, pickup_date: date, route_id: str, limit: int) -> list[RouteGroupView]:
        """Totals per route by aggregation, and per route the first `limit` queued and the first
        `limit` dispatched pickups (LATERAL: each a short range scan of the index)."""
        where = [P.c.hub_id == hub_id, P.c.pickup_date == pickup_date, P.c.listed]
        if route_id:
            where.append(P.c.route_id == route_id)
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


# -- dispatches -----------------------------------------------------------------------------------


def _dispatch_row(d: Dispatch) -> dict[str, Any]:
    return {
        "id": d.id,
        "request_id": d.request_id,
        "request_fingerprint": d.request_fingerprint,
        "hub_id": d.hub_id,
        "route_id": d.route_id,
        "pickup_date": d.pickup_date,
        "rider_id": d.rider_id,
        "vehicle_id": d.vehicle_id,
        "status": d.status.value,
        "total_packages": d.load.packages,
        "total_weight_kg": d.load.weight_kg,
        "automatic": d.automatic,
        "cancel_reason": d.cancel_reason,
        "version": d.version,
        "created_at": d.created_at,
        "updated_at": d.updated_at,
        "started_at": d.started_at,
        "completed_at": d.completed_at,
        "cancelled_at": d.cancelled_at,
    }


_DISPATCH_MUTABLE = (
    "status",
    "total_packages",
    "total_weight_kg",
    "cancel_reason",
    "version",
    "updated_at",
    "started_at",
    "completed_at",
    "cancelled_at",
)


@dataclass(frozen=True)
class DispatchFilter:
    hub_id: str
    route_id: str = ""
    pickup_date: date | None = None
    rider_id: str = ""
    status: DispatchStatus | None = None


@dataclass(frozen=True)
class DispatchCursor:
    """Position after the last row of a page: rows are ordered by (created_at, id) descending."""

    created_at: datetime
    id: str


class DispatchRepository:
    def __init__(self, session: Session) -> None:
        self.session = session
        # Membership as loaded, so `update` writes only what changed.
        self._members: dict[str, list[str]] = {}

    def _select(self) -> sa.Select:
        return sa.select(D, vehicles.c.capacity_packages, vehicles.c.capacity_kg).join(
            vehicles, vehicles.c.id == D.c.vehicle_id
        )

    def _load(self, rows: Sequence[Any]) -> list[Dispatch]:
        ids = [row.id for row in rows]
        members: dict[str, list[str]] = {i: [] for i in ids}
        if ids:
            for dispatch_id, pur_id in self.session.execute(
                sa.select(M.c.dispatch_id, M.c.pur_id)
                .where(M.c.dispatch_id.in_(ids))
                .order_by(M.c.dispatch_id, M.c.seq)
            ):
                members[dispatch_id].append(pur_id)
        result = []
        for row in rows:
            self._members[row.id] = list(members[row.id])
            result.append(
                Dispatch(
                    id=row.id,
                    request_id=row.request_id,
                    request_fingerprint=row.request_fingerprint,
                    hub_id=row.hub_id,
                    route_id=row.route_id,
                    pickup_date=row.pickup_date,
                    rider_id=row.rider_id,
                    vehicle_id=row.vehicle_id,
                    capacity=Load(row.capacity_packages, row.capacity_kg),
                    created_at=row.created_at,
                    updated_at=row.updated_at,
                    status=DispatchStatus(row.status),
                    pur_ids=members[row.id],
                    load=Load(row.total_packages, row.total_weight_kg),
                    automatic=row.automatic,
                    started_at=row.started_at,
                    completed_at=row.completed_at,
                    cancelled_at=row.cancelled_at,
                    cancel_reason=row.cancel_reason,
                    version=row.version,
                )
            )
        return result

    def get(self, dispatch_id: str, *, for_update: bool = False) -> Dispatch | None:
        statement = self._select().where(D.c.id == dispatch_id)
        if for_update:
            statement = statement.with_for_update(of=D)
        rows = self.session.execute(statement).all()
        loaded = self._load(rows)
        return loaded[0] if loaded else None

    def get_many(self, dispatch_ids: Iterable[str], *, for_update: bool = False) -> dict[str, Dispatch]:
        ids = sorted(set(dispatch_ids))
        if not ids:
            return {}
        statement = self._select().where(D.c.id.in_(ids)).order_by(D.c.id)
        if for_update:
            statement = statement.with_for_update(of=D)
        return {d.id: d for d in self._load(self.session.execute(statement).all())}

    def by_request_id(self, hub_id: str, request_id: str) -> Dispatch | None:
        rows = self.session.execute(self._select().where(D.c.hub_id == hub_id, D.c.request_id == request_id)).all()
        loaded = self._load(rows)
        return loaded[0] if loaded else None

    def open_for_route(
        self, hub_id: str, route_id: str, pickup_date: date, *, for_update: bool = False
    ) -> list[Dispatch]:
        """The route's OPEN dispatches for the day, oldest first (the order pickups join them)."""
        statement = (
            self._select()
            .where(
                D.c.hub_id == hub_id,
                D.c.route_id == route_id,
                D.c.status == DispatchStatus.OPEN.value,
                D.c.pickup_date == pickup_date,
            )
            .order_by(D.c.created_at, D.c.id)
        )
        if for_update:
            statement = statement.with_for_update(of=D)
        return self._load(self.session.execute(statement).all())

    def oldest_open_by_route(self, hub_id: str, pickup_date: date, route_id: str = "") -> dict[str, Dispatch]:
        statement = (
            self._select()
            .where(D.c.hub_id == hub_id, D.c.pickup_date == pickup_date, D.c.status == DispatchStatus.OPEN.value)
            .order_by(D.c.route_id, D.c.created_at, D.c.id)
        )
        if route_id:
            statement = statement.where(D.c.route_id == route_id)
        rows = self.session.execute(statement).all()
        first: dict[str, Any] = {}
        for row in rows:
            first.setdefault(row.route_id, row)
        return {d.route_id: d for d in self._load(list(first.values()))}

    def add(self, dispatch: Dispatch) -> None:
        self.session.execute(sa.insert(D).values(**_dispatch_row(dispatch)))
        self._members[dispatch.id] = []
        self._sync_members(dispatch)

    def update(self, dispatch: Dispatch) -> None:
        row = _dispatch_row(dispatch)
        self.session.execute(
            sa.update(D).where(D.c.id == dispatch.id).values({name: row[name] for name in _DISPATCH_MUTABLE})
        )
        self._sync_members(dispatch)

    def _sync_members(self, dispatch: Dispatch) -> None:
        before = self._members.get(dispatch.id, [])
        now_ids = set(dispatch.pur_ids)
        gone = [pur_id for pur_id in before if pur_id not in now_ids]
        if gone:
            self.session.execute(sa.delete(M).where(M.c.dispatch_id == dispatch.id, M.c.pur_id.in_(gone)))
        known = set(before)
        new = [pur_id for pur_id in dispatch.pur_ids if pur_id not in known]
        if new:
            self.session.execute(
                sa.insert(M),
                [{"dispatch_id": dispatch.id, "pur_id": pur_id, "added_at": dispatch.updated_at} for pur_id in new],
            )
        self._members[dispatch.id] = list(dispatch.pur_ids)

    def active_for(
        self, *, rider_ids: Iterable[str] = (), vehicle_ids: Iterable[str] = ()
    ) -> tuple[dict[str, ActiveDispatchRef], dict[str, ActiveDispatchRef]]:
        """Active dispatches of the given riders and vehicles."""
        riders_ = sorted(set(rider_ids))
        vehicles_ = sorted(set(vehicle_ids))
        by_rider: dict[str, ActiveDispatchRef] = {}
        by_vehicle: dict[str, ActiveDispatchRef] = {}
        if not riders_ and not vehicles_:
            return by_rider, by_vehicle
        rows = self.session.execute(
            sa.select(D.c.id, D.c.route_id, D.c.status, D.c.rider_id, D.c.vehicle_id).where(
                D.c.status.in_(ACTIVE_VALUES), sa.or_(D.c.rider_id.in_(riders_), D.c.vehicle_id.in_(vehicles_))
            )
        )
        for row in rows:
            ref = ActiveDispatchRef(row.id, row.route_id, row.status)
            if row.rider_id in riders_:
                by_rider[row.rider_id] = ref
            if row.vehicle_id in vehicles_:
                by_vehicle[row.vehicle_id] = ref
        return by_rider, by_vehicle

    def history(self, hub_id: str, route_id: str, since: date, until: date) -> list[PastDispatch]:
        rows = self.session.execute(
            sa.select(D.c.rider_id, D.c.vehicle_id, D.c.pickup_date).where(
                D.c.hub_id == hub_id,
                D.c.route_id == route_id,
                D.c.status == DispatchStatus.COMPLETED.value,
                D.c.pickup_date >= since,
                D.c.pickup_date <= until,
            )
        )
        return [PastDispatch(row.rider_id, row.vehicle_id, row.pickup_date) for row in rows]

    def list(self, where: DispatchFilter, page_size: int, after: DispatchCursor | None) -> list[Dispatch]:
        statement = self._select().where(D.c.hub_id == where.hub_id)
        if where.route_id:
            statement = statement.where(D.c.route_id == where.route_id)
        if where.pickup_date is not None:
            statement = statement.where(D.c.pickup_date == where.pickup_date)
        if where.rider_id:
            statement = statement.where(D.c.rider_id == where.rider_id)
        if where.status is not None:
            statement = statement.where(D.c.status == where.status.value)
        if after is not None:
            statement = statement.where(
                sa.tuple_(D.c.created_at, D.c.id) < sa.tuple_(sa.literal(after.created_at), sa.literal(after.id))
            )
        statement = statement.order_by(D.c.created_at.desc(), D.c.id.desc()).limit(page_size)
        return self._load(self.session.execute(statement).all())
