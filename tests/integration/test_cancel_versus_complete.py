"""Cancel versus complete across both services, on their real schemas: a PUR on an IN_PROGRESS
dispatch is cancelled through pur_svc's use case while its dispatch is completed through
dispatch_svc's, at the same time; each side's events then reach the other's consumer decoder and
use case, as the outbox relay and Kafka would deliver them (per PUR, in order). Whatever the
interleaving, both services must agree (docs/dispatch.md, "Cancel versus complete"):

- completed first: PICKED_UP in both (pur_svc moves CANCELLED -> PICKED_UP on the PickupPickedUp
  of the dispatch it was cancelled on, "picked up before the cancellation reached the dispatch");
- cancelled first: CANCELLED in pur_svc, and in dispatch_svc released from the dispatch, which
  completes without it.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from dispatch_svc.adapters import orm as dispatch_orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.model import Rider, Vehicle, VehicleType
from dispatch_svc.entrypoints.consumers import decode_pur_event
from dispatch_svc.service_layer import handlers as dispatch
from mesh.errors import FailedPrecondition
from mesh.kafka import ConsumedMessage, EventHeaders
from pur_svc.adapters import orm as pur_orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.history import Actor
from pur_svc.domain.model import PickupStatus, RouteAssignment, RouteMatch
from pur_svc.entrypoints.consumers import decode_dispatch_event
from pur_svc.service_layer import handlers as pur
from tests.support import pur_inputs
from tests.support.dispatch_inputs import new_dispatch
from tests.support.fakes_attendance_port import FakeAttendance

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
ROUNDS = 40
PARALLEL_ROUNDS = 4


class Delivery:
    """One direction of the mesh: the rows a service's outbox holds for one topic, handed to the
    other service's decoder and use case, per PUR in outbox order, each row once."""

    def __init__(self, engine, outbox: sa.Table, topic: str, decode: Callable, apply: Callable) -> None:
        self.engine, self.outbox, self.topic, self.decode, self.apply = engine, outbox, topic, decode, apply
        self.delivered: dict[str, int] = {}

    def __call__(self, pur_id: str) -> int:
        t = self.outbox
        after = self.delivered.get(pur_id, 0)
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(t).where(t.c.key == pur_id.encode(), t.c.topic == self.topic, t.c.id > after).order_by(t.c.id)
            ).all()
        if rows:
            self.apply([self.decode(_consumed(row)) for row in rows])
            self.delivered[pur_id] = rows[-1].id
        return len(rows)


def _consumed(row) -> ConsumedMessage:
    headers = EventHeaders(id=str(row.event_id), type=row.event_type, source=row.source, time=row.occurred_at)
    return ConsumedMessage(row.topic, 0, row.id, row.key, row.payload, dict(headers.to_kafka()), 0)


