"""gRPC entrypoint of pur_svc: validates `firstmile.pur.v1.PickupService` requests, runs the use
case, and translates the answer. Errors are raised as mesh errors; the server maps them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import grpc

from firstmile.pur.v1 import pur_pb2, pur_pb2_grpc
from mesh.access import AccessRule, Caller, Scope, current_caller
from mesh.auth import EVERY_ROLE, STAFF, TEAM_LEADS_AND_ADMINS, Role
from mesh.errors import InvalidArgument, PermissionDenied
from mesh.grpc_server import ServiceRegistration
from mesh.kernel import check_id, parse_date
from mesh.paging import decode_page_token, encode_page_token, position_time
from pur_svc.adapters.messages import REVIEW_FROM_PROTO, STATUS_FROM_PROTO, history_entry_to_proto, pickup_to_proto
from pur_svc.domain.model import (
    InvalidPickup,
    Location,
    NewPickup,
    PickupRequest,
    Warehouse,
    check_cancel_reason,
    check_manual_reason,
)
from pur_svc.entrypoints.watch import StatusFeed
from pur_svc.service_layer import handlers
from pur_svc.service_layer.repositories import ManualQueueFilter, PageCursor, PickupFilter
from pur_svc.service_layer.unit_of_work import AbstractPurUnitOfWork

SERVICE_NAME = "firstmile.pur.v1.PickupService"
MAX_BATCH = 1000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000

# Who may call what; which PURs they may touch is checked per request (Caller.require_pickup).
ACCESS = {
    "CreatePickupRequest": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "BatchCreatePickupRequests": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "GetPickupRequest": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "ListPickupRequests": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "CancelPickupRequest": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "WatchPickupRequests": AccessRule(EVERY_ROLE, Scope.PICKUP),
    "ListManualQueue": AccessRule(STAFF, Scope.HUB),
    "AssignPickupRoute": AccessRule(TEAM_LEADS_AND_ADMINS, Scope.PICKUP),
    "BatchAssignPickupRoutes": AccessRule(TEAM_LEADS_AND_ADMINS, Scope.PICKUP),
    "ListPickupHistory": AccessRule(STAFF, Scope.PICKUP),
}


def new_pickup_from_proto(request: pur_pb2.CreatePickupRequestRequest) -> NewPickup:
    """Validate a create request into the domain command; InvalidPickup names what is wrong."""
    if not request.HasField("warehouse"):
        raise InvalidPickup("warehouse is required")
    warehouse = request.warehouse
    if not warehouse.HasField("location"):
        raise InvalidPickup("warehouse.location is required")
    return NewPickup(
        request_id=request.request_id,
        client_id=request.client_id,
        hub_id=request.hub_id,
        warehouse=Warehouse(
            id=warehouse.id,
            name=warehouse.name,
            address=warehouse.address,
            pincode=warehouse.pincode,
            location=Location(warehouse.location.lat, warehouse.location.lng),
        ),
        pickup_date=parse_date("pickup_date", request.pickup_date),
        expected_packages=request.expected_packages,
        expected_weight_kg=request.expected_weight_kg,
    )


def _scoped_filter(caller: Caller, where: PickupFilter) -> PickupFilter:
    """Narrow a listing to what the caller may see, or refuse a filter outside its scope: a
    client lists its own PURs, a team lead one of its hubs (the only one when it leads one)."""
    if caller.role is Role.CLIENT and not where.client_id:
        where = replace(where, client_id=caller.client_id or "")
    elif caller.role is Role.TEAM_LEAD and not where.hub_id:
        if len(caller.hubs) != 1:
            raise PermissionDenied("a team lead of several hubs lists one at a time: set hub_id")
        where = replace(where, hub_id=next(iter(caller.hubs)))
    caller.require_pickup(where.client_id, where.hub_id)
    return where


def _filters(where: PickupFilter) -> tuple:
    return (where.hub_id, where.status, where.route_id, where.pickup_date, where.client_id)


def _cursor(position: dict[str, str]) -> PageCursor:
    return PageCursor(position_time(position["c"]), position["i"])


def _page_token(cursor: PageCursor | None, filters: tuple) -> str:
    return encode_page_token({"c": cursor.created_at.isoformat(), "i": cursor.id}, filters) if cursor else ""


def _queue_filter(caller: Caller, request: pur_pb2.ListManualQueueRequest) -> ManualQueueFilter:
    """The queue asked for, once the caller may see it: a hub's (its team leads, services,
    admins) or the hubless one (services and admins)."""
    if request.hubless:
        if request.hub_id:
            raise InvalidArgument("hub_id must be empty when hubless is set")
        if not caller.may_access_hub(""):
            raise PermissionDenied(f"{caller.role} {caller.subject!r} may not list the hubless queue")
    else:
        check_id("hub_id", request.hub_id)
        caller.require_hub(request.hub_id)
    if request.review and request.review not in REVIEW_FROM_PROTO:
        raise InvalidArgument(f"review {request.review} is not a known ReviewReason")
    pickup_date = parse_date("pickup_date", request.pickup_date) if request.pickup_date else None
    return ManualQueueFilter(request.hub_id, pickup_date, REVIEW_FROM_PROTO.get(request.review))


def _assignment(item: pur_pb2.AssignPickupRouteRequest) -> handlers.ManualAssignment:
    check_id("id", item.id)
    check_id("route_id", item.route_id)
    check_manual_reason(item.reason)
    return handlers.ManualAssignment(item.id, item.route_id, item.reason)


def _assigner(caller: Caller) -> Callable[[PickupRequest], None]:
    """Refuses a PUR the caller may not route by hand: one of another hub, or one without a hub
    unless the caller is an admin (the route then gives it its hub)."""

    def authorize(pur: PickupRequest) -> None:
        if not pur.hub_id and not caller.may_access_hub(""):
            raise PermissionDenied(f"pickup request {pur.id} has no hub: only admins route it by hand")
        caller.require_pickup(pur.client_id, pur.hub_id)

    return authorize


class PickupServicer(pur_pb2_grpc.PickupServiceServicer):
    def __init__(self, uow_factory: Callable[[], AbstractPurUnitOfWork], feed: StatusFeed) -> None:
        self._uow = uow_factory
        self._feed = feed

    def CreatePickupRequest(self, request, context):
        command = new_pickup_from_proto(request)
        caller = current_caller()
        caller.require_pickup(command.client_id, command.hub_id)
        [result] = handlers.create_pickups(self._uow(), [command], actor=caller.actor)
        return pur_pb2.CreatePickupRequestResponse(
            pickup_request=pickup_to_proto(result.pickup), created=result.created
        )

    def BatchCreatePickupRequests(self, request, context):
        if not request.requests:
            raise InvalidArgument("requests must not be empty")
        if len(request.requests) > MAX_BATCH:
            raise InvalidArgument(f"requests holds {len(request.requests)} items; the limit is {MAX_BATCH}")
        commands = []
        for index, item in enumerate(request.requests):
            with handlers.batch_item(index):
                commands.append(new_pickup_from_proto(item))
        caller = current_caller()
        for command in commands:
            caller.require_pickup(command.client_id, command.hub_id)
        results = handlers.create_pickups(self._uow(), commands, actor=caller.actor)
        return pur_pb2.BatchCreatePickupRequestsResponse(
            pickup_requests=[pickup_to_proto(r.pickup) for r in results],
            created_count=sum(r.created for r in results),
        )

    def GetPickupRequest(self, request, context):
        check_id("id", request.id)
        pur = handlers.get_pickup(self._uow(), request.id)
        current_caller().require_pickup(pur.client_id, pur.hub_id)
        return pur_pb2.GetPickupRequestResponse(pickup_request=pickup_to_proto(pur))

    def ListPickupRequests(self, request, context):
        for name in ("hub_id", "route_id", "client_id"):
            check_id(name, getattr(request, name), required=False)
        if request.status and request.status not in STATUS_FROM_PROTO:
            raise InvalidArgument(f"status {request.status} is not a known PickupStatus")
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        pickup_date = parse_date("pickup_date", request.pickup_date) if request.pickup_date else None
        where = PickupFilter(
            hub_id=request.hub_id,
            status=STATUS_FROM_PROTO.get(request.status),
            route_id=request.route_id,
            pickup_date=pickup_date,
            client_id=request.client_id,
        )
        where = _scoped_filter(current_caller(), where)
        after = decode_page_token(request.page_token, _filters(where), _cursor)
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page, cursor = handlers.list_pickups(self._uow(), where, page_size, after)
        return pur_pb2.ListPickupRequestsResponse(
            pickup_requests=[pickup_to_proto(p) for p in page], next_page_token=_page_token(cursor, _filters(where))
        )

    def CancelPickupRequest(self, request, context):
        check_id("id", request.id)
        check_cancel_reason(request.reason)
        caller = current_caller()
        pur = handlers.cancel_pickup(
            self._uow(),
            request.id,
            request.reason,
            authorize=lambda p: caller.require_pickup(p.client_id, p.hub_id),
            actor=caller.actor,
        )
        return pur_pb2.CancelPickupRequestResponse(pickup_request=pickup_to_proto(pur))

    def ListManualQueue(self, request, context):
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        where = _queue_filter(current_caller(), request)
        filters = (where.hub_id, where.pickup_date, where.review)
        after = decode_page_token(request.page_token, filters, _cursor)
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page, cursor = handlers.list_manual_queue(self._uow(), where, page_size, after)
        return pur_pb2.ListManualQueueResponse(
            pickup_requests=[pickup_to_proto(p) for p in page], next_page_token=_page_token(cursor, filters)
        )

    def AssignPickupRoute(self, request, context):
        assignment = _assignment(request)
        caller = current_caller()
        [pur] = handlers.assign_routes(self._uow(), [assignment], authorize=_assigner(caller), actor=caller.actor)
        return pur_pb2.AssignPickupRouteResponse(pickup_request=pickup_to_proto(pur))

    def BatchAssignPickupRoutes(self, request, context):
        if not request.assignments:
            raise InvalidArgument("assignments must not be empty")
        if len(request.assignments) > MAX_BATCH:
            raise InvalidArgument(f"assignments holds {len(request.assignments)} items; the limit is {MAX_BATCH}")
        assignments = []
        for index, item in enumerate(request.assignments):
            with handlers.batch_item(index, "assignments"):
                assignments.append(_assignment(item))
        caller = current_caller()
        purs = handlers.assign_routes(self._uow(), assignments, authorize=_assigner(caller), actor=caller.actor)
        return pur_pb2.BatchAssignPickupRoutesResponse(pickup_requests=[pickup_to_proto(p) for p in purs])

    def ListPickupHistory(self, request, context):
        check_id("id", request.id)
        caller = current_caller()
        entries = handlers.pickup_history(
            self._uow(), request.id, authorize=lambda p: caller.require_pickup(p.client_id, p.hub_id)
        )
        return pur_pb2.ListPickupHistoryResponse(entries=[history_entry_to_proto(e) for e in entries])

    def WatchPickupRequests(self, request, context) -> Iterator[pur_pb2.WatchPickupRequestsResponse]:
        check_id("hub_id", request.hub_id)
        if len(request.statuses) > len(STATUS_FROM_PROTO):
            raise InvalidArgument(
                f"statuses holds {len(request.statuses)} values; at most {len(STATUS_FROM_PROTO)}, one per status"
            )
        unknown = [s for s in request.statuses if s not in STATUS_FROM_PROTO]
        if unknown:
            raise InvalidArgument(f"statuses holds values that are not a known PickupStatus: {unknown}")
        caller = current_caller()
        # A client watches its own PURs of the hub, anyone else all of them.
        own_client = caller.client_id or ""
        caller.require_pickup(own_client, request.hub_id)
        with self._feed.subscribe(request.hub_id, set(request.statuses), own_client) as subscription:
            yield from subscription.updates(context.is_active)


def registration(servicer: PickupServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        pur_pb2_grpc.add_PickupServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add, ACCESS)
