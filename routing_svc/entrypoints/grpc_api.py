"""gRPC entrypoint of routing_svc: validates `firstmile.routing.v1.RoutingService` requests, runs
the use case, and translates the answer. Errors are raised as mesh errors; the server maps them."""

from __future__ import annotations

from collections.abc import Callable

import grpc
import numpy as np

from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.auth import ADMINS, STAFF
from mesh.errors import InvalidArgument
from mesh.access import AccessRule, Scope, current_caller
from mesh.grpc_server import ServiceRegistration
from mesh.paging import decode_page_token, encode_page_token
from routing_svc.adapters.messages import batch_lookup_to_proto, lookup_to_proto, route_map_to_proto, route_to_proto
from routing_svc.domain.errors import InvalidGeometry
from routing_svc.domain.geometry import make_route, parse_route_collection
from routing_svc.domain.model import Route
from routing_svc.entrypoints.validation import id_problem, location_problem
from routing_svc.service_layer import handlers
from routing_svc.service_layer.commands import LookupQuery
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import RoutingUnitOfWork

SERVICE_NAME = "firstmile.routing.v1.RoutingService"
MAX_GEOMETRY_BYTES = 1024 * 1024
MAX_COLLECTION_BYTES = 16 * 1024 * 1024
MAX_BATCH_LOOKUPS = 10_000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def _check_id(name: str, value: str, *, required: bool = True) -> None:
    problem = id_problem(name, value, required=required)
    if problem:
        raise InvalidArgument(problem)


def route_from_proto(route: routing_pb2.Route) -> Route:
    """Validate an upserted route into the domain's Route; InvalidArgument says what is wrong."""
    _check_id("route.id", route.id)
    _check_id("route.hub_id", route.hub_id)
    _check_id("route.default_rider_id", route.default_rider_id, required=False)
    if not route.geometry_geojson:
        raise InvalidArgument("route.geometry_geojson is required")
    size = len(route.geometry_geojson.encode())
    if size > MAX_GEOMETRY_BYTES:
        raise InvalidArgument(f"route.geometry_geojson is {size} bytes; at most {MAX_GEOMETRY_BYTES} are allowed")
    try:
        return make_route(
            route_id=route.id,
            hub_id=route.hub_id,
            name=route.name,
            geometry_geojson=route.geometry_geojson,
            default_rider_id=route.default_rider_id,
            priority=route.priority,
            active=route.active if route.HasField("active") else True,
        )
    except InvalidGeometry as exc:
        raise InvalidArgument(f"route: {exc}") from None


def lookup_columns(lookups) -> tuple[np.ndarray, np.ndarray, list[str]]:  # noqa: ANN001 - a repeated field
    """(lats, lngs, hub_ids) of a batch, every item validated before anything is looked up.

    The checks are vectorized; when one fails, the first failing item is validated alone so the
    error names it and says what is wrong, exactly as LookupRoute would.
    """
    count = len(lookups)
    lats = np.fromiter((item.location.lat for item in lookups), dtype=np.float64, count=count)
    lngs = np.fromiter((item.location.lng for item in lookups), dtype=np.float64, count=count)
    hub_ids = [item.hub_id for item in lookups]
    with np.errstate(invalid="ignore"):
        bad = ~((np.abs(lats) <= 90.0) & (np.abs(lngs) <= 180.0))  # NaN compares False: bad too
    bad_hubs = {hub_id for hub_id in set(hub_ids) if id_problem("hub_id", hub_id, required=False)}
    missing = next((i for i, item in enumerate(lookups) if not item.HasField("location")), None)
    suspects = [hub_ids.index(hub_id) for hub_id in bad_hubs]
    suspects += [i for i in (missing, int(np.argmax(bad)) if bad.any() else None) if i is not None]
    if suspects:
        first = min(suspects)
        lookup_from_proto(lookups[first], f"lookups[{first}]: ")
    return lats, lngs, hub_ids


def lookup_from_proto(request: routing_pb2.LookupRouteRequest, where: str = "") -> LookupQuery:
    if not request.HasField("location"):
        raise InvalidArgument(f"{where}location is required")
    lat, lng = request.location.lat, request.location.lng
    problem = location_problem("location", lat, lng) or id_problem("hub_id", request.hub_id, required=False)
    if problem:
        raise InvalidArgument(where + problem)
    return LookupQuery(lat=lat, lng=lng, hub_id=request.hub_id)


