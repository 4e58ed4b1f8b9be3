"""Auto-dispatch's background loop: every few seconds, each enabled hub's due queues are planned
together and the plan committed (service_layer.auto_dispatch.auto_plan_hub)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.domain.planning import PlanningSettings
from dispatch_svc.service_layer import plans
from dispatch_svc.service_layer.auto_dispatch import AutoPlanOutcome, Clock, DueQueues, auto_plan_hub
from dispatch_svc.service_layer.planner import TripPlanner
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.errors import FailedPrecondition, NotFound, Unavailable
from mesh.kernel import utc_now
from mesh.runtime import Worker
from mesh.transient import is_transient

# Rounds after which due queues whose plan placed nothing are planned again even unchanged.
FRUITLESS_RETRY_ROUNDS = 10

log = logging.getLogger(__name__)


class AutoDispatcher:
    def __init__(
        self,
        policy: AutoDispatchPolicy,
        uow_factory: Callable[[], AbstractDispatchUnitOfWork],
        planner: TripPlanner,
        interval_seconds: float,
        settings: PlanningSettings = plans.DEFAULT_SETTINGS,
        now: Clock = utc_now,
    ) -> None:
        self.policy = policy
        self._uow = uow_factory
        self._planner = planner
        self._settings = settings
        self._now = now
        self.interval_seconds = interval_seconds
        # Per hub, the due queues whose plan placed nothing, and when: planned again once they
        # change (a pickup arrives or leaves) or after a few rounds (a rider checked in, a
        # vehicle was added: what the queue counts do not show), not every round.
        self._fruitless: dict[str, tuple[Mapping[str, int], datetime]] = {}
        self._retry_after = timedelta(seconds=FRUITLESS_RETRY_ROUNDS * interval_seconds)

    def tick(self) -> list[AutoPlanOutcome]:
        outcomes = []
        for hub_id in sorted(self.policy.hubs):
            try:
                outcome = auto_plan_hub(
                    self._uow(), self._planner, self.policy, hub_id,
                    settings=self._settings, now=self._now, skip_if=self._unchanged,
                )  # fmt: skip
            except (FailedPrecondition, NotFound, Unavailable) as exc:
                log.warning("auto-dispatch: the plan was not committed", extra={"hub_id": hub_id, "error": str(exc)})
                continue
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("auto-dispatch: dependency unavailable", extra={"hub_id": hub_id, "error": repr(exc)})
                continue
            self._remember(outcome)
            outcomes.append(outcome)
        return outcomes

    def _unchanged(self, due: DueQueues) -> bool:
        remembered = self._fruitless.get(due.hub_id)
        if remembered is None:
            return False
        counts, at = remembered
        return counts == due.counts and self._now() - at < self._retry_after

    def _remember(self, outcome: AutoPlanOutcome) -> None:
        due = outcome.due
        if due is None or not due.reasons:
            self._fruitless.pop(outcome.hub_id, None)
            return
        if outcome.note:
            log.warning("auto-dispatch skipped a hub", extra={"hub_id": outcome.hub_id, "why": outcome.note})
        if outcome.dispatches:
            self._fruitless.pop(outcome.hub_id, None)
            log.info(
                "auto-dispatch committed a plan",
                extra={
                    "hub_id": outcome.hub_id,
                    "plan_id": outcome.plan_id,
                    "routes": sorted(due.reasons),
                    "why": sorted(set(due.reasons.values()))[:3],
                    "dispatches": [d.id for d in outcome.dispatches],
                    "skipped": list(outcome.skipped),
                    "unplanned": outcome.unplanned,
                    "left_for_next_plan": outcome.left_for_next_plan,
                },
            )
        elif outcome.plan_id or outcome.note:
            self._fruitless[outcome.hub_id] = (dict(due.counts), self._now())
            if outcome.plan_id:
                log.warning(
                    "auto-dispatch planned no trip for due queues",
                    extra={
                        "hub_id": outcome.hub_id,
                        "plan_id": outcome.plan_id,
                        "unplanned": outcome.unplanned,
                        "left_for_next_plan": outcome.left_for_next_plan,
                    },
                )

    def run(self, stop: threading.Event) -> None:
        log.info(
            "auto-dispatch started", extra={"hubs": sorted(self.policy.hubs), "interval_seconds": self.interval_seconds}
        )
        while not stop.wait(self.interval_seconds):
            self.tick()

    def worker(self) -> Worker:
        return Worker(name="auto-dispatch", run=self.run)
