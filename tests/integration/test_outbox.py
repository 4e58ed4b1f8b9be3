"""The transactional outbox against the real local PostgreSQL and Kafka."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from kafka import KafkaConsumer
from kafka.structs import TopicPartition
from sqlalchemy.orm import Session

from mesh.kafka import CE_ID, CE_SOURCE, CE_SPECVERSION, CE_TIME, CE_TYPE, CONTENT_TYPE, EventHeaders
from mesh.outbox import (
    Outbox,
    OutboxEvent,
    OutboxRelay,
    create_outbox_table,
    drop_event_id_unique,
    drop_outbox_table,
    restore_event_id_unique,
)
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]


# -- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def module_outbox(engine: sa.Engine, pg_schema: str) -> Outbox:
    """The module's outbox table, created through the Alembic helper services use."""
    outbox = Outbox(pg_schema, sa.MetaData())
    with engine.begin() as conn:
        create_outbox_table(Operations(MigrationContext.configure(conn)), pg_schema)
    return outbox


@pytest.fixture
def outbox(engine: sa.Engine, module_outbox: Outbox) -> Outbox:
    """The module's outbox, emptied before each test so no test sees another's rows."""
    with engine.begin() as conn:
        conn.execute(sa.delete(module_outbox.table))
    return module_outbox


@pytest.fixture
def relay_thread(engine: sa.Engine, outbox: Outbox, producer) -> Iterator:
    """`start(**relay_kwargs) -> OutboxRelay`: relays running in threads, stopped after the test."""
    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(**kwargs) -> OutboxRelay:
        relay = OutboxRelay(engine, outbox, producer, **kwargs)
        stop = threading.Event()
        thread = threading.Thread(target=relay.run, args=(stop,), daemon=True, name="test-relay")
        thread.start()
        running.append((stop, thread))
        relay.stop_event = stop  # type: ignore[attr-defined]  # lets a test stop one relay
        relay.thread = thread  # type: ignore[attr-defined]
        return relay

    yield start
    for stop, _ in running:
        stop.set()
    for _, thread in running:
        thread.join(timeout=10)
        assert not thread.is_alive(), "relay thread did not stop"


def commit_events(engine: sa.Engine, outbox: Outbox, events: list[OutboxEvent]) -> None:
    with Session(engine) as session, session.begin():
        outbox.add(session, events)


def event(topic: str, key: str, seq: int, **kwargs) -> OutboxEvent:
    return OutboxEvent(
        topic=topic, key=key, payload=f"{key}:{seq}".encode(), event_type="test.Event", source="tests", **kwargs
    )


def count_rows(engine: sa.Engine, outbox: Outbox, *, sent: bool | None = None) -> int:
    table = outbox.table
    query = sa.select(sa.func.count()).select_from(table)
    if sent is not None:
        query = query.where(table.c.sent_at.is_not(None) if sent else table.c.sent_at.is_(None))
    with engine.connect() as conn:
        return conn.execute(query).scalar_one()


def sequences_by_key(records) -> dict[str, list[int]]:
    by_key: dict[str, list[int]] = defaultdict(list)
    for record in records:
        key, seq = record.value.decode().split(":")
        assert record.key.decode() == key
        by_key[key].append(int(seq))
    return by_key


# -- schema ------------------------------------------------------------------------------------


def test_alembic_helper_creates_exactly_the_table_definition(engine, module_outbox, pg_schema, unique_name):
    def only_this_schema(name, type_, parent_names):
        return type_ != "schema" or name == pg_schema

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_schemas": True, "include_name": only_this_schema, "compare_type": True}
        )
        diffs = compare_metadata(context, module_outbox.table.metadata)
    assert diffs == []

    other = unique_name("t_outbox_drop")
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{other}"'))
        try:
            ops = Operations(MigrationContext.configure(conn))
            create_outbox_table(ops, other)
            assert sa.inspect(conn).has_table("outbox", schema=other)
            drop_outbox_table(ops, other)
            assert not sa.inspect(conn).has_table("outbox", schema=other)
        finally:
            conn.execute(sa.text(f'DROP SCHEMA "{other}" CASCADE'))


