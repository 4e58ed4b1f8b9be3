"""OpenTelemetry traces across gRPC and Kafka: one PUR's create, routing, assignment and dispatch
form ONE trace although they run in four processes, joined by the outbox and Kafka.

How a trace travels:
- gRPC: the server interceptor starts a SERVER span per call, the child of the caller's W3C
  `traceparent` metadata when it sends one, else a new trace (sampled at the configured ratio);
- outbox: when a transaction writes its outbox rows (`Outbox.add`), each row stores the
  `traceparent` of the span it was written under (`stamp_outbox_rows`);
- relay: publishing rows with a stored context opens a PRODUCER span from the event's time to
  Kafka's ack (the outbox wait shows in the trace) and sends ITS `traceparent` as a Kafka header
  beside the CloudEvents ones (`publish_spans`);
- consumers: a batch with traced messages opens a CONSUMER span per traced producer span, and the
  outbox rows the batch writes take the context of the consumed message with the same key (every
  PUR event is keyed by the PUR's id, so the chain stays one trace through batches that mix
  many PURs) (`traced_batch`).

Only sampled contexts are stored and sent: an unsampled create costs no column value, no header
and no span downstream, and consumers start no trace of their own (a trace starts where a request
enters the mesh). Off by default; `configure` (called by each composition root) turns it on when
`FIRSTMILE_TRACING_EXPORTER` names an exporter. docs/observability.md says how to see a trace.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any, TypeVar

import grpc
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mesh.config import TracingSettings
from mesh.grpc_handlers import Behavior, status_code_of, wrap_handler
from mesh.kafka.headers import TRACEPARENT

if TYPE_CHECKING:
    from mesh.grpc_handlers import Continuation, Handler
    from mesh.kafka.messages import ConsumedMessage

log = logging.getLogger(__name__)

TRACER_NAME = "firstmile.mesh"
# The Kafka keys of the messages a PRODUCER or CONSUMER span covers (at most MAX_KEYS_PER_SPAN).
MESSAGE_KEYS = "firstmile.message.keys"
MAX_KEYS_PER_SPAN = 1000

T = TypeVar("T")

_PROPAGATOR = TraceContextTextMapPropagator()
# gRPC codes that mean the server failed (OpenTelemetry's RPC conventions); the others are the
# caller's business (a refused argument is not an error of the service).
_SERVER_ERRORS = frozenset(
    {
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    }
)

_INFRASTRUCTURE_METHODS = ("/grpc.health.", "/grpc.reflection.")

_tracer: Tracer | None = None
_provider: TracerProvider | None = None
# While a consumer batch is handled: Kafka key -> traceparent of the CONSUMER span of that key's
# message, for the outbox rows the batch writes.
_batch_parents: ContextVar[Mapping[bytes, str] | None] = ContextVar("firstmile_batch_parents", default=None)


# --------------------------------------------------------------------------------------------
# Set-up
# --------------------------------------------------------------------------------------------


def configure(settings: TracingSettings, *, service: str) -> Callable[[], None]:
    """Turn tracing on as `settings` say (nothing happens for exporter `none`); returns the
    closer the composition root runs at shutdown (it flushes the spans still queued)."""
    if settings.tracing_exporter == "none":
        return lambda: None
    exporter: SpanExporter
    if settings.tracing_exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        # http:// is plaintext, https:// TLS with the system's CAs (the exporter reads the scheme).
        exporter = OTLPSpanExporter(endpoint=settings.tracing_otlp_endpoint)
    else:
        assert settings.tracing_file_path is not None  # the settings' validator guarantees it
        exporter = JsonLinesFileExporter(str(settings.tracing_file_path))
    provider = TracerProvider(
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
        resource=Resource.create({SERVICE_NAME: service}),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)
    log.info(
        "tracing on",
        extra={"exporter": settings.tracing_exporter, "sample_ratio": settings.tracing_sample_ratio},
    )
    return shutdown


def install(provider: TracerProvider) -> None:
    """Trace with `provider` from now on (tests install one with an in-memory exporter)."""
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer(TRACER_NAME)


def shutdown() -> None:
    """Stop tracing; spans already ended are exported first."""
    global _tracer, _provider
    provider, _tracer, _provider = _provider, None, None
    if provider is not None:
        provider.shutdown()


def enabled() -> bool:
    return _tracer is not None


class JsonLinesFileExporter(SpanExporter):
    """Appends each span as one JSON line (the SDK's own span JSON) to a file, for looking at traces
    on a machine without a collector: `python -m mesh.commands.traces FILE`. Each export is ONE
    write to a file opened for appending, so the four services can share one file."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None = None

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        lines = "".join(span.to_json(indent=None) + "\n" for span in spans)
        try:
            with self._lock:
                if self._file is None:
                    self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - kept open until shutdown
                self._file.write(lines)
                self._file.flush()
        except OSError:
            log.warning("writing spans failed", extra={"path": self._path}, exc_info=True)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        with self._lock:
            if self._file is not None:
                os.fsync(self._file.fileno())
        return True


# --------------------------------------------------------------------------------------------
# W3C trace context
# --------------------------------------------------------------------------------------------


def traceparent_of(span: Span) -> str | None:
    """The W3C `traceparent` of `span`, None unless it is valid and sampled."""
    ctx = span.get_span_context()
    if not (ctx.is_valid and ctx.trace_flags.sampled):
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def current_traceparent() -> str | None:
    """The `traceparent` of the span current in this thread, None when there is none to carry."""
    if _tracer is None:
        return None
    return traceparent_of(trace.get_current_span())


def parent_context(traceparent: str | bytes | None) -> Context | None:
    """The context a W3C `traceparent` names, None when it is missing, malformed or unsampled (a
    bad header never fails the call or message that carries it)."""
    if not traceparent:
        return None
    if isinstance(traceparent, bytes):
        traceparent = traceparent.decode("ascii", errors="replace")
    ctx = _PROPAGATOR.extract({TRACEPARENT: traceparent})
    span_context = trace.get_current_span(ctx).get_span_context()
    if not (span_context.is_valid and span_context.trace_flags.sampled):
        return None
    return ctx


# --------------------------------------------------------------------------------------------
# gRPC
# --------------------------------------------------------------------------------------------


def server_interceptors() -> list[grpc.ServerInterceptor]:
    """The tracing interceptor when tracing is on, nothing otherwise (no cost per call)."""
    return [ServerSpanInterceptor()] if _tracer is not None else []


class ServerSpanInterceptor(grpc.ServerInterceptor):
    """A SERVER span per call, current while the servicer runs (so the outbox rows a create writes
    store it), ended with the status code the error mapping settled on."""

    def intercept_service(
        self, continuation: Continuation, handler_call_details: grpc.HandlerCallDetails
    ) -> Handler | None:
        handler = continuation(handler_call_details)
        tracer = _tracer
        full_method = handler_call_details.method
        # Health probes and reflection (grpc.*) are not requests of the mesh: no trace of their own.
        if handler is None or tracer is None or full_method.startswith(_INFRASTRUCTURE_METHODS):
            return handler
        service, _, method = full_method.lstrip("/").rpartition("/")
        metadata = handler_call_details.invocation_metadata or ()
        incoming = next((value for key, value in metadata if key == TRACEPARENT), None)
        attributes = {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}

        def start() -> Span:
            return tracer.start_span(
                f"{service}/{method}",
                context=parent_context(incoming),
                kind=SpanKind.SERVER,
                attributes=attributes,
            )

        def wrap(behavior: Behavior, streams: bool) -> Behavior:
            if streams:

                def streaming(request_or_iterator: Any, context: grpc.ServicerContext) -> Iterator[Any]:
                    span = start()
                    failed = True
                    try:
                        responses = behavior(request_or_iterator, context)
                        while True:
                            with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                                try:
                                    response = next(responses)
                                except StopIteration:
                                    break
                            yield response
                        failed = False
                    except GeneratorExit:
                        failed = False  # the client cancelled or went away: not a failure of ours
                        # Close the servicer's stream now (its clean-up and the metrics' CANCELLED)
                        # rather than whenever the collector gets to it.
                        close = getattr(responses, "close", None)
                        if close is not None:
                            close()
                        raise
                    finally:
                        _end_server_span(span, context, failed)

                return streaming

            def unary(request_or_iterator: Any, context: grpc.ServicerContext) -> Any:
                span = start()
                failed = True
                try:
                    with trace.use_span(span, record_exception=False, set_status_on_exception=False):
                        response = behavior(request_or_iterator, context)
                    failed = False
                    return response
                finally:
                    _end_server_span(span, context, failed)

            return unary

        return wrap_handler(handler, wrap)


def _end_server_span(span: Span, context: grpc.ServicerContext, failed: bool) -> None:
    code = status_code_of(context) or (grpc.StatusCode.UNKNOWN if failed else grpc.StatusCode.OK)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code in _SERVER_ERRORS:
        span.set_status(Status(StatusCode.ERROR, code.name))
    span.end()


# --------------------------------------------------------------------------------------------
# Outbox and Kafka
# --------------------------------------------------------------------------------------------


def stamp_outbox_rows(rows: Sequence[dict[str, Any]]) -> None:
    """Give each outbox row (`OutboxEvent.to_row()`, in the writing transaction) the
    `traceparent` it continues: the consumed message's of the same key inside a traced consumer
    batch, else the current span's. Does nothing while tracing is off (the column stays NULL)."""
    if _tracer is None:
        return
    parents = _batch_parents.get()
    current = traceparent_of(trace.get_current_span())
    if not parents and current is None:
        return  # nothing to carry: the rows go without the column, as with tracing off
    for row in rows:
        row[TRACEPARENT] = parents.get(row["key"], current) if parents else current


class _PublishSpans:
    """The relay's PRODUCER spans of one batch: one per (stored context, topic)."""

    def __init__(self, tracer: Tracer | None, rows: Sequence[Any]) -> None:
        self._spans: dict[tuple[str, str], Span] = {}
        self._headers: dict[tuple[str, str], str | None] = {}
        if tracer is None:
            return
        keys: dict[tuple[str, str], list[Any]] = {}
        for row in rows:
            if row.traceparent:
                keys.setdefault((row.traceparent, row.topic), []).append(row.key)
        for row in rows:
            group = (row.traceparent, row.topic)
            if group not in keys or group in self._spans:
                continue
            parent = parent_context(row.traceparent)
            if parent is None:
                continue
            span = tracer.start_span(
                f"{row.topic} publish",
                context=parent,
                kind=SpanKind.PRODUCER,
                # From the event's time: the span shows how long the event waited in the outbox.
                start_time=_nanos(row.occurred_at),
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": row.topic,
                    "messaging.batch.message_count": len(keys[group]),
                    MESSAGE_KEYS: _key_texts(keys[group]),
                },
            )
            self._spans[group] = span
            self._headers[group] = traceparent_of(span)

    def header(self, row: Any) -> str | None:
        """The `traceparent` to send with `row`: its PRODUCER span's, or the stored one as it is
        when this process does not trace (the trace still continues downstream)."""
        if not row.traceparent:
            return None
        return self._headers.get((row.traceparent, row.topic), row.traceparent)

    def end(self, error: BaseException | None) -> None:
        for span in self._spans.values():
            if error is not None:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()


