"""End to end through the running mesh: pur_svc -> outbox -> Kafka -> routing_svc -> Kafka -> pur_svc.

Two measurements against the services that `make up` (or `infra/infra.sh services-up`) started,
on a hub of its own, BENCH-E2E by default: the demo hub's map with every route id prefixed by the
hub (imported first with ImportRoutes replace_existing: idempotent), so a benchmark's hundreds of
thousands of PURs never land in the demo hub's day that `make run` plans:

1. Throughput: --purs PURs (default 100,000, the demo's simulated-day locations) sent with
   BatchCreatePickupRequests (--batch per call, --clients concurrent threads keeping the pipeline
   full), then waited for until every one is ROUTED or UNROUTABLE (routed_at set). Every --interval seconds it
   prints created vs settled and where the backlog sits (pur outbox unsent, pur.created.v1 lag of
   routing_svc, routing outbox unsent, pur.route-assignments.v1 lag of pur_svc) with the CPU share
   of each process. Target: >= 2,000 PURs/s sustained.
2. Latency: a steady --rate of single CreatePickupRequest calls for --seconds (open loop: calls
   are sent on schedule whether or not earlier ones returned), each PUR followed on
   WatchPickupRequests (opened before the first create) until its ROUTED/UNROUTABLE update
   arrives; GetPickupRequest reads back what the watch missed. Target: p99 < 150 ms.

Both print the server-side routed_at - created_at and a per-hop breakdown read from the outbox
tables. This is a measurement tool: it reads PostgreSQL directly (status counts of the run's
PURs, their timestamps, the `pur` and `routing` outbox tables) and Kafka consumer-group offsets,
which no service does across schemas. Every run uses its own client_id, so runs never mix.

    eval "$(bash infra/infra.sh env)"
    .cache/venv/bin/python -m bench.bench_e2e                      # both, full size
    .cache/venv/bin/python -m bench.bench_e2e --purs 5000 --seconds 10   # a quick small run
    .cache/venv/bin/python -m bench.bench_e2e --mode throughput --profile out/profile   # + py-spy, pg_stat_activity

It prints figures and asserts nothing about time (exit 1 only if PURs never settle).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import queue
import secrets
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np

from bench import instruments as c
from demo import city
from demo.workload import hub_today, plan_day
from firstmile.pur.v1 import pur_pb2
from firstmile_client.channels import ToolError, connect, tool_channel
from firstmile_client.endpoints import pur_endpoint, routing_endpoint
from firstmile_client.stubs import MeshClients

THROUGHPUT_TARGET = 2000.0
P99_TARGET_MS = 150.0
# CPU milliseconds per PUR of the whole mesh (issue 14): batch creates, single creates.
CPU_TARGET_BATCH_MS = 1.0
CPU_TARGET_SINGLE_MS = 3.0
SETTLED = (pur_pb2.PICKUP_STATUS_ROUTED, pur_pb2.PICKUP_STATUS_UNROUTABLE)
BATCH_METHOD = "/firstmile.pur.v1.PickupService/BatchCreatePickupRequests"
ROUTING_GROUP, CREATED_TOPIC = "routing_svc", "pur.created.v1"
PUR_GROUP, ASSIGN_TOPIC = "pur_svc.route-assignments", "pur.route-assignments.v1"


BENCH_HUB = "BENCH-E2E"


def map_for_hub(collection: dict, hub_id: str) -> dict:
    """The demo map for `hub_id`: route ids are unique across hubs, so another hub's copy prefixes them."""
    if hub_id == city.HUB_ID:
        return collection
    features = [
        {**feature, "properties": {**feature["properties"], "id": f"{hub_id}-{feature['properties']['id']}"}}
        for feature in collection["features"]
    ]
    return {**collection, "features": features}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--mode", choices=("all", "throughput", "latency"), default="all")
    p.add_argument("--purs", type=int, default=100_000, help="PURs for the throughput run (default 100000)")
    p.add_argument(
        "--batch", type=int, default=500, help="PURs per BatchCreatePickupRequests call (default 500, max 1000)"
    )
    p.add_argument("--clients", type=int, default=4, help="concurrent create threads (default 4)")
    p.add_argument(
        "--rate", type=float, default=200.0, help="single creates per second in the latency run (default 200)"
    )
    p.add_argument("--seconds", type=float, default=30.0, help="length of the latency run (default 30)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between progress rows (default 2)")
    p.add_argument(
        "--settle-timeout", type=float, default=120.0, help="give up when nothing settles for this long (default 120 s)"
    )
    p.add_argument("--hub", default=BENCH_HUB, help=f"hub to create PURs at (default {BENCH_HUB}; not the demo's)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument(
        "--profile",
        type=Path,
        help="py-spy record pur_svc and routing_svc into this directory and "
        "sample pg_stat_activity while the run lasts",
    )
    p.add_argument("--spy-rate", type=int, default=25, help="py-spy samples per second (default 25)")
    p.add_argument(
        "--spy-all-threads",
        action="store_true",
        help="py-spy samples every non-idle thread (default: only the thread holding the GIL)",
    )
    p.add_argument("--pur-address", default="localhost:50051")
    p.add_argument("--routing-address", default="localhost:50052")
    p.add_argument(
        "--kafka",
        default=None,
        help="Kafka bootstrap servers (default: $FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS or localhost:9092)",
    )
    args = p.parse_args(argv)
    if not 1 <= args.batch <= 1000:
        p.error("--batch must be 1..1000")
    return args


