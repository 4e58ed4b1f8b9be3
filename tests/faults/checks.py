"""After the run: waiting until the mesh is quiet, the checks (straight from each service's
schema and from Kafka), and the printed report."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import sqlalchemy as sa
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.errors import KafkaError
from kafka.structs import TopicPartition

from dispatch_svc.entrypoints.consumers import ATTENDANCE_EVENTS_GROUP, PUR_EVENTS_GROUP
from dispatch_svc.entrypoints.consumers import MAP_CHANGES_GROUP as DISPATCH_MAP_CHANGES_GROUP
from firstmile.pur.v1 import pur_pb2
from mesh.kafka import dlq_topic
from mesh.topics import (
    ALL_TOPICS,
    ATTENDANCE_EVENTS,
    DISPATCH_EVENTS,
    PUR_CREATED,
    PUR_EVENTS,
    PUR_ROUTE_ASSIGNMENTS,
    ROUTING_MAP_CHANGES,
)
from pur_svc.entrypoints.consumers import ASSIGNMENTS_GROUP, DISPATCH_GROUP, MAP_CHANGES_GROUP
from routing_svc.entrypoints.consumers import GROUP as ROUTING_GROUP
from tests.faults.cluster import Mesh
from tests.faults.injector import Timeline
from tests.faults.load import LoadResult, PlannedPickup, create_request
from tests.faults.operations import call
from tests.faults.routes import HUB, ExactRouter, judge

OUTBOX_SCHEMAS = ("pur", "routing", "dispatch", "attendance")
PROBE_RETRY_S = 60.0
T = TypeVar("T")
# The consumer groups that carry PURs through the mesh, and dispatch_svc's read models (routes and
# attendance)
# (routing_svc's per-replica map groups are left out: a killed replica's group is never consumed
# again, by design).
CONSUMER_GROUPS = {
    ROUTING_GROUP: PUR_CREATED,
    ASSIGNMENTS_GROUP: PUR_ROUTE_ASSIGNMENTS,
    MAP_CHANGES_GROUP: ROUTING_MAP_CHANGES,
    DISPATCH_GROUP: DISPATCH_EVENTS,
    PUR_EVENTS_GROUP: PUR_EVENTS,
    DISPATCH_MAP_CHANGES_GROUP: ROUTING_MAP_CHANGES,
    ATTENDANCE_EVENTS_GROUP: ATTENDANCE_EVENTS,
}


class KafkaProbe:
    """Committed offsets of the pipeline's consumer groups and the ends of the topics."""

    def __init__(self, bootstrap_servers: str) -> None:
        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap_servers, client_id="fault-suite")
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap_servers, client_id="fault-suite", enable_auto_commit=False
        )

    def close(self) -> None:
        self._admin.close()
        self._consumer.close()

    def end_offsets(self, topic: str) -> dict[TopicPartition, int]:
        partitions = self._consumer.partitions_for_topic(topic) or set()
        return self._consumer.end_offsets([TopicPartition(topic, p) for p in sorted(partitions)])

    def lag(self) -> dict[str, int]:
        return self._retried(self._lag)

    def _lag(self) -> dict[str, int]:
        committed = self._admin.list_group_offsets(dict.fromkeys(CONSUMER_GROUPS))
        lag = {}
        for group, topic in CONSUMER_GROUPS.items():
            offsets = committed.get(group) or {}
            lag[group] = sum(
                end - max(0, offsets[tp].offset if tp in offsets else 0) for tp, end in self.end_offsets(topic).items()
            )
        return lag

    def dead_lettered(self) -> dict[str, int]:
        return self._retried(lambda: {dlq_topic(t): sum(self.end_offsets(dlq_topic(t)).values()) for t in ALL_TOPICS})

    @staticmethod
    def _retried(read: Callable[[], T], give_up_s: float = PROBE_RETRY_S) -> T:
        """A broker restarted by a late fault may still be moving group coordinators around
        (NOT_COORDINATOR and the like): retriable answers are asked again."""
        deadline = time.monotonic() + give_up_s
        while True:
            try:
                return read()
            except KafkaError as exc:
                if not exc.retriable or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)


@dataclass
class Convergence:
    seconds: float
    converged: bool
    pending: int
    unsent: dict[str, int]
    lag: dict[str, int]