@contextlib.contextmanager
def publish_spans(rows: Sequence[Any]) -> Iterator[Callable[[Any], str | None]]:
    """Around the relay's produce-and-flush of `rows` (each with `traceparent`, `topic`,
    `occurred_at`): yields `header(row)`, the `traceparent` to send with a row; the spans end when
    the block does (with the error, if it raised)."""
    spans = _PublishSpans(_tracer, rows)
    try:
        yield spans.header
    except BaseException as exc:
        spans.end(exc)
        raise
    spans.end(None)


def traced_batch(
    group_id: str, handle_batch: Callable[[list[tuple[ConsumedMessage, T]]], None]
) -> Callable[[list[tuple[ConsumedMessage, T]]], None]:
    """`handle_batch` continuing the traces its messages carry: a CONSUMER span per distinct
    `traceparent` header (and topic), lasting the handler call; the outbox rows the call writes
    continue the span of the message with the same key. Untraced batches run as they are."""

    def handle(items: list[tuple[ConsumedMessage, T]]) -> None:
        tracer = _tracer
        spans, parents = _consumer_spans(tracer, group_id, items) if tracer is not None else ([], {})
        if not spans:
            handle_batch(items)
            return
        token = _batch_parents.set(parents)
        error: BaseException | None = None
        try:
            handle_batch(items)
        except BaseException as exc:
            error = exc
            raise
        finally:
            _batch_parents.reset(token)
            for span in spans:
                if error is not None:
                    span.record_exception(error)
                    span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end()

    return handle