def new_run_id(kind: str) -> str:
    return f"bench-{kind}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"


# ----------------------------------------------------------------------------- observers


class KafkaLag:
    """Unconsumed messages of a consumer group on a topic (end offsets minus committed offsets)."""

    def __init__(self, bootstrap: str) -> None:
        from kafka import KafkaAdminClient, KafkaConsumer

        self._admin = KafkaAdminClient(bootstrap_servers=bootstrap.split(","), client_id="bench-lag")
        self._consumer = KafkaConsumer(
            bootstrap_servers=bootstrap.split(","), client_id="bench-lag", enable_auto_commit=False
        )

    def lag(self, group: str, topic: str) -> int:
        from kafka.structs import TopicPartition

        try:
            partitions = self._consumer.partitions_for_topic(topic) or set()
            tps = [TopicPartition(topic, p) for p in partitions]
            ends = self._consumer.end_offsets(tps)
            committed = self._admin.list_group_offsets(group).get(group, {})
        except Exception:  # noqa: BLE001 - a progress figure, never fatal
            return -1
        return sum(
            max(0, ends[tp] - (committed[tp].offset if tp in committed and committed[tp].offset >= 0 else 0))
            for tp in tps
        )

    def close(self) -> None:
        self._consumer.close()
        self._admin.close()


class Progress:
    """Progress rows: settled counts from PostgreSQL, backlog per hop, CPU per process."""

    HEADER = (
        f"  {'t s':>6} {'created':>8} {'settled':>8} {'backlog':>8} {'create/s':>8} {'settle/s':>8} | "
        f"{'pur-obx':>7} {'rt-lag':>7} {'rt-obx':>7} {'pur-lag':>7} | CPU % of one core"
    )

    def __init__(self, pg, client_id: str, kafka: KafkaLag | None) -> None:
        self.pg = pg
        self.client_id = client_id
        self.kafka = kafka
        self.cpu = c.CpuMeter()
        self.rows: list[tuple[float, int, int]] = []
        self.cpu_rows: list[dict[str, float]] = []
        self.cpu_seconds: dict[str, float] = dict.fromkeys(c.CpuMeter.GROUPS, 0.0)
        self.mesh_ms_per_pur = float("nan")

    def settled(self) -> int:
        with self.pg.cursor() as cur:
            cur.execute(
                # routed_at is set when the first assignment is applied and stays (a PUR may move on
                # to DISPATCHED right after, when dispatch_svc places it).
                "SELECT count(routed_at) FROM pur.pickup_requests WHERE client_id = %s",
                (self.client_id,),
            )
            return int(cur.fetchone()[0])

    def unsent(self, schema: str) -> int:
        with self.pg.cursor() as cur:
            cur.execute(f"SELECT count(*) FROM {schema}.outbox WHERE sent_at IS NULL")
            return int(cur.fetchone()[0])

    def row(self, t: float, created: int) -> tuple[int, str]:
        settled = self.settled()
        prev_t, prev_created, prev_settled = self.rows[-1] if self.rows else (0.0, 0, 0)
        dt = max(t - prev_t, 1e-9)
        self.rows.append((t, created, settled))
        lags = (
            (self.kafka.lag(ROUTING_GROUP, CREATED_TOPIC), self.kafka.lag(PUR_GROUP, ASSIGN_TOPIC))
            if self.kafka
            else (-1, -1)
        )
        shares = self.cpu.sample()
        self.cpu_rows.append(shares)
        for group, share in shares.items():
            self.cpu_seconds[group] += share * dt
        text = (
            f"  {t:>6.1f} {created:>8,} {settled:>8,} {created - settled:>8,} {(created - prev_created) / dt:>8,.0f} "
            f"{(settled - prev_settled) / dt:>8,.0f} | {self.unsent('pur'):>7,} {lags[0]:>7,} {self.unsent('routing'):>7,} "
            f"{lags[1]:>7,} | {c.cpu_line(shares)}"
        )
        return settled, text

    def cpu_summary(self, purs: int, target_ms: float, skip_first: int = 1) -> str:
        """Mean and peak CPU share per process group, and CPU milliseconds per PUR over the whole
        run (2 cores = 2,000 ms of CPU per second: 2,000 PURs/s leaves 1 ms per PUR for everything)."""
        rows = self.cpu_rows[skip_first:] or self.cpu_rows
        if not rows:
            return "  (no samples)"
        mean = {g: float(np.mean([r.get(g, 0.0) for r in rows])) for g in c.CpuMeter.GROUPS}
        peak = {g: float(np.max([r.get(g, 0.0) for r in rows])) for g in c.CpuMeter.GROUPS}
        total = sum(mean.values())
        mesh = ("pur_svc", "routing_svc", "postgres", "kafka", "redis", "dispatch_svc", "attendance_adapter")
        per_pur = {g: self.cpu_seconds[g] * 1000 / max(purs, 1) for g in c.CpuMeter.GROUPS}
        self.mesh_ms_per_pur = sum(per_pur[g] for g in mesh)
        verdict = "meets" if self.mesh_ms_per_pur <= target_ms else "MISSES"
        lines = [
            f"  machine: {os.cpu_count()} cores = {os.cpu_count() * 100}%; busy on average {total * 100:.0f}%. "
            f"CPU per PUR of the mesh (services + infrastructure): {self.mesh_ms_per_pur:.2f} ms "
            f"-- target <= {target_ms:.1f} ms: {verdict}",
            f"    {'process':<20} {'mean':>6} {'peak':>6} {'ms/PUR':>7}",
        ]
        for g in sorted(mean, key=mean.get, reverse=True):
            if mean[g] >= 0.005:
                lines.append(f"    {g:<20} {mean[g] * 100:>5.0f}% {peak[g] * 100:>5.0f}% {per_pur[g]:>7.3f}")
        return "\n".join(lines)


