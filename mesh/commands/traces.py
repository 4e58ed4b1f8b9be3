"""Look at the traces the services wrote with FIRSTMILE_TRACING_EXPORTER=file (one span per line).

    python -m mesh.commands.traces FILE                  # the traces: newest last, their span count and length
    python -m mesh.commands.traces FILE --slowest 5      # the five longest
    python -m mesh.commands.traces FILE --trace ID       # one trace as a tree (ID: a prefix is enough)
    python -m mesh.commands.traces FILE --pur PUR_ID     # the trace of the PUR whose Kafka key this is

A tree line is the span's start after the trace's start, its length, the service, kind and name:

    +0.0 ms  41.2 ms  pur_svc      SERVER    firstmile.pur.v1.PickupService/CreatePickupRequest
      +3.1 ms  28.0 ms  pur_svc    PRODUCER  pur.created.v1 publish
        +31.5 ms  4.4 ms  routing_svc  CONSUMER  pur.created.v1 process
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from mesh.tracing import MESSAGE_KEYS


@dataclass
class SpanRecord:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    kind: str
    service: str
    start: datetime
    end: datetime
    status: str
    attributes: dict[str, Any]
    children: list[SpanRecord] = field(default_factory=list)

    @classmethod
    def of(cls, raw: dict[str, Any]) -> SpanRecord:
        return cls(
            trace_id=raw["context"]["trace_id"].removeprefix("0x"),
            span_id=raw["context"]["span_id"].removeprefix("0x"),
            parent_id=(raw.get("parent_id") or "").removeprefix("0x") or None,
            name=raw["name"],
            kind=raw.get("kind", "").removeprefix("SpanKind."),
            service=raw.get("resource", {}).get("attributes", {}).get("service.name", "?"),
            start=_time(raw["start_time"]),
            end=_time(raw["end_time"]),
            status=raw.get("status", {}).get("status_code", "UNSET"),
            attributes=raw.get("attributes") or {},
        )

    @property
    def ms(self) -> float:
        return (self.end - self.start).total_seconds() * 1000


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def read_spans(lines: Iterable[str]) -> dict[str, list[SpanRecord]]:
    """Spans by trace id; lines that are not a span (a torn last line) are skipped."""
    traces: dict[str, list[SpanRecord]] = defaultdict(list)
    for line in lines:
        try:
            span = SpanRecord.of(json.loads(line))
        except (ValueError, KeyError, TypeError):
            continue
        traces[span.trace_id].append(span)
    return traces


def roots(spans: Sequence[SpanRecord]) -> list[SpanRecord]:
    """Link children to parents; spans whose parent is not in the file (a caller outside, or a
    process that does not trace) become roots."""
    by_id = {s.span_id: s for s in spans}
    top = []
    for span in sorted(spans, key=lambda s: s.start):
        parent = by_id.get(span.parent_id or "")
        if parent is None:
            top.append(span)
        else:
            parent.children.append(span)
    return top


def extent(spans: Sequence[SpanRecord]) -> tuple[datetime, datetime]:
    return min(s.start for s in spans), max(s.end for s in spans)


def summary_line(trace_id: str, spans: Sequence[SpanRecord]) -> str:
    start, end = extent(spans)
    first = min(spans, key=lambda s: s.start)
    services = sorted({s.service for s in spans})
    errors = sum(s.status == "ERROR" for s in spans)
    return (
        f"{trace_id}  {start:%H:%M:%S.%f}"[:-3]
        + f"  {(end - start).total_seconds() * 1000:9.1f} ms  {len(spans):4} spans"
        + (f"  {errors} ERROR" if errors else "")
        + f"  {first.name}  [{', '.join(services)}]"
    )


def tree_lines(spans: Sequence[SpanRecord]) -> list[str]:
    start, _ = extent(spans)
    lines: list[str] = []

    def walk(span: SpanRecord, depth: int) -> None:
        offset = (span.start - start).total_seconds() * 1000
        mark = "  ERROR" if span.status == "ERROR" else ""
        count = span.attributes.get("messaging.batch.message_count")
        size = f"  ({count} messages)" if count else ""
        lines.append(
            f"{'  ' * depth}+{offset:.1f} ms  {span.ms:.1f} ms  {span.service:<18} {span.kind:<9} {span.name}{size}{mark}"
        )
        for child in span.children:
            walk(child, depth + 1)

    for root in roots(spans):
        walk(root, 0)
    return lines


def find_pur(traces: dict[str, list[SpanRecord]], pur_id: str) -> str | None:
    """The trace of the PUR: the Kafka keys (PUR ids) the PRODUCER and CONSUMER spans record."""
    for trace_id, spans in traces.items():
        if any(pur_id in span.attributes.get(MESSAGE_KEYS, ()) for span in spans):
            return trace_id
    return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("file", type=Path, help="the FIRSTMILE_TRACING_FILE_PATH the services wrote")
    parser.add_argument("--trace", help="show this trace (id or a prefix of it) as a tree")
    parser.add_argument("--slowest", type=int, help="list only the N longest traces")
    parser.add_argument("--pur", help="show the trace of this PUR")
    args = parser.parse_args(argv)
    if not args.file.is_file():
        print(f"traces: no file {args.file}", file=sys.stderr)
        return 2
    with args.file.open(encoding="utf-8") as lines:
        traces = read_spans(lines)
    if args.pur:
        found = find_pur(traces, args.pur)
        if found is None:
            print(f"traces: no span mentions {args.pur} (was its create sampled?)", file=sys.stderr)
            return 1
        args.trace = found
    if args.trace:
        matching = [t for t in traces if t.startswith(args.trace.lower().removeprefix("0x"))]
        if len(matching) != 1:
            print(f"traces: {len(matching)} traces match {args.trace!r}", file=sys.stderr)
            return 1
        print(summary_line(matching[0], traces[matching[0]]))
        print("\n".join(tree_lines(traces[matching[0]])))
        return 0
    ordered = sorted(traces.items(), key=lambda item: extent(item[1])[0])
    if args.slowest:
        ordered = sorted(ordered, key=lambda item: extent(item[1])[1] - extent(item[1])[0])[-args.slowest :]
    for trace_id, spans in ordered:
        print(summary_line(trace_id, spans))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
