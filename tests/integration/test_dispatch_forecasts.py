"""Volume history and forecasts against the real `dispatch` schema (migration dispatch_0007), for what
only PostgreSQL shows: an import idempotent in SQL and a bad row writing nothing, observed volume
from decoded pur.events.v1 messages counted once per PUR (redelivered, replayed, and the same
event applied by two consumers at once), the running sums of a re-route, route profiles read from
open_pickups and the route read model, and a forecast whose stored backtest is reused from the
table. The rules are tested on the fakes in tests/unit/test_dispatch_forecasts.py. Every test
works in its own hub."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from dispatch_svc.adapters import orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.hubs import Hub
from dispatch_svc.domain.planning import PlanningSettings
from dispatch_svc.domain.routes import RouteMapChange, RouteSummary
from dispatch_svc.domain.volumes import InvalidVolumeRow, VolumeRowInput
from dispatch_svc.entrypoints.consumers import consumer_workers, decode_pur_event
from dispatch_svc.entrypoints.grpc_api import DispatchServicer, registration
from dispatch_svc.service_layer import forecasts, handlers, hubs
from dispatch_svc.service_layer.forecasts import VolumeForecastQuery
from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client import import_volumes
from mesh.kafka import ConsumerLoop, EventHeaders, dlq_topic, make_producer
from mesh.runtime import Worker
from mesh.topics import PUR_EVENTS
from tests.support import auth
from tests.support.consumed_messages import consumed
from tests.support.fakes_attendance_port import FakeAttendance
from tests.support.fakes_forecaster import SeasonalNaiveForecaster
from tests.support.in_process_server import address, serving
from tests.support.polling import wait_until

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC)
TODAY = NOW.date()  # the hubs here are in UTC
YESTERDAY = TODAY - timedelta(days=1)


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture
def hub_id(uow_factory) -> str:
    hub = f"hub-{uuid.uuid4().hex[:10]}"
    hubs.upsert_hub(uow_factory(), Hub(hub, "Depot", 12.9352, 77.6245, "UTC"))
    return hub


def day_rows(engine, hub_id: str) -> list[tuple]:
    c = orm.volume_days.c
    with engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(
                    c.route_id,
                    c.day,
                    c.observed_pickups,
                    c.observed_packages,
                    c.observed_weight_kg,
                    c.imported_pickups,
                    c.imported_packages,
                    c.imported_weight_kg,
                )
                .where(c.hub_id == hub_id)
                .order_by(c.route_id, c.day)
            )
        ]


def row(day: date, route: str = "R1", pickups: int = 10, packages: int = 30, weight: float = 25.0) -> VolumeRowInput:
    return VolumeRowInput(day.isoformat(), route, pickups, packages, weight)


def test_an_import_is_idempotent_and_replaces_only_the_imported_columns(uow_factory, engine, hub_id):
    rows = [row(YESTERDAY), row(YESTERDAY, "R2", 4, 8, 3.5), row(YESTERDAY - timedelta(days=1))]
    first = forecasts.import_volume_history(uow_factory(), hub_id, rows)
    assert (first.imported, first.replaced) == (3, 0)
    before = day_rows(engine, hub_id)
    again = forecasts.import_volume_history(uow_factory(), hub_id, rows)
    assert (again.imported, again.replaced) == (3, 3)
    assert day_rows(engine, hub_id) == before
    assert before[1] == ("R1", YESTERDAY, 0, 0, 0.0, 10, 30, 25.0)


def test_a_bad_row_writes_nothing(uow_factory, engine, hub_id):
    rows = [row(YESTERDAY - timedelta(days=i)) for i in range(50)] + [row(TODAY + timedelta(days=2))]
    with pytest.raises(InvalidVolumeRow, match=r"rows\[50\]\.date .* is in the future"):
        forecasts.import_volume_history(uow_factory(), hub_id, rows)
    assert day_rows(engine, hub_id) == []


def test_the_imported_columns_are_whole_or_absent(engine, hub_id):
    values = {"hub_id": hub_id, "route_id": "R1", "day": YESTERDAY, "updated_at": NOW, "imported_pickups": 3}
    with pytest.raises(IntegrityError, match="volume_days_imported_whole"), engine.begin() as conn:
        conn.execute(sa.insert(orm.volume_days).values(values))


def routed(pur_id: str, hub_id: str, version: int, *, route: str = "R1", day: date = TODAY, status=None):
    event = _routed_event(pur_id, hub_id, version, route=route, day=day, status=status)
    return decode_pur_event(consumed(PUR_EVENTS, event, key=pur_id.encode()))


def _routed_event(
    pur_id: str, hub_id: str, version: int, *, route: str = "R1", day: date = TODAY, status=None
) -> events_pb2.PickupStatusChanged:
    pickup = pur_pb2.PickupRequest(
        id=pur_id,
        client_id="c1",
        hub_id=hub_id,
        pickup_date=day.isoformat(),
        expected_packages=4,
        expected_weight_kg=2.5,
        status=pur_pb2.PICKUP_STATUS_ROUTED,
        route_id=route,
        rider_id="rider-9",
        route_match=common_pb2.ROUTE_MATCH_EXACT,
        warehouse=common_pb2.Warehouse(name="Seller", location=common_pb2.LatLng(lat=12.95, lng=77.63)),
        version=version,
    )
    return events_pb2.PickupStatusChanged(
        pur_id=pur_id,
        hub_id=hub_id,
        client_id="c1",
        route_id=route,
        pickup_date=day.isoformat(),
        status=status or pur_pb2.PICKUP_STATUS_ROUTED,
        pickup_request=pickup,
        version=version,
    )


def observed(engine, hub_id: str) -> dict[tuple[str, date], tuple[int, int, float]]:
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in day_rows(engine, hub_id) if r[2]}


def test_consumed_pur_events_count_each_pur_once(uow_factory, engine, hub_id):
    p1, p2 = f"{hub_id}-p1", f"{hub_id}-p2"
    handlers.apply_pur_changes(uow_factory(), [routed(p1, hub_id, 2), routed(p2, hub_id, 2)])
    handlers.apply_pur_changes(uow_factory(), [routed(p1, hub_id, 2)])  # redelivered
    handlers.apply_pur_changes(uow_factory(), [routed(p1, hub_id, 3), routed(p1, hub_id, 2)])  # echo and replay
    assert observed(engine, hub_id) == {("R1", TODAY): (2, 8, 5.0)}
    handlers.apply_pur_changes(uow_factory(), [routed(p1, hub_id, 5, route="R2")])
    handlers.apply_pur_changes(uow_factory(), [routed(p2, hub_id, 4, status=pur_pb2.PICKUP_STATUS_CANCELLED)])
    # R1 keeps its row, at zero: the day had nothing left there (kg's float noise included).
    assert observed(engine, hub_id) == {("R2", TODAY): (1, 4, 2.5)}
    assert ("R1", TODAY, 0, 0, 0.0, None, None, None) in day_rows(engine, hub_id)


def test_the_same_event_applied_by_two_consumers_at_once_counts_once(uow_factory, engine, hub_id):
    events = [routed(f"{hub_id}-p{i}", hub_id, 2, route=f"R{i % 3}") for i in range(30)]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            barrier.wait()
            handlers.apply_pur_changes(uow_factory(), events)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert observed(engine, hub_id) == {(f"R{r}", TODAY): (10, 40, 25.0) for r in range(3)}


def test_route_profiles_read_recent_pickups_and_the_route_read_model(uow_factory, hub_id):
    handlers.apply_pur_changes(uow_factory(), [routed(f"{hub_id}-p{i}", hub_id, 2) for i in range(3)])
    change = RouteMapChange(hub_id, 1, (RouteSummary("R7", "Seven", "asha"),), ("R1",))
    handlers.apply_route_map_changes(uow_factory(), [change])
    with uow_factory() as uow:
        profiles = uow.volumes.route_profiles(hub_id, TODAY - timedelta(days=28), TODAY)
    assert len(profiles.points["R1"]) == 3
    assert profiles.default_riders == {"R1": "rider-9", "R7": "asha"}
    assert profiles.deleted_routes == frozenset({"R1"})


def test_a_forecast_stores_its_backtest_and_reuses_it_while_the_history_is_the_same(uow_factory, engine, hub_id):
    rows = [row(YESTERDAY - timedelta(days=i), pickups=10 + (i % 7) * 3) for i in range(35)]
    forecasts.import_volume_history(uow_factory(), hub_id, rows)
    forecaster = SeasonalNaiveForecaster()
    q = VolumeForecastQuery(hub_id, "R1", TODAY, 7)
    first = forecasts.forecast_pickup_volume(uow_factory(), forecaster, q, now=lambda: NOW)
    later = forecasts.forecast_pickup_volume(uow_factory(), forecaster, q, now=lambda: NOW + timedelta(minutes=5))
    assert later.backtest_computed_at == first.backtest_computed_at == NOW
    assert later.forecast.backtest == first.forecast.backtest
    with engine.connect() as conn:
        stored = conn.execute(sa.select(orm.volume_backtests).where(orm.volume_backtests.c.hub_id == hub_id)).one()
    assert (stored.route_id, stored.model, stored.origins) == (
        "R1",
        first.forecast.model,
        first.forecast.backtest.origins,
    )
    forecasts.import_volume_history(uow_factory(), hub_id, [row(YESTERDAY, pickups=50)])
    changed = forecasts.forecast_pickup_volume(uow_factory(), forecaster, q, now=lambda: NOW + timedelta(minutes=9))
    assert changed.backtest_computed_at == NOW + timedelta(minutes=9)
    total = forecasts.forecast_pickup_volume(uow_factory(), forecaster, VolumeForecastQuery(hub_id, "", TODAY, 1))
    assert total.forecast.route_id == "" and total.history_days == 35


# -- the CSV import CLI, through a real server ------------------------------------------------------


@pytest.fixture
def dispatch_address(session_factory, monkeypatch):
    servicer = DispatchServicer(lambda: SqlAlchemyDispatchUnitOfWork(session_factory), FakeAttendance())
    monkeypatch.setenv("FIRSTMILE_GRPC_TRANSPORT", "plaintext")
    monkeypatch.setenv("FIRSTMILE_AUTH_TOKEN", auth.admin_token())
    monkeypatch.delenv("FIRSTMILE_AUTH_TOKEN_FILE", raising=False)
    with serving(registration(servicer)) as server:
        yield address(server)


def write_csv(path, lines: list[str]):
    path.write_text("\n".join(["route_id,date,pickups,packages,weight_kg,note", *lines]) + "\n")
    return path


def test_the_cli_imports_a_file_in_batches_and_again_replaces(dispatch_address, engine, hub_id, tmp_path, capsys):
    days = [YESTERDAY - timedelta(days=i) for i in range(7)]
    path = write_csv(
        tmp_path / "history.csv",
        [f"R1,{d.isoformat()},{i + 1},{3 * (i + 1)},{2.5 * (i + 1)},x" for i, d in enumerate(days)],
    )
    argv = ["--hub", hub_id, "--dispatch-address", dispatch_address, "--batch-size", "3", str(path)]
    assert import_volumes.main(argv) == 0
    assert "imported 7 rows" in capsys.readouterr().out
    assert len(day_rows(engine, hub_id)) == 7
    assert import_volumes.main(argv) == 0
    assert "(7 replaced an earlier import)" in capsys.readouterr().out


def test_the_cli_names_bad_lines_and_writes_nothing(dispatch_address, engine, hub_id, tmp_path, capsys):
    lines = [f"R1,{(YESTERDAY - timedelta(days=i)).isoformat()},5,9,7.5," for i in range(6)]
    unparsable = write_csv(tmp_path / "bad.csv", [*lines[:2], "R1,2026-13-01,5,9,7.5,", "R1,2026-01-01,-4,9,7.5,"])
    assert import_volumes.main(["--hub", hub_id, "--dispatch-address", dispatch_address, str(unparsable)]) == 1
    err = capsys.readouterr().err
    assert "2 bad row(s); nothing was imported" in err and "line 4: date" in err and "line 5: pickups" in err
    # In the second batch of three, a day in the future at the hub: found by the server's check.
    future = write_csv(tmp_path / "future.csv", [*lines[:4], f"R1,{(TODAY + timedelta(days=2)).isoformat()},5,9,7.5,"])
    argv = ["--hub", hub_id, "--dispatch-address", dispatch_address, "--batch-size", "3", str(future)]
    assert import_volumes.main(argv) == 1
    err = capsys.readouterr().err
    assert "line 6: rows[1].date" in err and "is in the future" in err and "nothing was imported" in err
    assert day_rows(engine, hub_id) == []
    assert import_volumes.main([*argv[:-1], "--check", str(tmp_path / "missing.csv")]) == 2


# -- through Kafka: the consumer as the service wires it ----------------------------------------------


class _Wiring:
    """Stands in for Infrastructure: keeps the pur.events.v1 consumer's decode and batch handler."""

    def __init__(self) -> None:
        self.decode: Callable | None = None
        self.handle_batch: Callable | None = None

    def consumer(self, group_id: str, topic: str, decode: Callable, handle_batch: Callable, **options: Any) -> Worker:
        if topic == PUR_EVENTS:
            self.decode, self.handle_batch = decode, handle_batch
        return Worker(name=f"consumer:{topic}", run=lambda stop: None)


