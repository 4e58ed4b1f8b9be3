"""Dispatch plans in `dispatch.plans`, their trips in `dispatch.plan_trips` and the trips' stops in
`dispatch.plan_stops` (the unplanned pickups, read only with the plan, as JSON in the plan's row)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from dispatch_svc.adapters.orm import plan_stops, plan_trips, plans
from dispatch_svc.domain.model import Load
from dispatch_svc.domain.plans import DispatchPlan, PlanStop, PlanTrip, UnplannedPickup
from dispatch_svc.service_layer.repositories import AbstractPlanRepository

P, T, S = plans, plan_trips, plan_stops


class SqlAlchemyPlanRepository(AbstractPlanRepository):
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, plan: DispatchPlan) -> None:
        self.session.execute(
            sa.insert(P).values(
                id=plan.id,
                hub_id=plan.hub_id,
                pickup_date=plan.pickup_date,
                arrival_order_distance_m=plan.arrival_order_distance_m,
                unplanned=[{"pur_id": u.pur_id, "reason": u.reason} for u in plan.unplanned],
                created_at=plan.created_at,
                expires_at=plan.expires_at,
                committed_at=plan.committed_at,
            )
        )
        if plan.trips:
            self.session.execute(sa.insert(T), [_trip_row(plan.id, i, t) for i, t in enumerate(plan.trips)])
        stops = [
            {"plan_id": plan.id, "trip_id": t.id, "sequence": n, "pur_id": s.pur_id, "eta": s.eta}
            for t in plan.trips
            for n, s in enumerate(t.stops, start=1)
        ]
        if stops:
            self.session.execute(sa.insert(S), stops)

    def get(self, plan_id: str, *, for_update: bool = False) -> DispatchPlan | None:
        statement = sa.select(P).where(P.c.id == plan_id)
        if for_update:
            statement = statement.with_for_update()
        row = self.session.execute(statement).one_or_none()
        if row is None:
            return None
        trip_rows = self.session.execute(sa.select(T).where(T.c.plan_id == plan_id).order_by(T.c.ordinal)).all()
        stops: dict[str, list[PlanStop]] = {}
        for stop in self.session.execute(
            sa.select(S).where(S.c.plan_id == plan_id).order_by(S.c.trip_id, S.c.sequence)
        ):
            stops.setdefault(stop.trip_id, []).append(PlanStop(stop.pur_id, stop.eta))
        return DispatchPlan(
            id=row.id,
            hub_id=row.hub_id,
            pickup_date=row.pickup_date,
            trips=[_trip(t, stops.get(t.trip_id, [])) for t in trip_rows],
            unplanned=[UnplannedPickup(u["pur_id"], u["reason"]) for u in row.unplanned],
            created_at=row.created_at,
            expires_at=row.expires_at,
            arrival_order_distance_m=row.arrival_order_distance_m,
            dispatch_ids={t.trip_id: t.dispatch_id for t in trip_rows if t.dispatch_id},
            committed_at=row.committed_at,
        )

    def mark_committed(self, plan: DispatchPlan) -> None:
        self.session.execute(sa.update(P).where(P.c.id == plan.id).values(committed_at=plan.committed_at))
        for trip_id, dispatch_id in sorted(plan.dispatch_ids.items()):
            self.session.execute(
                sa.update(T).where(T.c.plan_id == plan.id, T.c.trip_id == trip_id).values(dispatch_id=dispatch_id)
            )

    def delete_expired(self, before: datetime) -> int:
        result = self.session.execute(
            sa.delete(P).where(P.c.committed_at.is_(None), P.c.expires_at < before).returning(P.c.id)
        )
        return len(result.all())


def _trip_row(plan_id: str, ordinal: int, trip: PlanTrip) -> dict[str, Any]:
    return {
        "plan_id": plan_id,
        "trip_id": trip.id,
        "ordinal": ordinal,
        "route_id": trip.route_id,
        "rider_id": trip.rider_id,
        "vehicle_id": trip.vehicle_id,
        "distance_m": trip.distance_m,
        "start_time": trip.start,
        "end_time": trip.end,
        "total_packages": trip.load.packages,
        "total_weight_kg": trip.load.weight_kg,
        "reasons": list(trip.reasons),
        "dispatch_id": None,
    }


def _trip(row: Any, stops: Sequence[PlanStop]) -> PlanTrip:
    return PlanTrip(
        id=row.trip_id,
        route_id=row.route_id,
        rider_id=row.rider_id,
        vehicle_id=row.vehicle_id,
        stops=tuple(stops),
        distance_m=row.distance_m,
        start=row.start_time,
        end=row.end_time,
        load=Load(row.total_packages, row.total_weight_kg),
        reasons=tuple(row.reasons),
    )
