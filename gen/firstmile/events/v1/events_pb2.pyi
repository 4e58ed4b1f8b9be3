import datetime

from firstmile.attendance.v1 import attendance_pb2 as _attendance_pb2
from firstmile.common.v1 import common_pb2 as _common_pb2
from firstmile.dispatch.v1 import dispatch_pb2 as _dispatch_pb2
from firstmile.pur.v1 import pur_pb2 as _pur_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RoutingReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTING_REASON_UNSPECIFIED: _ClassVar[RoutingReason]
    ROUTING_REASON_CREATED: _ClassVar[RoutingReason]
    ROUTING_REASON_MAP_CHANGED: _ClassVar[RoutingReason]
    ROUTING_REASON_RETRY: _ClassVar[RoutingReason]

class ReleaseReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RELEASE_REASON_UNSPECIFIED: _ClassVar[ReleaseReason]
    RELEASE_REASON_REMOVED: _ClassVar[ReleaseReason]
    RELEASE_REASON_DISPATCH_CANCELLED: _ClassVar[ReleaseReason]

class RouteMapChangeKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_MAP_CHANGE_KIND_UNSPECIFIED: _ClassVar[RouteMapChangeKind]
    ROUTE_MAP_CHANGE_KIND_UPSERT: _ClassVar[RouteMapChangeKind]
    ROUTE_MAP_CHANGE_KIND_DELETE: _ClassVar[RouteMapChangeKind]
    ROUTE_MAP_CHANGE_KIND_IMPORT: _ClassVar[RouteMapChangeKind]
ROUTING_REASON_UNSPECIFIED: RoutingReason
ROUTING_REASON_CREATED: RoutingReason
ROUTING_REASON_MAP_CHANGED: RoutingReason
ROUTING_REASON_RETRY: RoutingReason
RELEASE_REASON_UNSPECIFIED: ReleaseReason
RELEASE_REASON_REMOVED: ReleaseReason
RELEASE_REASON_DISPATCH_CANCELLED: ReleaseReason
ROUTE_MAP_CHANGE_KIND_UNSPECIFIED: RouteMapChangeKind
ROUTE_MAP_CHANGE_KIND_UPSERT: RouteMapChangeKind
ROUTE_MAP_CHANGE_KIND_DELETE: RouteMapChangeKind
ROUTE_MAP_CHANGE_KIND_IMPORT: RouteMapChangeKind

class PickupRequested(_message.Message):
    __slots__ = ("pur_id", "hub_id", "client_id", "location", "pickup_date", "expected_packages", "expected_weight_kg", "min_map_version", "reason", "attempt", "requested_at", "warehouse_id")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    MIN_MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_AT_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_ID_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    hub_id: str
    client_id: str
    location: _common_pb2.LatLng
    pickup_date: str
    expected_packages: int
    expected_weight_kg: float
    min_map_version: int
    reason: RoutingReason
    attempt: int
    requested_at: _timestamp_pb2.Timestamp
    warehouse_id: str
    def __init__(self, pur_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., client_id: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.LatLng, _Mapping]] = ..., pickup_date: _Optional[str] = ..., expected_packages: _Optional[int] = ..., expected_weight_kg: _Optional[float] = ..., min_map_version: _Optional[int] = ..., reason: _Optional[_Union[RoutingReason, str]] = ..., attempt: _Optional[int] = ..., requested_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., warehouse_id: _Optional[str] = ...) -> None: ...

