"""Who may touch what, per service, through real gRPC with real tokens on the real database.

Each service runs in-process (as in its own gRPC tests). Every test makes fresh hub and client
ids, so it sees nothing of other tests' data. A denied call must answer PERMISSION_DENIED and
leave the data exactly as it was; the same call made by a caller in scope succeeds, so a denial
is never just a broken request.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime

import grpc
import pytest
import sqlalchemy as sa
from grpc_health.v1 import health_pb2, health_pb2_grpc

from attendance_adapter.entrypoints import grpc_api as attendance_api
from dispatch_svc.adapters import orm as dispatch_orm
from dispatch_svc.adapters.unit_of_work import SqlAlchemyDispatchUnitOfWork
from dispatch_svc.domain.ranking import AttendanceSource, AttendanceView
from dispatch_svc.entrypoints import grpc_api as dispatch_api
from dispatch_svc.service_layer import handlers as dispatch_handlers
from dispatch_svc.service_layer.attendance import AttendancePort
from firstmile.attendance.v1 import attendance_pb2 as att_pb2
from firstmile.attendance.v1 import attendance_pb2_grpc
from firstmile.common.v1 import common_pb2
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.auth import Role
from pur_svc.adapters import orm as pur_orm
from pur_svc.adapters.unit_of_work import SqlAlchemyPurUnitOfWork
from pur_svc.domain.model import RouteAssignment, RouteMatch
from pur_svc.entrypoints import grpc_api as pur_api
from pur_svc.service_layer import handlers as pur_handlers
from routing_svc.adapters import orm as routing_orm
from routing_svc.adapters.unit_of_work import SqlAlchemyRoutingUnitOfWork
from routing_svc.entrypoints import grpc_api as routing_api
from tests.support import auth
from tests.support.dispatch_inputs import pur_snapshot
from tests.support.geometry import square, square_geojson
from tests.support.in_process_server import address, serving
from tests.support.planning_inputs import store_plan
from tests.support.sql_servicers import (
    embedded_attendance_servicer,
    index_registry,
    pickup_servicer,
    require_attendance_schema,
)

pytestmark = pytest.mark.integration

TODAY = datetime.now(UTC).date()
DAY = TODAY.isoformat()
DENIED = grpc.StatusCode.PERMISSION_DENIED
TIMEOUT = 10


def uid(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Callers:
    """`callers(role, client_id=..., hubs=[...])` -> a stub whose calls carry that caller's token."""

    def __init__(self, target: str, stub_class: type) -> None:
        self._target, self._stub_class = target, stub_class
        self._channels: dict[tuple, grpc.Channel] = {}

    def __call__(self, role: Role | str, *, client_id: str | None = None, hubs: tuple[str, ...] | list[str] = ()):
        key = (str(role), client_id, tuple(sorted(hubs)))
        if key not in self._channels:
            self._channels[key] = auth.open_channel(self._target, auth.token(role, client_id=client_id, hubs=hubs))
        return self._stub_class(self._channels[key])

    def admin(self):
        return self(Role.ADMIN)

    def service(self):
        return self(Role.SERVICE)

    def lead(self, *hubs: str):
        return self(Role.TEAM_LEAD, hubs=hubs)

    def client(self, client_id: str):
        return self(Role.CLIENT, client_id=client_id)

    def close(self) -> None:
        for channel in self._channels.values():
            channel.close()


def callers_of(target: str, stub_class: type) -> Iterator[Callers]:
    """For a fixture: callers of the service at `target`, whose channels close after the test."""
    callers = Callers(target, stub_class)
    yield callers
    callers.close()


def denial(call: Callable[[], object]) -> str:
    """Run `call`, which must fail with PERMISSION_DENIED; returns the details."""
    with pytest.raises(grpc.RpcError) as caught:
        result = call()
        if isinstance(result, Iterator):  # a response stream fails when first read
            next(result)
    assert caught.value.code() == DENIED, caught.value.details()
    return caught.value.details()


# == pur_svc ======================================================================================


@pytest.fixture(scope="module")
def pur_target(session_factory, kafka_bootstrap_servers) -> Iterator[str]:
    servicer = pickup_servicer(session_factory, kafka_bootstrap_servers)
    with serving(pur_api.registration(servicer)) as server:
        yield address(server)


@pytest.fixture
def pur(pur_target) -> Iterator[Callers]:
    yield from callers_of(pur_target, pur_pb2_grpc.PickupServiceStub)


@pytest.fixture
def pur_hubs(engine) -> tuple[str, str, str]:
    """Three hubs pur_svc knows (as if a route map had been published for each)."""
    hubs = tuple(uid("hub") for _ in range(3))
    with engine.begin() as conn:
        conn.execute(
            sa.insert(pur_orm.hubs), [{"hub_id": h, "map_version": 1, "updated_at": datetime.now(UTC)} for h in hubs]
        )
    return hubs  # type: ignore[return-value]


def new_pur(client: str, hub: str, request_id: str = "r1") -> pur_pb2.CreatePickupRequestRequest:
    return pur_pb2.CreatePickupRequestRequest(
        request_id=request_id,
        client_id=client,
        hub_id=hub,
        warehouse=common_pb2.Warehouse(
            id="wh-1",
            name="Seller",
            address="MG Road",
            pincode="560001",
            location=common_pb2.LatLng(lat=12.97, lng=77.59),
        ),
        pickup_date=DAY,
        expected_packages=2,
        expected_weight_kg=1.0,
    )


def pur_rows(engine, client: str) -> list:
    t = pur_orm.pickup_requests
    with engine.connect() as conn:
        return conn.execute(
            sa.select(t.c.id, t.c.hub_id, t.c.status, t.c.version).where(t.c.client_id == client).order_by(t.c.id)
        ).all()


def get_pur(callers: Callers, pur_id: str) -> pur_pb2.PickupRequest:
    return callers.admin().GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_id), timeout=TIMEOUT).pickup_request


