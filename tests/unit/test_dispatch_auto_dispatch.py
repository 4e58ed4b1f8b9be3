"""Auto-dispatch through the planner: its policy in the hub's time zone, the due routes of a hub
planned together and committed, and the worker."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from dispatch_svc.domain.auto_dispatch import AutoDispatchPolicy

HUB = "hub-1"
POLICY = AutoDispatchPolicy(frozenset({HUB}), 3, time(14, 0), ZoneInfo("Asia/Kolkata"))


def test_the_cutoff_and_the_day_are_the_hubs_local_ones_when_it_has_a_zone():
    utc_noon = datetime(2026, 5, 11, 12, 0, tzinfo=UTC)  # 17:30 in Kolkata, 08:00 in New York
    new_york = ZoneInfo("America/New_York")
    assert "cut-off 14:00 Asia/Kolkata passed" in POLICY.due(1, utc_noon)
    assert POLICY.due(1, utc_noon, new_york) is None
    assert "threshold 3" in POLICY.due(3, utc_noon, new_york)
    late = datetime(2026, 5, 11, 20, 0, tzinfo=UTC)
    assert POLICY.local_today(late) == date(2026, 5, 12)
    assert POLICY.local_today(late, new_york) == date(2026, 5, 11)