def test_event_id_unique_index_migration_drops_it_from_an_older_outbox_and_back(migrating_outbox):
    op, schema = migrating_outbox

    def unique_columns() -> list[list[str]]:
        return [u["column_names"] for u in sa.inspect(op.get_bind()).get_unique_constraints("outbox", schema=schema)]

    drop_event_id_unique(op, schema)  # a table created since has none: nothing to do
    restore_event_id_unique(op, schema)  # an outbox as 0001 created it
    assert unique_columns() == [["event_id"]]
    drop_event_id_unique(op, schema)
    assert unique_columns() == []


# -- publishing --------------------------------------------------------------------------------


def test_committed_events_arrive_in_order_per_key(engine, outbox, new_topic, kafka_admin, relay_thread):
    topic = new_topic(partitions=3)
    keys = ["pur-a", "pur-b", "pur-c"]
    per_key = 200
    relay = relay_thread(batch_size=100)

    first = event(topic, keys[0], 0)
    commit_events(engine, outbox, [first])
    for seq in range(per_key):
        for key in keys:
            if (key, seq) != (keys[0], 0):
                commit_events(engine, outbox, [event(topic, key, seq)])  # one transaction per event

    records = kafka_admin.read(topic, count=len(keys) * per_key, timeout=25)
    assert relay.is_leader
    assert len(records) == len(keys) * per_key
    by_key = sequences_by_key(records)
    assert {key: by_key[key] for key in keys} == {key: list(range(per_key)) for key in keys}
    wait_until(lambda: count_rows(engine, outbox, sent=False) == 0, timeout=5, message="all rows marked sent")

    # CloudEvents binary-mode headers on every record; the first one checked field by field.
    headers = [dict(r.headers) for r in records if r.value == b"pur-a:0"][0]
    assert headers[CE_ID] == str(first.event_id).encode()
    assert headers[CE_TYPE] == b"test.Event"
    assert headers[CE_SOURCE] == b"tests"
    assert headers[CE_SPECVERSION] == b"1.0"
    assert headers[CONTENT_TYPE] == b"application/protobuf"
    assert headers[CE_TIME].endswith(b"Z")
    assert EventHeaders.from_kafka(headers).time == first.occurred_at
    assert all({CE_ID, CE_TYPE, CE_SOURCE, CE_TIME} <= dict(r.headers).keys() for r in records)


def test_rolled_back_transaction_publishes_nothing(engine, outbox, new_topic, kafka_admin, producer):
    topic = new_topic(partitions=1)
    with Session(engine) as session:
        outbox.add(session, [event(topic, "k", 1), event(topic, "k", 2)])
        session.rollback()
    with pytest.raises(RuntimeError), Session(engine) as session, session.begin():
        outbox.add(session, [event(topic, "k", 3)])
        raise RuntimeError("handler failed after writing its event")
    commit_events(engine, outbox, [event(topic, "k", 4)])

    relay = OutboxRelay(engine, outbox, producer)
    assert relay.publish_pending() == 1
    records = kafka_admin.read(topic, count=2, timeout=2)
    assert [r.value for r in records] == [b"k:4"]
    assert count_rows(engine, outbox) == 1


def test_relay_wakes_on_notify_within_milliseconds(engine, outbox, new_topic, relay_thread, kafka_bootstrap_servers):
    topic = new_topic(partitions=1)
    # A 30 s fallback poll: only NOTIFY can make the events below arrive within the bound.
    relay = relay_thread(idle_poll_seconds=30.0)
    wait_until(lambda: relay.is_leader, timeout=10, message="relay leadership")

    consumer = KafkaConsumer(bootstrap_servers=kafka_bootstrap_servers, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_end(tp)
        consumer.position(tp)
        latencies = []
        for seq in range(10):
            started = time.perf_counter()
            commit_events(engine, outbox, [event(topic, "k", seq)])
            received = []
            while not received and time.perf_counter() - started < 5:
                received = [r for batch in consumer.poll(timeout_ms=5).values() for r in batch]
            assert [r.value for r in received] == [f"k:{seq}".encode()], "event did not arrive within 5 s"
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.05)
    finally:
        consumer.close(autocommit=False)
    latencies.sort()
    print(
        f"\ncommit -> consumer receipt, ms: min {latencies[0]:.1f}, median {latencies[len(latencies) // 2]:.1f},"
        f" max {latencies[-1]:.1f}"
    )