def test_a_client_creates_pickups_for_itself_only(pur, engine, pur_hubs):
    x, _, _ = pur_hubs
    a, b = uid("client-a"), uid("client-b")
    created = pur.client(a).CreatePickupRequest(new_pur(a, x), timeout=TIMEOUT)
    assert created.created and created.pickup_request.client_id == a

    details = denial(lambda: pur.client(a).CreatePickupRequest(new_pur(b, x), timeout=TIMEOUT))
    assert repr(b) in details
    batch = pur_pb2.BatchCreatePickupRequestsRequest(requests=[new_pur(a, x, "r2"), new_pur(b, x, "r3")])
    denial(lambda: pur.client(a).BatchCreatePickupRequests(batch, timeout=TIMEOUT))
    assert pur_rows(engine, b) == []
    assert [r.id for r in pur_rows(engine, a)] == [created.pickup_request.id]  # the batch wrote nothing


def test_a_client_cannot_read_or_cancel_another_clients_pickup(pur, engine, pur_hubs):
    x, _, _ = pur_hubs
    a, b = uid("client-a"), uid("client-b")
    pur_id = pur.client(a).CreatePickupRequest(new_pur(a, x), timeout=TIMEOUT).pickup_request.id
    before = get_pur(pur, pur_id)

    denial(lambda: pur.client(b).GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_id), timeout=TIMEOUT))
    denial(
        lambda: pur.client(b).CancelPickupRequest(
            pur_pb2.CancelPickupRequestRequest(id=pur_id, reason="mine now"), timeout=TIMEOUT
        )
    )
    assert get_pur(pur, pur_id) == before
    assert before.status == pur_pb2.PICKUP_STATUS_PENDING_ROUTE

    assert (
        pur.client(a).GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=pur_id), timeout=TIMEOUT).pickup_request
        == before
    )
    cancelled = pur.client(a).CancelPickupRequest(
        pur_pb2.CancelPickupRequestRequest(id=pur_id, reason="changed my mind"), timeout=TIMEOUT
    )
    assert cancelled.pickup_request.status == pur_pb2.PICKUP_STATUS_CANCELLED


def test_a_client_lists_only_its_own_pickups(pur, pur_hubs):
    x, y, _ = pur_hubs
    a, b = uid("client-a"), uid("client-b")
    mine = {
        pur.client(a).CreatePickupRequest(new_pur(a, hub, f"r-{hub}"), timeout=TIMEOUT).pickup_request.id
        for hub in (x, y)
    }
    pur.client(b).CreatePickupRequest(new_pur(b, x), timeout=TIMEOUT)

    def listed(**where) -> list[pur_pb2.PickupRequest]:
        return list(
            pur.client(a)
            .ListPickupRequests(pur_pb2.ListPickupRequestsRequest(page_size=1000, **where), timeout=TIMEOUT)
            .pickup_requests
        )

    everything = listed()  # no filter: narrowed to the caller's own
    assert {p.id for p in everything} == mine and {p.client_id for p in everything} == {a}
    assert {p.hub_id for p in listed(hub_id=x)} == {x} and len(listed(hub_id=x)) == 1
    assert {p.id for p in listed(client_id=a)} == mine
    details = denial(lambda: listed(client_id=b))
    assert repr(b) in details


def test_a_team_lead_reads_and_cancels_in_its_hub_only(pur, pur_hubs):
    x, y, _ = pur_hubs
    client = uid("client")
    in_x = pur.service().CreatePickupRequest(new_pur(client, x, "rx"), timeout=TIMEOUT).pickup_request
    in_y = pur.service().CreatePickupRequest(new_pur(client, y, "ry"), timeout=TIMEOUT).pickup_request
    lead = pur.lead(x)

    assert (
        lead.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=in_x.id), timeout=TIMEOUT).pickup_request.id == in_x.id
    )
    for where in ({}, {"hub_id": x}):  # one hub: no filter means that hub
        page = lead.ListPickupRequests(
            pur_pb2.ListPickupRequestsRequest(page_size=1000, **where), timeout=TIMEOUT
        ).pickup_requests
        assert in_x.id in {p.id for p in page} and {p.hub_id for p in page} == {x}

    before = get_pur(pur, in_y.id)
    assert repr(y) in denial(
        lambda: lead.GetPickupRequest(pur_pb2.GetPickupRequestRequest(id=in_y.id), timeout=TIMEOUT)
    )
    denial(lambda: lead.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(hub_id=y), timeout=TIMEOUT))
    denial(
        lambda: lead.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(hub_id=y, client_id=client), timeout=TIMEOUT)
    )
    denial(
        lambda: lead.CancelPickupRequest(
            pur_pb2.CancelPickupRequestRequest(id=in_y.id, reason="not mine"), timeout=TIMEOUT
        )
    )
    denial(lambda: lead.CreatePickupRequest(new_pur(client, y, "ry2"), timeout=TIMEOUT))
    assert get_pur(pur, in_y.id) == before

    cancelled = lead.CancelPickupRequest(
        pur_pb2.CancelPickupRequestRequest(id=in_x.id, reason="closed"), timeout=TIMEOUT
    )
    assert cancelled.pickup_request.status == pur_pb2.PICKUP_STATUS_CANCELLED


def test_a_pickups_history_is_for_staff_of_its_hub_and_names_who_acted(pur, pur_hubs):
    x, y, _ = pur_hubs
    client = uid("client")
    in_x = pur.client(client).CreatePickupRequest(new_pur(client, x, "rx"), timeout=TIMEOUT).pickup_request
    history = pur_pb2.ListPickupHistoryRequest(id=in_x.id)
    denial(lambda: pur.client(client).ListPickupHistory(history, timeout=TIMEOUT))  # not for clients, even its own
    assert repr(x) in denial(lambda: pur.lead(y).ListPickupHistory(history, timeout=TIMEOUT))
    [created] = pur.lead(x).ListPickupHistory(history, timeout=TIMEOUT).entries
    assert (created.actor.subject, created.actor.role, created.reason) == ("local-client", "client", "created")
    assert [e.version for e in pur.service().ListPickupHistory(history, timeout=TIMEOUT).entries] == [1]


