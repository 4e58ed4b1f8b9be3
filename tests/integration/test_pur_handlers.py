"""pur_svc's use cases against the real `pur` schema: idempotent creates, all-or-nothing batches,
and assignment events applied exactly once whatever their order."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from firstmile.events.v1 import events_pb2
from mesh.db import make_session_factory
from mesh.errors import AlreadyExists, FailedPrecondition, InvalidArgument, NotFound
from pur_svc.adapters import orm
from pur_svc.domain.model import Location, NewPickup, PickupStatus, RouteAssignment, RouteMatch, Warehouse
from pur_svc.service_layer import handlers
from pur_svc.service_layer.unit_of_work import PurUnitOfWork

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()


@pytest.fixture(scope="module")
def uow_factory(engine):
    factory = make_session_factory(engine)
    return lambda: PurUnitOfWork(factory)


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


def new_pickup(client: str, hub: str, request_id: str = "r1", *, lat: float = 12.97, packages: int = 3) -> NewPickup:
    return NewPickup(
        request_id=request_id,
        client_id=client,
        hub_id=hub,
        warehouse=Warehouse("wh-1", "Seller One", "1 MG Road", "560001", Location(lat, 77.59)),
        pickup_date=TODAY,
        expected_packages=packages,
        expected_weight_kg=2.5,
    )


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
    [result] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    assert result.created and result.pickup.status is PickupStatus.PENDING_ROUTE
    assert len(rows(engine, client)) == 1
    events = outbox_events(engine, [result.pickup.id])
    assert [e.topic for e in events] == ["pur.created.v1", "pur.events.v1"]
    requested = events_pb2.PickupRequested.FromString(events[0].payload)
    assert requested.pur_id == result.pickup.id and requested.reason == events_pb2.ROUTING_REASON_CREATED


def test_same_request_id_same_body_returns_the_same_pur(engine, uow_factory, hub, client):
    [first] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    [again] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    assert again.pickup.id == first.pickup.id and not again.created
    assert len(rows(engine, client)) == 1
    assert len(outbox_events(engine, [first.pickup.id])) == 2


def test_same_request_id_different_body_is_already_exists(engine, uow_factory, hub, client):
    handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    with pytest.raises(AlreadyExists, match="request_id 'r1' was already used"):
        handlers.create_pickups(uow_factory(), [new_pickup(client, hub, packages=99)])
    assert len(rows(engine, client)) == 1


def test_unknown_hub_is_not_found_and_writes_nothing(engine, uow_factory, client):
    with pytest.raises(NotFound, match="hub 'nowhere' is unknown"):
        handlers.create_pickups(uow_factory(), [new_pickup(client, "nowhere")])
    assert rows(engine, client) == []


def test_batch_is_all_or_nothing_and_names_the_bad_item(engine, uow_factory, hub, client):
    batch = [new_pickup(client, hub, f"r{i}") for i in range(5)]
    batch[3] = new_pickup(client, "nowhere", "r3")
    with pytest.raises(NotFound, match=r"requests\[3\]: hub 'nowhere'"):
        handlers.create_pickups(uow_factory(), batch)
    assert rows(engine, client) == []

    batch[3] = new_pickup(client, hub, "r0", packages=50)
    with pytest.raises(InvalidArgument, match=r"requests\[3\]: request_id 'r0' repeats requests\[0\]"):
        handlers.create_pickups(uow_factory(), batch)
    assert rows(engine, client) == []


def test_batch_creates_many_in_one_call(engine, uow_factory, hub, client):
    results = handlers.create_pickups(uow_factory(), [new_pickup(client, hub, f"r{i}") for i in range(200)])
    assert sum(r.created for r in results) == 200
    assert len({r.pickup.id for r in results}) == 200
    assert len(rows(engine, client)) == 200


def test_assignment_applies_once_and_older_maps_never_overwrite_newer(engine, uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    pur_id = created.pickup.id

    assert handlers.apply_route_assignments(uow_factory(), [assigned(pur_id, hub, "R2", 2)]) == 1
    assert handlers.apply_route_assignments(uow_factory(), [assigned(pur_id, hub, "R2", 2)]) == 0  # duplicate
    assert handlers.apply_route_assignments(uow_factory(), [assigned(pur_id, hub, "R1", 1)]) == 0  # reordered, older
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert (pur.status, pur.route_id, pur.rider_id, pur.map_version) == (PickupStatus.ROUTED, "R2", "rider-R2", 2)
    assert pur.version == 2

    unroutable = RouteAssignment(pur_id, hub, "", "", RouteMatch.NONE, 0.0, "", 3, "no route within 2000 m")
    assert handlers.apply_route_assignments(uow_factory(), [unroutable]) == 1
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert pur.status is PickupStatus.UNROUTABLE and pur.unroutable_reason == "no route within 2000 m"
    changes = [e for e in outbox_events(engine, [pur_id]) if e.topic == "pur.events.v1"]
    assert [events_pb2.PickupStatusChanged.FromString(e.payload).version for e in changes] == [1, 2, 3]


def test_cancelled_stays_cancelled(uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    handlers.cancel_pickup(uow_factory(), created.pickup.id, "seller closed")
    assert handlers.apply_route_assignments(uow_factory(), [assigned(created.pickup.id, hub, "R1", 5)]) == 0
    pur = handlers.get_pickup(uow_factory(), created.pickup.id)
    assert pur.status is PickupStatus.CANCELLED and pur.route_id == ""


def test_cancel_of_a_missing_pur_is_not_found(uow_factory):
    with pytest.raises(NotFound):
        handlers.cancel_pickup(uow_factory(), "pur_missing", "")


def test_cancel_after_pickup_is_failed_precondition(engine, uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    with engine.begin() as conn:
        conn.execute(
            sa.update(orm.pickup_requests)
            .where(orm.pickup_requests.c.id == created.pickup.id)
            .values(status="PICKED_UP")
        )
    with pytest.raises(FailedPrecondition, match="PICKED_UP and can no longer be cancelled"):
        handlers.cancel_pickup(uow_factory(), created.pickup.id, "")


def test_map_change_reroutes_only_undispatched_purs_of_older_maps(engine, uow_factory, hub, client):
    results = handlers.create_pickups(uow_factory(), [new_pickup(client, hub, f"r{i}") for i in range(3)])
    routed, cancelled, pending = (r.pickup.id for r in results)
    handlers.apply_route_assignments(uow_factory(), [assigned(routed, hub, "R1", 1)])
    handlers.cancel_pickup(uow_factory(), cancelled, "")

    assert handlers.apply_map_change(uow_factory(), hub, 2) == 2
    assert handlers.apply_map_change(uow_factory(), hub, 2) == 0  # the same change again
    reroutes = [
        events_pb2.PickupRequested.FromString(e.payload)
        for e in outbox_events(engine, [routed, cancelled, pending])
        if e.topic == "pur.created.v1"
    ]
    map_changed = [r for r in reroutes if r.reason == events_pb2.ROUTING_REASON_MAP_CHANGED]
    assert sorted(r.pur_id for r in map_changed) == sorted([routed, pending])
    assert all(r.min_map_version == 2 for r in map_changed)


def test_list_pages_are_stable_and_filtered(uow_factory, hub, client):
    from pur_svc.adapters.repository import PickupFilter

    handlers.create_pickups(uow_factory(), [new_pickup(client, hub, f"r{i}") for i in range(25)])
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


def dispatch_change(pur_id: str, kind: str, version: int, dispatch_id: str = "dsp-1"):
    from pur_svc.domain.model import DispatchChange, DispatchChangeKind

    return DispatchChange(pur_id, dispatch_id, DispatchChangeKind[kind], version)


def test_dispatch_events_move_the_pur_through_its_dispatch_in_order(uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    pur_id = created.pickup.id
    handlers.apply_route_assignments(uow_factory(), [assigned(pur_id, hub, "R1", 1)])

    assert handlers.apply_dispatch_changes(uow_factory(), [dispatch_change(pur_id, "DISPATCHED", 1)]) == 1
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert (pur.status, pur.dispatch_id) == (PickupStatus.DISPATCHED, "dsp-1")

    # A map change no longer re-routes it: it is dispatched.
    assert handlers.apply_map_change(uow_factory(), hub, 2) == 0

    # Released (dispatch cancelled) arrives twice and out of order with an older event.
    changes = [dispatch_change(pur_id, "RELEASED", 2), dispatch_change(pur_id, "DISPATCHED", 1)]
    assert handlers.apply_dispatch_changes(uow_factory(), changes) == 1
    assert handlers.apply_dispatch_changes(uow_factory(), [dispatch_change(pur_id, "RELEASED", 2)]) == 0
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert (pur.status, pur.dispatch_id) == (PickupStatus.ROUTED, "")

    handlers.apply_dispatch_changes(uow_factory(), [dispatch_change(pur_id, "DISPATCHED", 3, "dsp-2")])
    handlers.apply_dispatch_changes(uow_factory(), [dispatch_change(pur_id, "STARTED", 4, "dsp-2")])
    assert handlers.apply_dispatch_changes(uow_factory(), [dispatch_change(pur_id, "PICKED_UP", 5, "dsp-2")]) == 1
    pur = handlers.get_pickup(uow_factory(), pur_id)
    assert (pur.status, pur.dispatch_id, pur.dispatch_version) == (PickupStatus.PICKED_UP, "dsp-2", 5)


def test_a_cancelled_pur_is_not_dispatched(uow_factory, hub, client):
    [created] = handlers.create_pickups(uow_factory(), [new_pickup(client, hub)])
    handlers.apply_route_assignments(uow_factory(), [assigned(created.pickup.id, hub, "R1", 1)])
    handlers.cancel_pickup(uow_factory(), created.pickup.id, "closed today")
    assert handlers.apply_dispatch_changes(uow_factory(), [dispatch_change(created.pickup.id, "DISPATCHED", 1)]) == 0
    assert handlers.get_pickup(uow_factory(), created.pickup.id).status is PickupStatus.CANCELLED