# ----------------------------------------------------------------------------- hops


# Joined in Python: the planner's row estimates for a fresh run are stale (the tables grow fast) and
# a nested-loop plan over the outbox tables can take minutes.
def _hop_rows(pg, client_id: str, since: datetime) -> list[tuple[float, ...]]:
    with pg.cursor() as cur:
        cur.execute(
            "SELECT id, extract(epoch FROM created_at), extract(epoch FROM routed_at) FROM pur.pickup_requests "
            "WHERE client_id = %s AND routed_at IS NOT NULL",
            (client_id,),
        )
        purs = cur.fetchall()

        def events(schema: str, topic: str, nth: int) -> dict[str, tuple[float, float]]:
            """(created_at, sent_at) of each key's nth event of the topic (0 = first), in id order."""
            cur.execute(
                f"SELECT convert_from(key, 'UTF8'), extract(epoch FROM created_at), extract(epoch FROM sent_at) "
                f"FROM {schema}.outbox WHERE topic = %s AND created_at >= %s AND sent_at IS NOT NULL ORDER BY id",
                (topic, since),
            )
            seen: dict[str, int] = {}
            found: dict[str, tuple[float, float]] = {}
            for key, created, sent in cur.fetchall():
                index = seen.get(key, 0)
                seen[key] = index + 1
                if index == nth:
                    found[key] = (float(created), float(sent))
            return found

        created_ev = events("pur", "pur.created.v1", 0)
        assign_ev = events("routing", "pur.route-assignments.v1", 0)
        # pur.events.v1 per PUR: PENDING_ROUTE at create, then ROUTED/UNROUTABLE (then maybe DISPATCHED ...)
        status_ev = events("pur", "pur.events.v1", 1)
    rows = []
    for pur_id, created_at, routed_at in purs:
        ce, ae, se = created_ev.get(pur_id), assign_ev.get(pur_id), status_ev.get(pur_id)
        if not (ce and ae and se):
            continue
        created_at, routed_at = float(created_at), float(routed_at)
        rows.append(
            (
                ce[0] - created_at,
                ce[1] - ce[0],
                ae[0] - ce[1],
                ae[1] - ae[0],
                routed_at - ae[1],
                se[1] - routed_at,
                routed_at - created_at,
                ae[0],
                se[0],
                ce[0],
                se[1],
            )
        )
    return rows


HOP_LABELS = (
    "create: handler start -> create tx (pur)",
    "pur outbox: create tx start -> acked by Kafka",
    "Kafka + routing_svc consume + lookup",
    "routing outbox: tx start -> acked by Kafka",
    "Kafka + pur_svc consume (-> routed_at)",
    "pur: routed_at -> status event acked",
    "total server: routed_at - created_at",
)