def test_a_team_lead_of_several_hubs_lists_one_hub_at_a_time(pur, pur_hubs):
    x, y, z = pur_hubs
    client = uid("client")
    in_y = pur.service().CreatePickupRequest(new_pur(client, y), timeout=TIMEOUT).pickup_request
    lead = pur.lead(x, y)
    assert "set hub_id" in denial(lambda: lead.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(), timeout=TIMEOUT))
    denial(lambda: lead.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(client_id=client), timeout=TIMEOUT))
    denial(lambda: lead.ListPickupRequests(pur_pb2.ListPickupRequestsRequest(hub_id=z), timeout=TIMEOUT))
    page = lead.ListPickupRequests(
        pur_pb2.ListPickupRequestsRequest(hub_id=y, client_id=client), timeout=TIMEOUT
    ).pickup_requests
    assert [p.id for p in page] == [in_y.id]


def test_services_and_admins_read_every_hub(pur, pur_hubs):
    x, y, _ = pur_hubs
    client = uid("client")
    ids = {
        pur.client(client).CreatePickupRequest(new_pur(client, hub, f"r-{hub}"), timeout=TIMEOUT).pickup_request.id
        for hub in (x, y)
    }
    for caller in (pur.service(), pur.admin()):
        page = caller.ListPickupRequests(
            pur_pb2.ListPickupRequestsRequest(client_id=client), timeout=TIMEOUT
        ).pickup_requests
        assert {p.id for p in page} == ids


def test_watching_another_hub_is_denied(pur, pur_hubs):
    x, y, _ = pur_hubs

    def watch(caller) -> Iterator:
        return caller.WatchPickupRequests(pur_pb2.WatchPickupRequestsRequest(hub_id=x), timeout=1)

    assert repr(x) in denial(lambda: watch(pur.lead(y)))
    denial(lambda: watch(pur.lead(y, uid("hub"))))
    # Callers in scope are let in: the stream stays open (nothing happens) until the deadline.
    for admitted in (pur.lead(x), pur.service(), pur.client(uid("client"))):
        with pytest.raises(grpc.RpcError) as caught:
            next(watch(admitted))
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED


@pytest.fixture
def manual_queue(pur, engine, session_factory, pur_hubs) -> Iterator[tuple[str, str, str, str]]:
    """Hub X with route R1 in pur_svc's route read model, an unroutable PUR of X and one without
    a hub (each in a manual queue), cancelled afterwards: every map change of any hub would
    re-route a hubless one. -> (x, route id, PUR of x, hubless PUR)"""
    x, _, _ = pur_hubs
    route_id = f"{x}-r1"
    with engine.begin() as conn:
        conn.execute(
            sa.insert(pur_orm.routes).values(
                id=route_id,
                hub_id=x,
                name="R1",
                default_rider_id=f"{x}-asha",
                active=True,
                priority=0,
                deleted=False,
                map_version=1,
                updated_at=datetime.now(UTC),
            )
        )
    client = uid("client")
    in_x, hubless = (
        pur.service().CreatePickupRequest(new_pur(client, hub, f"r-{hub}"), timeout=TIMEOUT).pickup_request.id
        for hub in (x, "")
    )
    unroutable = [
        RouteAssignment(in_x, x, "", "", RouteMatch.NONE, 0.0, "", 1, "too far"),
        RouteAssignment(hubless, "", "", "", RouteMatch.NONE, 0.0, "", 0, "no hub matched"),
    ]
    pur_handlers.apply_route_assignments(SqlAlchemyPurUnitOfWork(session_factory), unroutable)
    yield x, route_id, in_x, hubless
    pur_handlers.cancel_pickup(SqlAlchemyPurUnitOfWork(session_factory), hubless, "test over")


def queue_calls(x: str, route_id: str, in_x: str) -> dict[str, tuple[str, object]]:
    assign = pur_pb2.AssignPickupRouteRequest(id=in_x, route_id=route_id, reason="seller on R1")
    return {
        "queue": ("ListManualQueue", pur_pb2.ListManualQueueRequest(hub_id=x)),
        "assign": ("AssignPickupRoute", assign),
        "batch": ("BatchAssignPickupRoutes", pur_pb2.BatchAssignPickupRoutesRequest(assignments=[assign])),
    }


@pytest.mark.parametrize("caller", ["team lead of another hub", "client"])
def test_another_hubs_manual_queue_is_denied_and_unchanged(pur, pur_hubs, manual_queue, caller):
    x, route_id, in_x, hubless = manual_queue
    _, y, _ = pur_hubs
    stub = pur.lead(y) if caller != "client" else pur.client(uid("client"))
    before = [get_pur(pur, p) for p in (in_x, hubless)]
    for method, request in queue_calls(x, route_id, in_x).values():
        details = denial(lambda method=method, request=request: getattr(stub, method)(request, timeout=TIMEOUT))
        assert (repr(x) in details) if caller != "client" else (details == f"role client may not call {method}"), (
            method,
            details,
        )
    denial(lambda: stub.ListManualQueue(pur_pb2.ListManualQueueRequest(hubless=True), timeout=TIMEOUT))
    assert [get_pur(pur, p) for p in (in_x, hubless)] == before


def test_a_team_lead_works_its_hubs_queue_and_admins_the_hubless_one(pur, manual_queue):
    x, route_id, in_x, hubless = manual_queue
    lead = pur.lead(x)
    listed = lead.ListManualQueue(pur_pb2.ListManualQueueRequest(hub_id=x), timeout=TIMEOUT).pickup_requests
    assert [p.id for p in listed] == [in_x] and listed[0].review == pur_pb2.REVIEW_REASON_UNROUTABLE
    assigned = lead.AssignPickupRoute(
        pur_pb2.AssignPickupRouteRequest(id=in_x, route_id=route_id, reason="seller on R1"), timeout=TIMEOUT
    ).pickup_request
    assert (assigned.route_id, assigned.route_match, assigned.rider_id) == (
        route_id,
        common_pb2.ROUTE_MATCH_MANUAL,
        f"{x}-asha",
    )

    # The hubless queue and its PURs are for admins (services may read the queue).
    take_over = pur_pb2.AssignPickupRouteRequest(id=hubless, route_id=route_id, reason="in X's area")
    assert "only admins" in denial(lambda: lead.AssignPickupRoute(take_over, timeout=TIMEOUT))
    assert "hubless queue" in denial(
        lambda: lead.ListManualQueue(pur_pb2.ListManualQueueRequest(hubless=True), timeout=TIMEOUT)
    )
    assert get_pur(pur, hubless).hub_id == ""
    for reader in (pur.service(), pur.admin()):
        seen, token = set(), ""
        while True:  # other tests' hubless PURs may share the queue
            page = reader.ListManualQueue(
                pur_pb2.ListManualQueueRequest(hubless=True, page_size=1000, page_token=token), timeout=TIMEOUT
            )
            seen |= {p.id for p in page.pickup_requests}
            token = page.next_page_token
            if not token:
                break
        assert hubless in seen
    assert pur.admin().AssignPickupRoute(take_over, timeout=TIMEOUT).pickup_request.hub_id == x


