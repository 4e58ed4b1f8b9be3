"""mesh.tracing without a broker or database: the W3C context in Kafka headers and outbox rows,
the spans of the gRPC server, the relay and the consumers, and nothing at all while tracing is off
or a trace is not sampled."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased, Sampler
from opentelemetry.trace import SpanKind, StatusCode

from mesh import tracing
from mesh.commands import traces
from mesh.config import ConfigError, TracingSettings, load
from mesh.kafka import ConsumedMessage, EventHeaders

TRACE_ID = 0x4BF92F3577B34DA6A3CE929D0E0E4736
PARENT_SPAN_ID = 0x00F067AA0BA902B7
SAMPLED = f"00-{TRACE_ID:032x}-{PARENT_SPAN_ID:016x}-01"
UNSAMPLED = f"00-{TRACE_ID:032x}-{PARENT_SPAN_ID:016x}-00"


def traceparent_parts(traceparent: str) -> tuple[int, int, int]:
    version, trace_id, span_id, flags = traceparent.split("-")
    assert version == "00"
    return int(trace_id, 16), int(span_id, 16), int(flags, 16)


class Spans:
    """The spans the code under test ended, exported synchronously."""

    def __init__(self, sampler: Sampler) -> None:
        self.exporter = InMemorySpanExporter()
        provider = TracerProvider(sampler=sampler)
        provider.add_span_processor(SimpleSpanProcessor(self.exporter))
        tracing.install(provider)

    def finished(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def one(self, kind: SpanKind) -> ReadableSpan:
        matching = [s for s in self.finished() if s.kind is kind]
        assert len(matching) == 1, [(s.name, s.kind) for s in self.finished()]
        return matching[0]


@pytest.fixture
def spans() -> Iterator[Spans]:
    recorded = Spans(ParentBased(ALWAYS_ON))
    yield recorded
    tracing.shutdown()


@pytest.fixture
def unsampled() -> Iterator[Spans]:
    recorded = Spans(ParentBased(ALWAYS_OFF))
    yield recorded
    tracing.shutdown()


def message(key: bytes, traceparent: str | None, *, topic: str = "pur.created.v1", offset: int = 0) -> ConsumedMessage:
    headers = EventHeaders(id="e", type="t", source="s", time=datetime.now(UTC), traceparent=traceparent)
    return ConsumedMessage(topic, 0, offset, key, b"", dict(headers.to_kafka()), 0)


@dataclass
class Row:
    """What the relay reads of an outbox row."""

    topic: str
    traceparent: str | None
    occurred_at: datetime
    key: bytes = b"pur-1"


# -- Kafka headers -------------------------------------------------------------------------------


def test_traceparent_header_travels_beside_the_cloudevents_ones() -> None:
    headers = EventHeaders(id="e1", type="t", source="s", time=datetime.now(UTC), traceparent=SAMPLED)
    kafka = headers.to_kafka()
    assert ("traceparent", SAMPLED.encode()) in kafka
    assert {name for name, _ in kafka} >= {"ce_id", "ce_type", "ce_source", "ce_time"}
    assert EventHeaders.from_kafka(kafka) == headers


def test_no_trace_context_no_header() -> None:
    headers = EventHeaders(id="e1", type="t", source="s", time=datetime.now(UTC))
    assert "traceparent" not in dict(headers.to_kafka())
    assert EventHeaders.from_kafka(headers.to_kafka()).traceparent is None


def test_an_unreadable_traceparent_never_makes_a_message_poison(spans: Spans) -> None:
    raw = EventHeaders(id="e1", type="t", source="s", time=datetime.now(UTC)).to_kafka()
    parsed = EventHeaders.from_kafka([*raw, ("traceparent", b"\xff\xfe-garbage")])
    assert parsed.id == "e1"
    assert tracing.parent_context(parsed.traceparent) is None
    assert tracing.parent_context("00-zz-yy-01") is None
    assert tracing.parent_context(UNSAMPLED) is None
    assert tracing.parent_context(SAMPLED) is not None


# -- tracing off: no cost ------------------------------------------------------------------------


def test_off_by_default_and_free() -> None:
    assert not tracing.enabled()
    assert load(TracingSettings).tracing_exporter == "none"
    assert tracing.server_interceptors() == []
    rows: list[dict[str, Any]] = [{"key": b"pur-1"}]
    tracing.stamp_outbox_rows(rows)
    assert rows == [{"key": b"pur-1"}], "no column value is written while tracing is off"
    handled = []
    handle = tracing.traced_batch("g", handled.append)
    batch = [(message(b"pur-1", SAMPLED), None)]
    handle(batch)
    assert handled == [batch]


def test_a_process_that_does_not_trace_passes_the_stored_context_on() -> None:
    rows = [Row("t", SAMPLED, datetime.now(UTC)), Row("t", None, datetime.now(UTC))]
    with tracing.publish_spans(rows) as header:
        assert header(rows[0]) == SAMPLED
        assert header(rows[1]) is None


def test_unsampled_traces_cost_no_header_and_no_row_value(unsampled: Spans) -> None:
    interceptor = tracing.ServerSpanInterceptor()
    seen: list[str | None] = []

    def create(request: Any, context: Any) -> str:
        rows: list[dict[str, Any]] = [{"key": b"pur-1"}]
        tracing.stamp_outbox_rows(rows)
        seen.append(rows[0].get("traceparent"))
        return "ok"

    handler = interceptor.intercept_service(lambda _: grpc.unary_unary_rpc_method_handler(create), call_details())
    assert handler is not None
    handler.unary_unary(None, FakeContext())
    assert seen == [None], "an unsampled call writes no trace context"
    assert unsampled.finished() == []
    handled = []
    tracing.traced_batch("g", handled.append)([(message(b"pur-1", UNSAMPLED), None)])
    assert handled and unsampled.finished() == []


# -- gRPC server spans ---------------------------------------------------------------------------


class FakeContext:
    def __init__(self, code: grpc.StatusCode | None = None) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode | None:
        return self._code


@dataclass(frozen=True)
class CallDetails:
    """What grpcio hands an interceptor (grpc.HandlerCallDetails is only a protocol)."""

    method: str
    invocation_metadata: tuple[tuple[str, str], ...]


def call_details(traceparent: str | None = None) -> Any:
    metadata = [("authorization", "Bearer x")] + ([("traceparent", traceparent)] if traceparent else [])
    return CallDetails("/firstmile.pur.v1.PickupService/CreatePickupRequest", tuple(metadata))


def test_server_span_continues_the_callers_trace_and_is_current_for_the_outbox(spans: Spans) -> None:
    stamped: list[dict[str, Any]] = []

    def create(request: Any, context: Any) -> str:
        rows: list[dict[str, Any]] = [{"key": b"pur-1"}, {"key": b"pur-2"}]
        tracing.stamp_outbox_rows(rows)
        stamped.extend(rows)
        return "created"

    handler = tracing.ServerSpanInterceptor().intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(create), call_details(SAMPLED)
    )
    assert handler is not None
    assert handler.unary_unary(None, FakeContext()) == "created"
    server = spans.one(SpanKind.SERVER)
    assert server.name == "firstmile.pur.v1.PickupService/CreatePickupRequest"
    assert server.context.trace_id == TRACE_ID
    assert server.parent is not None and server.parent.span_id == PARENT_SPAN_ID
    assert server.attributes is not None and server.attributes["rpc.grpc.status_code"] == 0
    expected = f"00-{TRACE_ID:032x}-{server.context.span_id:016x}-01"
    assert [row["traceparent"] for row in stamped] == [expected, expected]


def test_server_span_without_a_caller_context_starts_a_trace_and_records_failures(spans: Spans) -> None:
    def broken(request: Any, context: Any) -> str:
        raise RuntimeError("boom")

    handler = tracing.ServerSpanInterceptor().intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(broken), call_details()
    )
    assert handler is not None
    with pytest.raises(RuntimeError):
        handler.unary_unary(None, FakeContext())
    server = spans.one(SpanKind.SERVER)
    assert server.parent is None
    assert server.status.status_code is StatusCode.ERROR


def test_a_refused_argument_is_not_an_error_of_the_server(spans: Spans) -> None:
    handler = tracing.ServerSpanInterceptor().intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(lambda request, context: None), call_details()
    )
    assert handler is not None
    handler.unary_unary(None, FakeContext(grpc.StatusCode.INVALID_ARGUMENT))
    server = spans.one(SpanKind.SERVER)
    assert server.status.status_code is StatusCode.UNSET
    assert server.attributes is not None and server.attributes["rpc.grpc.status_code"] == 3


@pytest.mark.parametrize(
    "method", ["/grpc.health.v1.Health/Check", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"]
)
def test_health_probes_and_reflection_are_not_traced(spans: Spans, method: str) -> None:
    handler = grpc.unary_unary_rpc_method_handler(lambda request, context: "SERVING")
    intercepted = tracing.ServerSpanInterceptor().intercept_service(lambda _: handler, CallDetails(method, ()))
    assert intercepted is handler
    assert spans.finished() == []


def test_streaming_call_span_lasts_the_stream(spans: Spans) -> None:
    seen: list[str | None] = []

    def watch(request: Any, context: Any) -> Iterator[int]:
        for n in range(3):
            seen.append(tracing.current_traceparent())
            yield n

    handler = tracing.ServerSpanInterceptor().intercept_service(
        lambda _: grpc.unary_stream_rpc_method_handler(watch), call_details(SAMPLED)
    )
    assert handler is not None
    assert list(handler.unary_stream(None, FakeContext())) == [0, 1, 2]
    server = spans.one(SpanKind.SERVER)
    assert seen == [f"00-{TRACE_ID:032x}-{server.context.span_id:016x}-01"] * 3


def test_a_cancelled_stream_closes_the_servicers_stream_and_ends_its_span(spans: Spans) -> None:
    closed: list[bool] = []

    def watch(request: Any, context: Any) -> Iterator[int]:
        try:
            yield from range(100)
        finally:
            closed.append(True)

    handler = tracing.ServerSpanInterceptor().intercept_service(
        lambda _: grpc.unary_stream_rpc_method_handler(watch), call_details(SAMPLED)
    )
    assert handler is not None
    stream = handler.unary_stream(None, FakeContext())
    assert next(stream) == 0
    stream.close()  # what grpcio does when the client cancels
    assert closed == [True]
    server = spans.one(SpanKind.SERVER)
    assert server.status.status_code is StatusCode.UNSET


# -- relay and consumers -------------------------------------------------------------------------


def test_relay_publish_span_spans_the_outbox_wait_and_is_what_the_header_names(spans: Spans) -> None:
    occurred = datetime.now(UTC) - timedelta(seconds=2)
    other = f"00-{TRACE_ID + 1:032x}-{PARENT_SPAN_ID:016x}-01"
    rows = [
        Row("pur.created.v1", SAMPLED, occurred),
        Row("pur.created.v1", SAMPLED, occurred),
        Row("x", other, occurred),
    ]
    with tracing.publish_spans(rows) as header:
        headers = [header(row) for row in rows]
    producers = sorted(spans.finished(), key=lambda s: s.name)
    assert [s.kind for s in producers] == [SpanKind.PRODUCER, SpanKind.PRODUCER], "one span per context and topic"
    created = producers[0]
    assert created.name == "pur.created.v1 publish"
    assert created.parent is not None and created.parent.span_id == PARENT_SPAN_ID
    assert created.attributes is not None and created.attributes["messaging.batch.message_count"] == 2
    assert created.start_time == int(occurred.timestamp() * 1e9)
    assert headers[0] == headers[1] == f"00-{TRACE_ID:032x}-{created.context.span_id:016x}-01"
    assert traceparent_parts(headers[2] or "")[0] == TRACE_ID + 1


def test_relay_publish_span_records_a_failed_flush(spans: Spans) -> None:
    rows = [Row("t", SAMPLED, datetime.now(UTC))]
    with pytest.raises(TimeoutError), tracing.publish_spans(rows):
        raise TimeoutError("not acked")
    assert spans.one(SpanKind.PRODUCER).status.status_code is StatusCode.ERROR


def test_consumer_continues_each_messages_trace_and_its_outbox_rows_follow_by_key(spans: Spans) -> None:
    other = f"00-{TRACE_ID + 1:032x}-{PARENT_SPAN_ID:016x}-01"
    batch = [
        (message(b"pur-1", SAMPLED, offset=1), None),
        (message(b"pur-2", other, offset=2), None),
        (message(b"pur-3", None, offset=3), None),
        (message(b"pur-4", SAMPLED, offset=4), None),
    ]
    stamped: list[dict[str, Any]] = []

    def handle(items: list[tuple[ConsumedMessage, None]]) -> None:
        rows: list[dict[str, Any]] = [{"key": msg.key} for msg, _ in items] + [{"key": b"unrelated"}]
        tracing.stamp_outbox_rows(rows)
        stamped.extend(rows)

    tracing.traced_batch("routing_svc", handle)(batch)
    consumers = {s.context.trace_id: s for s in spans.finished()}
    assert set(consumers) == {TRACE_ID, TRACE_ID + 1}, "one CONSUMER span per incoming context"
    first = consumers[TRACE_ID]
    assert first.kind is SpanKind.CONSUMER and first.name == "pur.created.v1 process"
    assert first.parent is not None and first.parent.span_id == PARENT_SPAN_ID
    assert first.attributes is not None
    assert first.attributes["messaging.consumer.group.name"] == "routing_svc"
    assert first.attributes["messaging.batch.message_count"] == 2
    assert list(first.attributes[tracing.MESSAGE_KEYS]) == ["pur-1", "pur-4"], "a PUR's trace can be found"
    by_key = {row["key"]: row["traceparent"] for row in stamped}
    assert by_key[b"pur-1"] == by_key[b"pur-4"] == f"00-{TRACE_ID:032x}-{first.context.span_id:016x}-01"
    assert traceparent_parts(by_key[b"pur-2"])[:2] == (TRACE_ID + 1, consumers[TRACE_ID + 1].context.span_id)
    assert by_key[b"pur-3"] is None and by_key[b"unrelated"] is None


def test_a_failed_batch_marks_its_consumer_spans_and_leaves_no_context_behind(spans: Spans) -> None:
    def handle(items: Any) -> None:
        raise ValueError("bad")

    with pytest.raises(ValueError):
        tracing.traced_batch("g", handle)([(message(b"pur-1", SAMPLED), None)])
    assert spans.one(SpanKind.CONSUMER).status.status_code is StatusCode.ERROR
    rows: list[dict[str, Any]] = [{"key": b"pur-1"}]
    tracing.stamp_outbox_rows(rows)
    assert rows == [{"key": b"pur-1"}], "no context outlives its batch"


# -- settings and the file exporter --------------------------------------------------------------


def test_settings_name_where_the_spans_go(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FIRSTMILE_TRACING_EXPORTER", "otlp")
    with pytest.raises(ConfigError, match="FIRSTMILE_TRACING_OTLP_ENDPOINT"):
        load(TracingSettings)
    monkeypatch.setenv("FIRSTMILE_TRACING_OTLP_ENDPOINT", "http://collector:4317")
    assert load(TracingSettings).tracing_sample_ratio == 0.01
    monkeypatch.setenv("FIRSTMILE_TRACING_EXPORTER", "file")
    with pytest.raises(ConfigError, match="FIRSTMILE_TRACING_FILE_PATH"):
        load(TracingSettings)
    monkeypatch.setenv("FIRSTMILE_TRACING_FILE_PATH", str(tmp_path / "t.jsonl"))
    monkeypatch.setenv("FIRSTMILE_TRACING_SAMPLE_RATIO", "1.5")
    with pytest.raises(ConfigError, match="FIRSTMILE_TRACING_SAMPLE_RATIO"):
        load(TracingSettings)


def test_file_exporter_writes_one_json_span_per_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    monkeypatch.setenv("FIRSTMILE_TRACING_EXPORTER", "file")
    monkeypatch.setenv("FIRSTMILE_TRACING_FILE_PATH", str(path))
    monkeypatch.setenv("FIRSTMILE_TRACING_SAMPLE_RATIO", "1")
    stop = tracing.configure(load(TracingSettings), service="pur_svc")
    try:
        assert tracing.enabled()
        with tracing.publish_spans([Row("pur.created.v1", SAMPLED, datetime.now(UTC))]):
            pass
    finally:
        stop()
    assert not tracing.enabled()
    [line] = path.read_text().splitlines()
    span = json.loads(line)
    assert span["name"] == "pur.created.v1 publish"
    assert span["context"]["trace_id"] == f"0x{TRACE_ID:032x}"
    assert span["resource"]["attributes"]["service.name"] == "pur_svc"


def test_traces_command_shows_a_trace_as_a_tree_and_finds_a_purs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "traces.jsonl"
    monkeypatch.setenv("FIRSTMILE_TRACING_EXPORTER", "file")
    monkeypatch.setenv("FIRSTMILE_TRACING_FILE_PATH", str(path))
    monkeypatch.setenv("FIRSTMILE_TRACING_SAMPLE_RATIO", "1")
    stop = tracing.configure(load(TracingSettings), service="pur_svc")
    try:

        def create(request: Any, context: Any) -> None:
            with tracing.publish_spans([Row("pur.created.v1", tracing.current_traceparent(), datetime.now(UTC))]) as h:
                header = h(Row("pur.created.v1", tracing.current_traceparent(), datetime.now(UTC)))
            tracing.traced_batch("routing_svc", lambda items: None)([(message(b"pur-7", header), None)])

        handler = tracing.ServerSpanInterceptor().intercept_service(
            lambda _: grpc.unary_unary_rpc_method_handler(create), call_details()
        )
        assert handler is not None
        handler.unary_unary(None, FakeContext())
    finally:
        stop()
    assert traces.main([str(path)]) == 0
    [listed] = capsys.readouterr().out.splitlines()
    assert "3 spans" in listed and "CreatePickupRequest" in listed
    assert traces.main([str(path), "--pur", "pur-7"]) == 0
    tree = capsys.readouterr().out.splitlines()[1:]
    assert len(tree) == 3, tree
    assert tree[0].startswith("+0.0 ms") and "SERVER" in tree[0]
    assert tree[1].startswith("  +") and "PRODUCER  pur.created.v1 publish" in tree[1]
    assert tree[2].startswith("    +") and "CONSUMER  pur.created.v1 process" in tree[2]
    assert traces.main([str(path), "--pur", "pur-unknown"]) == 1


def test_otlp_exporter_delivers_spans_to_a_collector(monkeypatch: pytest.MonkeyPatch) -> None:
    """A stand-in collector (OTLP/gRPC TraceService on a local port) receives the spans."""
    from concurrent import futures

    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

    received: list[trace_service_pb2.ExportTraceServiceRequest] = []

    class Collector(trace_service_pb2_grpc.TraceServiceServicer):
        def Export(self, request: Any, context: Any) -> trace_service_pb2.ExportTraceServiceResponse:
            received.append(request)
            return trace_service_pb2.ExportTraceServiceResponse()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Collector(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        monkeypatch.setenv("FIRSTMILE_TRACING_EXPORTER", "otlp")
        monkeypatch.setenv("FIRSTMILE_TRACING_OTLP_ENDPOINT", f"http://127.0.0.1:{port}")
        monkeypatch.setenv("FIRSTMILE_TRACING_SAMPLE_RATIO", "1")
        stop = tracing.configure(load(TracingSettings), service="routing_svc")
        try:
            tracing.traced_batch("routing_svc", lambda items: None)([(message(b"pur-9", SAMPLED), None)])
        finally:
            stop()  # flushes
    finally:
        server.stop(0)
    spans = [
        (resource.resource, span)
        for request in received
        for resource in request.resource_spans
        for scope in resource.scope_spans
        for span in scope.spans
    ]
    assert len(spans) == 1
    resource, span = spans[0]
    assert span.name == "pur.created.v1 process"
    assert span.trace_id == TRACE_ID.to_bytes(16, "big")
    assert span.parent_span_id == PARENT_SPAN_ID.to_bytes(8, "big")
    assert {a.key: a.value.string_value for a in resource.attributes}["service.name"] == "routing_svc"


# -- outgoing calls ------------------------------------------------------------------------------


def outgoing_metadata(metadata: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """The metadata a call made through the mesh's client interceptor carries."""
    from mesh.grpc_client import OutgoingMetadataInterceptor

    sent: list[grpc.ClientCallDetails] = []
    details = grpc.ClientCallDetails()
    details.method, details.timeout, details.metadata = "/firstmile.attendance.v1.AttendanceService/Get", 1.0, metadata
    details.credentials = details.wait_for_ready = details.compression = None
    OutgoingMetadataInterceptor(lambda: "token").intercept_unary_unary(
        lambda d, request: sent.append(d), details, object()
    )
    return dict(sent[0].metadata)


def test_a_call_made_while_serving_a_traced_call_carries_the_server_spans_traceparent(spans: Spans) -> None:
    sent: list[dict[str, str]] = []

    def plan(request: Any, context: Any) -> str:
        # e.g. dispatch_svc asking attendance_adapter while it serves PlanDispatches
        sent.append(outgoing_metadata((("traceparent", UNSAMPLED),)))
        return "planned"

    handler = tracing.ServerSpanInterceptor().intercept_service(
        lambda _: grpc.unary_unary_rpc_method_handler(plan), call_details(SAMPLED)
    )
    assert handler is not None and handler.unary_unary(None, FakeContext()) == "planned"
    server = spans.one(SpanKind.SERVER)
    assert sent == [
        {"authorization": "Bearer token", "traceparent": f"00-{TRACE_ID:032x}-{server.context.span_id:016x}-01"}
    ]


def test_a_call_outside_any_span_keeps_the_callers_own_traceparent(spans: Spans) -> None:
    assert outgoing_metadata((("traceparent", SAMPLED),))["traceparent"] == SAMPLED
    assert "traceparent" not in outgoing_metadata()


def test_no_traceparent_on_calls_while_tracing_is_off() -> None:
    assert outgoing_metadata() == {"authorization": "Bearer token"}