def unsent_outbox(db: sa.Engine) -> dict[str, int]:
    with db.connect() as conn:
        return {
            s: conn.execute(sa.text(f"SELECT count(*) FROM {s}.outbox WHERE sent_at IS NULL")).scalar_one()
            for s in OUTBOX_SCHEMAS
        }


def wait_converged(db: sa.Engine, kafka: KafkaProbe, timeout: float) -> Convergence:
    """Until nothing is pending, every outbox is drained and every PUR-carrying consumer group is
    at the end of its topic, twice in a row (a batch may be between its commit and its events)."""
    started = time.monotonic()
    quiet = 0
    while True:
        with db.connect() as conn:
            pending = conn.execute(
                sa.text("SELECT count(*) FROM pur.pickup_requests WHERE status = 'PENDING_ROUTE'")
            ).scalar_one()
        unsent = unsent_outbox(db)
        lag = kafka.lag()
        quiet = quiet + 1 if pending == 0 and not any(unsent.values()) and not any(lag.values()) else 0
        elapsed = time.monotonic() - started
        if quiet >= 2 or elapsed > timeout:
            return Convergence(elapsed, quiet >= 2, pending, unsent, lag)
        time.sleep(1.0)


# ------------------------------------------------------------------------------ checks


@dataclass
class Check:
    name: str
    expected: object
    found: object
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.expected == self.found


def sample(items: list[str], n: int = 3) -> str:
    return "; ".join(items[:n]) + (f" (+{len(items) - n} more)" if len(items) > n else "")


def check_purs(
    rows: list, load: LoadResult, planned: dict[str, PlannedPickup], routers: dict[int, ExactRouter], newest: int
) -> list[Check]:
    by_request: dict[str, list] = {}
    for row in rows:
        by_request.setdefault(row.request_id, []).append(row)
    lost, doubled, moved = [], [], []
    for request_id, pur_id in load.acked.items():
        stored = by_request.get(request_id, [])
        if not stored:
            lost.append(request_id)
        elif len(stored) > 1 or stored[0].id != pur_id:
            doubled.append(f"{request_id}: acked {pur_id}, stored {[r.id for r in stored]}")
        elif (stored[0].lat, stored[0].lng) != (planned[request_id].lat, planned[request_id].lng):
            moved.append(request_id)
    stray = [r.id for r in rows if r.request_id not in planned]

    statuses = Counter(r.status for r in rows)
    unsettled = [
        f"{r.id} {r.status} route={r.route_id or '-'} match={r.route_match} dispatch={r.dispatch_id or '-'}"
        for r in rows
        if not settled(r)
    ]

    # The exact answers, per map version, of every stored PUR's location.
    index = {r.id: i for i, r in enumerate(rows)}
    lats = np.array([r.lat for r in rows])
    lngs = np.array([r.lng for r in rows])
    expected = {version: router.expected(lats, lngs) for version, router in routers.items()}
    wrong = []
    for row in rows:
        if row.status not in ("ROUTED", "UNROUTABLE", "DISPATCHED", "PICKED_UP") or row.route_match == "MANUAL":
            continue  # a route chosen by a person is checked against that choice (check_overrides)
        if row.map_version not in expected:
            wrong.append(f"{row.id}: map version {row.map_version} was never published")
            continue
        problem = judge(
            expected[row.map_version],
            index[row.id],
            row.status != "UNROUTABLE",
            row.route_id,
            row.route_match,
            row.distance_m,
            row.rider_id if row.status == "ROUTED" else None,
        )
        if problem:
            wrong.append(f"{row.id} (v{row.map_version}, {row.lat:.6f},{row.lng:.6f}): {problem}")
    # How far routing_svc's NEAREST distances are from this suite's (a sign of the margin left).
    drift = max(
        (
            abs(r.distance_m - expected[r.map_version].distance[index[r.id], expected[r.map_version].rank[r.route_id]])
            for r in rows
            if r.route_match == "NEAREST" and r.map_version in expected and r.route_id in expected[r.map_version].rank
        ),
        default=0.0,
    )
    decided = sum(statuses[s] for s in ("ROUTED", "UNROUTABLE", "DISPATCHED", "PICKED_UP"))
    # Re-routing leaves a person's choice alone: manual PURs keep the version they were assigned at.
    undispatched = [r for r in rows if r.status in ("ROUTED", "UNROUTABLE") and r.route_match != "MANUAL"]
    stale = [f"{r.id} {r.status} v{r.map_version}" for r in undispatched if r.map_version != newest]
    matches = Counter(r.route_match or "NONE" for r in rows)
    return [
        Check("every create acknowledged (retries went through)", len(planned), len(load.acked), sample(load.failed)),
        Check(
            "acknowledged creates stored exactly once, as sent",
            len(load.acked),
            len(load.acked) - len(lost) - len(doubled) - len(moved),
            sample([f"lost {x}" for x in lost] + doubled + [f"location changed {x}" for x in moved]),
        ),
        Check("PURs stored that nobody created", 0, len(stray), sample(stray)),
        Check(
            "every PUR in exactly one settled routing state",
            len(rows),
            len(rows) - len(unsettled),
            ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
            + (f" | {sample(unsettled)}" if unsettled else ""),
        ),
        Check(
            "assignment = exact answer for its map version",
            decided,
            decided - len(wrong),
            ", ".join(f"{m} {n}" for m, n in sorted(matches.items()))
            + f"; NEAREST distances within {drift:.3f} m"
            + (f" | {sample(wrong)}" if wrong else ""),
        ),
        Check(
            f"undispatched PURs routed on the newest map (v{newest}), manual ones aside",
            len(undispatched),
            len(undispatched) - len(stale),
            sample(stale),
        ),
    ]


