"""The port through which handlers plan a hub's day; adapters/vroom_planner.py implements it with VROOM."""

from __future__ import annotations

import abc

from dispatch_svc.domain.planning import PlanningProblem, PlanResult, ProgressCallback


class TripPlanner(abc.ABC):
    @abc.abstractmethod
    def plan(self, problem: PlanningProblem, progress: ProgressCallback | None = None) -> PlanResult:
        """Every stop of the problem ends in exactly one trip or in `unplanned`, with its reason.
        `progress`, when given, is called as the work advances (large hubs take seconds)."""
        raise NotImplementedError