def _consume_all(bootstrap: str, topic: str, group: str, wiring: _Wiring, dlq_producer, engine, hub_id, expected):
    assert wiring.decode is not None and wiring.handle_batch is not None
    loop = ConsumerLoop(
        bootstrap,
        group,
        [topic],
        decode=wiring.decode,
        handle_batch=wiring.handle_batch,
        dlq_producer=dlq_producer,
        auto_offset_reset="earliest",
        poll_timeout_ms=200,
    )
    stop = threading.Event()
    thread = threading.Thread(target=loop.run, args=(stop,), daemon=True)
    thread.start()
    try:
        wait_until(lambda: observed(engine, hub_id) == expected, timeout=30, message="the volume to be observed")
        time.sleep(1.0)  # and nothing more arrives after it
        assert observed(engine, hub_id) == expected
    finally:
        stop.set()
        thread.join(timeout=15)
        loop.close()


def test_pur_events_consumed_from_kafka_count_once_even_when_the_topic_is_read_again(
    session_factory, engine, hub_id, kafka_admin, kafka_bootstrap_servers, producer, unique_name
):
    wiring = _Wiring()
    consumer_workers(
        wiring, lambda: SqlAlchemyDispatchUnitOfWork(session_factory), planning_settings=PlanningSettings()
    )
    topic = kafka_admin.create_topic(unique_name("test.volumes.pur-events", separator="-"), partitions=1)
    p1, p2 = f"{hub_id}-p1", f"{hub_id}-p2"
    events = [
        _routed_event(p1, hub_id, 2),
        _routed_event(p2, hub_id, 2),
        _routed_event(p1, hub_id, 2),  # redelivered by the producer
        _routed_event(p1, hub_id, 3, route="R2"),  # re-routed
        _routed_event(p2, hub_id, 3, status=pur_pb2.PICKUP_STATUS_CANCELLED),
        _routed_event(p1, hub_id, 2),  # an old event replayed after the re-route
    ]
    for event in events:
        headers = EventHeaders(
            id=str(uuid.uuid4()), type=event.DESCRIPTOR.full_name, source="tests", time=datetime.now(UTC)
        ).to_kafka()
        producer.send(topic, key=event.pur_id.encode(), value=event.SerializeToString(), headers=headers).get(10)
    expected = {("R2", TODAY): (1, 4, 2.5)}
    dlq = make_producer(kafka_bootstrap_servers, client_id="volume-tests-dlq")
    try:
        _consume_all(
            kafka_bootstrap_servers, topic, unique_name("g1", separator="-"), wiring, dlq, engine, hub_id, expected
        )
        # Another group reads the whole topic again (a replay): nothing counts twice.
        _consume_all(
            kafka_bootstrap_servers, topic, unique_name("g2", separator="-"), wiring, dlq, engine, hub_id, expected
        )
    finally:
        dlq.close(timeout=5)
        kafka_admin.delete_topics([topic, dlq_topic(topic)])
