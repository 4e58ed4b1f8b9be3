"""CPU of each tracing hook (mesh/tracing.py), off, on but not sampled, and sampled, in one process.

bench_e2e measures what tracing costs the whole mesh per PUR, but the machine's noise between two
runs (a few %) is as large as the cost itself; this measures the hooks alone, steadily, so the
per-PUR figure can be added up: per gRPC call (the server span), per outbox transaction (the
stamp), per relay batch and per consumer batch (their spans), for 500-PUR batches (batch creates:
one trace per batch) and for single PURs (single creates: a trace and spans per PUR).

    .cache/venv/bin/python -m bench.bench_tracing [--repeat 2000]

Sampled spans are exported as the services export them (BatchSpanProcessor) to a JSON-lines file
in a temporary folder (the `file` exporter); OTLP costs the same order (protobuf instead of JSON).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

from mesh import tracing
from mesh.kafka import ConsumedMessage, EventHeaders

BATCH = 500


@dataclass(frozen=True)
class _CallDetails:
    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class _Row:
    topic: str
    traceparent: str | None
    occurred_at: datetime
    key: bytes


class _Context:
    def code(self) -> None:
        return None


def cpu_us(operation: Callable[[], Any], repeat: int) -> float:
    """Process CPU microseconds per call of `operation` (exporter threads included)."""
    operation()
    started = time.process_time()
    for _ in range(repeat):
        operation()
    return (time.process_time() - started) * 1e6 / repeat


def hooks(traceparent: str | None, size: int) -> dict[str, Callable[[], Any]]:
    """One call of each hook as the services make it, in a trace named by `traceparent`."""
    interceptor = tracing.ServerSpanInterceptor()
    metadata = (("traceparent", traceparent),) if traceparent else ()
    details = _CallDetails("/firstmile.pur.v1.PickupService/BatchCreatePickupRequests", metadata)

    def create_call() -> Any:
        handler = interceptor.intercept_service(
            lambda _: grpc.unary_unary_rpc_method_handler(lambda request, context: None), details
        )
        assert handler is not None
        return handler.unary_unary(None, _Context())

    rows = [{"key": f"pur-{i}".encode()} for i in range(size)]
    now = datetime.now(UTC)
    stored = [_Row("pur.created.v1", traceparent, now, f"pur-{i}".encode()) for i in range(size)]
    headers = EventHeaders(id="e", type="t", source="s", time=now, traceparent=traceparent).to_kafka()
    messages = [
        (ConsumedMessage("pur.created.v1", 0, i, f"pur-{i}".encode(), b"", dict(headers), 0), None) for i in range(size)
    ]

    def relay_batch() -> None:
        with tracing.publish_spans(stored) as header:
            for row in stored:
                header(row)

    def consumer_batch() -> None:
        tracing.traced_batch("routing_svc", lambda items: tracing.stamp_outbox_rows(rows))(messages)

    return {
        "gRPC call (server span)": create_call,
        "outbox rows of one transaction (stamp)": lambda: tracing.stamp_outbox_rows(rows),
        "relay batch (publish spans)": relay_batch,
        "consumer batch (spans + its rows' stamp)": consumer_batch,
    }


def measure(size: int, repeat: int, folder: str) -> None:
    """Print the hooks' CPU for transactions and batches of `size` PURs (one trace per batch)."""
    sampled = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    cases: list[tuple[str, float | None, str | None]] = [
        ("off", None, None),
        ("on, not sampled", 0.0, None),
        ("on, sampled", 1.0, sampled),
    ]
    results: dict[str, dict[str, float]] = {}
    for label, ratio, parent in cases:
        if ratio is not None:
            provider = TracerProvider(sampler=ParentBased(TraceIdRatioBased(ratio)))
            provider.add_span_processor(
                BatchSpanProcessor(tracing.JsonLinesFileExporter(str(Path(folder) / "spans.jsonl")))
            )
            tracing.install(provider)
        try:
            for name, operation in hooks(parent, size).items():
                results.setdefault(name, {})[label] = cpu_us(operation, repeat)
        finally:
            tracing.shutdown()
    labels = [label for label, _, _ in cases]
    print(f"\n{size} PUR(s) per call, transaction and batch: CPU per hook call, microseconds ({repeat} calls each)")
    print(f"  {'hook':<44}" + "".join(f"{label:>18}" for label in labels))
    for name, by_label in results.items():
        print(f"  {name:<44}" + "".join(f"{by_label[label]:>15.1f} us" for label in labels))
    # A PUR's path in bench_e2e: one create call, then (pur.created, route assignment, ROUTED status,
    # the created status) 4 outbox rows written, relayed and consumed.
    path = {
        label: (
            results["gRPC call (server span)"][label]
            + 4
            * sum(
                results[name][label]
                for name in ("outbox rows of one transaction (stamp)", "relay batch (publish spans)")
            )
            + 4 * results["consumer batch (spans + its rows' stamp)"][label]
        )
        / size
        for label in labels
    }
    print(
        "  tracing's own CPU per PUR on its way to ROUTED (1 call, 4 rows stamped, relayed, consumed; on - off): "
        + ", ".join(f"{label} {path[label] - path['off']:.2f} us" for label in labels[1:])
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=2000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        for size in (BATCH, 1):
            measure(size, args.repeat, folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
