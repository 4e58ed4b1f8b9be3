"""In-memory dispatch plans of dispatch_svc (the store lives in `fakes_dispatch.DispatchStore`, so
plans follow its transactions), and a planner that proposes what a test tells it to."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime

from dispatch_svc.domain.planning import PlanningProblem, PlanResult, ProgressCallback, Unplanned, UnplannedReason
from dispatch_svc.domain.plans import DispatchPlan
from dispatch_svc.service_layer.planner import TripPlanner
from dispatch_svc.service_layer.repositories import AbstractPlanRepository


class FakePlanRepository(AbstractPlanRepository):
    def __init__(self, plans: dict[str, DispatchPlan]) -> None:
        self.plans = plans

    def add(self, plan: DispatchPlan) -> None:
        assert plan.id not in self.plans, "plan ids are new"
        self.plans[plan.id] = copy.deepcopy(plan)

    def get(self, plan_id: str, *, for_update: bool = False) -> DispatchPlan | None:
        return copy.deepcopy(self.plans.get(plan_id))

    def mark_committed(self, plan: DispatchPlan) -> None:
        assert plan.id in self.plans, "commit of a plan never stored"
        self.plans[plan.id] = copy.deepcopy(plan)

    def delete_expired(self, before: datetime) -> int:
        gone = [p.id for p in self.plans.values() if not p.committed and p.expires_at < before]
        for plan_id in gone:
            del self.plans[plan_id]
        return len(gone)


class FakeTripPlanner(TripPlanner):
    """Answers with `propose(problem)`; remembers every problem it was given."""

    def __init__(self, propose: Callable[[PlanningProblem], PlanResult]) -> None:
        self.propose = propose
        self.problems: list[PlanningProblem] = []

    def plan(self, problem: PlanningProblem, progress: ProgressCallback | None = None) -> PlanResult:
        self.problems.append(problem)
        return self.propose(problem)

    @classmethod
    def placing_nothing(cls) -> FakeTripPlanner:
        """A planner that leaves every pickup unplanned ("no rider or vehicle left")."""
        return cls(
            lambda problem: PlanResult(
                (), tuple(Unplanned(s.pur_id, UnplannedReason.NO_RIDER_OR_VEHICLE_LEFT) for s in problem.stops)
            )
        )