def settled(row) -> bool:
    """One coherent routing state: its status and the fields that status implies, nothing else."""
    routed = bool(row.route_id) and row.route_match in ("EXACT", "NEAREST", "MANUAL") and row.map_version >= 1
    if row.status == "ROUTED":
        return routed and not row.dispatch_id
    if row.status == "UNROUTABLE":
        return not row.route_id and bool(row.unroutable_reason) and row.map_version >= 1 and not row.dispatch_id
    if row.status in ("DISPATCHED", "PICKED_UP"):
        return routed and bool(row.dispatch_id)
    return False  # PENDING_ROUTE (never routed) or CANCELLED (nobody cancels here)


def check_dispatches(db: sa.Engine, rows: list) -> list[Check]:
    with db.connect() as conn:
        members = conn.execute(
            sa.text(
                "SELECT m.pur_id, m.dispatch_id, d.route_id, d.status, d.rider_id FROM dispatch.dispatch_pickups m "
                "JOIN dispatch.dispatches d ON d.id = m.dispatch_id WHERE d.status <> 'CANCELLED'"
            )
        ).all()
        seen = {
            r.pur_id: r
            for r in conn.execute(
                sa.text("SELECT pur_id, route_id, status, dispatch_id, listed FROM dispatch.open_pickups")
            )
        }
        dispatch_count = conn.execute(sa.text("SELECT count(*) FROM dispatch.dispatches")).scalar_one()
    holders = Counter(m.pur_id for m in members)
    twice = [f"{p} in {n} dispatches" for p, n in holders.items() if n > 1]
    held = {m.pur_id: m for m in members}
    disagree = []
    for pur in rows:
        member, queued = held.get(pur.id), seen.get(pur.id)
        if pur.status == "ROUTED":
            agree = (
                member is None
                and queued is not None
                and (queued.status, queued.route_id, queued.dispatch_id, queued.listed)
                == ("ROUTED", pur.route_id, None, True)
            )
        elif pur.status in ("DISPATCHED", "PICKED_UP"):
            agree = (
                member is not None
                and (member.dispatch_id, member.route_id) == (pur.dispatch_id, pur.route_id)
                and queued is not None
                and (queued.status, queued.dispatch_id) == (pur.status, pur.dispatch_id)
            )
        else:
            agree = member is None and (queued is None or (queued.status, queued.listed) == (pur.status, False))
        if not agree:
            there = (
                "-"
                if queued is None
                else f"{queued.status} route={queued.route_id} dispatch={queued.dispatch_id or '-'} listed={queued.listed}"
            )
            disagree.append(
                f"{pur.id}: pur_svc {pur.status} route={pur.route_id or '-'} dispatch={pur.dispatch_id or '-'}; dispatch_svc {there}"
                + (f", member of {member.dispatch_id} ({member.route_id}, {member.status})" if member else "")
            )
    strays = sorted((set(held) | set(seen)) - {r.id for r in rows})
    # The rider follows the dispatch: its rider while DISPATCHED or PICKED_UP (reassignments included).
    carried = [r for r in rows if r.status in ("DISPATCHED", "PICKED_UP") and r.id in held]
    other_rider = [
        f"{r.id} {r.status}: rider {r.rider_id or '-'}, dispatch {r.dispatch_id} has {held[r.id].rider_id}"
        for r in carried
        if r.rider_id != held[r.id].rider_id
    ]
    return [
        Check(
            "PURs in two live dispatches",
            0,
            len(twice),
            f"{dispatch_count} dispatches hold {len(held)} PURs" + (f" | {sample(twice)}" if twice else ""),
        ),
        Check(
            "PURs pur_svc and dispatch_svc place differently",
            0,
            len(disagree) + len(strays),
            sample(disagree + [f"PUR {p} unknown to pur_svc" for p in strays]) or f"{len(rows)} PURs compared",
        ),
        Check(
            "DISPATCHED/PICKED_UP PURs whose rider is their dispatch's",
            len(carried),
            len(carried) - len(other_rider),
            sample(other_rider) or f"{len({held[r.id].dispatch_id for r in carried})} dispatches",
        ),
    ]


