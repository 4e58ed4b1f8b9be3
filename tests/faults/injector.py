"""Faults on a seeded random schedule, and a timeline of what happened when."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tests.faults.cluster import FaultInfra, Mesh

FAULTS = (
    ["SIGKILL routing_svc"] * 3
    + ["SIGKILL pur_svc"] * 3
    + ["restart Kafka", "restart PostgreSQL (immediate stop)", "stop Redis for 10 s"]
)
REDIS_PAUSE_S = 10.0


@dataclass(frozen=True)
class Event:
    offset_s: float
    what: str
    duration_s: float
    detail: str


class Timeline:
    """Thread-safe record of faults and operations, as offsets from the start of the load."""

    def __init__(self) -> None:
        self.start = time.monotonic()
        self._events: list[Event] = []
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.monotonic() - self.start

    def sleep_until(self, offset_s: float) -> None:
        time.sleep(max(0.0, offset_s - self.now()))

    def run(self, what: str, action: Callable[[], str]) -> None:
        began = self.now()
        detail = action()
        with self._lock:
            self._events.append(Event(began, what, self.now() - began, detail))

    @property
    def events(self) -> list[Event]:
        with self._lock:
            return sorted(self._events, key=lambda e: e.offset_s)


def spaced_times(rng: np.random.Generator, count: int, first: float, last: float, min_gap: float) -> list[float]:
    """`count` random sorted moments in [first, last], at least `min_gap` apart."""
    slack = (last - first) - (count - 1) * min_gap
    assert slack > 0, "the window is too short for that many faults"
    return [first + float(u) + i * min_gap for i, u in enumerate(np.sort(rng.uniform(0, slack, count)))]


def fault_schedule(rng: np.random.Generator, window_s: float) -> list[tuple[float, str]]:
    kinds = list(FAULTS)
    rng.shuffle(kinds)
    return list(zip(spaced_times(rng, len(kinds), 5.0, window_s - 5.0, min_gap=6.0), kinds, strict=True))


class FaultInjector:
    """Runs the schedule in a thread. Each fault ends with everything back up (restarted services
    SERVING) before the next starts, except the Redis outage, which runs beside the others: a
    service restarting without its cache is part of the test."""

    def __init__(
        self,
        infra: FaultInfra,
        mesh: Mesh,
        timeline: Timeline,
        schedule: list[tuple[float, str]],
        rng: np.random.Generator,
    ) -> None:
        self._infra = infra
        self._mesh = mesh
        self._timeline = timeline
        self._schedule = schedule
        self._rng = rng
        self._thread = threading.Thread(target=self._run, name="fault-injector", daemon=True)
        self._beside: list[threading.Thread] = []
        self.error: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join()
        for thread in self._beside:
            thread.join()
        if self.error is not None:
            raise AssertionError(f"the fault injector failed: {self.error!r}") from self.error

    def _run(self) -> None:
        try:
            for offset, kind in self._schedule:
                self._timeline.sleep_until(offset)
                if kind.startswith("stop Redis"):
                    self._beside.append(
                        threading.Thread(target=self._guarded, args=(kind,), name="redis-outage", daemon=True)
                    )
                    self._beside[-1].start()
                else:
                    self._timeline.run(kind, lambda kind=kind: self._inject(kind))
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def _guarded(self, kind: str) -> None:
        try:
            self._timeline.run(kind, lambda: self._inject(kind))
        except BaseException as exc:  # noqa: BLE001 - reported by join()
            self.error = exc

    def _inject(self, kind: str) -> str:
        if kind.startswith("SIGKILL"):
            return self._kill_and_restart(kind.split()[1])
        if kind == "restart Kafka":
            self._infra.stop("kafka")
            self._infra.start("kafka")
            return "graceful stop, start"
        if kind.startswith("restart PostgreSQL"):
            self._infra.stop("postgres", PG_STOP_MODE="immediate")
            time.sleep(1.0)
            self._infra.start("postgres")
            return "immediate stop (crash recovery on start)"
        if kind.startswith("stop Redis"):
            self._infra.stop("redis")
            time.sleep(REDIS_PAUSE_S)
            self._infra.start("redis")
            return f"down {REDIS_PAUSE_S:.0f} s, restarted empty"
        raise ValueError(kind)

    def _kill_and_restart(self, service: str) -> str:
        down_s = float(self._rng.uniform(0.2, 2.0))
        self._mesh.kill(service)
        time.sleep(down_s)
        self._mesh.start(service).wait_serving(timeout=120)
        return f"down {down_s:.1f} s, restarted, SERVING"
