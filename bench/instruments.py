"""Measurement instruments shared by the service benchmarks (bench_e2e, bench_lookup_service).

Measurement tools, not services: besides the public gRPC API they read PostgreSQL directly (row
counts, timestamps, outbox tables, pg_stat_activity) and /proc (CPU time per process), and can
attach py-spy to the running services. Nothing here writes to a service's tables.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import numpy as np
import psycopg2
import sqlalchemy as sa

from firstmile.routing.v1 import routing_pb2
from firstmile_client.channels import ToolError
from firstmile_client.endpoints import SERVICES
from firstmile_client.requests import import_routes_request
from firstmile_client.stubs import MeshClients

ROOT = Path(__file__).resolve().parents[1]
RUN_DIR = ROOT / ".cache" / "run"
DEFAULT_DATABASE_URL = "postgresql+psycopg2://firstmile@localhost:5432/firstmile"


# ----------------------------------------------------------------------------- database


def database_url() -> str:
    return os.environ.get("FIRSTMILE_DATABASE_URL", DEFAULT_DATABASE_URL)


def pg_dsn(url: str | None = None, *, user: str | None = None, dbname: str | None = None) -> str:
    """A libpq DSN from the SQLAlchemy URL the services use (optionally another user/database)."""
    parts = urlsplit((url or database_url()).replace("postgresql+psycopg2://", "postgresql://"))
    fields = {
        "host": parts.hostname or "localhost",
        "port": parts.port or 5432,
        "user": user or parts.username or "postgres",
        "dbname": dbname or parts.path.lstrip("/") or "postgres",
        "application_name": "firstmile-bench",
    }
    if parts.password and not user:
        fields["password"] = parts.password
    return " ".join(f"{k}={v}" for k, v in fields.items())


def pg_connect(dsn: str | None = None, *, autocommit: bool = True) -> psycopg2.extensions.connection:
    conn = psycopg2.connect(dsn or pg_dsn())
    conn.autocommit = autocommit
    with conn.cursor() as cur:  # a measurement must never hang on (or load) the database for long
        cur.execute("SET statement_timeout = '120s'")
    return conn


# ----------------------------------------------------------------------------- the mesh


def import_hub(
    clients: MeshClients, hub_id: str, collection: dict, *, timeout: float = 300.0
) -> routing_pb2.ImportRoutesResponse:
    """ImportRoutes with replace_existing: the hub's map becomes exactly `collection` (re-runs change nothing)."""
    started = time.monotonic()
    response = clients.routing.ImportRoutes(import_routes_request(hub_id, collection), timeout=timeout)
    print(
        f"ImportRoutes {hub_id}: {len(collection['features'])} routes in {time.monotonic() - started:.2f} s "
        f"({response.created_count} created, {response.updated_count} updated, {response.deleted_count} deleted, "
        f"{response.unchanged_count} unchanged), map version {response.map_version}"
    )
    return response


def rpc_error_text(exc: grpc.RpcError) -> str:
    code = exc.code().name if hasattr(exc, "code") and exc.code() else "error"
    return f"{code}: {exc.details() if hasattr(exc, 'details') else exc}"


# ----------------------------------------------------------------------------- statistics


def pct(values: Sequence[float] | np.ndarray, q: float) -> float:
    arr = np.asarray(values, dtype=float)
    return float(np.percentile(arr, q)) if arr.size else float("nan")


def dist_row(label: str, values: Sequence[float] | np.ndarray, unit: str = "ms", width: int = 44) -> str:
    """`label  n  p50  p95  p99  max` (values already in `unit`)."""
    arr = np.asarray(values, dtype=float)
    if not arr.size:
        return f"  {label:<{width}} {0:>8,}        -        -        -        -"
    return (
        f"  {label:<{width}} {arr.size:>8,} {pct(arr, 50):>8.1f} {pct(arr, 95):>8.1f} "
        f"{pct(arr, 99):>8.1f} {arr.max():>8.1f}"
    )