class Mesh:
    """pur_svc and dispatch_svc on the shared database, one hub of their own, and the deliveries
    between them."""

    def __init__(self, engine, session_factory) -> None:
        self.pur_uow = lambda: SqlAlchemyPurUnitOfWork(session_factory)
        self.dispatch_uow = lambda: SqlAlchemyDispatchUnitOfWork(session_factory)
        self.attendance = FakeAttendance()
        self.hub = f"hub-race-{uuid.uuid4().hex[:8]}"
        self.client = Actor(f"client-{self.hub}", "client")
        with self.pur_uow() as uow:
            uow.pickups.record_hub_map(self.hub, 1, datetime.now(UTC))
            uow.commit()
        self.to_dispatch = Delivery(
            engine,
            pur_orm.outbox.table,
            "pur.events.v1",
            decode_pur_event,
            lambda snapshots: dispatch.apply_pur_changes(self.dispatch_uow(), snapshots),
        )
        self.to_pur = Delivery(
            engine,
            dispatch_orm.outbox.table,
            "dispatch.events.v1",
            decode_dispatch_event,
            lambda changes: pur.apply_dispatch_changes(self.pur_uow(), changes),
        )

    def in_progress(self, index: int) -> tuple[str, str]:
        """A PUR of route R<index>, alone on that route's dispatch, which has started; both
        services know it as DISPATCHED. Returns (pur id, dispatch id)."""
        route, rider, vehicle = f"R{index}", f"{self.hub}-rider-{index}", f"{self.hub}-van-{index}"
        dispatch.upsert_rider(self.dispatch_uow(), Rider(rider, self.hub, name=f"Rider {index}"))
        dispatch.upsert_vehicle(self.dispatch_uow(), Vehicle(vehicle, self.hub, VehicleType.VAN, 100, 500.0))
        self.attendance.present[self.hub].add(rider)
        new = pur_inputs.new_pickup(f"race-{index}", client=self.client.subject, hub=self.hub, day=TODAY)
        [created] = pur.create_pickups(self.pur_uow(), [new], actor=self.client)
        pur_id = created.pickup.id
        answer = RouteAssignment(pur_id, self.hub, route, f"route-rider-{index}", RouteMatch.EXACT, 0.0, "", 1)
        pur.apply_route_assignments(self.pur_uow(), [answer])
        self.to_dispatch(pur_id)
        made = dispatch.create_dispatch(
            self.dispatch_uow(),
            self.attendance,
            new_dispatch(f"race-{index}", hub=self.hub, day=TODAY, route=route, rider_id=rider, vehicle_id=vehicle),
        )
        assert made.dispatch.pur_ids == [pur_id]
        dispatch.start_dispatch(self.dispatch_uow(), made.dispatch.id)
        self.to_pur(pur_id)
        assert pur.get_pickup(self.pur_uow(), pur_id).status is PickupStatus.DISPATCHED
        return pur_id, made.dispatch.id

    def cancel(self, pur_id: str) -> None:
        """A client cancels; pur_svc's event then reaches dispatch_svc."""
        try:
            pur.cancel_pickup(self.pur_uow(), pur_id, "seller closed", actor=self.client)
        except FailedPrecondition:
            pass  # pur_svc already saw the pickup: too late, and the client is told so
        self.to_dispatch(pur_id)

    def complete(self, pur_id: str, dispatch_id: str) -> None:
        """The rider completes the dispatch; dispatch_svc's events then reach pur_svc."""
        dispatch.complete_dispatch(self.dispatch_uow(), dispatch_id)
        self.to_pur(pur_id)

    def settle(self, pur_id: str) -> None:
        """Deliver what is left both ways until nothing new is published."""
        while self.to_dispatch(pur_id) + self.to_pur(pur_id):
            pass

    def outcome(self, pur_id: str, dispatch_id: str) -> str:
        """ "picked up" or "cancelled", after checking the two services agree on it."""
        pur_side = pur.get_pickup(self.pur_uow(), pur_id)
        with self.dispatch_uow() as uow:
            pickup = uow.pickups.get_many([pur_id])[pur_id]
        completed = dispatch.get_dispatch(self.dispatch_uow(), dispatch_id)
        both = (pur_side.status, pickup.status)
        if both == (PickupStatus.PICKED_UP, PickupStatus.PICKED_UP):
            assert pur_id in completed.pur_ids and pur_side.dispatch_id == dispatch_id
            return "picked up"
        assert both == (PickupStatus.CANCELLED, PickupStatus.CANCELLED), f"{pur_id}: the services disagree: {both}"
        assert pur_id not in completed.pur_ids and not pickup.dispatch_id and not pur_side.dispatch_id
        return "cancelled"


@pytest.fixture
def mesh(engine, session_factory) -> Mesh:
    return Mesh(engine, session_factory)


def test_completed_first_the_pickup_wins_in_both_services(mesh):
    pur_id, dispatch_id = mesh.in_progress(0)
    dispatch.complete_dispatch(mesh.dispatch_uow(), dispatch_id)
    pur.cancel_pickup(mesh.pur_uow(), pur_id, "seller closed", actor=mesh.client)  # before PickupPickedUp came
    mesh.settle(pur_id)
    assert mesh.outcome(pur_id, dispatch_id) == "picked up"
    last = pur.pickup_history(mesh.pur_uow(), pur_id)[-1]
    assert (last.status, last.reason) == (
        PickupStatus.PICKED_UP,
        "picked up before the cancellation reached the dispatch: dispatch completed",
    )


def test_cancelled_first_the_dispatch_completes_without_it(mesh):
    pur_id, dispatch_id = mesh.in_progress(0)
    mesh.cancel(pur_id)
    mesh.complete(pur_id, dispatch_id)
    mesh.settle(pur_id)
    assert mesh.outcome(pur_id, dispatch_id) == "cancelled"
    assert [e.status for e in pur.pickup_history(mesh.pur_uow(), pur_id)][-2:] == [
        PickupStatus.CANCELLED,
        PickupStatus.CANCELLED,  # released from the dispatch: dispatch_svc took the cancellation
    ]


def test_cancel_racing_complete_always_ends_in_agreement(mesh):
    pairs = [mesh.in_progress(i) for i in range(ROUNDS)]
    # The cancel has two transactions to make before dispatch_svc sees it, the completion one:
    # the completion starts up to 30 ms late, so either may come first.
    rng = random.Random(11)
    delays = [(rng.random() / 500, rng.random() * 0.03) for _ in pairs]

    def race(index: int) -> str:
        (pur_id, dispatch_id), (cancel_delay, complete_delay) = pairs[index], delays[index]
        start = threading.Barrier(2)

        def cancel() -> None:
            start.wait()
            threading.Event().wait(cancel_delay)
            mesh.cancel(pur_id)

        def complete() -> None:
            start.wait()
            threading.Event().wait(complete_delay)
            mesh.complete(pur_id, dispatch_id)

        threads = [threading.Thread(target=cancel), threading.Thread(target=complete)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        mesh.settle(pur_id)
        return mesh.outcome(pur_id, dispatch_id)

    with ThreadPoolExecutor(PARALLEL_ROUNDS) as pool:
        outcomes = Counter(pool.map(race, range(ROUNDS)))
    print(f"cancel versus complete, {ROUNDS} races: {dict(outcomes)}")
    assert sum(outcomes.values()) == ROUNDS
