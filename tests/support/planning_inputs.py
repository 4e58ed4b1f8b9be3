"""dispatch_svc's planning inputs built for tests: attendance read-model rows, proposed trips and
stored plans."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta

from dispatch_svc.domain.hubs import AttendanceChange, Presence
from dispatch_svc.domain.planning import PlannedStopEta, ProposedTrip
from dispatch_svc.domain.plans import DispatchPlan
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.kernel import utc_now
from tests.support.fakes_dispatch import DispatchStore


def record_attendance(
    store: DispatchStore,
    rider: str,
    *,
    hub: str,
    day: date,
    changed_at: datetime,
    status: Presence = Presence.PRESENT,
    shift: tuple[datetime, datetime] | None = None,
) -> None:
    """What the attendance read model holds of `rider` on `day` (the last change applied)."""
    start, end = shift if shift else (None, None)
    store.rider_days[(rider, day)] = AttendanceChange(rider, hub, day, status, changed_at, start, end)


def proposed_trip(
    route: str, rider: str, vehicle: str, pur_ids: list[str], start: datetime, end: datetime
) -> ProposedTrip:
    """A trip visiting `pur_ids` in that order, 10 minutes apart; each stop 3 packages / 4 kg, 1 km."""
    return ProposedTrip(
        route_id=route,
        rider_id=rider,
        vehicle_id=vehicle,
        stops=tuple(PlannedStopEta(p, start + timedelta(minutes=10 * (i + 1))) for i, p in enumerate(pur_ids)),
        distance_m=1000.0 * len(pur_ids),
        start=start,
        end=end,
        total_packages=3 * len(pur_ids),
        total_weight_kg=4.0 * len(pur_ids),
        reasons=("default rider of the route",),
        arrival_order_distance_m=1500.0 * len(pur_ids),
    )


def store_plan(uow_factory: Callable[[], AbstractDispatchUnitOfWork], hub: str, day: date, plan_id: str) -> None:
    """A stored plan of `hub` without trips, reviewable for an hour (for calls that need a plan of
    a hub, e.g. authorization and fuzz tests)."""
    now = utc_now()
    plan = DispatchPlan(plan_id, hub, day, trips=[], unplanned=[], created_at=now, expires_at=now + timedelta(hours=1))
    with uow_factory() as uow:
        uow.plans.add(plan)
        uow.commit()
