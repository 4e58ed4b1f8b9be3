"""One trace across processes' boundaries, on the real PostgreSQL and Kafka: a gRPC create on the
mesh's server, its outbox row, the relay's publish, and a consumer whose own outbox row continues
the trace; and the migration helper that adds the outbox's trace context column."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import SpanKind
from sqlalchemy.orm import Session

from firstmile.common.v1 import common_pb2
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from mesh import tracing
from mesh.kafka import ConsumedMessage, ConsumerLoop
from mesh.outbox import (
    Outbox,
    OutboxEvent,
    OutboxRelay,
    add_traceparent_column,
    create_outbox_table,
    drop_traceparent_column,
)
from mesh.unit_of_work import SqlAlchemyUnitOfWork
from pur_svc.adapters import orm
from pur_svc.adapters.messages import to_outbox
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.entrypoints.grpc_api import PickupServicer, registration
from pur_svc.entrypoints.watch import StatusFeed
from tests.support.in_process_server import admin_channel

pytestmark = pytest.mark.integration

CALLER_TRACE_ID = uuid.uuid4().int
CALLER_SPAN_ID = 0x00F067AA0BA902B7
CALLER = f"00-{CALLER_TRACE_ID:032x}-{CALLER_SPAN_ID:016x}-01"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(sampler=ParentBased(ALWAYS_ON))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    yield exporter
    tracing.shutdown()


@pytest.fixture
def outbox(engine: sa.Engine, pg_schema: str) -> Outbox:
    outbox = Outbox(pg_schema, sa.MetaData())
    with engine.begin() as conn:
        create_outbox_table(Operations(MigrationContext.configure(conn)), pg_schema)
    return outbox


@pytest.fixture
def hub(engine: sa.Engine) -> str:
    hub_id = f"hub-{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        conn.execute(sa.insert(orm.hubs).values(hub_id=hub_id, map_version=1, updated_at=datetime.now(UTC)))
    return hub_id


def create_request(hub: str) -> pur_pb2.CreatePickupRequestRequest:
    return pur_pb2.CreatePickupRequestRequest(
        request_id="r1",
        client_id=f"client-{uuid.uuid4().hex[:8]}",
        hub_id=hub,
        warehouse=common_pb2.Warehouse(
            id="wh-1",
            name="Seller",
            address="MG Road",
            pincode="560001",
            location=common_pb2.LatLng(lat=12.97, lng=77.59),
        ),
        pickup_date=datetime.now(UTC).date().isoformat(),
        expected_packages=3,
        expected_weight_kg=1.5,
    )


def traceparent_of(span: ReadableSpan) -> str:
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-01"


def test_one_trace_from_a_grpc_create_through_the_outbox_to_a_consumers_span(
    spans, engine, session_factory, outbox, hub, new_topic, producer, kafka_bootstrap_servers
) -> None:
    topic, downstream_topic = new_topic(), f"downstream-{uuid.uuid4().hex[:8]}"

    def uow() -> SqlAlchemyPurUnitOfWork:
        # pur_svc's unit of work, its events written to this test's outbox and topic (the real
        # pur.outbox and pur.created.v1 belong to whatever else runs on this machine).
        unit = SqlAlchemyPurUnitOfWork(session_factory)
        SqlAlchemyUnitOfWork.__init__(
            unit, session_factory, outbox, lambda event: [replace(row, topic=topic) for row in to_outbox(event)]
        )
        return unit

    with admin_channel(registration(PickupServicer(uow, StatusFeed(kafka_bootstrap_servers)))) as channel:
        created = pur_pb2_grpc.PickupServiceStub(channel).CreatePickupRequest(
            create_request(hub), metadata=[("traceparent", CALLER)]
        )
    pur_id = created.pickup_request.id
    [server] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER]
    assert server.name == "firstmile.pur.v1.PickupService/CreatePickupRequest"
    assert server.parent is not None and server.parent.span_id == CALLER_SPAN_ID
    with engine.connect() as conn:
        stored = conn.execute(sa.select(outbox.table.c.key, outbox.table.c.traceparent)).all()
    assert stored and {row.traceparent for row in stored} == {traceparent_of(server)}

    assert OutboxRelay(engine, outbox, producer).publish_pending() == len(stored)
    [publish] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.PRODUCER]
    assert publish.parent is not None and publish.parent.span_id == server.context.span_id

    group = f"test-tracing-{uuid.uuid4().hex[:8]}"
    consumed: list[ConsumedMessage] = []

    def handle(items: list[tuple[ConsumedMessage, ConsumedMessage]]) -> None:
        consumed.extend(msg for msg, _ in items)
        with Session(engine) as session, session.begin():
            outbox.add(
                session,
                [
                    OutboxEvent(topic=downstream_topic, key=msg.key or b"", payload=b"", event_type="t", source="test")
                    for msg, _ in items
                ],
            )

    with ConsumerLoop(
        kafka_bootstrap_servers,
        group,
        [topic],
        decode=lambda msg: msg,
        handle_batch=tracing.traced_batch(group, handle),
        dlq_producer=producer,
    ) as loop:
        deadline = time.monotonic() + 30
        while len(consumed) < len(stored) and time.monotonic() < deadline:
            loop.poll_once()
    assert {msg.key for msg in consumed} == {pur_id.encode()}
    assert {msg.headers["traceparent"] for msg in consumed} == {traceparent_of(publish).encode()}

    [process] = [s for s in spans.get_finished_spans() if s.kind is SpanKind.CONSUMER]
    assert process.name == f"{topic} process"
    assert process.parent is not None and process.parent.span_id == publish.context.span_id
    with engine.connect() as conn:
        downstream = conn.execute(
            sa.select(outbox.table.c.traceparent).where(outbox.table.c.topic == downstream_topic)
        ).scalars()
        assert set(downstream) == {traceparent_of(process)}
    assert {s.context.trace_id for s in spans.get_finished_spans()} == {CALLER_TRACE_ID}, "ONE trace"


def test_trace_context_column_migration_adds_what_an_older_outbox_lacks(migrating_outbox) -> None:
    op, schema = migrating_outbox

    def columns() -> set[str]:
        return {c["name"] for c in sa.inspect(op.get_bind()).get_columns("outbox", schema=schema)}

    add_traceparent_column(op, schema)  # a table created since has it: nothing to do
    drop_traceparent_column(op, schema)  # an outbox as 0001 created it before the column
    assert "traceparent" not in columns()
    add_traceparent_column(op, schema)
    assert "traceparent" in columns()