def test_every_manual_queue_rpc_is_covered():
    assert {method for method, _ in queue_calls("h", "r", "p").values()} == {
        "ListManualQueue",
        "AssignPickupRoute",
        "BatchAssignPickupRoutes",
    }


# == routing_svc ===================================================================================

LNG0, LAT0 = -31.0, -41.0  # open ocean: no other map is near


@pytest.fixture(scope="module")
def routing_target(session_factory, redis_client) -> Iterator[str]:
    uow_factory = lambda: SqlAlchemyRoutingUnitOfWork(session_factory)  # noqa: E731
    registry = index_registry(uow_factory, redis_client, max_nearest_m=500.0)
    with serving(routing_api.registration(routing_api.RoutingServicer(uow_factory, registry))) as server:
        yield address(server)


@pytest.fixture
def routing(routing_target) -> Iterator[Callers]:
    yield from callers_of(routing_target, routing_pb2_grpc.RoutingServiceStub)


@pytest.fixture
def routing_hubs(routing, engine, redis_client) -> Iterator[tuple[str, str]]:
    """Hub X with one route (written by an admin, so admins may write), and hub Y without a map."""
    x, y = uid("t-hub"), uid("t-hub")
    routing.admin().UpsertRoute(
        routing_pb2.UpsertRouteRequest(
            route=routing_pb2.Route(id=f"{x}-r1", hub_id=x, name="R1", geometry_geojson=square_geojson(LNG0, LAT0))
        ),
        timeout=TIMEOUT,
    )
    yield x, y
    with engine.begin() as conn:
        conn.execute(sa.delete(routing_orm.routes).where(routing_orm.routes.c.hub_id.in_([x, y])))
        conn.execute(sa.delete(routing_orm.hub_maps).where(routing_orm.hub_maps.c.hub_id.in_([x, y])))
        conn.execute(
            sa.delete(routing_orm.outbox.table).where(routing_orm.outbox.table.c.key.in_([x.encode(), y.encode()]))
        )
    for hub in (x, y):
        for key in redis_client.scan_iter(f"routing:index:{hub}:*"):
            redis_client.delete(key)


def routing_state(engine, hub: str) -> tuple:
    with engine.connect() as conn:
        version = conn.execute(
            sa.select(routing_orm.hub_maps.c.map_version).where(routing_orm.hub_maps.c.hub_id == hub)
        ).scalar()
        routes = conn.execute(
            sa.select(routing_orm.routes).where(routing_orm.routes.c.hub_id == hub).order_by(routing_orm.routes.c.id)
        ).all()
        events = conn.execute(
            sa.select(sa.func.count())
            .select_from(routing_orm.outbox.table)
            .where(routing_orm.outbox.table.c.key == hub.encode())
        ).scalar()
    return version, [tuple(r) for r in routes], events


def lookup(hub: str = "") -> routing_pb2.LookupRouteRequest:
    return routing_pb2.LookupRouteRequest(location=common_pb2.LatLng(lat=LAT0 + 0.005, lng=LNG0 + 0.005), hub_id=hub)


def map_writes(x: str) -> dict[str, tuple[str, object]]:
    collection = json.dumps(
        {
            "type": "FeatureCollection",
            "features": [{"type": "Feature", "geometry": square(LNG0 + 0.02, LAT0), "properties": {"id": f"{x}-r2"}}],
        }
    )
    return {
        "upsert": (
            "UpsertRoute",
            routing_pb2.UpsertRouteRequest(
                route=routing_pb2.Route(
                    id=f"{x}-r1", hub_id=x, name="changed", geometry_geojson=square_geojson(LNG0, LAT0, 0.02)
                )
            ),
        ),
        "upsert new": (
            "UpsertRoute",
            routing_pb2.UpsertRouteRequest(
                route=routing_pb2.Route(id=f"{x}-r9", hub_id=x, geometry_geojson=square_geojson(LNG0 + 0.05, LAT0))
            ),
        ),
        "import": ("ImportRoutes", routing_pb2.ImportRoutesRequest(hub_id=x, feature_collection_geojson=collection)),
        "delete": ("DeleteRoute", routing_pb2.DeleteRouteRequest(id=f"{x}-r1")),
    }


@pytest.mark.parametrize("role", ["team-lead of the hub", "service", "client"])
def test_only_admins_write_route_maps(routing, engine, routing_hubs, role):
    x, _ = routing_hubs
    caller = {
        "team-lead of the hub": lambda: routing.lead(x),
        "service": routing.service,
        "client": lambda: routing.client(uid("c")),
    }[role]()
    before = routing_state(engine, x)
    for method, request in map_writes(x).values():
        assert "may not call" in denial(
            lambda method=method, request=request: getattr(caller, method)(request, timeout=TIMEOUT)
        )
    assert routing_state(engine, x) == before


def test_admins_write_route_maps(routing, engine, routing_hubs):
    x, _ = routing_hubs
    version = routing_state(engine, x)[0]
    for method, request in map_writes(x).values():
        getattr(routing.admin(), method)(request, timeout=TIMEOUT)
    assert routing_state(engine, x)[0] > version


