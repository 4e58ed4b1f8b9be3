"""The planning command's summary: what a plan left for the next one is named, per route."""

from datetime import UTC, date, datetime, timedelta

from dispatch_svc.commands.plan import summary
from dispatch_svc.domain.plans import DispatchPlan

NOW = datetime(2026, 12, 6, 6, 0, tzinfo=UTC)


def plan(left: dict[str, int]) -> DispatchPlan:
    return DispatchPlan(
        "plan-1",
        "hub-1",
        date(2026, 12, 6),
        trips=[],
        unplanned=[],
        created_at=NOW,
        expires_at=NOW + timedelta(hours=1),
        left_for_next_plan=left,
    )


def test_a_plan_within_the_limits_says_nothing_was_left():
    assert not any("left for the next plan" in line for line in summary(plan({})))


def test_what_a_plan_left_is_counted_largest_route_first():
    [line] = [line for line in summary(plan({"R2": 40, "R1": 1_200})) if "left for the next plan" in line]
    assert line.endswith("1,240 pickups, R1 1,200, R2 40")


def test_only_ten_routes_are_named():
    left = {f"R{i:02d}": 100 + i for i in range(12)}
    [line] = [line for line in summary(plan(left)) if "left for the next plan" in line]
    assert "R11 111" in line and "R01" not in line and line.endswith("and 2 more routes")