def _consumer_spans(
    tracer: Tracer, group_id: str, items: Sequence[tuple[ConsumedMessage, Any]]
) -> tuple[list[Span], dict[bytes, str]]:
    by_parent: dict[tuple[bytes, str], list[ConsumedMessage]] = {}
    for msg, _ in items:
        header = msg.headers.get(TRACEPARENT)
        if header:
            by_parent.setdefault((header, msg.topic), []).append(msg)
    spans: list[Span] = []
    parents: dict[bytes, str] = {}
    for (header, topic), messages in by_parent.items():
        parent = parent_context(header)
        if parent is None:
            continue
        span = tracer.start_span(
            f"{topic} process",
            context=parent,
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "messaging.consumer.group.name": group_id,
                "messaging.batch.message_count": len(messages),
                "messaging.kafka.offset": messages[0].offset,
                "messaging.destination.partition.id": str(messages[0].partition),
                MESSAGE_KEYS: _key_texts([msg.key for msg in messages]),
            },
        )
        spans.append(span)
        traceparent = traceparent_of(span)
        if traceparent is not None:
            for msg in messages:
                if msg.key is not None:
                    parents[msg.key] = traceparent
    return spans, parents


def _key_texts(keys: Sequence[Any]) -> list[str]:
    """The Kafka keys (PUR ids, mostly) of a span's messages, so a PUR's trace can be found."""
    return [bytes(key).decode(errors="replace") for key in keys[:MAX_KEYS_PER_SPAN] if key is not None]


def _nanos(moment: datetime) -> int:
    return int(moment.timestamp() * 1_000_000_000)
