"""pur_svc's use cases against the real `pur` schema: what only PostgreSQL shows. Rows and their
outbox events in one transaction, the unique request key and ON CONFLICT, many rows in one
statement, every changed column stored and read back, and the SQL of re-routing and listing.
The rules themselves are unit-tested on the in-memory fakes (tests/unit/test_pur_handlers.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from functools import partial

import pytest
import sqlalchemy as sa

from firstmile.events.v1 import events_pb2
from pur_svc.adapters import orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.model import (
    DispatchChange,
    DispatchChangeKind,
    MapChange,
    PickupStatus,
    RouteAssignment,
    RouteMatch,
)
from pur_svc.service_layer import handlers
from pur_svc.service_layer.repositories import PickupFilter
from tests.support import pur_inputs

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def uow_factory(session_factory):
    return lambda: SqlAlchemyPurUnitOfWork(session_factory)


@pytest.fixture
def hub(uow_factory) -> str:
    hub_id = f"hub-{uuid.uuid4().hex[:8]}"
    with uow_factory() as uow:
        uow.pickups.record_hub_map(hub_id, 1, datetime.now(UTC))
        uow.commit()
    return hub_id


@pytest.fixture
def client() -> str:
    return f"client-{uuid.uuid4().hex[:8]}"


new_pickup = partial(pur_inputs.new_pickup, day=TODAY)


def rows(engine, client: str) -> list:
    with engine.connect() as conn:
        return list(conn.execute(sa.select(orm.pickup_requests).where(orm.pickup_requests.c.client_id == client)))


def outbox_events(engine, pur_ids: list[str]) -> list:
    table = orm.outbox.table
    with engine.connect() as conn:
        return list(
            conn.execute(sa.select(table).where(table.c.key.in_([p.encode() for p in pur_ids])).order_by(table.c.id))
        )


def assigned(pur_id: str, hub: str, route: str, version: int) -> RouteAssignment:
    return RouteAssignment(pur_id, hub, route, f"rider-{route}", RouteMatch.EXACT, 0.0, "89618928cafffff", version)


def test_create_writes_the_pur_and_its_events_in_one_transaction(engine, uow_factory, hub, client):
    [result] = handlers.create_pickups(uow_factory(), [new_pickup(client=client, hub=hub)])
    assert result.created and result.pickup.status is PickupStatus.PENDING_ROUTE
    assert len(rows(engine, client)) == 1
    events = outbox_events(engine, [result.pickup.id])
    assert [e.topic for e in events] == ["pur.created.v1", "pur.events.v1"]
    requested = events_pb2.PickupRequested.FromString(events[0].payload)
    assert requested.pur_id == result.pickup.id and requested.reason == events_pb2.ROUTING_REASON_CREATED


def test_same_request_id_same_body_returns_the_same_pur(engine, uow_factory, hub, client):
    [first] = handlers.create_pickups(uow_factory(), [new_pickup(client=client, hub=hub)])
    [again] = handlers.create_pickups(uow_factory(), [new_pickup(client=client, hub=hub)])
    assert again.pickup.id == first.pickup.id and not again.created
    assert len(rows(engine, client)) == 1
    assert len(outbox_events(engine, [first.pickup.id])) == 2


def test_batch_creates_many_in_one_call(engine, uow_factory, hub, client):
    results = handlers.create_pickups(uow_factory(), [new_pickup(f"r{i}", client=client, hub=hub) for i in range(200)])
    assert sum(r.created for r in results) == 200
    assert len({r.pickup.id for r in results}) == 200
    assert len(rows(engine, client)) == 200


def test_routing_and_dispatch_changes_are_stored_and_their_events_written(engine, uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client=client, hub=hub)])
    pur_id = created.pickup.id

    assert handlers.apply_route_assignments(uow_factory(), [assigned(pur_id, hub, "R2", 2)]) == 1
    assert handlers.apply_route_assignments(uow_factory(), [assigned(pur_id, hub, "R1", 1)]) == 0  # older, read back
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert (pur.status, pur.route_id, pur.rider_id, pur.map_version) == (PickupStatus.ROUTED, "R2", "rider-R2", 2)
    assert (pur.route_match, pur.version, pur.routed_at is not None) == (RouteMatch.EXACT, 2, True)

    dispatched = DispatchChange(pur_id, "dsp-1", DispatchChangeKind.DISPATCHED, 7)
    assert handlers.apply_dispatch_changes(uow_factory(), [dispatched]) == 1
    assert handlers.apply_dispatch_changes(uow_factory(), [dispatched]) == 0  # its version was stored
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert (pur.status, pur.dispatch_id, pur.dispatch_version, pur.version) == (PickupStatus.DISPATCHED, "dsp-1", 7, 3)

    changes = [e for e in outbox_events(engine, [pur_id]) if e.topic == "pur.events.v1"]
    assert [events_pb2.PickupStatusChanged.FromString(e.payload).version for e in changes] == [1, 2, 3]
    routed = events_pb2.PickupStatusChanged.FromString(changes[1].payload)
    assert (routed.route_id, routed.pickup_request.rider_id) == ("R2", "rider-R2")


def test_map_change_reroutes_only_undispatched_purs_of_older_maps(engine, uow_factory, hub, client):
    results = handlers.create_pickups(uow_factory(), [new_pickup(f"r{i}", client=client, hub=hub) for i in range(3)])
    routed, cancelled, pending = (r.pickup.id for r in results)
    handlers.apply_route_assignments(uow_factory(), [assigned(routed, hub, "R1", 1)])
    handlers.cancel_pickup(uow_factory(), cancelled, "")

    assert handlers.apply_map_change(uow_factory(), MapChange(hub, 2)) == 2
    assert handlers.apply_map_change(uow_factory(), MapChange(hub, 2)) == 0  # the same change again
    reroutes = [
        events_pb2.PickupRequested.FromString(e.payload)
        for e in outbox_events(engine, [routed, cancelled, pending])
        if e.topic == "pur.created.v1"
    ]
    map_changed = [r for r in reroutes if r.reason == events_pb2.ROUTING_REASON_MAP_CHANGED]
    assert sorted(r.pur_id for r in map_changed) == sorted([routed, pending])
    assert all(r.min_map_version == 2 for r in map_changed)


def test_list_pages_are_stable_and_filtered(uow_factory, hub, client):
    handlers.create_pickups(uow_factory(), [new_pickup(f"r{i}", client=client, hub=hub) for i in range(25)])
    where = PickupFilter(client_id=client, status=PickupStatus.PENDING_ROUTE, pickup_date=TODAY)
    seen, cursor = [], None
    while True:
        page, cursor = handlers.list_pickups(uow_factory(), where, 10, cursor)
        seen.extend(p.id for p in page)
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 25
    assert (
        handlers.list_pickups(uow_factory(), PickupFilter(client_id=client, pickup_date=date(2000, 1, 1)), 10, None)[0]
        == []
    )