def hop_report(pg, client_id: str, since: datetime) -> tuple[str, np.ndarray | None]:
    rows = _hop_rows(pg, client_id, since)
    if not rows:
        return "  (no rows joined; the outbox rows may have been purged)", None
    data = np.array(rows, dtype=float)
    data[:, :7] *= 1000  # seconds -> ms (the last columns stay epoch seconds)
    lines = [c.dist_header(width=46)]
    for i, label in enumerate(HOP_LABELS):
        lines.append(c.dist_row(label, data[:, i], width=46))
    lines.append("  (tx start = now() of the writing transaction = its outbox rows' created_at; 'acked' = sent_at, set")
    lines.append(
        "   right after the relay's flush returned; hops 3 and 5 include Kafka, the consumer's poll and decode.)"
    )
    # Consumer batches: rows written by one transaction share its now() (= created_at).
    for label, col in (
        ("pur create transactions", 9),
        ("routing_svc consumer batches", 7),
        ("pur_svc assignment batches", 8),
    ):
        _, counts = np.unique(data[:, col], return_counts=True)
        lines.append(
            f"  {label:<30} {len(counts):>6,} transactions, PURs per transaction: mean {counts.mean():.0f}, "
            f"p50 {np.median(counts):.0f}, max {counts.max()}"
        )
    lines.append(relay_report(pg, since))
    return "\n".join(lines), data


def relay_report(pg, since: datetime) -> str:
    """Relay cycles per schema, read from sent_at: one cycle marks its rows with clock_timestamp()
    in one UPDATE (microseconds apart), so a gap of more than 1 ms starts the next cycle."""
    lines = []
    for schema in ("pur", "routing"):
        with pg.cursor() as cur:
            cur.execute(
                f"SELECT extract(epoch FROM sent_at) FROM {schema}.outbox WHERE created_at >= %s AND sent_at IS NOT NULL "
                "ORDER BY sent_at",
                (since,),
            )
            sent = np.array([float(r[0]) for r in cur.fetchall()])
        if sent.size < 2:
            continue
        starts = np.r_[0, np.flatnonzero(np.diff(sent) > 0.001) + 1]
        sizes = np.diff(np.r_[starts, sent.size])
        cycle_ms = np.diff(sent[starts]) * 1000
        full = sizes >= 500
        lines.append(
            f"  {schema} outbox relay: {sent.size:,} rows in {len(sizes):,} cycles, rows per cycle mean {sizes.mean():.0f} "
            f"(max {sizes.max()}); time between cycles p50 {c.pct(cycle_ms, 50):.1f} ms, p95 {c.pct(cycle_ms, 95):.1f} ms"
            + (
                f"; full 500-row cycles every {c.pct(cycle_ms[full[:-1]], 50):.0f} ms (p50) = "
                f"{500 / max(c.pct(cycle_ms[full[:-1]], 50), 1e-9) * 1000:,.0f} rows/s while backlogged"
                if full[:-1].sum() > 2
                else ""
            )
        )
    return "\n".join(lines)


def server_latency(pg, client_id: str) -> tuple[np.ndarray, dict[str, int], tuple[float, float, float, float] | None]:
    """routed_at - created_at (ms) of the run's settled PURs, status counts, and
    (first created_at, 10%, 90%, last routed_at) as epoch seconds."""
    with pg.cursor() as cur:
        cur.execute(
            "SELECT extract(epoch FROM routed_at - created_at) * 1000 FROM pur.pickup_requests "
            "WHERE client_id = %s AND routed_at IS NOT NULL",
            (client_id,),
        )
        latencies = np.array([r[0] for r in cur.fetchall()], dtype=float)
        cur.execute(
            "SELECT status, count(*) FROM pur.pickup_requests WHERE client_id = %s GROUP BY status", (client_id,)
        )
        counts = {status: int(n) for status, n in cur.fetchall()}
        cur.execute(
            "SELECT extract(epoch FROM min(created_at)), "
            "extract(epoch FROM percentile_disc(0.1) WITHIN GROUP (ORDER BY routed_at)), "
            "extract(epoch FROM percentile_disc(0.9) WITHIN GROUP (ORDER BY routed_at)), "
            "extract(epoch FROM max(routed_at)) FROM pur.pickup_requests WHERE client_id = %s AND routed_at IS NOT NULL",
            (client_id,),
        )
        span = cur.fetchone()
    return latencies, counts, (tuple(float(v) for v in span) if span and span[0] is not None else None)


# ----------------------------------------------------------------------------- throughput


