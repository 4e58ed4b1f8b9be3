"""Auto-dispatch's background loop: every few seconds, each enabled hub's due queues get a
dispatch with the top recommendation (service_layer.handlers.auto_dispatch_hub)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy
from dispatch_svc.service_layer import handlers
from dispatch_svc.service_layer.attendance import AttendancePort
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from mesh.runtime import Worker
from mesh.transient import is_transient

log = logging.getLogger(__name__)

# A route skipped for the same reason is logged again only after this many seconds.
SKIP_LOG_SECONDS = 300.0


class AutoDispatcher:
    def __init__(
        self,
        policy: AutoDispatchPolicy,
        uow_factory: Callable[[], AbstractDispatchUnitOfWork],
        attendance: AttendancePort,
        interval_seconds: float,
    ) -> None:
        self.policy = policy
        self._uow = uow_factory
        self._attendance = attendance
        self.interval_seconds = interval_seconds
        self._skips: dict[tuple[str, str, str], float] = {}

    def tick(self) -> list[handlers.AutoOutcome]:
        outcomes = []
        for hub_id in sorted(self.policy.hubs):
            try:
                outcomes.extend(handlers.auto_dispatch_hub(self._uow(), self._attendance, self.policy, hub_id))
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("auto-dispatch: dependency unavailable", extra={"hub_id": hub_id, "error": repr(exc)})
        for outcome in outcomes:
            if outcome.dispatch is not None:
                d = outcome.dispatch
                log.info(
                    "auto-dispatch created a dispatch",
                    extra={
                        "hub_id": d.hub_id,
                        "route_id": d.route_id,
                        "dispatch_id": d.id,
                        "rider_id": d.rider_id,
                        "vehicle_id": d.vehicle_id,
                        "pickups": len(d.pur_ids),
                        "why": outcome.reason,
                    },
                )
            elif outcome.skipped:
                self._log_skip(outcome)
        return outcomes

    def _log_skip(self, outcome: handlers.AutoOutcome) -> None:
        key = (outcome.hub_id, outcome.route_id, outcome.skipped)
        now = time.monotonic()
        if now - self._skips.get(key, -SKIP_LOG_SECONDS) >= SKIP_LOG_SECONDS:
            self._skips[key] = now
            log.warning(
                "auto-dispatch skipped a due route",
                extra={
                    "hub_id": outcome.hub_id,
                    "route_id": outcome.route_id,
                    "why_due": outcome.reason,
                    "skipped": outcome.skipped,
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
