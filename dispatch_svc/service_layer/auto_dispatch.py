"""Auto-dispatch through the planner: when a hub's queues are due (a route's queue reached the
threshold, or the hub's local cut-off passed with pickups queued), the due routes are planned
together (PlanDispatches) and the plan committed at once with only its still-valid trips
(CommitDispatchPlan), as a team lead would without changing anything.

Planning the due routes of a hub in one problem lets the planner balance riders across them;
committing with only_valid_trips makes two replicas (or a team lead) planning at the same time
safe: the second commit finds the pickups dispatched and skips those trips, so nothing is
dispatched twice. A backlog larger than the planning limits (PlanningSettings.max_stops_per_route,
max_stops) is worked off a bounded plan at a time: each plan takes the oldest queued pickups, and
the routes stay due for the next check while their queues still are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.model import SERVICE_ACTOR, Dispatch
from dispatch_svc.domain.planning import PlanningSettings
from dispatch_svc.domain.plans import CommitRequest
from dispatch_svc.service_layer import plans
from dispatch_svc.service_layer.planner import TripPlanner
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.kernel import utc_now

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class DueQueues:
    """The hub's local day and its due routes, each with why it is due."""

    hub_id: str
    day: date
    reasons: Mapping[str, str]
    counts: Mapping[str, int]


@dataclass(frozen=True)
class AutoPlanOutcome:
    hub_id: str
    due: DueQueues | None
    plan_id: str = ""
    dispatches: tuple[Dispatch, ...] = ()
    # Trips left out at commit (the world changed since planning), each "trip: why".
    skipped: tuple[str, ...] = ()
    unplanned: int = 0
    # Queued pickups of the due routes the plan did not take (over the planning limits).
    left_for_next_plan: int = 0
    # Why nothing was planned (no depot yet); empty otherwise.
    note: str = ""


def due_queues(uow: AbstractDispatchUnitOfWork, policy: AutoDispatchPolicy, hub_id: str, moment: datetime) -> DueQueues:
    """The routes of the hub whose queue of the hub's local today is due, in the hub's time zone
    (the policy's when the hub has none stored)."""
    with uow:
        hub = uow.hubs.get(hub_id)
        zone = hub.zone if hub is not None else policy.timezone
        day = policy.local_today(moment, zone)
        counts = uow.pickups.queue_counts(hub_id, day)
    reasons = {route: why for route, count in sorted(counts.items()) if (why := policy.due(count, moment, zone))}
    return DueQueues(hub_id, day, reasons, {route: counts[route] for route in reasons})


def auto_plan_hub(
    uow: AbstractDispatchUnitOfWork,
    planner: TripPlanner,
    policy: AutoDispatchPolicy,
    hub_id: str,
    *,
    settings: PlanningSettings = plans.DEFAULT_SETTINGS,
    now: Clock = utc_now,
    skip_if: Callable[[DueQueues], bool] = lambda due: False,
) -> AutoPlanOutcome:
    """Plan the hub's due routes together and commit the plan's valid trips. `skip_if` lets the
    caller pass over queues it already planned without result (nothing changed since)."""
    moment = now()
    due = due_queues(uow, policy, hub_id, moment)
    if not due.reasons or skip_if(due):
        return AutoPlanOutcome(hub_id, due)
    with uow:
        if uow.hubs.get(hub_id) is None:
            return AutoPlanOutcome(hub_id, due, note="the hub has no depot yet (UpsertHub)")
    plan = plans.plan_dispatches(uow, planner, hub_id, due.day, sorted(due.reasons), settings=settings, now=now)
    left = sum(plan.left_for_next_plan.values())
    if not plan.trips:
        return AutoPlanOutcome(hub_id, due, plan_id=plan.id, unplanned=len(plan.unplanned), left_for_next_plan=left)
    committed = plans.commit_dispatch_plan(
        uow,
        CommitRequest(plan_id=plan.id, only_valid_trips=True),
        actor=SERVICE_ACTOR,
        now=now,
        automatic=True,
        reason=f"auto-dispatch: plan {plan.id} of {len(due.reasons)} due routes ({_why(due)})",
    )
    return AutoPlanOutcome(
        hub_id,
        due,
        plan_id=plan.id,
        dispatches=tuple(committed.dispatches),
        skipped=tuple(f"{s.trip_id}: {s.reason}" for s in committed.skipped),
        unplanned=len(plan.unplanned),
        left_for_next_plan=left,
    )


def _why(due: DueQueues) -> str:
    """The due reasons in short: e.g. "queue reached 25 pickups (threshold 20)" for one route,
    "3 queues at the threshold, 1 past the cut-off" for several."""
    reasons = list(due.reasons.values())
    if len(reasons) == 1:
        return reasons[0]
    threshold = sum(1 for r in reasons if r.startswith("queue reached"))
    parts = [f"{threshold} queues at the threshold"] if threshold else []
    if len(reasons) > threshold:
        parts.append(f"{len(reasons) - threshold} past the cut-off")
    return ", ".join(parts)
