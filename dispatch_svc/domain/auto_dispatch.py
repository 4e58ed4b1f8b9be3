"""When auto-dispatch creates a dispatch on its own: the per-hub policy. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class AutoDispatchPolicy:
    """Auto-dispatch is on for `hubs` only. A route's queue for the hub's local today is
    dispatched once it holds `queue_threshold` pickups, or, after the daily `cutoff` (local
    time in `timezone`), as soon as it holds any."""

    hubs: frozenset[str]
    queue_threshold: int
    cutoff: time
    timezone: ZoneInfo

    def enabled(self, hub_id: str) -> bool:
        return hub_id in self.hubs

    def local_today(self, now: datetime) -> date:
        return now.astimezone(self.timezone).date()

    def due(self, queued: int, now: datetime) -> str | None:
        """Why a queue of `queued` pickups must be dispatched now, or None."""
        if queued <= 0:
            return None
        if queued >= self.queue_threshold:
            return f"queue reached {queued} pickups (threshold {self.queue_threshold})"
        local = now.astimezone(self.timezone)
        if local.time() >= self.cutoff:
            return f"cut-off {self.cutoff.strftime('%H:%M')} {self.timezone.key} passed with {queued} pickups queued"
        return None
