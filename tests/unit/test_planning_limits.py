"""What bounds a plan's memory: travel tables as uint32 arrays (equal to the nested lists they
replaced), a route's matrices alive only for its solve, over the stops still queued, and the shares
of a queue one plan takes (`stop_quotas`). The use case applying the limits is tested in
tests/unit/test_dispatch_plans.py; over PostgreSQL in tests/integration/test_dispatch_plans.py."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dispatch_svc.adapters.vroom_planner import RouteProblem, RouteTrip, VroomPlanner, solve_with_vroom
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import (
    EARTH_RADIUS_M,
    TABLE_BLOCK_ROWS,
    PlanningRider,
    PlanningVehicle,
    Point,
    stop_quotas,
)
from tests.unit.test_planning import DEPOT, SPEEDS, TRAVEL, bike, check_plan, problem, stop


def former_matrix(points: Sequence[Point], vehicle_type: VehicleType) -> tuple[list[list[int]], list[list[int]]]:
    """GreatCircleTravelModel.matrix as it was before the tables (seconds, meters as nested lists)."""
    lat = np.radians(np.array([p.lat for p in points], dtype=float))
    lng = np.radians(np.array([p.lng for p in points], dtype=float))
    h = (
        np.sin((lat[None, :] - lat[:, None]) / 2) ** 2
        + np.cos(lat[:, None]) * np.cos(lat[None, :]) * np.sin((lng[None, :] - lng[:, None]) / 2) ** 2
    )
    meters = np.rint(2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h))) * 1.3)
    seconds = np.rint(meters / (SPEEDS[vehicle_type] / 3.6))
    return seconds.astype(int).tolist(), meters.astype(int).tolist()


def scattered(n: int, seed: int = 3) -> list[Point]:
    rng = random.Random(seed)
    return [Point(DEPOT.lat + rng.uniform(-0.3, 0.3), DEPOT.lng + rng.uniform(-0.3, 0.3)) for _ in range(n)]


@pytest.mark.parametrize("n", [1, 7, TABLE_BLOCK_ROWS + 45])
@pytest.mark.parametrize("vehicle_type", [VehicleType.BIKE, VehicleType.VAN])
def test_a_matrix_is_uint32_arrays_equal_to_the_former_nested_lists(n: int, vehicle_type: VehicleType) -> None:
    points = [DEPOT, *scattered(n)]
    matrix = TRAVEL.matrix(points, vehicle_type)
    assert matrix.seconds.dtype == np.uint32 and matrix.meters.dtype == np.uint32
    assert matrix.seconds.shape == matrix.meters.shape == (n + 1, n + 1)
    seconds, meters = former_matrix(points, vehicle_type)
    assert matrix.meters.tolist() == meters
    assert matrix.seconds.tolist() == seconds


def test_a_table_from_some_points_to_others_is_the_matrix_block() -> None:
    points = scattered(300, seed=5)
    whole = TRAVEL.matrix(points, VehicleType.BIKE)
    block = TRAVEL.table(points[:280], points[250:], VehicleType.BIKE)
    assert block.meters.shape == (280, 50)
    assert np.array_equal(block.meters, whole.meters[:280, 250:])
    assert np.array_equal(block.seconds, whole.seconds[:280, 250:])


def test_each_solve_gets_matrices_of_the_stops_still_queued_and_the_picked_types_only() -> None:
    # 14 pickups of 1 package, one rider and a 10-package bike: two rounds; a van nobody drives.
    stops = [stop(f"p-{i:02d}", "r1", 1000 + 150 * i, minute=i) for i in range(14)]
    vehicles = [bike("bike-1"), PlanningVehicle("van-1", VehicleType.VAN, 10, 20.0)]
    p = problem(stops, [PlanningRider("rider-1", default_routes=frozenset({"r1"}))], vehicles[:1])
    seen: list[RouteProblem] = []

    def recording(route: RouteProblem) -> list[RouteTrip]:
        seen.append(route)
        return solve_with_vroom(route)

    result = VroomPlanner(TRAVEL, route_solver=recording).plan(p)
    check_plan(p, result)
    assert len(result.trips) == 2 and len(seen) == 2
    assert [len(route.jobs) for route in seen] == [14, 4]
    for route in seen:
        assert set(route.matrices) == {VehicleType.BIKE}
        for seconds, meters in route.matrices.values():
            assert seconds.dtype == meters.dtype == np.uint32
            assert seconds.shape == meters.shape == (len(route.jobs) + 1, len(route.jobs) + 1)
        assert sorted(job.location for job in route.jobs) == list(range(1, len(route.jobs) + 1))


# -- how much of each queue a plan takes ------------------------------------------------------------


def test_a_queue_within_the_limits_is_taken_whole() -> None:
    assert stop_quotas({"a": 5, "b": 3}, per_route=10, total=100) == {"a": 5, "b": 3}


def test_a_long_queue_is_cut_at_the_per_route_limit() -> None:
    assert stop_quotas({"a": 471_534, "b": 3}, per_route=2000, total=20_000) == {"a": 2000, "b": 3}


def test_the_total_is_shared_evenly_and_a_short_queue_leaves_its_share_to_the_others() -> None:
    assert stop_quotas({"a": 100, "b": 100, "c": 4}, per_route=80, total=100) == {"a": 48, "b": 48, "c": 4}
    # what an even split cannot divide goes to the longest queues first
    assert stop_quotas({"a": 10, "b": 30, "c": 20}, per_route=30, total=7) == {"a": 2, "b": 3, "c": 2}
    assert stop_quotas({"a": 10, "b": 30, "c": 20}, per_route=30, total=2) == {"a": 0, "b": 1, "c": 1}


def test_empty_queues_take_nothing_and_the_limits_must_be_positive() -> None:
    assert stop_quotas({"a": 0}, per_route=5, total=5) == {}
    with pytest.raises(ValueError):
        stop_quotas({"a": 3}, per_route=0, total=5)


@given(
    st.dictionaries(st.text("abcdef", min_size=1, max_size=3), st.integers(0, 5000), max_size=30),
    st.integers(1, 3000),
    st.integers(1, 20_000),
)
def test_quotas_stay_within_both_limits_take_all_they_may_and_are_even(
    queued: dict[str, int], per_route: int, total: int
) -> None:
    quotas = stop_quotas(queued, per_route, total)
    wants = {r: min(n, per_route) for r, n in queued.items() if n > 0}
    assert set(quotas) == set(wants)
    assert all(0 <= quotas[r] <= wants[r] for r in quotas)
    assert sum(quotas.values()) == min(total, sum(wants.values()))
    short = [quotas[r] for r in quotas if quotas[r] < wants[r]]  # routes cut by the total
    whole = [quotas[r] for r in quotas if quotas[r] == wants[r]]
    if short:
        # the cut routes differ by one at most, and a route taken whole got at most one more
        assert max(short) - min(short) <= 1
        assert all(n <= min(short) + 1 for n in whole)
