"""Fixtures for tests against the real local PostgreSQL and Kafka (start them with `make up`).

- `engine`: one SQLAlchemy engine for the session; `session_factory`: sessions on it, as the
  services' units of work take them.
- `redis_client`: one Redis client for the session, made as the services make theirs.
- `pg_schema`: a fresh, empty Postgres schema per test module, dropped (cascade) afterwards.
- `kafka_admin`: a small admin helper (create/delete topics, read a topic from the beginning).
- `new_topic`: factory making a uniquely named topic (and its DLQ) for the current test,
  deleted after it.
- `producer`: an idempotent producer from `mesh.kafka.make_producer`, closed after the test.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
import redis
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.structs import TopicPartition
from sqlalchemy.orm import Session, sessionmaker

from mesh.db import make_engine, make_session_factory
from mesh.kafka import TopicSpec, dlq_topic, ensure_topics, make_producer
from mesh.outbox import create_outbox_table
from mesh.redis_client import make_redis


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url, pool_size=5, application_name="firstmile-tests")
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except sa.exc.OperationalError as exc:
        pytest.fail(f"PostgreSQL at {database_url} is not reachable (run `make up`): {exc}", pytrace=False)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture(scope="session")
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = make_redis(redis_url, timeout_seconds=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis at {redis_url} is not reachable (run `make up`): {exc}", pytrace=False)
    yield client
    client.close()


@pytest.fixture(scope="module")
def pg_schema(engine: sa.Engine, request: pytest.FixtureRequest, unique_name) -> Iterator[str]:
    """A new empty schema for this test module, named after it."""
    schema = unique_name("t_" + request.module.__name__.rsplit(".", 1)[-1])
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield schema
    with engine.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest.fixture
def migrating_outbox(
    engine: sa.Engine, request: pytest.FixtureRequest, unique_name
) -> Iterator[tuple[Operations, str]]:
    """`(op, schema)`: an outbox as `create_outbox_table` makes it today, in a schema of its own
    (dropped afterwards), and Alembic operations on one open transaction, for testing the outbox
    migration helpers."""
    schema = unique_name("t_outbox_" + request.node.name.removeprefix("test_"))
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        with engine.begin() as conn:
            op = Operations(MigrationContext.configure(conn))
            create_outbox_table(op, schema)
            yield op, schema
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


class KafkaAdmin:
    """Test-side Kafka helper over one KafkaAdminClient."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers
        self.client = KafkaAdminClient(
            bootstrap_servers=bootstrap_servers, client_id="firstmile-tests", bootstrap_timeout_ms=10_000
        )

    def create_topic(self, name: str, *, partitions: int = 3, with_dlq: bool = True) -> str:
        ensure_topics(self.bootstrap_servers, [TopicSpec(name, partitions=partitions)], with_dlq=with_dlq)
        return name

    def delete_topics(self, names: list[str]) -> None:
        existing = set(self.client.list_topics())
        doomed = [name for name in names if name in existing]
        if doomed:
            self.client.delete_topics(doomed, raise_errors=False)

    def read(self, topic: str, *, count: int | None = None, timeout: float = 20.0, until=None) -> list:
        """Read `topic` from the beginning (no consumer group) until `count` records arrived,
        `until(records)` is true, or `timeout` passed; returns what arrived (callers assert)."""

        def done(records: list) -> bool:
            if until is not None:
                return until(records)
            return count is not None and len(records) >= count

        consumer = KafkaConsumer(bootstrap_servers=self.bootstrap_servers, enable_auto_commit=False)
        try:
            partitions = consumer.partitions_for_topic(topic) or set()
            consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
            consumer.seek_to_beginning()
            records: list = []
            deadline = time.monotonic() + timeout
            while not done(records) and time.monotonic() < deadline:
                for batch in consumer.poll(timeout_ms=200).values():
                    records.extend(batch)
            return records
        finally:
            consumer.close(autocommit=False)

    def close(self) -> None:
        self.client.close()


@pytest.fixture(scope="session")
def kafka_admin(kafka_bootstrap_servers: str) -> Iterator[KafkaAdmin]:
    try:
        admin = KafkaAdmin(kafka_bootstrap_servers)
    except Exception as exc:  # noqa: BLE001 - kafka-python 3 raises KafkaTimeoutError when it cannot bootstrap
        pytest.fail(f"Kafka at {kafka_bootstrap_servers} is not reachable (run `make up`): {exc!r}", pytrace=False)
    yield admin
    admin.close()


@pytest.fixture
def new_topic(kafka_admin: KafkaAdmin, request: pytest.FixtureRequest, unique_name) -> Iterator[Callable[..., str]]:
    """`new_topic(partitions=3, with_dlq=True) -> name`: a fresh topic named after the test."""
    created: list[str] = []

    def make(*, partitions: int = 3, with_dlq: bool = True) -> str:
        name = unique_name("test." + request.node.name, separator="-")
        kafka_admin.create_topic(name, partitions=partitions, with_dlq=with_dlq)
        created.extend([name, dlq_topic(name)])
        return name

    yield make
    kafka_admin.delete_topics(created)


@pytest.fixture
def producer(kafka_bootstrap_servers: str, request: pytest.FixtureRequest) -> Iterator[KafkaProducer]:
    producer = make_producer(kafka_bootstrap_servers, client_id=f"test-{request.node.name}"[:100])
    yield producer
    producer.close(timeout=5)