def check_overrides(
    db: sa.Engine,
    rows: list,
    *,
    manual: dict[str, str],
    skipped: list[str],
    route_riders: dict[str, str],
    reassigned: dict[str, str],
    moved: dict[str, str],
) -> list[Check]:
    """What people did by hand held: each manual assignment answered OK is MANUAL on the chosen
    route in pur_svc and in dispatch_svc (with the route's rider while only ROUTED), no other PUR
    is MANUAL, reassigned dispatches keep their new rider, moved pickups are in their new
    dispatch in both services."""
    with db.connect() as conn:
        queued = {
            r.pur_id: r
            for r in conn.execute(
                sa.text("SELECT pur_id, route_id, route_match, dispatch_id FROM dispatch.open_pickups")
            )
        }
        riders = {r.id: r.rider_id for r in conn.execute(sa.text("SELECT id, rider_id FROM dispatch.dispatches"))}
    by_id = {r.id: r for r in rows}
    unstuck, statuses = [], Counter()
    for pur_id, route_id in manual.items():
        pur, there = by_id.get(pur_id), queued.get(pur_id)
        if pur is None:
            unstuck.append(f"{pur_id}: not stored")
            continue
        statuses[pur.status] += 1
        held = (
            pur.route_match == "MANUAL"
            and pur.route_id == route_id
            and pur.status in ("ROUTED", "DISPATCHED", "PICKED_UP")
            and (pur.status != "ROUTED" or pur.rider_id == route_riders.get(route_id))
            and there is not None
            and (there.route_match, there.route_id) == ("MANUAL", route_id)
        )
        if not held:
            where = "-" if there is None else f"{there.route_match} {there.route_id}"
            unstuck.append(
                f"{pur_id} -> {route_id}: pur_svc {pur.status} {pur.route_match} {pur.route_id or '-'} "
                f"rider {pur.rider_id or '-'}; dispatch_svc {where}"
            )
    strays = [r.id for r in rows if r.route_match == "MANUAL" and r.id not in manual]
    wrong_rider = [f"{d}: {riders.get(d)} (given {rider})" for d, rider in reassigned.items() if riders.get(d) != rider]
    astray = [
        f"{p}: pur_svc {getattr(by_id.get(p), 'dispatch_id', None)}, dispatch_svc "
        f"{getattr(queued.get(p), 'dispatch_id', None)} (moved to {target})"
        for p, target in moved.items()
        if getattr(by_id.get(p), "dispatch_id", None) != target or getattr(queued.get(p), "dispatch_id", None) != target
    ]
    outcome = ", ".join(f"{s} {n}" for s, n in sorted(statuses.items()))
    return [
        Check(
            "manual assignments that stuck (MANUAL, chosen route, both services)",
            len(manual),
            len(manual) - len(unstuck),
            sample(unstuck) or f"{outcome}; {len(skipped)} picked but no longer assignable {sample(skipped, 1)}",
        ),
        Check("PURs MANUAL that nobody assigned", 0, len(strays), sample(strays)),
        Check(
            "reassigned dispatches with their new rider",
            len(reassigned),
            len(reassigned) - len(wrong_rider),
            sample(wrong_rider),
        ),
        Check(
            "moved pickups in the dispatch they moved to (both services)",
            len(moved),
            len(moved) - len(astray),
            sample(astray),
        ),
    ]


