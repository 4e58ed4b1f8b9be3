"""gRPC entrypoint of dispatch_svc: validates `firstmile.dispatch.v1.DispatchService` requests, checks
the caller's hub scope, runs the use case, and translates the answer. Errors propagate as they are
raised (kinds of `mesh.errors`); the server's error interceptor turns them into status codes."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import grpc

from dispatch_svc.adapters.forecast_messages import (
    events_from_proto,
    fleet_need_to_proto,
    volume_forecast_to_proto,
    volume_rows_from_proto,
)
from dispatch_svc.adapters.hub_messages import hub_from_proto, hub_to_proto
from dispatch_svc.adapters.messages import (
    DISPATCH_STATUS_FROM_PROTO,
    VEHICLE_TYPE_FROM_PROTO,
    dispatch_to_proto,
    freshness_to_proto,
    rider_score_to_proto,
    rider_to_proto,
    route_group_to_proto,
    vehicle_score_to_proto,
    vehicle_to_proto,
)
from dispatch_svc.adapters.plan_messages import commit_request_from_proto, committed_to_proto, plan_to_proto
from dispatch_svc.domain.model import MAX_REASON, Dispatch, NewDispatch, PickupMove, Reassignment, Rider, Vehicle
from dispatch_svc.domain.planning import GreatCircleTravelModel, PlanningSettings
from dispatch_svc.domain.ranking import DEFAULT_LIMIT, MAX_LIMIT
from dispatch_svc.entrypoints.board_watch import BoardFeed, sends_encoded
from dispatch_svc.service_layer import forecasts, handlers, hubs
from dispatch_svc.service_layer.attendance import AttendancePort
from dispatch_svc.service_layer.forecaster import VolumeForecaster
from dispatch_svc.service_layer.planner import TripPlanner
from dispatch_svc.service_layer.plans import DEFAULT_SETTINGS, commit_dispatch_plan, plan_dispatches
from dispatch_svc.service_layer.unit_of_work import AbstractDispatchUnitOfWork
from dispatch_svc.service_layer.views import DispatchCursor, DispatchFilter
from firstmile.dispatch.v1 import dispatch_pb2, dispatch_pb2_grpc
from mesh.access import AccessRule, Scope, current_caller
from mesh.auth import MACHINES_AND_ADMINS, STAFF
from mesh.errors import InvalidArgument, Unavailable
from mesh.grpc_server import ServiceRegistration
from mesh.kernel import check_id, check_text, parse_date, utc_now
from mesh.paging import decode_page_token, encode_page_token, position_time

SERVICE_NAME = "firstmile.dispatch.v1.DispatchService"
# Methods that may answer with a response already encoded (bytes): the board kept in memory.
ENCODED_RESPONSES = (f"/{SERVICE_NAME}/ListOpenPickupsByRoute", f"/{SERVICE_NAME}/WatchOpenPickupsByRoute")
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000
MAX_PURS = 1000
MAX_PICKUPS_PER_ROUTE = 100_000
MAX_ROUTES = 1000


def _pur_ids(name: str, values: Sequence[str], *, required: bool) -> tuple[str, ...]:
    if required and not values:
        raise InvalidArgument(f"{name} must not be empty")
    if len(values) > MAX_PURS:
        raise InvalidArgument(f"{name} holds {len(values)} ids; the limit is {MAX_PURS}")
    return tuple(check_id(f"{name}[{index}]", value) for index, value in enumerate(values))


def _filters(where: DispatchFilter) -> tuple[object, ...]:
    return (where.hub_id, where.route_id, where.pickup_date, where.rider_id, where.status)


def _cursor(position: dict[str, str]) -> DispatchCursor:
    return DispatchCursor(position_time(position["c"]), position["i"])


def rider_from_proto(rider: dispatch_pb2.Rider) -> Rider:
    return Rider(
        id=rider.id,
        hub_id=rider.hub_id,
        name=rider.name,
        phone=rider.phone,
        active=rider.active if rider.HasField("active") else True,
    )


def vehicle_from_proto(vehicle: dispatch_pb2.Vehicle) -> Vehicle:
    kind = VEHICLE_TYPE_FROM_PROTO.get(vehicle.type)
    if kind is None:
        raise InvalidArgument(f"vehicle.type must be one of BIKE, THREE_WHEELER, VAN, TRUCK, got {vehicle.type}")
    return Vehicle(
        id=vehicle.id,
        hub_id=vehicle.hub_id,
        type=kind,
        capacity_packages=vehicle.capacity_packages,
        capacity_kg=vehicle.capacity_kg,
        registration=vehicle.registration,
        active=vehicle.active if vehicle.HasField("active") else True,
    )


# Team leads work within their hubs (checked per request); services and admins everywhere.
ACCESS = {
    name: AccessRule(STAFF, Scope.HUB)
    for name in (
        "UpsertRider",
        "UpsertVehicle",
        "ListOpenPickupsByRoute",
        "RecommendDispatch",
        "CreateDispatch",
        "GetDispatch",
        "ListDispatches",
        "AddPickups",
        "RemovePickups",
        "StartDispatch",
        "CompleteDispatch",
        "CancelDispatch",
        "ReassignDispatch",
        "MovePickups",
        "WatchOpenPickupsByRoute",
        "PlanDispatches",
        "CommitDispatchPlan",
        # Team leads import and read their own hubs' volume history and forecasts.
        "ImportVolumeHistory",
        "ForecastPickupVolume",
        "ForecastFleetNeed",
    )
} | {"UpsertHub": AccessRule(MACHINES_AND_ADMINS, Scope.EVERY_HUB)}


def _authorize_dispatch(dispatch: Dispatch) -> None:
    current_caller().require_hub(dispatch.hub_id)


class DispatchServicer(dispatch_pb2_grpc.DispatchServiceServicer):
    def __init__(
        self,
        uow_factory: Callable[[], AbstractDispatchUnitOfWork],
        attendance: AttendancePort,
        board: BoardFeed | None = None,
        planner: TripPlanner | None = None,
        planning: PlanningSettings = DEFAULT_SETTINGS,
        forecaster: VolumeForecaster | None = None,
        travel: GreatCircleTravelModel | None = None,
    ) -> None:
        self._uow = uow_factory
        self._attendance = attendance
        self._planner = planner
        self._planning = planning
        self._forecaster = forecaster
        self._travel = travel
        # Without a running feed (tests of other methods) a watcher gets its snapshot, then nothing.
        self._board = board if board is not None else BoardFeed(uow_factory)

    def UpsertRider(self, request, context):
        if not request.HasField("rider"):
            raise InvalidArgument("rider is required")
        rider = rider_from_proto(request.rider)
        caller = current_caller()
        caller.require_hub(rider.hub_id)
        # The rider stored under this id must be of a hub the caller may access too: naming its
        # own hub must not let a team lead move (take over) another hub's rider.
        created = handlers.upsert_rider(self._uow(), rider, authorize=lambda stored: caller.require_hub(stored.hub_id))
        return dispatch_pb2.UpsertRiderResponse(rider=rider_to_proto(rider), created=created)

    def UpsertVehicle(self, request, context):
        if not request.HasField("vehicle"):
            raise InvalidArgument("vehicle is required")
        vehicle = vehicle_from_proto(request.vehicle)
        caller = current_caller()
        caller.require_hub(vehicle.hub_id)
        created = handlers.upsert_vehicle(
            self._uow(), vehicle, authorize=lambda stored: caller.require_hub(stored.hub_id)
        )
        return dispatch_pb2.UpsertVehicleResponse(vehicle=vehicle_to_proto(vehicle), created=created)

    def ListOpenPickupsByRoute(self, request, context):
        hub_id = check_id("hub_id", request.hub_id)
        pickup_date = parse_date("pickup_date", request.pickup_date)
        route_id = check_id("route_id", request.route_id, required=False)
        if not 0 <= request.pickups_per_route_limit <= MAX_PICKUPS_PER_ROUTE:
            raise InvalidArgument(f"pickups_per_route_limit must be between 0 and {MAX_PICKUPS_PER_ROUTE}")
        current_caller().require_hub(hub_id)
        kept = self._board.listing(hub_id, pickup_date, route_id, request.pickups_per_route_limit)
        if kept is not None:
            return kept  # encoded, from the board kept in memory (entrypoints.board_watch)
        groups = handlers.list_open_pickups(self._uow(), hub_id, pickup_date, route_id, request.pickups_per_route_limit)
        return dispatch_pb2.ListOpenPickupsByRouteResponse(groups=[route_group_to_proto(g) for g in groups])

    def RecommendDispatch(self, request, context):
        route_id = check_id("route_id", request.route_id)
        hub_id = check_id("hub_id", request.hub_id)
        pickup_date = parse_date("pickup_date", request.pickup_date)
        if not 0 <= request.limit <= MAX_LIMIT:
            raise InvalidArgument(f"limit must be between 0 and {MAX_LIMIT}")
        current_caller().require_hub(hub_id)
        result = handlers.recommend(
            self._uow(), self._attendance, hub_id, route_id, pickup_date, request.limit or DEFAULT_LIMIT
        )
        return dispatch_pb2.RecommendDispatchResponse(
            riders=[rider_score_to_proto(r) for r in result.riders],
            vehicles=[vehicle_score_to_proto(v) for v in result.vehicles],
            queued_pur_count=result.queued_count,
            queued_packages=result.queued_load.packages,
            queued_weight_kg=round(result.queued_load.weight_kg, 6),
            attendance_freshness=freshness_to_proto(result.attendance, utc_now()),
        )

    def CreateDispatch(self, request, context):
        new = NewDispatch(
            request_id=request.request_id,
            hub_id=request.hub_id,
            route_id=request.route_id,
            pickup_date=parse_date("pickup_date", request.pickup_date),
            rider_id=request.rider_id,
            vehicle_id=request.vehicle_id,
            pur_ids=_pur_ids("pur_ids", request.pur_ids, required=False),
        )
        current_caller().require_hub(new.hub_id)
        result = handlers.create_dispatch(self._uow(), self._attendance, new, actor=current_caller().actor)
        return dispatch_pb2.CreateDispatchResponse(dispatch=dispatch_to_proto(result.dispatch), created=result.created)

    def GetDispatch(self, request, context):
        dispatch = handlers.get_dispatch(self._uow(), check_id("id", request.id))
        _authorize_dispatch(dispatch)
        return dispatch_pb2.GetDispatchResponse(dispatch=dispatch_to_proto(dispatch))

    def ListDispatches(self, request, context):
        hub_id = check_id("hub_id", request.hub_id)
        check_id("route_id", request.route_id, required=False)
        check_id("rider_id", request.rider_id, required=False)
        pickup_date = parse_date("pickup_date", request.pickup_date) if request.pickup_date else None
        if request.status and request.status not in DISPATCH_STATUS_FROM_PROTO:
            raise InvalidArgument(f"status {request.status} is not a known DispatchStatus")
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        current_caller().require_hub(hub_id)
        where = DispatchFilter(
            hub_id=hub_id,
            route_id=request.route_id,
            pickup_date=pickup_date,
            rider_id=request.rider_id,
            status=DISPATCH_STATUS_FROM_PROTO.get(request.status),
        )
        after = decode_page_token(request.page_token, _filters(where), _cursor)
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        page, cursor = handlers.list_dispatches(self._uow(), where, page_size, after)
        return dispatch_pb2.ListDispatchesResponse(
            dispatches=[dispatch_to_proto(d) for d in page],
            next_page_token=(
                encode_page_token({"c": cursor.created_at.isoformat(), "i": cursor.id}, _filters(where))
                if cursor
                else ""
            ),
        )

    def AddPickups(self, request, context):
        dispatch_id = check_id("dispatch_id", request.dispatch_id)
        pur_ids = _pur_ids("pur_ids", request.pur_ids, required=True)
        dispatch = handlers.add_pickups(
            self._uow(), dispatch_id, pur_ids, actor=current_caller().actor, authorize=_authorize_dispatch
        )
        return dispatch_pb2.AddPickupsResponse(dispatch=dispatch_to_proto(dispatch))

    def RemovePickups(self, request, context):
        dispatch_id = check_id("dispatch_id", request.dispatch_id)
        pur_ids = _pur_ids("pur_ids", request.pur_ids, required=True)
        check_text("reason", request.reason, MAX_REASON)
        dispatch = handlers.remove_pickups(
            self._uow(),
            dispatch_id,
            pur_ids,
            request.reason,
            actor=current_caller().actor,
            authorize=_authorize_dispatch,
        )
        return dispatch_pb2.RemovePickupsResponse(dispatch=dispatch_to_proto(dispatch))

    def StartDispatch(self, request, context):
        dispatch = handlers.start_dispatch(
            self._uow(), check_id("id", request.id), actor=current_caller().actor, authorize=_authorize_dispatch
        )
        return dispatch_pb2.StartDispatchResponse(dispatch=dispatch_to_proto(dispatch))

    def CompleteDispatch(self, request, context):
        dispatch = handlers.complete_dispatch(
            self._uow(), check_id("id", request.id), actor=current_caller().actor, authorize=_authorize_dispatch
        )
        return dispatch_pb2.CompleteDispatchResponse(dispatch=dispatch_to_proto(dispatch))

    def CancelDispatch(self, request, context):
        dispatch_id = check_id("id", request.id)
        check_text("reason", request.reason, MAX_REASON)
        dispatch = handlers.cancel_dispatch(
            self._uow(), dispatch_id, request.reason, actor=current_caller().actor, authorize=_authorize_dispatch
        )
        return dispatch_pb2.CancelDispatchResponse(dispatch=dispatch_to_proto(dispatch))

    def ReassignDispatch(self, request, context):
        reassignment = Reassignment(
            dispatch_id=request.id, rider_id=request.rider_id, vehicle_id=request.vehicle_id, reason=request.reason
        )
        dispatch = handlers.reassign_dispatch(
            self._uow(), self._attendance, reassignment, actor=current_caller().actor, authorize=_authorize_dispatch
        )
        return dispatch_pb2.ReassignDispatchResponse(dispatch=dispatch_to_proto(dispatch))

    def MovePickups(self, request, context):
        move = PickupMove(
            from_dispatch_id=request.from_dispatch_id,
            to_dispatch_id=request.to_dispatch_id,
            pur_ids=_pur_ids("pur_ids", request.pur_ids, required=True),
            reason=request.reason,
        )
        source, target = handlers.move_pickups(
            self._uow(), move, actor=current_caller().actor, authorize=_authorize_dispatch
        )
        return dispatch_pb2.MovePickupsResponse(
            from_dispatch=dispatch_to_proto(source), to_dispatch=dispatch_to_proto(target)
        )

    def WatchOpenPickupsByRoute(self, request, context) -> Iterator[bytes]:  # encoded responses
        hub_id = check_id("hub_id", request.hub_id)
        pickup_date = parse_date("pickup_date", request.pickup_date)
        current_caller().require_hub(hub_id)
        yield from self._board.watch(hub_id, pickup_date, context.is_active, context.add_callback)

    def PlanDispatches(self, request, context):
        hub_id = check_id("hub_id", request.hub_id)
        pickup_date = parse_date("pickup_date", request.pickup_date)
        if len(request.route_ids) > MAX_ROUTES:
            raise InvalidArgument(f"route_ids holds {len(request.route_ids)} ids; the limit is {MAX_ROUTES}")
        route_ids = [check_id(f"route_ids[{i}]", route_id) for i, route_id in enumerate(request.route_ids)]
        current_caller().require_hub(hub_id)
        if self._planner is None:
            raise Unavailable("this dispatch_svc has no trip planner configured")
        plan = plan_dispatches(self._uow(), self._planner, hub_id, pickup_date, route_ids, settings=self._planning)
        left = [dispatch_pb2.RouteBacklog(route_id=r, pickups=n) for r, n in sorted(plan.left_for_next_plan.items())]
        return dispatch_pb2.PlanDispatchesResponse(plan=plan_to_proto(plan), left_for_next_plan=left)

    def CommitDispatchPlan(self, request, context):
        commit = commit_request_from_proto(request)
        caller = current_caller()
        result = commit_dispatch_plan(self._uow(), commit, actor=caller.actor, authorize=caller.require_hub)
        return committed_to_proto(result)

    def UpsertHub(self, request, context):
        hub = hub_from_proto(request)
        created = hubs.upsert_hub(self._uow(), hub)
        return dispatch_pb2.UpsertHubResponse(hub=hub_to_proto(hub), created=created)

    def ImportVolumeHistory(self, request, context):
        hub_id = check_id("hub_id", request.hub_id)
        rows = volume_rows_from_proto(request.rows)
        current_caller().require_hub(hub_id)
        result = forecasts.import_volume_history(self._uow(), hub_id, rows, validate_only=request.validate_only)
        return dispatch_pb2.ImportVolumeHistoryResponse(imported=result.imported, replaced=result.replaced)

    def ForecastPickupVolume(self, request, context):
        query = forecasts.VolumeForecastQuery(
            hub_id=check_id("hub_id", request.hub_id),
            route_id=check_id("route_id", request.route_id, required=False),
            start=parse_date("start_date", request.start_date),
            days=request.days,
            events=events_from_proto(request.events),
        )
        current_caller().require_hub(query.hub_id)
        result = forecasts.forecast_pickup_volume(self._uow(), self._volume_forecaster(), query)
        return volume_forecast_to_proto(result)

    def ForecastFleetNeed(self, request, context):
        query = forecasts.FleetNeedQuery(
            hub_id=check_id("hub_id", request.hub_id),
            day=parse_date("date", request.date),
            events=events_from_proto(request.events),
        )
        current_caller().require_hub(query.hub_id)
        if self._travel is None:
            raise Unavailable("this dispatch_svc has no travel model configured")
        report = forecasts.forecast_fleet_need(
            self._uow(), self._volume_forecaster(), query, self._travel, self._planning
        )
        return fleet_need_to_proto(report)

    def _volume_forecaster(self) -> VolumeForecaster:
        if self._forecaster is None:
            raise Unavailable("this dispatch_svc has no volume forecaster configured")
        return self._forecaster


def registration(servicer: DispatchServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        dispatch_pb2_grpc.add_DispatchServiceServicer_to_server(servicer, sends_encoded(server, ENCODED_RESPONSES))

    return ServiceRegistration(SERVICE_NAME, add, ACCESS)
