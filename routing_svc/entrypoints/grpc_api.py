"""gRPC entrypoint of routing_svc: validates `firstmile.routing.v1.RoutingService` requests, runs
the use case, and translates the answer. Errors propagate as mesh error kinds; the server maps them."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import grpc
import numpy as np
import numpy.typing as npt

from firstmile.routing.v1 import routing_pb2, routing_pb2_grpc
from mesh.access import AccessRule, Scope, current_caller
from mesh.auth import ADMINS, STAFF
from mesh.errors import InvalidArgument
from mesh.grpc_server import ServiceRegistration
from mesh.kernel import check_coordinates, check_id, is_id
from mesh.paging import decode_page_token, encode_page_token
from routing_svc.adapters.messages import batch_lookup_to_proto, lookup_to_proto, route_map_to_proto, route_to_proto
from routing_svc.domain.geometry import make_route, parse_route_collection
from routing_svc.domain.model import Route
from routing_svc.service_layer import handlers
from routing_svc.service_layer.commands import LookupQuery
from routing_svc.service_layer.index_registry import IndexRegistry
from routing_svc.service_layer.unit_of_work import AbstractRoutingUnitOfWork

SERVICE_NAME = "firstmile.routing.v1.RoutingService"
MAX_COLLECTION_BYTES = 16 * 1024 * 1024
MAX_BATCH_LOOKUPS = 10_000
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 1000


def route_from_proto(route: routing_pb2.Route) -> Route:
    return make_route(
        route_id=route.id,
        hub_id=route.hub_id,
        name=route.name,
        geometry_geojson=route.geometry_geojson,
        default_rider_id=route.default_rider_id,
        priority=route.priority,
        active=route.active if route.HasField("active") else True,
        field="route.",
    )


def lookup_from_proto(request: routing_pb2.LookupRouteRequest, field: str = "") -> LookupQuery:
    """`field` prefixes the names in errors ("lookups[3]." for an item of a batch)."""
    if not request.HasField("location"):
        raise InvalidArgument(f"{field}location is required")
    lat, lng = check_coordinates(f"{field}location", request.location.lat, request.location.lng)
    return LookupQuery(lat=lat, lng=lng, hub_id=check_id(f"{field}hub_id", request.hub_id, required=False))


def lookup_columns(
    lookups: Sequence[routing_pb2.LookupRouteRequest],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], list[str]]:
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
    suspects = [hub_ids.index(hub_id) for hub_id in set(hub_ids) if hub_id and not is_id(hub_id)]
    missing = next((i for i, item in enumerate(lookups) if not item.HasField("location")), None)
    suspects += [i for i in (missing, int(np.argmax(bad)) if bad.any() else None) if i is not None]
    if suspects:
        first = min(suspects)
        lookup_from_proto(lookups[first], f"lookups[{first}].")
    return lats, lngs, hub_ids


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
    def __init__(self, uow_factory: Callable[[], AbstractRoutingUnitOfWork], registry: IndexRegistry) -> None:
        self._uow = uow_factory
        self._registry = registry

    def UpsertRoute(
        self, request: routing_pb2.UpsertRouteRequest, context: grpc.ServicerContext
    ) -> routing_pb2.UpsertRouteResponse:
        if not request.HasField("route"):
            raise InvalidArgument("route is required")
        outcome = handlers.upsert_route(self._uow(), self._registry, route_from_proto(request.route))
        return routing_pb2.UpsertRouteResponse(
            route=route_to_proto(outcome.route), created=outcome.created, map_version=outcome.map_version
        )

    def ImportRoutes(
        self, request: routing_pb2.ImportRoutesRequest, context: grpc.ServicerContext
    ) -> routing_pb2.ImportRoutesResponse:
        text = request.feature_collection_geojson
        if not text:
            raise InvalidArgument("feature_collection_geojson is required")
        size = len(text.encode())
        if size > MAX_COLLECTION_BYTES:
            raise InvalidArgument(
                f"feature_collection_geojson is {size} bytes; at most {MAX_COLLECTION_BYTES} are allowed"
            )
        routes = parse_route_collection(text, request.hub_id)
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

    def GetRoute(
        self, request: routing_pb2.GetRouteRequest, context: grpc.ServicerContext
    ) -> routing_pb2.GetRouteResponse:
        route = handlers.get_route(self._uow(), check_id("id", request.id))
        current_caller().require_hub(route.hub_id)
        return routing_pb2.GetRouteResponse(route=route_to_proto(route))

    def ListRoutes(
        self, request: routing_pb2.ListRoutesRequest, context: grpc.ServicerContext
    ) -> routing_pb2.ListRoutesResponse:
        hub_id = check_id("hub_id", request.hub_id)
        current_caller().require_hub(hub_id)
        if request.page_size < 0:
            raise InvalidArgument("page_size must not be negative")
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        filters = (hub_id, request.include_inactive)
        after_id = decode_page_token(request.page_token, filters, lambda position: position["a"])
        page = handlers.list_routes(
            self._uow(),
            hub_id,
            include_inactive=request.include_inactive,
            page_size=page_size,
            after_id=after_id,
            with_geometry=not request.omit_geometry,
        )
        return routing_pb2.ListRoutesResponse(
            routes=[route_to_proto(r, omit_geometry=request.omit_geometry) for r in page.routes],
            next_page_token=encode_page_token({"a": page.next_after_id}, filters) if page.next_after_id else "",
            map_version=page.map_version,
        )

    def DeleteRoute(
        self, request: routing_pb2.DeleteRouteRequest, context: grpc.ServicerContext
    ) -> routing_pb2.DeleteRouteResponse:
        version = handlers.delete_route(self._uow(), self._registry, check_id("id", request.id))
        return routing_pb2.DeleteRouteResponse(map_version=version)

    def LookupRoute(
        self, request: routing_pb2.LookupRouteRequest, context: grpc.ServicerContext
    ) -> routing_pb2.LookupRouteResponse:
        query = lookup_from_proto(request)
        current_caller().require_hub(query.hub_id)
        return lookup_to_proto(handlers.lookup_route(self._registry, query))

    def BatchLookupRoutes(
        self, request: routing_pb2.BatchLookupRoutesRequest, context: grpc.ServicerContext
    ) -> routing_pb2.BatchLookupRoutesResponse:
        count = len(request.lookups)
        if not 1 <= count <= MAX_BATCH_LOOKUPS:
            raise InvalidArgument(f"lookups holds {count} items; send 1 to {MAX_BATCH_LOOKUPS}")
        lats, lngs, hub_ids = lookup_columns(request.lookups)
        caller = current_caller()
        for hub_id in set(hub_ids):
            caller.require_hub(hub_id)
        return batch_lookup_to_proto(handlers.batch_lookup(self._registry, lats, lngs, hub_ids))

    def GetRouteMap(
        self, request: routing_pb2.GetRouteMapRequest, context: grpc.ServicerContext
    ) -> routing_pb2.GetRouteMapResponse:
        hub_id = check_id("hub_id", request.hub_id)
        current_caller().require_hub(hub_id)
        index = handlers.route_map(self._registry, hub_id)
        return route_map_to_proto(index, omit_geojson=request.omit_geojson)


def registration(servicer: RoutingServicer) -> ServiceRegistration:
    def add(server: grpc.Server) -> None:
        routing_pb2_grpc.add_RoutingServiceServicer_to_server(servicer, server)

    return ServiceRegistration(SERVICE_NAME, add, ACCESS)