def routing_reads(x: str) -> dict[str, tuple[str, object]]:
    return {
        "get route": ("GetRoute", routing_pb2.GetRouteRequest(id=f"{x}-r1")),
        "list routes": ("ListRoutes", routing_pb2.ListRoutesRequest(hub_id=x)),
        "route map": ("GetRouteMap", routing_pb2.GetRouteMapRequest(hub_id=x, omit_geojson=True)),
        "lookup": ("LookupRoute", lookup(x)),
        "batch lookup": ("BatchLookupRoutes", routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(x)])),
    }


def test_a_team_lead_reads_its_hubs_map_and_not_another(routing, routing_hubs):
    x, y = routing_hubs
    for method, request in routing_reads(x).values():
        getattr(routing.lead(x), method)(request, timeout=TIMEOUT)
        getattr(routing.lead(y, x), method)(request, timeout=TIMEOUT)
        assert repr(x) in denial(
            lambda method=method, request=request: getattr(routing.lead(y), method)(request, timeout=TIMEOUT)
        ), method


def test_a_team_lead_may_not_look_up_across_every_hub(routing, routing_hubs):
    x, _ = routing_hubs
    lead = routing.lead(x)
    assert "set hub_id" in denial(lambda: lead.LookupRoute(lookup(), timeout=TIMEOUT))
    denial(
        lambda: lead.BatchLookupRoutes(
            routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(x), lookup()]), timeout=TIMEOUT
        )
    )


@pytest.mark.parametrize("role", [Role.SERVICE, Role.ADMIN])
def test_services_and_admins_read_and_look_up_anywhere(routing, routing_hubs, role):
    x, _ = routing_hubs
    caller = routing(role)
    caller.LookupRoute(lookup(), timeout=TIMEOUT)  # across every hub
    answers = caller.BatchLookupRoutes(
        routing_pb2.BatchLookupRoutesRequest(lookups=[lookup(), lookup(x)]), timeout=TIMEOUT
    ).results
    assert answers[1].route_id == f"{x}-r1"
    for method, request in routing_reads(x).values():
        getattr(caller, method)(request, timeout=TIMEOUT)


def test_clients_are_denied_every_routing_rpc(routing, routing_hubs):
    x, _ = routing_hubs
    client = routing.client(uid("client"))
    calls = {**routing_reads(x), **map_writes(x), "lookup anywhere": ("LookupRoute", lookup())}
    assert {m for m, _ in calls.values()} == set(routing_api.ACCESS)
    for method, request in calls.values():
        assert (
            denial(lambda method=method, request=request: getattr(client, method)(request, timeout=TIMEOUT))
            == f"role client may not call {method}"
        )


# == dispatch_svc ==================================================================================


class EveryonePresent(AttendancePort):
    def available_riders(self, hub_id: str, day: date) -> AttendanceView:
        return AttendanceView(
            known=True,
            present={f"{hub_id}-{n}": None for n in ("asha", "bala")},
            source=AttendanceSource.LIVE,
            fetched_at=datetime.now(UTC),
        )


@pytest.fixture(scope="module")
def dispatch_uow(session_factory):
    return lambda: SqlAlchemyDispatchUnitOfWork(session_factory)


@pytest.fixture(scope="module")
def dispatch_target(dispatch_uow) -> Iterator[str]:
    with serving(dispatch_api.registration(dispatch_api.DispatchServicer(dispatch_uow, EveryonePresent()))) as server:
        yield address(server)


@pytest.fixture
def dispatch(dispatch_target) -> Iterator[Callers]:
    yield from callers_of(dispatch_target, dispatch_pb2_grpc.DispatchServiceStub)


def route_pickups(dispatch_uow, hub: str, *pur_ids: str) -> None:
    dispatch_handlers.apply_pur_changes(
        dispatch_uow(),
        [pur_snapshot(p, hub=hub, day=TODAY, packages=1, weight=1.0) for p in pur_ids],
    )


@pytest.fixture
def dispatch_hubs(dispatch, dispatch_uow) -> tuple[str, str, str]:
    """Hub X with riders, a van and three routed pickups, two of them on a dispatch the team
    lead of X created (so team leads may dispatch); hub Y is someone else's. -> (x, y, dispatch id)"""
    x, y = uid("hub"), uid("hub")
    lead = dispatch.lead(x)
    for name in ("asha", "bala"):
        lead.UpsertRider(
            dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=f"{x}-{name}", hub_id=x, name=name)),
            timeout=TIMEOUT,
        )
    lead.UpsertVehicle(
        dispatch_pb2.UpsertVehicleRequest(
            vehicle=dispatch_pb2.Vehicle(
                id=f"{x}-van", hub_id=x, type=dispatch_pb2.VEHICLE_TYPE_VAN, capacity_packages=50, capacity_kg=50
            )
        ),
        timeout=TIMEOUT,
    )
    route_pickups(dispatch_uow, x, f"{x}-p1", f"{x}-p2", f"{x}-p3")
    created = lead.CreateDispatch(
        dispatch_pb2.CreateDispatchRequest(
            request_id="d1",
            hub_id=x,
            route_id="R1",
            pickup_date=DAY,
            rider_id=f"{x}-asha",
            vehicle_id=f"{x}-van",
            pur_ids=[f"{x}-p1", f"{x}-p2"],
        ),
        timeout=TIMEOUT,
    )
    store_plan(dispatch_uow, x, TODAY, f"{x}-plan")
    return x, y, created.dispatch.id