def wait_until_quiet(pg, kafka: KafkaLag | None, timeout: float = 600.0) -> float:
    """Waits until both outbox tables have nothing unsent and both consumer groups have no lag
    (a previous run's tail must not load the next measurement); returns the seconds waited."""
    started = time.monotonic()
    told = False
    while time.monotonic() - started < timeout:
        with pg.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM pur.outbox WHERE sent_at IS NULL) + "
                "(SELECT count(*) FROM routing.outbox WHERE sent_at IS NULL)"
            )
            unsent = int(cur.fetchone()[0])
        lag = (kafka.lag(ROUTING_GROUP, CREATED_TOPIC) + kafka.lag(PUR_GROUP, ASSIGN_TOPIC)) if kafka else 0
        if unsent == 0 and lag <= 0:
            return time.monotonic() - started
        if not told:
            print(
                f"  waiting for the mesh to drain ({unsent:,} unsent outbox rows, {max(lag, 0):,} unconsumed messages) ..."
            )
            told = True
        time.sleep(1.0)
    print(f"  still not drained after {timeout:.0f} s; measuring anyway")
    return time.monotonic() - started


def wait_for_hub(clients: MeshClients, hub_id: str, collection: dict, timeout: float = 30.0) -> None:
    """pur_svc learns hubs from routing.map-changes.v1: wait until it accepts a create for the hub
    (a throwaway PUR of a 'bench-probe' client, so it counts in no run)."""
    probe = plan_day(collection, 1, seed=1, run_id=new_run_id("probe"))[0]
    probe = dataclasses.replace(probe, client_id="bench-probe")
    request = probe.request(hub_id, hub_today())
    deadline = time.monotonic() + timeout
    while True:
        try:
            clients.pur.CreatePickupRequest(request, timeout=10)
            return
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND or time.monotonic() > deadline:
                raise ToolError(f"CreatePickupRequest for hub {hub_id} failed: {c.rpc_error_text(exc)}") from None
            time.sleep(0.25)


def plan(collection: dict, count: int, seed: int, run_id: str) -> list:
    planned = plan_day(collection, count, seed=seed, run_id=run_id)
    return [dataclasses.replace(p, client_id=run_id) for p in planned]


def throughput(args: argparse.Namespace, clients: MeshClients, collection: dict, pg, kafka: KafkaLag | None) -> dict:
    run_id = new_run_id("tput")
    print(
        f"\n== Throughput: {args.purs:,} PURs, BatchCreatePickupRequests x{args.batch}, {args.clients} client threads "
        f"(client_id {run_id})"
    )
    started_plan = time.monotonic()
    pickups = plan(collection, args.purs, args.seed, run_id)
    today = hub_today()
    batches: queue.Queue = queue.Queue()
    for start in range(0, len(pickups), args.batch):
        chunk = pickups[start : start + args.batch]
        request = pur_pb2.BatchCreatePickupRequestsRequest(requests=[p.request(args.hub, today) for p in chunk])
        batches.put((len(chunk), request.SerializeToString()))
    print(f"  planned and serialized {len(pickups):,} requests in {time.monotonic() - started_plan:.1f} s (not timed)")

    channel = tool_channel(args.pur_address)
    # Pre-serialized requests; responses are parsed for created_count only.
    call = channel.unary_unary(BATCH_METHOD, request_serializer=None, response_deserializer=None)
    lock = threading.Lock()
    created = [0]
    call_ms: list[float] = []
    errors: list[str] = []
    last_return = [0.0]

    def sender() -> None:
        while True:
            try:
                count, body = batches.get_nowait()
            except queue.Empty:
                return
            sent = time.monotonic()
            try:
                raw = call(body, timeout=120)
            except grpc.RpcError as exc:
                with lock:
                    errors.append(c.rpc_error_text(exc))
                continue
            done = time.monotonic()
            response = pur_pb2.BatchCreatePickupRequestsResponse.FromString(raw)
            with lock:
                created[0] += response.created_count
                call_ms.append((done - sent) * 1000)
                last_return[0] = max(last_return[0], done)

    wait_until_quiet(pg, kafka)
    progress = Progress(pg, run_id, kafka)
    since = datetime.now(UTC)
    with Profile(args, "throughput") as profile:
        t0 = time.monotonic()
        threads = [threading.Thread(target=sender, name=f"create-{i}", daemon=True) for i in range(args.clients)]
        for t in threads:
            t.start()
        print(
            "  backlog = created - settled; pur-obx / rt-obx = unsent outbox rows; rt-lag / pur-lag = Kafka messages "
            "not yet consumed by routing_svc / pur_svc"
        )
        print(Progress.HEADER)
        settled = 0
        last_progress = time.monotonic()
        while True:
            time.sleep(args.interval)
            now = time.monotonic()
            with lock:
                done_creating = created[0]
            new_settled, text = progress.row(now - t0, done_creating)
            print(text, flush=True)
            if new_settled != settled:
                settled, last_progress = new_settled, now
            alive = any(t.is_alive() for t in threads)
            if not alive and settled >= done_creating:
                break
            if not alive and now - last_progress > args.settle_timeout:
                print(f"  giving up: nothing settled for {args.settle_timeout:.0f} s")
                break
    create_s = max(last_return[0] - t0, 1e-9)
    drain_s = wait_until_quiet(pg, kafka)
    drained_after = time.monotonic() - t0
    latencies, counts, span = server_latency(pg, run_id)
    result: dict = {"create_rate": created[0] / create_s, "created": created[0], "settled": settled}
    print(
        f"\n  created {created[0]:,} PURs in {create_s:.1f} s: {result['create_rate']:,.0f} PURs/s "
        f"(BatchCreate call p50 {c.pct(call_ms, 50):.0f} ms, p99 {c.pct(call_ms, 99):.0f} ms; {len(errors)} failed calls"
        + (f", e.g. {errors[0]}" if errors else "")
        + ")"
    )
    print(f"  statuses: {dict(sorted(counts.items()))}")
    if span:
        first, p10, p90, last = span
        e2e = settled / max(last - first, 1e-9)
        sustained = 0.8 * settled / max(p90 - p10, 1e-9)
        result.update(e2e_rate=e2e, sustained_rate=sustained, e2e_s=last - first)
        verdict = "meets" if sustained >= THROUGHPUT_TARGET else "MISSES"
        print(
            f"  end to end: {settled:,} settled {last - first:.1f} s after the first create: {e2e:,.0f} PURs/s "
            f"(server clock: first created_at -> last routed_at)"
        )
        print(
            f"  sustained (10% -> 90% settled): {sustained:,.0f} PURs/s -- target >= {THROUGHPUT_TARGET:,.0f}/s: {verdict}"
        )
        print(
            f"  the mesh drained (every outbox row published, no consumer lag; i.e. the ROUTED status events "
            f"too) {drained_after:.0f} s after the first create, {drain_s:.0f} s after the last PUR settled"
        )
    print("\n  routed_at - created_at (server), ms:")
    print(c.dist_header(width=46))
    print(c.dist_row("all PURs of the run", latencies, width=46))
    text, _ = hop_report(pg, run_id, since)
    print("\n  per hop, ms (from the outbox tables):")
    print(text)
    print("\n  CPU while the run lasted:")
    print(progress.cpu_summary(settled, CPU_TARGET_BATCH_MS))
    result["cpu_ms_per_pur"] = progress.mesh_ms_per_pur
    profile.print_report()
    channel.close()
    return result