def test_only_one_relay_leads_and_a_standby_takes_over(engine, outbox, new_topic, kafka_admin, relay_thread):
    topic = new_topic(partitions=1)
    first = relay_thread(lock_retry_seconds=0.2)
    wait_until(lambda: first.is_leader, timeout=10, message="first relay leadership")
    second = relay_thread(lock_retry_seconds=0.2)
    time.sleep(1.0)
    assert first.is_leader and not second.is_leader

    first.stop_event.set()
    first.thread.join(timeout=10)
    wait_until(lambda: second.is_leader, timeout=5, message="standby takes over")
    commit_events(engine, outbox, [event(topic, "k", 1)])
    assert [r.value for r in kafka_admin.read(topic, count=1, timeout=10)] == [b"k:1"]


def lock_holder_pid(engine: sa.Engine, outbox: Outbox) -> int | None:
    """Backend pid holding the relay's advisory lock (a bigint key shows as classid/objid)."""
    unsigned = outbox.lock_key & 0xFFFF_FFFF_FFFF_FFFF
    with engine.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1"
                " AND classid = CAST(:hi AS oid) AND objid = CAST(:lo AS oid)"
            ),
            {"hi": unsigned >> 32, "lo": unsigned & 0xFFFF_FFFF},
        ).scalar()


def test_relay_reelects_itself_when_its_lock_connection_dies(engine, outbox, new_topic, kafka_admin, relay_thread):
    topic = new_topic(partitions=1)
    relay = relay_thread(idle_poll_seconds=0.2, lock_retry_seconds=0.2)
    wait_until(lambda: relay.is_leader and lock_holder_pid(engine, outbox), timeout=10, message="leadership")
    old_pid = lock_holder_pid(engine, outbox)
    with engine.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": old_pid})

    wait_until(lambda: lock_holder_pid(engine, outbox) not in (None, old_pid), timeout=15, message="a new lock session")
    commit_events(engine, outbox, [event(topic, "k", 1)])
    assert [r.value for r in kafka_admin.read(topic, count=1, timeout=10)] == [b"k:1"]
    assert relay.is_leader


def test_purge_sent_deletes_only_old_sent_rows(engine, outbox, new_topic, producer):
    topic = new_topic(partitions=1)
    relay = OutboxRelay(engine, outbox, producer)
    commit_events(engine, outbox, [event(topic, "k", seq) for seq in range(5)])
    assert relay.publish_pending() == 5
    commit_events(engine, outbox, [event(topic, "k", 5)])  # unsent

    assert relay.purge_sent(timedelta(hours=1)) == 0
    assert relay.purge_sent(timedelta(0), chunk=2) == 5
    assert count_rows(engine, outbox) == 1
    assert count_rows(engine, outbox, sent=False) == 1


# -- crash safety ------------------------------------------------------------------------------

RELAY_PROCESS = """
import os, signal, threading, time
import sqlalchemy as sa
from mesh.db import make_engine
from mesh.kafka import make_producer
from mesh.outbox import Outbox, OutboxRelay

stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
engine = make_engine(os.environ["T_DATABASE_URL"], pool_size=2, application_name="test-relay-process")
producer = make_producer(os.environ["T_KAFKA"], client_id="test-relay-process")
relay = OutboxRelay(engine, Outbox(os.environ["T_SCHEMA"], sa.MetaData()), producer, batch_size=50,
                    lock_retry_seconds=0.2)

def announce():
    while not relay.is_leader and not stop.is_set():
        time.sleep(0.01)
    print("LEADER", flush=True)

threading.Thread(target=announce, daemon=True).start()
relay.run(stop)
producer.close(5)
engine.dispose()
print("STOPPED", flush=True)
"""


