import datetime

from firstmile.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Route(_message.Message):
    __slots__ = ("id", "hub_id", "name", "geometry_geojson", "default_rider_id", "priority", "active", "cell_count", "map_version", "created_at", "updated_at")
    ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    GEOMETRY_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    id: str
    hub_id: str
    name: str
    geometry_geojson: str
    default_rider_id: str
    priority: int
    active: bool
    cell_count: int
    map_version: int
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    def __init__(self, id: _Optional[str] = ..., hub_id: _Optional[str] = ..., name: _Optional[str] = ..., geometry_geojson: _Optional[str] = ..., default_rider_id: _Optional[str] = ..., priority: _Optional[int] = ..., active: _Optional[bool] = ..., cell_count: _Optional[int] = ..., map_version: _Optional[int] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpsertRouteRequest(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: Route
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ...) -> None: ...

class UpsertRouteResponse(_message.Message):
    __slots__ = ("route", "created", "map_version")
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    route: Route
    created: bool
    map_version: int
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ..., created: _Optional[bool] = ..., map_version: _Optional[int] = ...) -> None: ...

class ImportRoutesRequest(_message.Message):
    __slots__ = ("hub_id", "feature_collection_geojson", "replace_existing")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    FEATURE_COLLECTION_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    REPLACE_EXISTING_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    feature_collection_geojson: str
    replace_existing: bool
    def __init__(self, hub_id: _Optional[str] = ..., feature_collection_geojson: _Optional[str] = ..., replace_existing: _Optional[bool] = ...) -> None: ...

class ImportRoutesResponse(_message.Message):
    __slots__ = ("created_count", "updated_count", "deleted_count", "unchanged_count", "map_version")
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    DELETED_COUNT_FIELD_NUMBER: _ClassVar[int]
    UNCHANGED_COUNT_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    created_count: int
    updated_count: int
    deleted_count: int
    unchanged_count: int
    map_version: int
    def __init__(self, created_count: _Optional[int] = ..., updated_count: _Optional[int] = ..., deleted_count: _Optional[int] = ..., unchanged_count: _Optional[int] = ..., map_version: _Optional[int] = ...) -> None: ...

class GetRouteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetRouteResponse(_message.Message):
    __slots__ = ("route",)
    ROUTE_FIELD_NUMBER: _ClassVar[int]
    route: Route
    def __init__(self, route: _Optional[_Union[Route, _Mapping]] = ...) -> None: ...

