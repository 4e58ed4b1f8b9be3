"""A PUR's history, its rider following the dispatch, the cancel-versus-complete rule on pur_svc's
side and the bounded re-routing after a map change, on the in-memory unit of work. The SQL (one
multi-row insert per batch, the re-routing queries and their index) is in
tests/integration/test_pur_history.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from firstmile.common.v1 import common_pb2
from firstmile.events.v1 import events_pb2
from mesh.errors import NotFound, PermissionDenied
from pur_svc.domain.events import RoutingReason, RoutingRequested, StatusChanged
from pur_svc.domain.history import DISPATCH_SVC, PUR_SVC, ROUTING_SVC, Actor
from pur_svc.domain.model import (
    DispatchChange,
    DispatchChangeKind,
    KnownRoute,
    MapChange,
    PickupStatus,
    RouteAssignment,
    RouteMatch,
)
from pur_svc.entrypoints.consumers import decode_dispatch_event
from pur_svc.service_layer import handlers
from tests.support import pur_inputs
from tests.support.consumed_messages import consumed
from tests.support.fakes_pur import FakePurUnitOfWork

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
TODAY = NOW.date()
HUB = "hub-1"
LEAD = Actor("tl-priya", "team-lead")
CLIENT = Actor("client-1", "client")


def clock() -> datetime:
    return NOW


@pytest.fixture
def uow() -> FakePurUnitOfWork:
    return FakePurUnitOfWork(hubs=[HUB])


new_pickup = partial(pur_inputs.new_pickup, client="client-1", hub=HUB, day=TODAY)


def create_one(uow: FakePurUnitOfWork, request_id: str = "r1", **fields) -> str:
    [created] = handlers.create_pickups(uow, [new_pickup(request_id, **fields)], actor=CLIENT, now=clock)
    return created.pickup.id


def routed(pur_id: str, route: str = "R1", version: int = 1, match: RouteMatch = RouteMatch.EXACT) -> RouteAssignment:
    return RouteAssignment(pur_id, HUB, route, f"rider-{route}", match, 0.0, "89618928cafffff", version)


def dispatch(pur_id: str, kind: str, version: int, dispatch_id: str = "D-1", rider: str = "rider-d", **fields):
    return DispatchChange(pur_id, dispatch_id, DispatchChangeKind[kind], version, rider, **fields)


def history(uow: FakePurUnitOfWork, pur_id: str) -> list[tuple]:
    """(version, status, route, rider, dispatch, actor subject, reason) of each entry."""
    return [
        (e.version, e.status, e.route_id, e.rider_id, e.dispatch_id, e.actor.subject, e.reason)
        for e in handlers.pickup_history(uow, pur_id)
    ]


def dispatched_pur(uow: FakePurUnitOfWork) -> str:
    pur_id = create_one(uow)
    handlers.apply_route_assignments(uow, [routed(pur_id)], now=clock)
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "DISPATCHED", 1)], now=clock)
    return pur_id


# -- one entry per change, with who and why ----------------------------------------------------


def test_create_records_the_creator_once(uow):
    pur_id = create_one(uow)
    [entry] = handlers.pickup_history(uow, pur_id)
    assert (entry.version, entry.status, entry.actor, entry.reason, entry.time) == (
        1,
        PickupStatus.PENDING_ROUTE,
        CLIENT,
        "created",
        NOW,
    )
    assert create_one(uow) == pur_id  # a retried create is no change
    assert len(handlers.pickup_history(uow, pur_id)) == 1


def test_a_batch_records_one_entry_per_new_pur_in_its_commit(uow):
    requests = [new_pickup(f"r{i}") for i in range(5)] + [new_pickup("r0")]
    results = handlers.create_pickups(uow, requests, actor=CLIENT, now=clock)
    assert uow.commits == 1
    assert {pur_id: len(entries) for pur_id, entries in uow.history.items()} == {r.pickup.id: 1 for r in results[:5]}


def test_routing_answers_are_recorded_as_routing_svc_in_words(uow):
    pur_id = create_one(uow)
    handlers.apply_route_assignments(uow, [routed(pur_id, "R7", 3)], now=clock)
    nearest = RouteAssignment(pur_id, HUB, "R8", "rider-R8", RouteMatch.NEAREST, 412.4, "", 4)
    handlers.apply_route_assignments(uow, [nearest], now=clock)
    unroutable = RouteAssignment(pur_id, HUB, "", "", RouteMatch.NONE, 0.0, "", 5, "no route within 2000 m")
    handlers.apply_route_assignments(uow, [unroutable], now=clock)
    assert history(uow, pur_id)[1:] == [
        (2, PickupStatus.ROUTED, "R7", "rider-R7", "", "routing_svc", "routed: inside route R7 (map v3)"),
        (3, PickupStatus.ROUTED, "R8", "rider-R8", "", "routing_svc", "routed: nearest route R8, 412 m away (map v4)"),
        (4, PickupStatus.UNROUTABLE, "", "", "", "routing_svc", "unroutable: no route within 2000 m (map v5)"),
    ]
    entry = handlers.pickup_history(uow, pur_id)[-1]
    assert (entry.actor, entry.route_match, entry.map_version) == (ROUTING_SVC, RouteMatch.NONE, 5)


def test_two_changes_in_one_transaction_each_show_the_pur_as_they_left_it(uow):
    pur_id = create_one(uow)
    handlers.apply_route_assignments(uow, [routed(pur_id, "R1", 1), routed(pur_id, "R2", 2)], now=clock)
    assert [(v, route, reason) for v, _, route, _, _, _, reason in history(uow, pur_id)] == [
        (1, "", "created"),
        (2, "R1", "routed: inside route R1 (map v1)"),
        (3, "R2", "routed: inside route R2 (map v2)"),
    ]


def test_every_change_has_one_entry_and_one_event_of_the_same_version(uow):
    pur_id = dispatched_pur(uow)
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "RIDER_CHANGED", 2, rider="rider-e")], now=clock)
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "RELEASED", 3)], now=clock)
    handlers.cancel_pickup(uow, pur_id, "seller closed", actor=CLIENT, now=clock)
    events = [e.pickup.version for e in uow.events if isinstance(e, StatusChanged) and e.pickup.id == pur_id]
    assert [v for v, *_ in history(uow, pur_id)] == events == [1, 2, 3, 4, 5, 6]


def test_cancel_records_the_caller_and_its_reason_and_a_refusal_records_nothing(uow):
    pur_id = create_one(uow)
    with pytest.raises(PermissionDenied):
        handlers.cancel_pickup(uow, pur_id, "mine", authorize=lambda p: _refuse(), actor=LEAD)
    handlers.cancel_pickup(uow, pur_id, "seller closed", actor=LEAD, now=clock)
    handlers.cancel_pickup(uow, pur_id, "again", actor=LEAD, now=clock)  # already cancelled: no change
    assert history(uow, pur_id)[1:] == [(2, PickupStatus.CANCELLED, "", "", "", "tl-priya", "cancelled: seller closed")]


def _refuse() -> None:
    raise PermissionDenied("not yours")


def test_a_manual_assignment_records_the_team_lead_and_the_reason(uow):
    pur_id = create_one(uow)
    uow.add_route(KnownRoute("R9", HUB, "North", "rider-9", True, 0), map_version=2)
    assignment = handlers.ManualAssignment(pur_id, "R9", "seller moved next door")
    handlers.assign_routes(uow, [assignment], actor=LEAD, now=clock)
    [*_, entry] = handlers.pickup_history(uow, pur_id)
    assert (entry.status, entry.route_id, entry.rider_id, entry.route_match, entry.actor) == (
        PickupStatus.ROUTED,
        "R9",
        "rider-9",
        RouteMatch.MANUAL,
        LEAD,
    )
    assert entry.reason == "routed by hand to R9: seller moved next door"


def test_history_of_a_missing_or_refused_pur_is_refused(uow):
    with pytest.raises(NotFound):
        handlers.pickup_history(uow, "pur_missing")
    pur_id = create_one(uow)
    with pytest.raises(PermissionDenied):
        handlers.pickup_history(uow, pur_id, authorize=lambda p: _refuse())


# -- the rider follows the dispatch --------------------------------------------------------------


def test_the_rider_is_the_dispatchs_then_the_routes_again_when_released(uow):
    pur_id = dispatched_pur(uow)
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.rider_id, pur.route_rider_id) == (PickupStatus.DISPATCHED, "rider-d", "rider-R1")

    lead_change = dispatch(pur_id, "RIDER_CHANGED", 2, rider="rider-e", actor=LEAD, reason="rider sick")
    assert handlers.apply_dispatch_changes(uow, [lead_change], now=clock) == 1
    assert handlers.get_pickup(uow, pur_id).rider_id == "rider-e"
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "RELEASED", 3, reason="dispatch cancelled")], now=clock)
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.rider_id, pur.dispatch_id) == (PickupStatus.ROUTED, "rider-R1", "")
    assert history(uow, pur_id)[2:] == [
        (3, PickupStatus.DISPATCHED, "R1", "rider-d", "D-1", "dispatch_svc", "dispatched on D-1"),
        (4, PickupStatus.DISPATCHED, "R1", "rider-e", "D-1", "tl-priya", "rider changed to rider-e: rider sick"),
        (5, PickupStatus.ROUTED, "R1", "rider-R1", "", "dispatch_svc", "released from D-1: dispatch cancelled"),
    ]


def test_a_rider_change_of_another_dispatch_or_to_the_same_rider_changes_nothing(uow):
    pur_id = dispatched_pur(uow)
    assert handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "RIDER_CHANGED", 2, "D-2", "rider-x")]) == 0
    assert handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "RIDER_CHANGED", 3, rider="rider-d")]) == 0
    assert handlers.get_pickup(uow, pur_id).rider_id == "rider-d"


def test_moved_to_another_dispatch_takes_its_rider_and_picked_up_keeps_it(uow):
    pur_id = dispatched_pur(uow)
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "DISPATCHED", 2, "D-2", "rider-m")], now=clock)
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "PICKED_UP", 3, "D-2", "rider-m")], now=clock)
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.dispatch_id, pur.rider_id) == (PickupStatus.PICKED_UP, "D-2", "rider-m")
    assert history(uow, pur_id)[-1][-1] == "picked up on D-2"


def test_events_of_dispatch_svc_without_an_actor_are_recorded_as_dispatch_svc(uow):
    pur_id = dispatched_pur(uow)
    assert handlers.pickup_history(uow, pur_id)[-1].actor == DISPATCH_SVC


def test_a_move_between_dispatches_says_where_from(uow):
    pur_id = dispatched_pur(uow)
    moved = dispatch(pur_id, "DISPATCHED", 2, "D-2", "rider-m", actor=LEAD, reason="second rider", moved_from="D-1")
    handlers.apply_dispatch_changes(uow, [moved], now=clock)
    assert history(uow, pur_id)[-1] == (
        4,
        PickupStatus.DISPATCHED,
        "R1",
        "rider-m",
        "D-2",
        "tl-priya",
        "moved from D-1 to D-2: second rider",
    )


def dispatch_event(change: str, **fields) -> events_pb2.DispatchEvent:
    event = events_pb2.DispatchEvent(pur_id="pur-1", dispatch_id="D-2", version=3, rider_id="rider-m", **fields)
    getattr(event, change).SetInParent()
    return event


def test_the_dispatch_decoder_reads_rider_actor_reason_and_the_dispatch_moved_from():
    event = dispatch_event("dispatched", actor=common_pb2.Actor(subject="tl-priya", role="team-lead"), reason="why")
    event.dispatched.moved_from_dispatch_id = "D-1"
    change = decode_dispatch_event(consumed("dispatch.events.v1", event))
    assert (change.kind, change.rider_id, change.actor, change.reason, change.moved_from) == (
        DispatchChangeKind.DISPATCHED,
        "rider-m",
        LEAD,
        "why",
        "D-1",
    )
    rider = decode_dispatch_event(consumed("dispatch.events.v1", dispatch_event("rider_changed")))
    assert (rider.kind, rider.actor, rider.reason) == (DispatchChangeKind.RIDER_CHANGED, DISPATCH_SVC, "")


def test_the_words_of_a_dispatch_event_are_cleaned_never_refused():
    released = dispatch_event("released", actor=common_pb2.Actor(subject="tl\x00-x" + "y" * 300))
    released.released.detail = "cancelled\x1b[31m" + "!" * 600
    change = decode_dispatch_event(consumed("dispatch.events.v1", released))
    assert change.actor == Actor("tl-x" + "y" * 196, "service")
    assert change.reason.startswith("cancelled[31m!") and len(change.reason) == 500


# -- cancel versus complete ------------------------------------------------------------------------


def test_picked_up_on_the_dispatch_it_was_cancelled_on_wins(uow):
    pur_id = dispatched_pur(uow)
    handlers.cancel_pickup(uow, pur_id, "seller closed", actor=CLIENT, now=clock)
    assert handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "PICKED_UP", 2)], now=clock) == 1
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.dispatch_id, pur.cancel_reason) == (PickupStatus.PICKED_UP, "D-1", "seller closed")
    assert history(uow, pur_id)[-1][-1] == "picked up before the cancellation reached the dispatch"
    [*_, event] = [e for e in uow.events if isinstance(e, StatusChanged)]
    assert (event.previous_status, event.pickup.status) == (PickupStatus.CANCELLED, PickupStatus.PICKED_UP)


def test_a_cancelled_pur_released_by_its_dispatch_stays_cancelled_and_off_it(uow):
    pur_id = dispatched_pur(uow)
    handlers.cancel_pickup(uow, pur_id, "seller closed", now=clock)
    handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "RELEASED", 2, reason="cancelled")], now=clock)
    pur = handlers.get_pickup(uow, pur_id)
    assert (pur.status, pur.dispatch_id, pur.rider_id) == (PickupStatus.CANCELLED, "", "rider-R1")
    assert history(uow, pur_id)[-1][-1] == "released from D-1: cancelled"
    # Nothing older or of another dispatch brings it back.
    assert handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "PICKED_UP", 2)]) == 0
    assert handlers.apply_dispatch_changes(uow, [dispatch(pur_id, "PICKED_UP", 3, "D-2")]) == 0
    assert handlers.get_pickup(uow, pur_id).status is PickupStatus.CANCELLED


def test_cancelled_before_any_dispatch_stays_terminal(uow):
    pur_id = create_one(uow)
    handlers.apply_route_assignments(uow, [routed(pur_id)], now=clock)
    handlers.cancel_pickup(uow, pur_id, "", now=clock)
    for version, kind in enumerate(("DISPATCHED", "PICKED_UP", "RIDER_CHANGED"), start=1):
        assert handlers.apply_dispatch_changes(uow, [dispatch(pur_id, kind, version)]) == 0
    assert handlers.get_pickup(uow, pur_id).status is PickupStatus.CANCELLED


# -- bounded re-routing ------------------------------------------------------------------------------


def reroutes(uow: FakePurUnitOfWork) -> list[RoutingRequested]:
    return [e for e in uow.events if isinstance(e, RoutingRequested) and e.reason is RoutingReason.MAP_CHANGED]


def test_a_map_change_reroutes_only_open_undispatched_automatic_purs_in_bounded_batches(uow):
    open_ids = [create_one(uow, f"open-{i}", day=TODAY + timedelta(days=i % 3)) for i in range(7)]
    hubless = create_one(uow, "hubless", hub="")
    yesterday = create_one(uow, "yesterday", day=TODAY - timedelta(days=1))
    dispatched = dispatched_pur(uow)
    manual = create_one(uow, "manual")
    uow.add_route(KnownRoute("R9", HUB, "North", "rider-9", True, 0), map_version=1)
    handlers.assign_routes(uow, [handlers.ManualAssignment(manual, "R9", "by hand")], actor=LEAD, now=clock)
    commits = uow.commits

    assert handlers.apply_map_change(uow, MapChange(HUB, 2), batch_size=3, now=clock) == 8
    sent = [e.pickup.id for e in reroutes(uow)]
    assert sorted(sent) == sorted([*open_ids, hubless]) and dispatched not in sent
    assert yesterday not in sent and manual not in sent
    # In (pickup_date, id) order, 3 per transaction: the map's own transaction, then 3 + 3 + 2.
    assert [(e.pickup.pickup_date, e.pickup.id) for e in reroutes(uow)] == sorted(
        (e.pickup.pickup_date, e.pickup.id) for e in reroutes(uow)
    )
    assert uow.commits - commits == 1 + 3
    assert all(e.min_map_version == 2 for e in reroutes(uow))

    assert handlers.apply_map_change(uow, MapChange(HUB, 2), batch_size=3, now=clock) == 0  # redelivered
    assert handlers.apply_map_change(uow, MapChange(HUB, 1), batch_size=3, now=clock) == 0  # older
    assert len(reroutes(uow)) == 8


def test_purs_already_routed_on_the_new_map_are_not_sent_again(uow):
    fresh, stale = create_one(uow, "fresh"), create_one(uow, "stale")
    handlers.apply_route_assignments(uow, [routed(fresh, version=2), routed(stale, version=1)], now=clock)
    assert handlers.apply_map_change(uow, MapChange(HUB, 2), now=clock) == 1
    assert [e.pickup.id for e in reroutes(uow)] == [stale]


class CrashingUnitOfWork(FakePurUnitOfWork):
    """Dies at its `crash_at`-th commit (counting from when it was armed), as a process would."""

    crash_at: int | None = None

    def _commit(self, events: list[object]) -> None:
        if self.crash_at is not None:
            self.crash_at -= 1
            if self.crash_at == 0:
                raise RuntimeError("process died")
        super()._commit(events)


def test_a_map_change_redelivered_after_a_crash_finishes_the_remaining_batches_once():
    uow = CrashingUnitOfWork(hubs=[HUB])
    ids = [create_one(uow, f"r{i}") for i in range(10)]
    uow.crash_at = 3  # the map's transaction and the first batch commit; the second dies
    with pytest.raises(RuntimeError, match="process died"):
        handlers.apply_map_change(uow, MapChange(HUB, 2), batch_size=4, now=clock)
    assert len(reroutes(uow)) == 4

    uow.crash_at = None
    assert handlers.apply_map_change(uow, MapChange(HUB, 2), batch_size=4, now=clock) == 6
    assert sorted(e.pickup.id for e in reroutes(uow)) == sorted(ids)


def test_a_newer_map_supersedes_an_unfinished_reroute():
    uow = CrashingUnitOfWork(hubs=[HUB])
    for i in range(6):
        create_one(uow, f"r{i}")
    uow.crash_at = 3
    with pytest.raises(RuntimeError):
        handlers.apply_map_change(uow, MapChange(HUB, 2), batch_size=2, now=clock)
    uow.crash_at = None
    assert handlers.apply_map_change(uow, MapChange(HUB, 3), batch_size=2, now=clock) == 6
    assert handlers.apply_map_change(uow, MapChange(HUB, 2), batch_size=2, now=clock) == 0  # v2 is over
    assert [e.min_map_version for e in reroutes(uow)] == [2, 2] + [3] * 6


def test_no_history_entry_for_a_reroute_request(uow):
    pur_id = create_one(uow)
    handlers.apply_map_change(uow, MapChange(HUB, 2), now=clock)
    assert [v for v, *_ in history(uow, pur_id)] == [1]
    assert handlers.pickup_history(uow, pur_id)[0].actor == CLIENT
    assert PUR_SVC.role == "service"