def profiled_processes() -> list[str]:
    """pur_svc and routing_svc, and their workers processes when infra.sh started the roles apart."""
    names = []
    for service in ("pur_svc", "routing_svc"):
        names.append(service)
        if c.service_pid(f"{service}-workers") is not None:
            names.append(f"{service}-workers")
    return names


class Profile:
    """With --profile: py-spy on pur_svc and routing_svc (each of their processes) and pg_stat_activity sampling while the
    block runs, into <profile>/<label>/; `print_report()` prints the summaries afterwards."""

    def __init__(self, args: argparse.Namespace, label: str) -> None:
        self.enabled = args.profile is not None
        self.activity = c.ActivitySampler(c.pg_dsn()) if self.enabled else None
        self._spy = (
            c.py_spy_record(
                profiled_processes(), args.profile / label, rate=args.spy_rate, gil_only=not args.spy_all_threads
            )
            if self.enabled
            else None
        )
        self.recordings: list = []
        self.gil_only = not args.spy_all_threads

    def __enter__(self) -> Profile:
        if self.enabled:
            self.recordings = self._spy.__enter__()
            self.activity.start()
        return self

    def __exit__(self, *exc) -> bool:
        if self.enabled:
            self.activity.stop()
            self._spy.__exit__(*exc)
        return False

    def print_report(self) -> None:
        if not self.enabled:
            return
        print("\n  PostgreSQL (pg_stat_activity samples, non-idle backends of the mesh database):")
        print(self.activity.report())
        what = (
            "samples of the thread holding the GIL (where the process's Python CPU goes)"
            if self.gil_only
            else "samples of every non-idle thread"
        )
        for rec in self.recordings:
            print(f"\n  py-spy {rec.name} (pid {rec.pid}), {what} -> {rec.raw}")
            print(c.summarize_stacks(rec.raw))


# ----------------------------------------------------------------------------- latency