class RelayProcess:
    """The relay in its own Python process, so the test can SIGKILL it like a crashed pod."""

    def __init__(self, database_url: str, kafka: str, schema: str, log_path: Path) -> None:
        env = dict(os.environ, T_DATABASE_URL=database_url, T_KAFKA=kafka, T_SCHEMA=schema)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), str(REPO_ROOT / "gen"), env.get("PYTHONPATH", "")])
        self._log = open(log_path, "a")  # noqa: SIM115 - closed in wait()/kill()
        self.process = subprocess.Popen(
            [sys.executable, "-c", RELAY_PROCESS],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        for line in self.process.stdout:
            self._lines.put(line.strip())

    def expect(self, line: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self._lines.get(timeout=0.1) == line:
                    return
            except queue.Empty:
                if self.process.poll() is not None:
                    raise AssertionError(f"relay process exited ({self.process.returncode}) before {line!r}") from None
        raise AssertionError(f"relay process did not print {line!r} within {timeout}s")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self._log.close()

    def terminate(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=15)
        self._log.close()


def test_killed_relay_loses_nothing(
    engine, outbox, new_topic, kafka_admin, database_url, kafka_bootstrap_servers, tmp_path
):
    topic = new_topic(partitions=3)
    keys = [f"pur-{i}" for i in range(5)]
    per_key = 400
    total = len(keys) * per_key
    expected_ids: dict[str, tuple[str, int]] = {}

    def write() -> None:
        for seq in range(per_key):
            for key in keys:
                ev = event(topic, key, seq, event_id=uuid.uuid4())
                expected_ids[str(ev.event_id)] = (key, seq)
                commit_events(engine, outbox, [ev])
            time.sleep(0.005)  # keep events flowing for a few seconds

    writer = threading.Thread(target=write, name="writer")
    relays: list[RelayProcess] = []
    try:
        # Build a backlog first, so the relay is busy publishing batches when it is killed.
        writer.start()
        wait_until(lambda: count_rows(engine, outbox) >= 800, timeout=20, message="a backlog")
        relays.append(RelayProcess(database_url, kafka_bootstrap_servers, outbox.schema, tmp_path / "relay.log"))
        relays[0].expect("LEADER", timeout=20)
        wait_until(lambda: count_rows(engine, outbox, sent=True) >= 300, timeout=20, message="relay publishing")
        relays[0].kill()
        killed_with_sent = count_rows(engine, outbox, sent=True)
        assert count_rows(engine, outbox, sent=False) > 0 or writer.is_alive(), "stream ended before the kill"

        relays.append(RelayProcess(database_url, kafka_bootstrap_servers, outbox.schema, tmp_path / "relay.log"))
        relays[1].expect("LEADER", timeout=20)
        writer.join(timeout=60)
        assert not writer.is_alive()
        wait_until(
            lambda: count_rows(engine, outbox, sent=False) == 0, timeout=20, message="the restarted relay to drain"
        )
        relays[1].terminate()
        assert relays[1].process.returncode == 0
    finally:
        for relay in relays:
            if relay.process.poll() is None:
                relay.kill()
        writer.join(timeout=60)

    assert count_rows(engine, outbox) == total

    def ids(records) -> set[str]:
        return {dict(r.headers)[CE_ID].decode() for r in records}

    # Duplicates are allowed, so read until every event id has been seen (or time runs out).
    records = kafka_admin.read(topic, until=lambda recs: len(recs) >= total and len(ids(recs)) >= total, timeout=30)
    seen = ids(records)
    missing = set(expected_ids) - seen
    assert not missing, f"{len(missing)} events lost, e.g. {sorted(missing)[:3]}"
    print(
        f"\nkilled the relay after {killed_with_sent} of {total} events were marked sent;"
        f" {len(records)} records for {total} events ({len(records) - len(seen)} duplicates)"
    )

    # At-least-once keeps per-key order of first appearance: re-publishing repeats a suffix.
    first_seen: dict[str, list[int]] = defaultdict(list)
    for key, seqs in sequences_by_key(records).items():
        for seq in seqs:
            if seq not in first_seen[key]:
                first_seen[key].append(seq)
    assert dict(first_seen) == {key: list(range(per_key)) for key in keys}