class ListRoutesRequest(_message.Message):
    __slots__ = ("hub_id", "include_inactive", "omit_geometry", "page_size", "page_token")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_INACTIVE_FIELD_NUMBER: _ClassVar[int]
    OMIT_GEOMETRY_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    include_inactive: bool
    omit_geometry: bool
    page_size: int
    page_token: str
    def __init__(self, hub_id: _Optional[str] = ..., include_inactive: _Optional[bool] = ..., omit_geometry: _Optional[bool] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListRoutesResponse(_message.Message):
    __slots__ = ("routes", "next_page_token", "map_version")
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    routes: _containers.RepeatedCompositeFieldContainer[Route]
    next_page_token: str
    map_version: int
    def __init__(self, routes: _Optional[_Iterable[_Union[Route, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., map_version: _Optional[int] = ...) -> None: ...

class DeleteRouteRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class DeleteRouteResponse(_message.Message):
    __slots__ = ("map_version",)
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    map_version: int
    def __init__(self, map_version: _Optional[int] = ...) -> None: ...

class LookupRouteRequest(_message.Message):
    __slots__ = ("location", "hub_id")
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    location: _common_pb2.LatLng
    hub_id: str
    def __init__(self, location: _Optional[_Union[_common_pb2.LatLng, _Mapping]] = ..., hub_id: _Optional[str] = ...) -> None: ...

class LookupRouteResponse(_message.Message):
    __slots__ = ("route_id", "hub_id", "rider_id", "match", "distance_m", "h3_cell", "map_version", "unroutable_reason")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    H3_CELL_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    UNROUTABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    hub_id: str
    rider_id: str
    match: _common_pb2.RouteMatch
    distance_m: float
    h3_cell: str
    map_version: int
    unroutable_reason: str
    def __init__(self, route_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., rider_id: _Optional[str] = ..., match: _Optional[_Union[_common_pb2.RouteMatch, str]] = ..., distance_m: _Optional[float] = ..., h3_cell: _Optional[str] = ..., map_version: _Optional[int] = ..., unroutable_reason: _Optional[str] = ...) -> None: ...

class BatchLookupRoutesRequest(_message.Message):
    __slots__ = ("lookups",)
    LOOKUPS_FIELD_NUMBER: _ClassVar[int]
    lookups: _containers.RepeatedCompositeFieldContainer[LookupRouteRequest]
    def __init__(self, lookups: _Optional[_Iterable[_Union[LookupRouteRequest, _Mapping]]] = ...) -> None: ...

class BatchLookupRoutesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[LookupRouteResponse]
    def __init__(self, results: _Optional[_Iterable[_Union[LookupRouteResponse, _Mapping]]] = ...) -> None: ...

class GetRouteMapRequest(_message.Message):
    __slots__ = ("hub_id", "omit_geojson")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    OMIT_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    omit_geojson: bool
    def __init__(self, hub_id: _Optional[str] = ..., omit_geojson: _Optional[bool] = ...) -> None: ...

class RouteCoverage(_message.Message):
    __slots__ = ("route_id", "cell_count", "edge_cell_count")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    EDGE_CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    cell_count: int
    edge_cell_count: int
    def __init__(self, route_id: _Optional[str] = ..., cell_count: _Optional[int] = ..., edge_cell_count: _Optional[int] = ...) -> None: ...

class RouteOverlap(_message.Message):
    __slots__ = ("route_id_a", "route_id_b", "shared_cell_count", "winner_route_id")
    ROUTE_ID_A_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_B_FIELD_NUMBER: _ClassVar[int]
    SHARED_CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    WINNER_ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    route_id_a: str
    route_id_b: str
    shared_cell_count: int
    winner_route_id: str
    def __init__(self, route_id_a: _Optional[str] = ..., route_id_b: _Optional[str] = ..., shared_cell_count: _Optional[int] = ..., winner_route_id: _Optional[str] = ...) -> None: ...

class GetRouteMapResponse(_message.Message):
    __slots__ = ("hub_id", "map_version", "route_count", "cell_count", "resolution", "routes", "overlaps", "gap_cell_count", "gaps_geojson", "coverage_geojson", "edge_cell_count", "compiled_at")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    ROUTE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    OVERLAPS_FIELD_NUMBER: _ClassVar[int]
    GAP_CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    GAPS_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    COVERAGE_GEOJSON_FIELD_NUMBER: _ClassVar[int]
    EDGE_CELL_COUNT_FIELD_NUMBER: _ClassVar[int]
    COMPILED_AT_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    map_version: int
    route_count: int
    cell_count: int
    resolution: int
    routes: _containers.RepeatedCompositeFieldContainer[RouteCoverage]
    overlaps: _containers.RepeatedCompositeFieldContainer[RouteOverlap]
    gap_cell_count: int
    gaps_geojson: str
    coverage_geojson: str
    edge_cell_count: int
    compiled_at: _timestamp_pb2.Timestamp
    def __init__(self, hub_id: _Optional[str] = ..., map_version: _Optional[int] = ..., route_count: _Optional[int] = ..., cell_count: _Optional[int] = ..., resolution: _Optional[int] = ..., routes: _Optional[_Iterable[_Union[RouteCoverage, _Mapping]]] = ..., overlaps: _Optional[_Iterable[_Union[RouteOverlap, _Mapping]]] = ..., gap_cell_count: _Optional[int] = ..., gaps_geojson: _Optional[str] = ..., coverage_geojson: _Optional[str] = ..., edge_cell_count: _Optional[int] = ..., compiled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
