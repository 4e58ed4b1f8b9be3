"""20,000 PURs through the real mesh while its processes are SIGKILLed and its infrastructure
restarts under it; afterwards, straight from the databases: nothing acknowledged is lost or
duplicated, every PUR is settled exactly as exact routing says for the map version it records,
every outbox is drained, and no PUR sits in two dispatches. Meanwhile people route UNROUTABLE
PURs by hand and override dispatches (another rider, pickups moved), and plan two routes and
commit the plan twice at once: every manual assignment sticks in both services, a dispatched PUR
carries its dispatch's rider, both commits answer the same dispatches and nothing is dispatched
twice.

The seed (printed) fixes the PURs, the map change and the fault schedule;
FIRSTMILE_FAULTS_SEED=<seed> repeats a run's plan (the timing of a real system still varies).
"""

from __future__ import annotations

import os
import secrets
import time
from collections import Counter
from datetime import UTC, datetime

import numpy as np
import pytest
import sqlalchemy as sa

from firstmile_client.requests import import_routes_request
from tests.faults.checks import (
    Check,
    KafkaProbe,
    check_dispatches,
    check_overrides,
    check_purs,
    check_replay,
    check_route_read_models,
    render,
    sample,
    unsent_outbox,
    wait_converged,
)
from tests.faults.cluster import FaultInfra, Mesh
from tests.faults.injector import FaultInjector, Timeline, fault_schedule
from tests.faults.load import LoadClient, plan_pickups
from tests.faults.operations import Operations, call
from tests.faults.routes import (
    DELETED_ROUTE,
    HUB,
    PREMIUM_CENTRE_ROUTE,
    ExactRouter,
    map_version_1,
    map_version_2,
    routes_of,
)
from tests.support.polling import eventually

pytestmark = [pytest.mark.faults, pytest.mark.timeout(900)]

PUR_COUNT = 20_000
LOAD_SECONDS = 100.0
CONVERGE_TIMEOUT_S = 300.0
TODAY = datetime.now(UTC).date().isoformat()


def test_no_pur_lost_duplicated_or_misrouted_under_faults(
    fault_infra: FaultInfra, fault_mesh: Mesh, fault_db: sa.Engine, report: list[str]
):
    began = time.monotonic()
    seed = int(os.environ.get("FIRSTMILE_FAULTS_SEED") or secrets.randbelow(1_000_000))
    rng = np.random.default_rng(seed)
    v1 = map_version_1()
    v2 = map_version_2(v1)
    routers = {1: ExactRouter(v1), 2: ExactRouter(v2)}

    imported = call(fault_mesh.clients.routing.ImportRoutes, import_routes_request(HUB, v1), timeout=120)
    assert imported.map_version == 1
    # pur_svc refuses PURs of hubs it has not heard of from routing.map-changes.v1.
    with fault_db.connect() as conn:
        eventually(
            lambda: conn.execute(
                sa.text("SELECT max(map_version) FROM pur.hubs WHERE hub_id = :h"), {"h": HUB}
            ).scalar(),
            lambda v: v == 1,
            60,
            "pur_svc to learn the hub's map",
            interval=0.5,
        )

    pickups = plan_pickups(rng, v1, PUR_COUNT, run_id=f"f{seed}")
    planned = {p.request_id: p for p in pickups}
    # Dispatches on the two busiest routes, on the route map version 2 deletes, and on the one
    # its new premium route covers in part.
    first = routers[1].expected(np.array([p.lat for p in pickups]), np.array([p.lng for p in pickups]))
    busy = Counter(routers[1].routes[r].id for r in first.covering if r >= 0)
    busiest = [r for r, _ in busy.most_common() if r not in (DELETED_ROUTE, PREMIUM_CENTRE_ROUTE)][:2]
    dispatch_routes = [busiest[0], PREMIUM_CENTRE_ROUTE, DELETED_ROUTE, busiest[1]]

    operations = Operations(
        fault_mesh,
        v2,
        dispatch_routes,
        pickup_date=TODAY,
        load_seconds=LOAD_SECONDS,
        rng=np.random.default_rng([seed, 1]),
    )
    operations.set_up_fleet()
    timeline = Timeline()
    load = LoadClient(fault_mesh.clients.pur, pickups, hub_id=HUB, pickup_date=TODAY, seconds=LOAD_SECONDS, rng=rng)
    injector = FaultInjector(fault_infra, fault_mesh, timeline, fault_schedule(rng, LOAD_SECONDS), rng)
    load.start()
    injector.start()
    operations.start(timeline)
    result = load.join()
    injector.join()
    operations.join()

    kafka = KafkaProbe(fault_infra.kafka_bootstrap_servers)
    try:
        convergence = wait_converged(fault_db, kafka, CONVERGE_TIMEOUT_S)
        dead = kafka.dead_lettered()
        lag = kafka.lag()
    finally:
        kafka.close()

    with fault_db.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, request_id, client_id, status, route_id, rider_id, dispatch_id, route_match, distance_m, "
                "map_version, unroutable_reason, lat, lng FROM pur.pickup_requests WHERE hub_id = :h ORDER BY id"
            ),
            {"h": HUB},
        ).all()
    unsent = unsent_outbox(fault_db)
    checks = [
        Check("creates answered only OK or a retryable error", 0, len(result.unexpected), sample(result.unexpected)),
        *check_purs(rows, result, planned, routers, newest=operations.map_v2_version),
        Check("outbox rows left unsent", 0, sum(unsent.values()), ", ".join(f"{s} {n}" for s, n in unsent.items())),
        Check(
            "consumer lag of the PUR pipeline", 0, sum(lag.values()), ", ".join(f"{g} {n}" for g, n in lag.items() if n)
        ),
        Check("messages dead-lettered", 0, sum(dead.values()), ", ".join(f"{t} {n}" for t, n in dead.items() if n)),
        *check_dispatches(fault_db, rows),
        *check_overrides(
            fault_db,
            rows,
            manual=operations.manual,
            skipped=operations.manual_skipped,
            route_riders={r.id: r.rider_id for r in routes_of(v1)},
            reassigned=operations.reassigned,
            moved=operations.moved,
        ),
        Check(
            "commits of one plan answering different dispatches",
            0,
            len({tuple(a) for a in operations.plan_commits}) - 1 if operations.plan_commits else 0,
            operations.planning or f"{len(operations.plan_commits[0]) if operations.plan_commits else 0} dispatches",
        ),
        check_route_read_models(fault_db, v2),
        check_replay(fault_mesh, result, planned, TODAY, rng),
    ]
    report.append(render(seed, PUR_COUNT, result, timeline, convergence, checks, time.monotonic() - began))
    failed = [c.name for c in checks if not c.ok]
    assert convergence.converged and not failed, (
        f"seed {seed}: failed checks {failed}; converged={convergence.converged}; see the report below"
    )
