"""Dispatches in `dispatch.dispatches`, their members in `dispatch.dispatch_pickups` (in join
order), and the history and busy riders and vehicles recommendations need."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import dispatch_pickups, dispatch_stops, dispatches, vehicles
from dispatch_svc.domain.model import (
    ACTIVE_STATES,
    Dispatch,
    DispatchStatus,
    DispatchStop,
    DuplicateRequest,
    Load,
    RiderBusy,
    RouteKey,
    VehicleBusy,
)
from dispatch_svc.domain.plans import Booking
from dispatch_svc.domain.ranking import ActiveDispatchRef, PastDispatch
from dispatch_svc.service_layer.repositories import AbstractDispatchRepository
from dispatch_svc.service_layer.views import DispatchCursor, DispatchFilter
from mesh.arrays import columns_of, insert_from_arrays, update_from_arrays

D = dispatches
M = dispatch_pickups
S = dispatch_stops
ACTIVE_VALUES = [s.value for s in ACTIVE_STATES]


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
        "plan_id": d.plan_id,
        "planned_start": d.planned_start,
        "planned_end": d.planned_end,
    }


_DISPATCH_MUTABLE = (
    "rider_id",
    "vehicle_id",
    "status",
    "total_packages",
    "total_weight_kg",
    "cancel_reason",
    "version",
    "updated_at",
    "started_at",
    "completed_at",
    "cancelled_at",
    "planned_end",
)

_UPDATE = update_from_arrays(D, ("id",), _DISPATCH_MUTABLE)
_MEMBER_COLUMNS = ("dispatch_id", "pur_id", "added_at")
# In array order: `seq` (the join order within a dispatch) follows it.
_INSERT_MEMBERS = insert_from_arrays(M, _MEMBER_COLUMNS)
_DELETE_MEMBERS = sa.text(
    f"DELETE FROM {M.fullname} AS m USING unnest(CAST(:dispatch_id AS TEXT[]), CAST(:pur_id AS TEXT[]))"
    " AS v(dispatch_id, pur_id) WHERE m.dispatch_id = v.dispatch_id AND m.pur_id = v.pur_id"
)


def _conflict(exc: IntegrityError, dispatch: Dispatch) -> Exception:
    """The domain's error for the unique key a concurrent transaction took first."""
    diag = getattr(exc.orig, "diag", None)
    constraint = getattr(diag, "constraint_name", "") or ""
    if constraint == "dispatches_request_key":
        return DuplicateRequest(f"request_id {dispatch.request_id!r} was used meanwhile for another dispatch")
    if constraint in ("dispatches_one_active_per_rider", "dispatches_one_in_progress_per_rider"):
        return RiderBusy("the rider got another active dispatch meanwhile; choose another rider")
    if constraint in ("dispatches_one_active_per_vehicle", "dispatches_one_in_progress_per_vehicle"):
        return VehicleBusy("the vehicle got another active dispatch meanwhile; choose another vehicle")
    return exc