# Route maps change only by admins; team leads read their hubs' maps.
ACCESS = {
    "UpsertRoute": AccessRule(ADMINS, Scope.EVERY_HUB),
    "ImportRoutes": AccessRule(ADMINS, Scope.EVERY_HUB),
    "DeleteRoute": AccessRule(ADMINS, Scope.EVERY_HUB),
    "GetRoute": AccessRule(STAFF, Scope.HUB),
    "ListRoutes": AccessRule(STAFF, Scope.HUB),
    "GetRouteMap": AccessRule(STAFF, Scope.HUB),
    "LookupRoute": AccessRule(STAFF, Scope.HUB),
    "BatchLookupRoutes": AccessRule(STAFF, Scope.HUB),
}


class RoutingServicer(routing_pb2_grpc.RoutingServiceServicer):
    def __init__(self, uow_factory: Callable[[], RoutingUnitOfWork], registry: IndexRegistry) -> None:
        self._uow = uow_factory
        self._registry = registry

    def UpsertRoute(self, request, context):
        if not request.HasField("route"):
            raise InvalidArgument("route is required")
        outcome = handlers.upsert_route(self._uow(), self._registry, route_from_proto(request.route))
        return routing_pb2.UpsertRouteResponse(
            route=route_to_proto(outcome.route), created=outcome.created, map_version=outcome.map_version
        )

    def ImportRoutes(self, request, context):
        _check_id("hub_id", request.hub_id)
        text = request.feature_collection_geojson
        if not text:
            raise InvalidArgument("feature_collection_geojson is required")
        size = len(text.encode())
        if size > MAX_COLLECTION_BYTES:
            raise InvalidArgument(
                f"feature_collection_geojson is {size} bytes; at most {MAX_COLLECTION_BYTES} are allowed"
            )
        try:
            routes = parse_route_collection(text, request.hub_id)
        except InvalidGeometry as exc:
            raise InvalidArgument(str(exc)) from None
        change = handlers.import_routes(
            self._uow(), self._registry, request.hub_id, routes, replace_existing=request.replace_existing
        )
        return routing_pb2.ImportRoutesResponse(
            created_count=len(change.created),
            updated_count=len(change.updated),
            deleted_count=len(change.deleted),
            unchanged_count=len(change.unchanged),
            map_version=change.map_version,
        )

    def GetRoute(self, request, context):
        _check_id("id", request.id)
        route = handlers.get_route(self._uow(), request.id)
        current_caller().require_hub(route.hub_id)
        return routing_pb2.GetRouteResponse(route=route_to_proto(route))

    def ListRoutes(self, request, context):
        _check_id("hub_id", request.hub_id)
        current_caller().require_hub(request.hub_id)
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after_id = decode_page_token(
            request.page_token, (request.hub_id, request.include_inactive), lambda position: position["a"]
        )
        page = handlers.list_routes(
            self._uow(),
            request.hub_id,
            include_inactive=request.include_inactive,
            page_size=page_size,
            after_id=after_id,
            with_geometry=not request.omit_geometry,
        )
        return routing_pb2.ListRoutesResponse(
            routes=[route_to_proto(r, omit_geometry=request.omit_geometry) for r in page.routes],
            next_page_token=(
                encode_page_token({"a": page.next_after_id}, (request.hub_id, request.include_inactive))
                if page.next_after_id
                else ""
            ),
            map_version=page.map_version,
        )

    def DeleteRoute(self, request, context):
        _check_id("id", request.id)
        return routing_pb2.DeleteRouteResponse(
            map_version=handlers.delete_route(self._uow(), self._registry, request.id)
        )

    def LookupRoute(self, request, context):
        query = lookup_from_proto(request)
        current_caller().require_hub(query.hub_id)
        return lookup_to_proto(handlers.lookup_route(self._registry, query))

    def BatchLookupRoutes(self, request, context):
        count = len(request.lookups)
        if not 1 <= count <= MAX_BATCH_LOOKUPS:
            raise InvalidArgument(f"lookups holds {count} items; send 1 to {MAX_BATCH_LOOKUPS}")
        lats, lngs, hub_ids = lookup_columns(request.lookups)
        caller = current_caller()
        for hub_id in set(hub_ids):
            caller.require_hub(hub_id)
        return batch_lookup_to_proto(handlers.batch_lookup(self._registry, lats, lngs, hub_ids))

    def GetRouteMap(self, request, context):
        _check_id("hub_id", request.hub_id)
        current_caller().require_hub(request.hub_id)
        index = handlers.route_map(self._registry, request.hub_id)
        return route_map_to_proto(index, omit_geojson=request.omit_geojson)


def registration(servicer: RoutingServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        routing_pb2_grpc.add_RoutingServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add, ACCESS)