class RouteAssigned(_message.Message):
    __slots__ = ("pur_id", "route_id", "hub_id", "rider_id", "match", "distance_m", "h3_cell", "map_version", "assigned_at", "attempt")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    MATCH_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    H3_CELL_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    ASSIGNED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    route_id: str
    hub_id: str
    rider_id: str
    match: _common_pb2.RouteMatch
    distance_m: float
    h3_cell: str
    map_version: int
    assigned_at: _timestamp_pb2.Timestamp
    attempt: int
    def __init__(self, pur_id: _Optional[str] = ..., route_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., rider_id: _Optional[str] = ..., match: _Optional[_Union[_common_pb2.RouteMatch, str]] = ..., distance_m: _Optional[float] = ..., h3_cell: _Optional[str] = ..., map_version: _Optional[int] = ..., assigned_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

class Unroutable(_message.Message):
    __slots__ = ("pur_id", "hub_id", "reason", "map_version", "h3_cell", "nearest_route_id", "nearest_distance_m", "decided_at", "attempt")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    H3_CELL_FIELD_NUMBER: _ClassVar[int]
    NEAREST_ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    NEAREST_DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    DECIDED_AT_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    hub_id: str
    reason: str
    map_version: int
    h3_cell: str
    nearest_route_id: str
    nearest_distance_m: float
    decided_at: _timestamp_pb2.Timestamp
    attempt: int
    def __init__(self, pur_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., reason: _Optional[str] = ..., map_version: _Optional[int] = ..., h3_cell: _Optional[str] = ..., nearest_route_id: _Optional[str] = ..., nearest_distance_m: _Optional[float] = ..., decided_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., attempt: _Optional[int] = ...) -> None: ...

class RouteAssignment(_message.Message):
    __slots__ = ("assigned", "unroutable")
    ASSIGNED_FIELD_NUMBER: _ClassVar[int]
    UNROUTABLE_FIELD_NUMBER: _ClassVar[int]
    assigned: RouteAssigned
    unroutable: Unroutable
    def __init__(self, assigned: _Optional[_Union[RouteAssigned, _Mapping]] = ..., unroutable: _Optional[_Union[Unroutable, _Mapping]] = ...) -> None: ...

class PickupStatusChanged(_message.Message):
    __slots__ = ("pur_id", "hub_id", "client_id", "route_id", "pickup_date", "previous_status", "status", "pickup_request", "version", "changed_at", "previous_route_id")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PICKUP_REQUEST_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    hub_id: str
    client_id: str
    route_id: str
    pickup_date: str
    previous_status: _pur_pb2.PickupStatus
    status: _pur_pb2.PickupStatus
    pickup_request: _pur_pb2.PickupRequest
    version: int
    changed_at: _timestamp_pb2.Timestamp
    previous_route_id: str
    def __init__(self, pur_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., client_id: _Optional[str] = ..., route_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., previous_status: _Optional[_Union[_pur_pb2.PickupStatus, str]] = ..., status: _Optional[_Union[_pur_pb2.PickupStatus, str]] = ..., pickup_request: _Optional[_Union[_pur_pb2.PickupRequest, _Mapping]] = ..., version: _Optional[int] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., previous_route_id: _Optional[str] = ...) -> None: ...

class PickupDispatched(_message.Message):
    __slots__ = ("automatic", "moved_from_dispatch_id")
    AUTOMATIC_FIELD_NUMBER: _ClassVar[int]
    MOVED_FROM_DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    automatic: bool
    moved_from_dispatch_id: str
    def __init__(self, automatic: _Optional[bool] = ..., moved_from_dispatch_id: _Optional[str] = ...) -> None: ...

class RiderChanged(_message.Message):
    __slots__ = ("previous_rider_id", "previous_vehicle_id")
    PREVIOUS_RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    previous_rider_id: str
    previous_vehicle_id: str
    def __init__(self, previous_rider_id: _Optional[str] = ..., previous_vehicle_id: _Optional[str] = ...) -> None: ...

class PickupReleased(_message.Message):
    __slots__ = ("reason", "detail")
    REASON_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    reason: ReleaseReason
    detail: str
    def __init__(self, reason: _Optional[_Union[ReleaseReason, str]] = ..., detail: _Optional[str] = ...) -> None: ...

class PickupPickedUp(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DispatchStarted(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class DispatchEvent(_message.Message):
    __slots__ = ("pur_id", "dispatch_id", "hub_id", "route_id", "pickup_date", "rider_id", "vehicle_id", "dispatch_status", "version", "occurred_at", "dispatched", "released", "picked_up", "started", "rider_changed", "actor", "reason")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    OCCURRED_AT_FIELD_NUMBER: _ClassVar[int]
    DISPATCHED_FIELD_NUMBER: _ClassVar[int]
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    PICKED_UP_FIELD_NUMBER: _ClassVar[int]
    STARTED_FIELD_NUMBER: _ClassVar[int]
    RIDER_CHANGED_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    dispatch_id: str
    hub_id: str
    route_id: str
    pickup_date: str
    rider_id: str
    vehicle_id: str
    dispatch_status: _dispatch_pb2.DispatchStatus
    version: int
    occurred_at: _timestamp_pb2.Timestamp
    dispatched: PickupDispatched
    released: PickupReleased
    picked_up: PickupPickedUp
    started: DispatchStarted
    rider_changed: RiderChanged
    actor: _common_pb2.Actor
    reason: str
    def __init__(self, pur_id: _Optional[str] = ..., dispatch_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., route_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., rider_id: _Optional[str] = ..., vehicle_id: _Optional[str] = ..., dispatch_status: _Optional[_Union[_dispatch_pb2.DispatchStatus, str]] = ..., version: _Optional[int] = ..., occurred_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dispatched: _Optional[_Union[PickupDispatched, _Mapping]] = ..., released: _Optional[_Union[PickupReleased, _Mapping]] = ..., picked_up: _Optional[_Union[PickupPickedUp, _Mapping]] = ..., started: _Optional[_Union[DispatchStarted, _Mapping]] = ..., rider_changed: _Optional[_Union[RiderChanged, _Mapping]] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class RouteMapChanged(_message.Message):
    __slots__ = ("hub_id", "map_version", "previous_map_version", "kind", "changed_route_ids", "changed_at", "routes", "deleted_route_ids", "part", "parts")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    CHANGED_ROUTE_IDS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    DELETED_ROUTE_IDS_FIELD_NUMBER: _ClassVar[int]
    PART_FIELD_NUMBER: _ClassVar[int]
    PARTS_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    map_version: int
    previous_map_version: int
    kind: RouteMapChangeKind
    changed_route_ids: _containers.RepeatedScalarFieldContainer[str]
    changed_at: _timestamp_pb2.Timestamp
    routes: _containers.RepeatedCompositeFieldContainer[RouteSummary]
    deleted_route_ids: _containers.RepeatedScalarFieldContainer[str]
    part: int
    parts: int
    def __init__(self, hub_id: _Optional[str] = ..., map_version: _Optional[int] = ..., previous_map_version: _Optional[int] = ..., kind: _Optional[_Union[RouteMapChangeKind, str]] = ..., changed_route_ids: _Optional[_Iterable[str]] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., routes: _Optional[_Iterable[_Union[RouteSummary, _Mapping]]] = ..., deleted_route_ids: _Optional[_Iterable[str]] = ..., part: _Optional[int] = ..., parts: _Optional[int] = ...) -> None: ...

class RouteSummary(_message.Message):
    __slots__ = ("id", "name", "default_rider_id", "active", "priority")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    default_rider_id: str
    active: bool
    priority: int
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., default_rider_id: _Optional[str] = ..., active: _Optional[bool] = ..., priority: _Optional[int] = ...) -> None: ...

class AttendanceChanged(_message.Message):
    __slots__ = ("rider_id", "hub_id", "date", "status", "previous_status", "record", "changed_at")
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    rider_id: str
    hub_id: str
    date: str
    status: _attendance_pb2.AttendanceStatus
    previous_status: _attendance_pb2.AttendanceStatus
    record: _attendance_pb2.AttendanceRecord
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, rider_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., date: _Optional[str] = ..., status: _Optional[_Union[_attendance_pb2.AttendanceStatus, str]] = ..., previous_status: _Optional[_Union[_attendance_pb2.AttendanceStatus, str]] = ..., record: _Optional[_Union[_attendance_pb2.AttendanceRecord, _Mapping]] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
