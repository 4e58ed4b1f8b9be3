"""The demo's manual-queue part (what it prints and which exception it resolves) and the request
builders of the team leads' RPCs, without a mesh."""

from __future__ import annotations

from datetime import UTC, datetime

from demo import exceptions
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2
from firstmile.pur.v1 import pur_pb2
from firstmile_client import requests

UNROUTABLE, FAR = pur_pb2.REVIEW_REASON_UNROUTABLE, pur_pb2.REVIEW_REASON_FAR_FROM_ROUTE
NAMES = {"R1": "Koramangala", "R2": "Ejipura", "R3": "HSR"}


def queued(pur_id: str, review: int, nearest: str, distance_m: float, route_id: str = "") -> pur_pb2.PickupRequest:
    return pur_pb2.PickupRequest(
        id=pur_id,
        review=review,
        nearest_route_id=nearest,
        nearest_distance_m=distance_m,
        route_id=route_id,
        status=pur_pb2.PICKUP_STATUS_UNROUTABLE if review == UNROUTABLE else pur_pb2.PICKUP_STATUS_ROUTED,
        warehouse=common_pb2.Warehouse(name=f"warehouse {pur_id}"),
    )


QUEUE = [
    queued("a", UNROUTABLE, "R1", 2_400),
    queued("b", UNROUTABLE, "R1", 31_000),
    queued("c", UNROUTABLE, "R2", 2_100),
    queued("d", UNROUTABLE, "R3", 5_000),
    queued("e", FAR, "R2", 1_300, route_id="R2"),
    queued("f", FAR, "R3", 1_800, route_id="R3"),
]


def test_the_queue_is_counted_by_reason_with_its_nearest_routes_and_distances():
    text = exceptions.queue_section(QUEUE, {"a", "b", "e"}, NAMES, hub_id="HUB", day="2026-01-02", who="team lead tl")
    lines = text.splitlines()
    assert "6 pickup requests need a person, 3 of them from this run" in lines[0]
    assert lines[1].startswith("  UNROUTABLE: 4 (2 from this run)")
    assert 'R1 "Koramangala" for 2' in lines[2] and "1 other routes for 1" in lines[2]
    assert lines[2].endswith("2.1 to 31.0 km away")
    assert lines[3].startswith("  FAR_FROM_ROUTE: 2 (1 from this run)")
    assert "ROUTE_DELETED" not in text


def test_the_exception_resolved_is_this_runs_unroutable_pur_closest_to_a_route():
    assert exceptions.choose_exception(QUEUE, {"a", "b", "e"}).id == "a"
    # Only far-from-route ones in this run: the farthest, confirmed on its own route.
    chosen = exceptions.choose_exception(QUEUE, {"e", "f"})
    assert chosen.id == "f" and exceptions.target_route(chosen) == "R3"
    # Nothing of this run queued: the whole queue is considered.
    assert exceptions.choose_exception(QUEUE, set()).id == "c"
    assert exceptions.choose_exception([], {"a"}) is None


def test_the_reason_given_says_where_and_how_far():
    assert exceptions.assignment_reason(QUEUE[0], "R1", NAMES) == (
        "warehouse a is 2,400 m beyond R1 (Koramangala); its rider agreed to add the stop"
    )
    assert exceptions.assignment_reason(QUEUE[4], "R2", NAMES).startswith(
        "confirmed: R2 (Ejipura) takes warehouse e, 1,300 m"
    )


def test_the_history_is_a_table_of_every_change_with_actor_and_reason():
    def entry(status, route, match, subject, role, reason, version):
        e = pur_pb2.PickupHistoryEntry(
            status=status,
            route_id=route,
            route_match=match,
            map_version=3,
            actor=common_pb2.Actor(subject=subject, role=role),
            reason=reason,
            version=version,
        )
        e.time.FromDatetime(datetime(2026, 1, 2, 4, 30, 0, 123000, tzinfo=UTC))
        return e

    entries = [
        entry(pur_pb2.PICKUP_STATUS_PENDING_ROUTE, "", 0, "local-admin", "admin", "created", 1),
        entry(pur_pb2.PICKUP_STATUS_UNROUTABLE, "", common_pb2.ROUTE_MATCH_NONE, "routing_svc", "service", "far", 2),
        entry(pur_pb2.PICKUP_STATUS_ROUTED, "R1", common_pb2.ROUTE_MATCH_MANUAL, "tl-demo", "team-lead", "by hand", 3),
    ]
    lines = exceptions.history_table("pur_1", entries).splitlines()
    assert lines[0] == "History of pur_1 (ListPickupHistory, 3 changes):"
    assert lines[1].split() == [
        "time",
        "(IST)",
        "status",
        "route",
        "rider",
        "dispatch",
        "match",
        "map",
        "actor",
        "reason",
    ]
    assert lines[3].split()[:3] == ["10:00:00.123", "PENDING_ROUTE", "-"]
    assert lines[5].split() == [
        "10:00:00.123",
        "ROUTED",
        "R1",
        "-",
        "-",
        "MANUAL",
        "3",
        "tl-demo",
        "(team-lead)",
        "by",
        "hand",
    ]


def test_request_builders_of_the_team_leads_rpcs():
    assert requests.list_manual_queue_request(hub_id="H", review=UNROUTABLE, page_size=5) == (
        pur_pb2.ListManualQueueRequest(hub_id="H", review=UNROUTABLE, page_size=5)
    )
    one = requests.assign_pickup_route_request(pur_id="p1", route_id="R1", reason="why")
    assert one == pur_pb2.AssignPickupRouteRequest(id="p1", route_id="R1", reason="why")
    assert list(requests.batch_assign_pickup_routes_request([one]).assignments) == [one]
    assert requests.list_pickup_history_request("p1") == pur_pb2.ListPickupHistoryRequest(id="p1")
    assert requests.reassign_dispatch_request(dispatch_id="d1", rider_id="r2", reason="sick") == (
        dispatch_pb2.ReassignDispatchRequest(id="d1", rider_id="r2", reason="sick")
    )
    assert requests.move_pickups_request(
        from_dispatch_id="d1", to_dispatch_id="d2", pur_ids=iter(["p1", "p2"]), reason="balance"
    ) == dispatch_pb2.MovePickupsRequest(
        from_dispatch_id="d1", to_dispatch_id="d2", pur_ids=["p1", "p2"], reason="balance"
    )
    assert requests.watch_open_pickups_by_route_request(hub_id="H", pickup_date="2026-01-02") == (
        dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id="H", pickup_date="2026-01-02")
    )