def dispatch_reads_and_plans(x: str) -> dict[str, tuple[str, object]]:
    return {
        "open pickups": (
            "ListOpenPickupsByRoute",
            dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=x, pickup_date=DAY),
        ),
        "recommend": (
            "RecommendDispatch",
            dispatch_pb2.RecommendDispatchRequest(hub_id=x, route_id="R1", pickup_date=DAY),
        ),
        "list dispatches": ("ListDispatches", dispatch_pb2.ListDispatchesRequest(hub_id=x)),
        "plan": ("PlanDispatches", dispatch_pb2.PlanDispatchesRequest(hub_id=x, pickup_date=DAY)),
        "import history": (
            "ImportVolumeHistory",
            dispatch_pb2.ImportVolumeHistoryRequest(
                hub_id=x, rows=[dispatch_pb2.VolumeHistoryRow(date=DAY, route_id="R1", pickups=1, packages=1)]
            ),
        ),
        "forecast": (
            "ForecastPickupVolume",
            dispatch_pb2.ForecastPickupVolumeRequest(hub_id=x, start_date=DAY, days=1),
        ),
        "fleet need": ("ForecastFleetNeed", dispatch_pb2.ForecastFleetNeedRequest(hub_id=x, date=DAY)),
        "watch the board": (
            "WatchOpenPickupsByRoute",
            dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=x, pickup_date=DAY),
        ),
        "create": (
            "CreateDispatch",
            dispatch_pb2.CreateDispatchRequest(
                request_id="d2", hub_id=x, route_id="R1", pickup_date=DAY, rider_id=f"{x}-bala", pur_ids=[f"{x}-p3"]
            ),
        ),
        "rider": ("UpsertRider", dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=f"{x}-carl", hub_id=x))),
        "vehicle": (
            "UpsertVehicle",
            dispatch_pb2.UpsertVehicleRequest(
                vehicle=dispatch_pb2.Vehicle(
                    id=f"{x}-bike", hub_id=x, type=dispatch_pb2.VEHICLE_TYPE_BIKE, capacity_packages=5, capacity_kg=5
                )
            ),
        ),
    }


def dispatch_changes(dispatch_id: str, x: str) -> dict[str, tuple[str, object]]:
    return {
        "get": ("GetDispatch", dispatch_pb2.GetDispatchRequest(id=dispatch_id)),
        "commit plan": ("CommitDispatchPlan", dispatch_pb2.CommitDispatchPlanRequest(plan_id=f"{x}-plan")),
        "add": ("AddPickups", dispatch_pb2.AddPickupsRequest(dispatch_id=dispatch_id, pur_ids=[f"{x}-p3"])),
        "remove": (
            "RemovePickups",
            dispatch_pb2.RemovePickupsRequest(dispatch_id=dispatch_id, pur_ids=[f"{x}-p1"], reason="x"),
        ),
        "start": ("StartDispatch", dispatch_pb2.StartDispatchRequest(id=dispatch_id)),
        "complete": ("CompleteDispatch", dispatch_pb2.CompleteDispatchRequest(id=dispatch_id)),
        "cancel": ("CancelDispatch", dispatch_pb2.CancelDispatchRequest(id=dispatch_id, reason="not yours")),
        "reassign": (
            "ReassignDispatch",
            dispatch_pb2.ReassignDispatchRequest(id=dispatch_id, rider_id=f"{x}-bala", reason="not yours"),
        ),
        "move": (
            "MovePickups",
            dispatch_pb2.MovePickupsRequest(
                from_dispatch_id=dispatch_id, to_dispatch_id=f"{dispatch_id}-2", pur_ids=[f"{x}-p1"], reason="mine"
            ),
        ),
    }


def dispatch_snapshot(dispatch: Callers, engine, x: str, dispatch_id: str) -> tuple:
    """Hub X as an admin sees it, plus its rider and vehicle rows (updated_at included)."""
    admin = dispatch.admin()
    got = admin.GetDispatch(dispatch_pb2.GetDispatchRequest(id=dispatch_id), timeout=TIMEOUT).dispatch
    listed = admin.ListDispatches(dispatch_pb2.ListDispatchesRequest(hub_id=x), timeout=TIMEOUT).dispatches
    groups = admin.ListOpenPickupsByRoute(
        dispatch_pb2.ListOpenPickupsByRouteRequest(hub_id=x, pickup_date=DAY), timeout=TIMEOUT
    ).groups
    with engine.connect() as conn:
        riders = conn.execute(
            sa.select(dispatch_orm.riders)
            .where(dispatch_orm.riders.c.id.like(f"{x}-%"))
            .order_by(dispatch_orm.riders.c.id)
        ).all()
        vehicles = conn.execute(
            sa.select(dispatch_orm.vehicles)
            .where(dispatch_orm.vehicles.c.id.like(f"{x}-%"))
            .order_by(dispatch_orm.vehicles.c.id)
        ).all()
    assert len(riders) == 2 and len(vehicles) == 1
    return got, list(listed), list(groups), [tuple(r) for r in riders], [tuple(v) for v in vehicles]


@pytest.mark.parametrize("caller", ["team lead of another hub", "client"])
def test_dispatching_another_hub_is_denied_and_changes_nothing(dispatch, engine, dispatch_hubs, caller):
    x, y, dispatch_id = dispatch_hubs
    stub = dispatch.lead(y) if caller != "client" else dispatch.client(uid("client"))
    before = dispatch_snapshot(dispatch, engine, x, dispatch_id)
    for method, request in {**dispatch_reads_and_plans(x), **dispatch_changes(dispatch_id, x)}.values():
        details = denial(lambda method=method, request=request: getattr(stub, method)(request, timeout=TIMEOUT))
        assert (repr(x) in details) if caller != "client" else (details == f"role client may not call {method}"), (
            method,
            details,
        )
    assert dispatch_snapshot(dispatch, engine, x, dispatch_id) == before


def test_every_dispatch_rpc_is_covered():
    calls = {m for m, _ in {**dispatch_reads_and_plans("h"), **dispatch_changes("d", "h")}.values()}
    assert calls | {"UpsertHub"} == set(dispatch_api.ACCESS)


def upsert_hub(hub_id: str, name: str) -> dispatch_pb2.UpsertHubRequest:
    depot = dispatch_pb2.Hub(
        id=hub_id, name=name, location=common_pb2.LatLng(lat=12.93, lng=77.62), timezone="Asia/Kolkata"
    )
    return dispatch_pb2.UpsertHubRequest(hub=depot)


def test_only_services_and_admins_store_hubs(dispatch, engine):
    x = uid("hub")
    for stub, role in ((dispatch.lead(x), "team-lead"), (dispatch.client(uid("client")), "client")):
        details = denial(lambda stub=stub: stub.UpsertHub(upsert_hub(x, "mine"), timeout=TIMEOUT))
        assert details == f"role {role} may not call UpsertHub"
    with engine.connect() as conn:
        assert conn.execute(sa.select(dispatch_orm.hubs.c.id).where(dispatch_orm.hubs.c.id == x)).first() is None
    assert dispatch.admin().UpsertHub(upsert_hub(x, "depot"), timeout=TIMEOUT).created
    assert not dispatch.service().UpsertHub(upsert_hub(x, "depot 2"), timeout=TIMEOUT).created