def check_route_read_models(db: sa.Engine, collection: dict) -> Check:
    """pur_svc's and dispatch_svc's read models of the hub's routes (what manual assignments are
    checked against, where the board's route names come from) are the newest map exactly."""
    want = {
        (f["properties"]["id"], f["properties"].get("name", ""), f["properties"].get("default_rider_id") or "")
        + (bool(f["properties"].get("active", True)),)
        for f in collection["features"]
    }
    queries = {
        "pur_svc": "SELECT id, name, default_rider_id, active FROM pur.routes WHERE hub_id = :h AND NOT deleted",
        "dispatch_svc": "SELECT route_id, name, default_rider_id, active FROM dispatch.routes "
        "WHERE hub_id = :h AND NOT deleted",
    }
    differ = []
    with db.connect() as conn:
        for service, query in queries.items():
            have = {tuple(r) for r in conn.execute(sa.text(query), {"h": HUB})}
            if have != want:
                differ.append(f"{service}: {len(have - want)} unexpected, {len(want - have)} missing")
    return Check("route read models = the newest map (pur_svc, dispatch_svc)", 0, len(differ), "; ".join(differ))


def check_replay(
    mesh: Mesh,
    load: LoadResult,
    planned: dict[str, PlannedPickup],
    pickup_date: str,
    rng: np.random.Generator,
    count: int = 300,
) -> Check:
    """Creates repeated after everything settled return the PURs the first ones created."""
    stub = mesh.clients.pur
    chosen = list(rng.choice(sorted(load.acked), size=min(count, len(load.acked)), replace=False))
    same = 0
    for start in range(0, len(chosen), 100):
        requests = [create_request(planned[r], HUB, pickup_date) for r in chosen[start : start + 100]]
        answer = call(stub.BatchCreatePickupRequests, pur_pb2.BatchCreatePickupRequestsRequest(requests=requests))
        same += sum(
            1 for req, pur in zip(requests, answer.pickup_requests, strict=True) if load.acked[req.request_id] == pur.id
        )
        same -= answer.created_count
    return Check("repeated creates return the same PUR", len(chosen), same)


# ------------------------------------------------------------------------------ report


def table(header: list[str], rows: list[list[str]], align: str) -> list[str]:
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]

    def line(cells: list) -> str:
        return "  ".join(
            str(c).rjust(w) if a == "r" else str(c).ljust(w) for c, w, a in zip(cells, widths, align, strict=True)
        ).rstrip()

    return [line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)]


def render(
    seed: int,
    planned: int,
    load: LoadResult,
    timeline: Timeline,
    convergence: Convergence,
    checks: list[Check],
    elapsed: float,
) -> str:
    errors = ", ".join(f"{code} {n}" for code, n in sorted(load.errors.items())) or "none"
    lines = [
        f"seed {seed} (FIRSTMILE_FAULTS_SEED={seed} repeats the plan); {planned:,} PURs in {load.calls['batch']} batch and "
        f"{load.calls['single']} single creates over {load.seconds:.0f} s; failed attempts retried: {errors}",
        "",
        *table(
            ["offset", "fault / operation", "took", "detail"],
            [[f"{e.offset_s:.1f} s", e.what, f"{e.duration_s:.1f} s", e.detail] for e in timeline.events],
            "rlrl",
        ),
        "",
        f"converged {convergence.seconds:.0f} s after the load"
        if convergence.converged
        else f"NOT converged after {convergence.seconds:.0f} s: pending {convergence.pending}, unsent {convergence.unsent}, lag {convergence.lag}",
        "",
        *table(
            ["check", "expected", "found", "", "detail"],
            [[c.name, c.expected, c.found, "OK" if c.ok else "FAIL", c.detail[:160]] for c in checks],
            "lrrll",
        ),
        "",
        f"whole run {elapsed:.0f} s",
    ]
    return "\n".join(lines)
