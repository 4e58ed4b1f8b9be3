"""When auto-dispatch plans and commits on its own: the per-hub policy. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class AutoDispatchPolicy:
    """Auto-dispatch is on for `hubs` only. A route's queue for the hub's local today is due
    once it holds `queue_threshold` pickups, or, after the daily `cutoff` (local time), as soon
    as it holds any. Local time is the hub's time zone; `timezone` is used for a hub that has
    none stored yet."""

    hubs: frozenset[str]
    queue_threshold: int
    cutoff: time
    timezone: ZoneInfo

    def enabled(self, hub_id: str) -> bool:
        return hub_id in self.hubs

    def local_today(self, now: datetime, zone: ZoneInfo | None = None) -> date:
        return now.astimezone(zone or self.timezone).date()

    def due(self, queued: int, now: datetime, zone: ZoneInfo | None = None) -> str | None:
        """Why a queue of `queued` pickups must be planned now, or None."""
        if queued <= 0:
            return None
        if queued >= self.queue_threshold:
            return f"queue reached {queued} pickups (threshold {self.queue_threshold})"
        local_zone = zone or self.timezone
        if now.astimezone(local_zone).time() >= self.cutoff:
            return f"cut-off {self.cutoff.strftime('%H:%M')} {local_zone.key} passed with {queued} pickups queued"
        return None