def dist_header(unit: str = "ms", width: int = 44) -> str:
    return f"  {'(' + unit + ')':<{width}} {'n':>8} {'p50':>8} {'p95':>8} {'p99':>8} {'max':>8}"


def spread(values: Sequence[float]) -> str:
    """'median X (min A .. max B, n=N)' of repeated measurements."""
    arr = np.asarray(values, dtype=float)
    return f"median {np.median(arr):,.0f} (min {arr.min():,.0f} .. max {arr.max():,.0f}, n={arr.size})"


# ----------------------------------------------------------------------------- processes and CPU

_CLK_TCK = os.sysconf("SC_CLK_TCK")


def service_pid(name: str) -> int | None:
    """PID of a service started by `infra.sh services-up` (from .cache/run/<name>.pid), if alive."""
    path = RUN_DIR / f"{name}.pid"
    try:
        pid = int(path.read_text().strip())
        os.kill(pid, 0)
        return pid
    except (OSError, ValueError):
        return None


def _process_group(pid: int) -> str | None:
    """Which part of the system a process is: a service, postgres, kafka, redis or this bench."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return None
    if pid == os.getpid():
        return "bench"
    args = [a.decode(errors="replace") for a in cmdline if a]
    if comm == "postgres" or (args and args[0].startswith("postgres")):
        return "postgres"
    if comm.startswith("redis-server"):
        return "redis"
    if "kafka.Kafka" in args:
        return "kafka"
    if "-m" in args:
        module = args[args.index("-m") + 1] if args.index("-m") + 1 < len(args) else ""
        if module in SERVICES:
            return module
    if "py-spy" in comm:
        return "py-spy"
    return None


def _cpu_ticks(pid: int) -> int:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    fields_after_comm = stat[stat.rindex(")") + 2 :].split()
    return int(fields_after_comm[11]) + int(fields_after_comm[12])  # utime + stime


def backend_cpu_seconds(engine: sa.Engine, application_name: str) -> dict[int, float]:
    """CPU seconds so far of each PostgreSQL backend whose connection names `application_name`
    (the database must run on this machine: read from /proc)."""
    with engine.connect() as conn:
        pids = conn.execute(
            sa.text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"), {"name": application_name}
        ).scalars()
        return {pid: _cpu_ticks(pid) / _CLK_TCK for pid in pids}


class CpuMeter:
    """CPU seconds used per process group (services, postgres, kafka, redis, bench, other) between
    snapshots, read from /proc. `other` is everything else on the machine (other people's tests)."""

    GROUPS = (
        "pur_svc",
        "routing_svc",
        "postgres",
        "kafka",
        "redis",
        "dispatch_svc",
        "attendance_adapter",
        "bench",
        "py-spy",
        "other",
    )

    def __init__(self) -> None:
        self._groups: dict[int, str | None] = {}
        self._last_ticks: dict[int, int] = {pid: _cpu_ticks(pid) for pid in self._pids()}
        self._last_total = self._machine_busy()
        self._last_at = time.monotonic()

    @staticmethod
    def _machine_busy() -> int:
        with open("/proc/stat") as f:
            parts = f.readline().split()[1:]
        values = [int(v) for v in parts]
        return sum(values) - values[3] - values[4]  # all but idle and iowait

    def _pids(self) -> list[int]:
        return [int(p) for p in os.listdir("/proc") if p.isdigit()]

    def sample(self) -> dict[str, float]:
        """CPU share (1.0 = one core) per group since the previous call."""
        now = time.monotonic()
        elapsed = max(now - self._last_at, 1e-6)
        used: dict[str, float] = collections.defaultdict(float)
        ticks_now: dict[int, int] = {}
        for pid in self._pids():
            if pid not in self._groups:
                self._groups[pid] = _process_group(pid)
            ticks = _cpu_ticks(pid)
            ticks_now[pid] = ticks
            group = self._groups[pid]
            if group is not None:
                used[group] += (ticks - self._last_ticks.get(pid, 0)) / _CLK_TCK  # a new process: all of its time
        total = self._machine_busy()
        busy = (total - self._last_total) / _CLK_TCK
        known = sum(used.values())
        used["other"] = max(0.0, busy - known)
        self._last_ticks, self._last_total, self._last_at = ticks_now, total, now
        return {g: used.get(g, 0.0) / elapsed for g in self.GROUPS}


def cpu_line(
    shares: dict[str, float], groups: Sequence[str] = ("pur_svc", "routing_svc", "postgres", "kafka", "bench", "other")
) -> str:
    short = {"pur_svc": "pur", "routing_svc": "rtg", "postgres": "pg", "kafka": "kfk", "bench": "bench", "other": "oth"}
    return " ".join(f"{short.get(g, g)}{shares.get(g, 0) * 100:>4.0f}" for g in groups)


# ----------------------------------------------------------------------------- pg_stat_activity


@dataclass
class ActivitySampler:
    """Samples pg_stat_activity of the mesh database every `interval` s in a thread, counting what
    each non-idle backend was doing (application, state, wait event, statement prefix)."""

    dsn: str
    interval: float = 0.1
    samples: int = 0
    counts: collections.Counter = field(default_factory=collections.Counter)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    QUERY = """
        SELECT application_name, state, coalesce(wait_event_type || ':' || wait_event, 'CPU'),
               regexp_replace(left(query, 400), '\\s+', ' ', 'g')
        FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND backend_type = 'client backend' AND state <> 'idle'
          AND application_name <> 'firstmile-bench'
    """

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pg-activity", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        conn = pg_connect(self.dsn)
        try:
            with conn.cursor() as cur:
                while not self._stop.wait(self.interval):
                    cur.execute(self.QUERY)
                    rows = cur.fetchall()
                    self.samples += 1
                    for app, state, wait, query in rows:
                        self.counts[(app, state, wait, _statement_kind(query))] += 1
        finally:
            conn.close()

    def report(self, top: int = 14) -> str:
        if not self.samples:
            return "  (no samples)"
        lines = [
            f"  {self.samples} samples every {self.interval * 1000:.0f} ms; 'busy' = average backends in that state "
            "(1.0 = one backend always)"
        ]
        lines.append(f"  {'busy':>6}  {'application':<14} {'state':<20} {'wait':<26} statement")
        for (app, state, wait, kind), n in self.counts.most_common(top):
            lines.append(f"  {n / self.samples:>6.2f}  {app[:14]:<14} {state[:20]:<20} {wait[:26]:<26} {kind}")
        return "\n".join(lines)


def _statement_kind(query: str) -> str:
    """A short, stable name for a statement: its verb and main table, e.g. 'INSERT pur.outbox'."""
    q = query.strip()
    m = re.match(r"(?is)^(select|insert into|update|delete from|commit|begin|listen|with)\b\s*(.*)", q)
    if not m:
        return q[:60]
    verb = m.group(1).split()[0].upper()
    rest = m.group(2)
    if verb in ("COMMIT", "BEGIN", "LISTEN"):
        return verb
    if verb == "SELECT":
        table = re.search(r"(?is)\bfrom\s+([\w.\"]+)", rest)
        lock = " FOR UPDATE" if re.search(r"(?i)for update", rest) else ""
        if "pg_notify" in rest:
            return "SELECT pg_notify"
        return f"SELECT {table.group(1) if table else rest[:40]}{lock}"
    table = re.match(r"([\w.\"]+)", rest)
    return f"{verb} {table.group(1) if table else ''}"


# ----------------------------------------------------------------------------- py-spy


def py_spy_path() -> str | None:
    candidate = Path(sys.executable).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


@dataclass
class SpyRecording:
    name: str
    pid: int
    raw: Path
    process: subprocess.Popen


@contextlib.contextmanager
def py_spy_record(
    names: Sequence[str], out_dir: Path, *, rate: int = 25, duration: int = 3600, gil_only: bool = True
) -> Iterator[list[SpyRecording]]:
    """Runs `py-spy record` on the named services while the block runs; writes each one's samples
    as collapsed stacks (<name>.txt: `summarize_stacks` reads it; speedscope.app or flamegraph.pl
    draw it). Sampling is non-blocking (the services are not paused) at `rate` Hz, per thread.
    `gil_only` keeps only samples of the thread holding the GIL: in a GIL-bound process that is
    where its CPU goes (threads waiting for the GIL inside C calls otherwise look busy)."""
    spy = py_spy_path()
    if spy is None:
        raise ToolError("py-spy is not installed: .cache/venv/bin/python -m pip install py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    recordings: list[SpyRecording] = []
    for name in names:
        pid = service_pid(name)
        if pid is None:
            print(f"note: {name} is not running from .cache/run; not profiled")
            continue
        raw = out_dir / f"{name}.txt"
        process = subprocess.Popen(
            [
                spy,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--duration",
                str(duration),
                "--nonblocking",
                "--threads",
                "--format",
                "raw",
                "--output",
                str(raw),
                *(["--gil"] if gil_only else []),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        recordings.append(SpyRecording(name, pid, raw, process))
    try:
        yield recordings
    finally:
        for rec in recordings:
            rec.process.send_signal(2)  # SIGINT: py-spy writes its output and exits
        for rec in recordings:
            try:
                rec.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                rec.process.kill()


def summarize_stacks(raw: Path, *, top: int = 12) -> str:
    """Top functions of a py-spy collapsed-stack file: by self samples (where the CPU was) and by
    inclusive samples (what called it), as % of all samples; plus the share of each thread."""
    try:
        text = raw.read_text()
    except OSError:
        return f"  ({raw} missing)"
    total = 0
    self_counts: collections.Counter = collections.Counter()
    incl_counts: collections.Counter = collections.Counter()
    threads: collections.Counter = collections.Counter()
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        threads[_thread_name(frames[0])] += n
        funcs = [_short_frame(f) for f in frames[1:]] or ["(no python frame)"]
        self_counts[funcs[-1]] += n
        for func in set(funcs):
            incl_counts[func] += n
    if not total:
        return "  (no samples)"
    lines = [f"  {total:,} samples", "  by thread:"]
    lines += [f"    {n / total * 100:5.1f}%  {name}" for name, n in threads.most_common(8)]
    lines.append("  self (top):")
    lines += [f"    {n / total * 100:5.1f}%  {name}" for name, n in self_counts.most_common(top)]
    lines.append("  inclusive (top, excluding thread entry points):")
    shown = 0
    for name, n in incl_counts.most_common(top * 4):
        if any(
            skip in name
            for skip in ("threading.py", "_bootstrap", "runtime.py:_guard", "thread.py:run", "thread.py:_worker")
        ):
            continue
        lines.append(f"    {n / total * 100:5.1f}%  {name}")
        shown += 1
        if shown >= top + 6:
            break
    return "\n".join(lines)


def _thread_name(frame: str) -> str:
    # py-spy raw thread frames look like: process 123:"python -m pur_svc";thread (0x7f..)
    m = re.search(r"thread \((0x[0-9a-fA-F]+)\)", frame)
    return m.group(0) if m else frame[:60]


def _short_frame(frame: str) -> str:
    # "handle (pur_svc/service_layer/handlers.py:123)" -> "handlers.py:handle"
    m = re.match(r"(.*) \((.*?):?(\d+)?\)$", frame)
    if not m:
        return frame[:80]
    func, path = m.group(1), m.group(2)
    parts = path.replace("\\", "/").split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else parts[-1]
    return f"{short}:{func}"