def test_a_team_lead_cannot_take_over_another_hubs_rider_or_vehicle(dispatch, engine, dispatch_hubs):
    """Naming its own hub on an upsert must not let a team lead move (or rewrite) a rider or
    vehicle of another hub into it."""
    x, y, dispatch_id = dispatch_hubs
    before = dispatch_snapshot(dispatch, engine, x, dispatch_id)
    thief = dispatch.lead(y)
    denial(
        lambda: thief.UpsertRider(
            dispatch_pb2.UpsertRiderRequest(
                rider=dispatch_pb2.Rider(id=f"{x}-bala", hub_id=y, name="stolen", active=False)
            ),
            timeout=TIMEOUT,
        )
    )
    denial(
        lambda: thief.UpsertVehicle(
            dispatch_pb2.UpsertVehicleRequest(
                vehicle=dispatch_pb2.Vehicle(
                    id=f"{x}-van", hub_id=y, type=dispatch_pb2.VEHICLE_TYPE_BIKE, capacity_packages=1, capacity_kg=1
                )
            ),
            timeout=TIMEOUT,
        )
    )
    assert dispatch_snapshot(dispatch, engine, x, dispatch_id) == before
    # An admin may move them, and the team lead of both hubs too.
    dispatch.lead(x, y).UpsertRider(
        dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=f"{x}-bala", hub_id=y, name="moved")),
        timeout=TIMEOUT,
    )
    dispatch.admin().UpsertRider(
        dispatch_pb2.UpsertRiderRequest(rider=dispatch_pb2.Rider(id=f"{x}-bala", hub_id=x, name="back")),
        timeout=TIMEOUT,
    )


def test_a_team_lead_watches_the_board_of_its_hub(dispatch, dispatch_hubs):
    x, _, dispatch_id = dispatch_hubs
    request = dispatch_pb2.WatchOpenPickupsByRouteRequest(hub_id=x, pickup_date=DAY)
    for admitted in (dispatch.lead(x), dispatch.service(), dispatch.admin()):
        stream = admitted.WatchOpenPickupsByRoute(request, timeout=TIMEOUT)
        board = next(stream)
        stream.cancel()
        assert board.snapshot and [(g.route_id, g.open_dispatch.id) for g in board.groups] == [("R1", dispatch_id)]


def test_a_team_lead_works_its_own_dispatch(dispatch, dispatch_hubs):
    x, _, dispatch_id = dispatch_hubs
    lead = dispatch.lead(x)
    assert lead.GetDispatch(dispatch_pb2.GetDispatchRequest(id=dispatch_id), timeout=TIMEOUT).dispatch.hub_id == x
    assert [
        d.id for d in lead.ListDispatches(dispatch_pb2.ListDispatchesRequest(hub_id=x), timeout=TIMEOUT).dispatches
    ] == [dispatch_id]
    lead.AddPickups(dispatch_pb2.AddPickupsRequest(dispatch_id=dispatch_id, pur_ids=[f"{x}-p3"]), timeout=TIMEOUT)
    lead.RemovePickups(dispatch_pb2.RemovePickupsRequest(dispatch_id=dispatch_id, pur_ids=[f"{x}-p1"]), timeout=TIMEOUT)
    lead.StartDispatch(dispatch_pb2.StartDispatchRequest(id=dispatch_id), timeout=TIMEOUT)
    done = (
        dispatch.service()
        .CompleteDispatch(dispatch_pb2.CompleteDispatchRequest(id=dispatch_id), timeout=TIMEOUT)
        .dispatch
    )
    assert done.status == dispatch_pb2.DISPATCH_STATUS_COMPLETED and list(done.pur_ids) == [f"{x}-p2", f"{x}-p3"]


def test_a_team_lead_reassigns_and_moves_within_its_hub_only(dispatch, dispatch_hubs):
    x, y, dispatch_id = dispatch_hubs
    lead = dispatch.lead(x)
    reassigned = lead.ReassignDispatch(
        dispatch_pb2.ReassignDispatchRequest(id=dispatch_id, rider_id=f"{x}-bala", reason="asha is ill"),
        timeout=TIMEOUT,
    ).dispatch
    assert reassigned.rider_id == f"{x}-bala"
    bike = dispatch_pb2.Vehicle(
        id=f"{x}-bike", hub_id=x, type=dispatch_pb2.VEHICLE_TYPE_BIKE, capacity_packages=5, capacity_kg=5
    )
    lead.UpsertVehicle(dispatch_pb2.UpsertVehicleRequest(vehicle=bike), timeout=TIMEOUT)
    second = lead.CreateDispatch(
        dispatch_pb2.CreateDispatchRequest(
            request_id="d2", hub_id=x, route_id="R1", pickup_date=DAY, rider_id=f"{x}-asha", vehicle_id=f"{x}-bike"
        ),
        timeout=TIMEOUT,
    ).dispatch
    move = dispatch_pb2.MovePickupsRequest(
        from_dispatch_id=dispatch_id, to_dispatch_id=second.id, pur_ids=[f"{x}-p1"], reason="mine"
    )
    assert repr(x) in denial(lambda: dispatch.lead(y).MovePickups(move, timeout=TIMEOUT))
    moved = lead.MovePickups(
        dispatch_pb2.MovePickupsRequest(
            from_dispatch_id=dispatch_id, to_dispatch_id=second.id, pur_ids=[f"{x}-p1"], reason="asha passes by"
        ),
        timeout=TIMEOUT,
    )
    assert (list(moved.from_dispatch.pur_ids), list(moved.to_dispatch.pur_ids)) == (
        [f"{x}-p2"],
        [f"{x}-p3", f"{x}-p1"],  # the second dispatch took the queue (p3) when created
    )