class Watch:
    """WatchPickupRequests(hub, ROUTED/UNROUTABLE) in a thread; the arrival time of each of the
    run's PURs (by request_id prefix), on the monotonic and the wall clock."""

    def __init__(self, clients: MeshClients, hub_id: str, prefix: str) -> None:
        self._clients = clients
        self._request = pur_pb2.WatchPickupRequestsRequest(hub_id=hub_id, statuses=list(SETTLED))
        self._prefix = prefix
        self.seen: dict[str, tuple[float, float]] = {}
        self.interruptions = 0
        self._stop = threading.Event()
        self._call = None
        self._thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._call is not None:
            self._call.cancel()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._call = self._clients.pur.WatchPickupRequests(self._request)
            try:
                for update in self._call:
                    request_id = update.pickup_request.request_id
                    if request_id.startswith(self._prefix) and request_id not in self.seen:
                        self.seen[request_id] = (time.monotonic(), time.time())
            except grpc.RpcError:
                pass
            if not self._stop.is_set():
                self.interruptions += 1
                self._stop.wait(0.2)


def latency(args: argparse.Namespace, clients: MeshClients, collection: dict, pg, kafka: KafkaLag | None) -> dict:
    run_id = new_run_id("lat")
    count = max(1, int(args.rate * args.seconds))
    print(
        f"\n== Latency: {count:,} single CreatePickupRequest calls at {args.rate:,.0f}/s for {args.seconds:.0f} s "
        f"(open loop; client_id {run_id})"
    )
    pickups = plan(collection, count, args.seed + 1, run_id)
    today = hub_today()
    requests = [p.request(args.hub, today) for p in pickups]
    wait_until_quiet(pg, kafka)
    watch = Watch(clients, args.hub, run_id)
    watch.start()
    time.sleep(1.0)  # the watch must be subscribed before the first create
    since = datetime.now(UTC)
    progress = Progress(pg, run_id, kafka)
    sent_at: dict[str, float] = {}
    returned_at: dict[str, float] = {}
    pur_ids: dict[str, str] = {}
    failures: list[str] = []
    lock = threading.Lock()

    def on_done(request_id: str):
        def done(future: grpc.Future) -> None:
            now = time.monotonic()
            exc = future.exception()
            with lock:
                if exc is None:
                    returned_at[request_id] = now
                    pur_ids[request_id] = future.result().pickup_request.id
                else:
                    failures.append(c.rpc_error_text(exc))

        return done

    # Progress rows come from a thread of their own so that the send schedule never waits on them.
    stop_rows = threading.Event()
    t0 = time.monotonic()

    def rows() -> None:
        while not stop_rows.wait(args.interval):
            print(progress.row(time.monotonic() - t0, len(returned_at))[1], flush=True)

    print(Progress.HEADER)
    row_thread = threading.Thread(target=rows, name="progress", daemon=True)
    row_thread.start()
    profile = Profile(args, "latency").__enter__()
    late = 0
    for k, request in enumerate(requests):
        due = t0 + k / args.rate
        while (left := due - time.monotonic()) > 0:
            time.sleep(min(left, 0.002))
        if time.monotonic() - due > 0.005:
            late += 1
        sent_at[request.request_id] = time.monotonic()
        future = clients.pur.CreatePickupRequest.future(request, timeout=30)
        future.add_done_callback(on_done(request.request_id))
    send_s = time.monotonic() - t0
    deadline = time.monotonic() + max(10.0, args.settle_timeout / 4)
    while len(watch.seen) < count - len(failures) and time.monotonic() < deadline:
        time.sleep(0.05)
    stop_rows.set()
    row_thread.join()
    profile.__exit__(None, None, None)
    watch.stop()
    # The watch is best effort: read back what it missed (their latency is in the server figures only).
    missing = [r for r in sent_at if r not in watch.seen]
    missing_settled = 0
    for request_id in missing:
        if request_id not in pur_ids:
            continue
        try:
            got = clients.pur.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_ids[request_id]), timeout=10)
            missing_settled += got.pickup_request.status in SETTLED
        except grpc.RpcError as exc:
            failures.append(c.rpc_error_text(exc))
    latencies, counts, _ = server_latency(pg, run_id)
    sent = np.array([sent_at[r] for r in sent_at if r in watch.seen])
    seen = np.array([watch.seen[r][0] for r in sent_at if r in watch.seen])
    returned = np.array([returned_at.get(r, np.nan) for r in sent_at if r in watch.seen])
    e2e_ms = (seen - sent) * 1000
    after_return_ms = (seen - returned) * 1000
    create_ms = np.array([(returned_at[r] - sent_at[r]) * 1000 for r in returned_at])
    result = {
        "p50": c.pct(e2e_ms, 50),
        "p95": c.pct(e2e_ms, 95),
        "p99": c.pct(e2e_ms, 99),
        "max": float(np.max(e2e_ms)) if e2e_ms.size else float("nan"),
        "created": len(returned_at),
        "settled": len(latencies),
    }
    print(
        f"\n  offered {count:,} creates in {send_s:.1f} s ({count / send_s:,.0f}/s; {late} sent > 5 ms late), "
        f"{len(failures)} failed" + (f" e.g. {failures[0]}" if failures else "")
    )
    print(
        f"  statuses: {dict(sorted(counts.items()))}; the watch saw {len(watch.seen):,} "
        f"({watch.interruptions} interruptions); {len(missing):,} not seen by the watch"
        + (
            f" (read back with GetPickupRequest: {missing_settled:,} settled; counted in the server figures only)"
            if missing
            else ""
        )
    )
    print("\n  create-to-routed latency, ms:")
    print(c.dist_header(width=46))
    print(c.dist_row("client: create sent -> ROUTED on the watch", e2e_ms, width=46))
    print(
        c.dist_row(
            "client: create returned -> ROUTED on the watch", after_return_ms[~np.isnan(after_return_ms)], width=46
        )
    )
    print(c.dist_row("client: CreatePickupRequest call", create_ms, width=46))
    print(c.dist_row("server: routed_at - created_at", latencies, width=46))
    verdict = "meets" if result["p99"] < P99_TARGET_MS else "MISSES"
    print(
        f"  target p99 < {P99_TARGET_MS:.0f} ms (client, create sent -> routed seen): {result['p99']:.1f} ms, {verdict}"
    )
    text, data = hop_report(pg, run_id, since)
    print("\n  per hop, ms (from the outbox tables):")
    print(text)
    if data is not None:
        # The watch feed: status event acked by Kafka -> update arrived here (same machine, same wall clock).
        with pg.cursor() as cur:
            cur.execute(
                "SELECT request_id, extract(epoch FROM routed_at) FROM pur.pickup_requests WHERE client_id = %s",
                (run_id,),
            )
            routed = dict(cur.fetchall())
        feed = np.array([(watch.seen[r][1] - float(routed[r])) * 1000 for r in watch.seen if routed.get(r) is not None])
        print(c.dist_row("routed_at -> update arrived on the watch", feed, width=46))
    print("\n  CPU while the run lasted:")
    print(progress.cpu_summary(count, CPU_TARGET_SINGLE_MS, skip_first=0))
    result["cpu_ms_per_pur"] = progress.mesh_ms_per_pur
    profile.print_report()
    return result


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bootstrap = args.kafka or os.environ.get("FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    collection = map_for_hub(city.load_route_map(city.MAP_PATH), args.hub)
    pg = c.pg_connect()
    try:
        kafka = KafkaLag(bootstrap)
    except Exception as exc:  # noqa: BLE001
        print(f"note: no Kafka lag figures ({exc!r})")
        kafka = None
    try:
        with connect(pur_endpoint(args.pur_address), routing_endpoint(args.routing_address)) as clients:
            print(
                f"bench_e2e {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, hub {args.hub}; machine: {os.cpu_count()} cores, "
                f"load average {os.getloadavg()[0]:.2f} before the run"
            )
            c.import_hub(clients, args.hub, collection)
            wait_for_hub(clients, args.hub, collection)
            results = {}
            if args.mode in ("all", "throughput"):
                results["throughput"] = throughput(args, clients, collection, pg, kafka)
            if args.mode in ("all", "latency"):
                results["latency"] = latency(args, clients, collection, pg, kafka)
    except ToolError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        if kafka:
            kafka.close()
        pg.close()
    print("\nSummary:")
    if "throughput" in results:
        r = results["throughput"]
        print(
            f"  throughput: create {r['create_rate']:,.0f}/s; end to end {r.get('e2e_rate', 0):,.0f}/s; "
            f"sustained {r.get('sustained_rate', 0):,.0f}/s (target >= {THROUGHPUT_TARGET:,.0f}/s); "
            f"CPU per PUR {r.get('cpu_ms_per_pur', float('nan')):.2f} ms (target <= {CPU_TARGET_BATCH_MS:.1f} ms)"
        )
    if "latency" in results:
        r = results["latency"]
        print(
            f"  latency at {args.rate:,.0f}/s: p50 {r['p50']:.1f} ms, p95 {r['p95']:.1f} ms, p99 {r['p99']:.1f} ms, "
            f"max {r['max']:.1f} ms (target p99 < {P99_TARGET_MS:.0f} ms); "
            f"CPU per PUR {r.get('cpu_ms_per_pur', float('nan')):.2f} ms (target <= {CPU_TARGET_SINGLE_MS:.1f} ms)"
        )
    # Exit 1 only when PURs never settled (a broken pipeline), never for a missed target.
    ok = all(r.get("settled", 0) >= r.get("created", 0) for r in results.values())
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