class SqlAlchemyDispatchRepository(AbstractDispatchRepository):
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
        stops: dict[str, list[DispatchStop]] = {}
        planned = [row.id for row in rows if row.plan_id]
        if planned:
            for stop in self.session.execute(
                sa.select(S).where(S.c.dispatch_id.in_(planned)).order_by(S.c.dispatch_id, S.c.sequence)
            ):
                stops.setdefault(stop.dispatch_id, []).append(DispatchStop(stop.pur_id, stop.sequence, stop.eta))
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
                    plan_id=row.plan_id,
                    stops=stops.get(row.id, []),
                    planned_start=row.planned_start,
                    planned_end=row.planned_end,
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

    def open_for_routes(
        self, keys: Collection[RouteKey], *, for_update: bool = False
    ) -> dict[RouteKey, list[Dispatch]]:
        ordered = sorted(set(keys))
        if not ordered:
            return {}
        route = sa.tuple_(D.c.hub_id, D.c.route_id, D.c.pickup_date)
        # Sorted below the row locks: they are taken in key order, then oldest first.
        statement = (
            self._select()
            .where(route.in_(ordered), D.c.status == DispatchStatus.OPEN.value)
            .order_by(D.c.hub_id, D.c.route_id, D.c.pickup_date, D.c.created_at, D.c.id)
        )
        if for_update:
            statement = statement.with_for_update(of=D)
        found: dict[RouteKey, list[Dispatch]] = {}
        for dispatch in self._load(self.session.execute(statement).all()):
            found.setdefault(dispatch.route_key(), []).append(dispatch)
        return found

    def oldest_open_by_route(
        self, hub_id: str, pickup_date: date, route_id: str = "", *, route_ids: Collection[str] | None = None
    ) -> dict[str, Dispatch]:
        if route_ids is not None and not route_ids:
            return {}
        statement = (
            self._select()
            .where(D.c.hub_id == hub_id, D.c.pickup_date == pickup_date, D.c.status == DispatchStatus.OPEN.value)
            .order_by(D.c.route_id, D.c.created_at, D.c.id)
        )
        if route_id:
            statement = statement.where(D.c.route_id == route_id)
        if route_ids is not None:
            statement = statement.where(D.c.route_id.in_(sorted(route_ids)))
        rows = self.session.execute(statement).all()
        first: dict[str, Any] = {}
        for row in rows:
            first.setdefault(row.route_id, row)
        return {d.route_id: d for d in self._load(list(first.values()))}

    def add(self, dispatch: Dispatch) -> None:
        try:
            self.session.execute(sa.insert(D).values(**_dispatch_row(dispatch)))
        except IntegrityError as exc:
            raise _conflict(exc, dispatch) from None
        self._members[dispatch.id] = []
        self._sync_members(dispatch)
        if dispatch.stops:
            self.session.execute(
                sa.insert(S),
                [
                    {"dispatch_id": dispatch.id, "sequence": s.sequence, "pur_id": s.pur_id, "eta": s.eta}
                    for s in dispatch.stops
                ],
            )

    def update(self, dispatch: Dispatch) -> None:
        row = _dispatch_row(dispatch)
        try:
            self.session.execute(
                sa.update(D).where(D.c.id == dispatch.id).values({name: row[name] for name in _DISPATCH_MUTABLE})
            )
        except IntegrityError as exc:  # a reassigned rider or vehicle taken meanwhile
            raise _conflict(exc, dispatch) from None
        self._sync_members(dispatch)

    def update_many(self, dispatches: Sequence[Dispatch]) -> None:
        if not dispatches:
            return
        rows = [_dispatch_row(d) for d in dispatches]
        try:
            self.session.execute(_UPDATE, columns_of(rows, ("id", *_DISPATCH_MUTABLE)))
        except IntegrityError as exc:  # a reassigned rider or vehicle taken meanwhile
            raise _conflict(exc, dispatches[0]) from None
        gone: list[tuple[str, str]] = []
        new: list[dict[str, Any]] = []
        for dispatch in dispatches:
            before = self._members.get(dispatch.id, [])
            now_ids, known = set(dispatch.pur_ids), set(before)
            gone.extend((dispatch.id, pur_id) for pur_id in before if pur_id not in now_ids)
            new.extend(
                {"dispatch_id": dispatch.id, "pur_id": pur_id, "added_at": dispatch.updated_at}
                for pur_id in dispatch.pur_ids
                if pur_id not in known
            )
            self._members[dispatch.id] = list(dispatch.pur_ids)
        if gone:
            self.session.execute(_DELETE_MEMBERS, {"dispatch_id": [d for d, _ in gone], "pur_id": [p for _, p in gone]})
        if new:
            self.session.execute(_INSERT_MEMBERS, columns_of(new, _MEMBER_COLUMNS))

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

    def bookings(
        self, *, rider_ids: Iterable[str] = (), vehicle_ids: Iterable[str] = ()
    ) -> tuple[dict[str, list[Booking]], dict[str, list[Booking]]]:
        riders_ = sorted(set(rider_ids))
        vehicles_ = sorted(set(vehicle_ids))
        by_rider: dict[str, list[Booking]] = {}
        by_vehicle: dict[str, list[Booking]] = {}
        if not riders_ and not vehicles_:
            return by_rider, by_vehicle
        rows = self.session.execute(
            sa.select(D.c.id, D.c.status, D.c.rider_id, D.c.vehicle_id, D.c.planned_start, D.c.planned_end)
            .where(D.c.status.in_(ACTIVE_VALUES), sa.or_(D.c.rider_id.in_(riders_), D.c.vehicle_id.in_(vehicles_)))
            .order_by(D.c.id)
        )
        for row in rows:
            booking = Booking(row.id, DispatchStatus(row.status), row.planned_start, row.planned_end)
            if row.rider_id in riders_:
                by_rider.setdefault(row.rider_id, []).append(booking)
            if row.vehicle_id in vehicles_:
                by_vehicle.setdefault(row.vehicle_id, []).append(booking)
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