def test_a_team_lead_may_not_list_dispatches_without_a_hub(dispatch, dispatch_hubs):
    x, _, _ = dispatch_hubs
    # hub_id is required (INVALID_ARGUMENT) before any scope check: never "every hub".
    with pytest.raises(grpc.RpcError) as caught:
        dispatch.lead(x).ListDispatches(dispatch_pb2.ListDispatchesRequest(), timeout=TIMEOUT)
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# == attendance_adapter (embedded) =================================================================


@pytest.fixture(scope="module")
def attendance_target(engine, session_factory) -> Iterator[str]:
    require_attendance_schema(engine)
    servicer = embedded_attendance_servicer(session_factory)
    with serving(attendance_api.registration(servicer)) as server:
        yield address(server)


@pytest.fixture
def attendance(attendance_target) -> Iterator[Callers]:
    yield from callers_of(attendance_target, attendance_pb2_grpc.AttendanceServiceStub)


def mark(rider: str, hub: str, status: int = att_pb2.ATTENDANCE_STATUS_PRESENT) -> att_pb2.RecordAttendanceRequest:
    return att_pb2.RecordAttendanceRequest(rider_id=rider, hub_id=hub, date=DAY, status=status)


@pytest.fixture
def attendance_hubs(attendance) -> tuple[str, str, str]:
    """Hub X whose rider the team lead of X marked present; hub Y is someone else's. -> (x, y, rider)"""
    x, y = uid("hub"), uid("hub")
    rider = f"{x}-asha"
    attendance.lead(x).RecordAttendance(mark(rider, x), timeout=TIMEOUT)
    return x, y, rider


def attendance_calls(x: str, y: str, rider: str) -> dict[str, tuple[str, object]]:
    return {
        "list": ("ListAvailableRiders", att_pb2.ListAvailableRidersRequest(hub_id=x, date=DAY)),
        "get": ("GetAttendance", att_pb2.GetAttendanceRequest(rider_id=rider, date=DAY)),
        "record": ("RecordAttendance", mark(rider, x, att_pb2.ATTENDANCE_STATUS_ABSENT)),
        "record new rider": ("RecordAttendance", mark(f"{x}-new", x)),
        "take over": ("RecordAttendance", mark(rider, y, att_pb2.ATTENDANCE_STATUS_ABSENT)),
    }


def attendance_snapshot(attendance: Callers, x: str, y: str, rider: str) -> tuple:
    admin = attendance.admin()
    got = admin.GetAttendance(att_pb2.GetAttendanceRequest(rider_id=rider, date=DAY), timeout=TIMEOUT).record
    listed = {
        hub: [
            r.rider_id
            for r in admin.ListAvailableRiders(
                att_pb2.ListAvailableRidersRequest(hub_id=hub, date=DAY), timeout=TIMEOUT
            ).records
        ]
        for hub in (x, y)
    }
    return got, listed


@pytest.mark.parametrize("caller", ["team lead of another hub", "client"])
def test_another_hubs_attendance_is_denied_and_unchanged(attendance, attendance_hubs, caller):
    x, y, rider = attendance_hubs
    stub = attendance.lead(y) if caller != "client" else attendance.client(uid("client"))
    before = attendance_snapshot(attendance, x, y, rider)
    assert before[1] == {x: [rider], y: []}
    for name, (method, request) in attendance_calls(x, y, rider).items():
        details = denial(lambda method=method, request=request: getattr(stub, method)(request, timeout=TIMEOUT))
        assert (repr(x) in details) if caller != "client" else (details == f"role client may not call {method}"), (
            name,
            details,
        )
    assert attendance_snapshot(attendance, x, y, rider) == before


def test_a_team_lead_keeps_its_hubs_attendance_and_services_read_it(attendance, attendance_hubs):
    x, _, rider = attendance_hubs
    lead = attendance.lead(x)
    assert (
        lead.GetAttendance(att_pb2.GetAttendanceRequest(rider_id=rider, date=DAY), timeout=TIMEOUT).record.hub_id == x
    )
    lead.RecordAttendance(mark(rider, x, att_pb2.ATTENDANCE_STATUS_ON_LEAVE), timeout=TIMEOUT)
    lead.RecordAttendance(mark(rider, x), timeout=TIMEOUT)
    for caller in (lead, attendance.service()):
        listed = caller.ListAvailableRiders(att_pb2.ListAvailableRidersRequest(hub_id=x, date=DAY), timeout=TIMEOUT)
        assert [r.rider_id for r in listed.records] == [rider]


# == every service ==================================================================================


@pytest.fixture
def every_target(pur_target, routing_target, dispatch_target, attendance_target) -> dict[str, str]:
    return {
        pur_api.SERVICE_NAME: pur_target,
        routing_api.SERVICE_NAME: routing_target,
        dispatch_api.SERVICE_NAME: dispatch_target,
        attendance_api.SERVICE_NAME: attendance_target,
    }


def test_every_service_wants_a_token_but_answers_health_without_one(every_target):
    probes = {
        pur_api.SERVICE_NAME: lambda ch: pur_pb2_grpc.PickupServiceStub(ch).GetPickupRequest(
            pur_pb2.GetPickupRequestRequest(id="pur_x"), timeout=TIMEOUT
        ),
        routing_api.SERVICE_NAME: lambda ch: routing_pb2_grpc.RoutingServiceStub(ch).GetRoute(
            routing_pb2.GetRouteRequest(id="r"), timeout=TIMEOUT
        ),
        dispatch_api.SERVICE_NAME: lambda ch: dispatch_pb2_grpc.DispatchServiceStub(ch).GetDispatch(
            dispatch_pb2.GetDispatchRequest(id="d"), timeout=TIMEOUT
        ),
        attendance_api.SERVICE_NAME: lambda ch: attendance_pb2_grpc.AttendanceServiceStub(ch).GetAttendance(
            att_pb2.GetAttendanceRequest(rider_id="r", date=DAY), timeout=TIMEOUT
        ),
    }
    for name, target in every_target.items():
        with grpc.insecure_channel(target) as channel:
            with pytest.raises(grpc.RpcError) as caught:
                probes[name](channel)
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, name
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=name), timeout=TIMEOUT
            )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
