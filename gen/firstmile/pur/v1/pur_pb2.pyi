import datetime

from firstmile.common.v1 import common_pb2 as _common_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ReviewReason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REVIEW_REASON_UNSPECIFIED: _ClassVar[ReviewReason]
    REVIEW_REASON_UNROUTABLE: _ClassVar[ReviewReason]
    REVIEW_REASON_FAR_FROM_ROUTE: _ClassVar[ReviewReason]
    REVIEW_REASON_ROUTE_DELETED: _ClassVar[ReviewReason]

class PickupStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PICKUP_STATUS_UNSPECIFIED: _ClassVar[PickupStatus]
    PICKUP_STATUS_PENDING_ROUTE: _ClassVar[PickupStatus]
    PICKUP_STATUS_ROUTED: _ClassVar[PickupStatus]
    PICKUP_STATUS_UNROUTABLE: _ClassVar[PickupStatus]
    PICKUP_STATUS_DISPATCHED: _ClassVar[PickupStatus]
    PICKUP_STATUS_PICKED_UP: _ClassVar[PickupStatus]
    PICKUP_STATUS_CANCELLED: _ClassVar[PickupStatus]
REVIEW_REASON_UNSPECIFIED: ReviewReason
REVIEW_REASON_UNROUTABLE: ReviewReason
REVIEW_REASON_FAR_FROM_ROUTE: ReviewReason
REVIEW_REASON_ROUTE_DELETED: ReviewReason
PICKUP_STATUS_UNSPECIFIED: PickupStatus
PICKUP_STATUS_PENDING_ROUTE: PickupStatus
PICKUP_STATUS_ROUTED: PickupStatus
PICKUP_STATUS_UNROUTABLE: PickupStatus
PICKUP_STATUS_DISPATCHED: PickupStatus
PICKUP_STATUS_PICKED_UP: PickupStatus
PICKUP_STATUS_CANCELLED: PickupStatus

class PickupRequest(_message.Message):
    __slots__ = ("id", "request_id", "client_id", "hub_id", "warehouse", "pickup_date", "expected_packages", "expected_weight_kg", "status", "route_id", "rider_id", "dispatch_id", "route_match", "distance_m", "map_version", "unroutable_reason", "created_at", "updated_at", "routed_at", "version", "cancel_reason", "review", "nearest_route_id", "nearest_distance_m", "manual_reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_MATCH_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    UNROUTABLE_REASON_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    ROUTED_AT_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    NEAREST_ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    NEAREST_DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    MANUAL_REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    request_id: str
    client_id: str
    hub_id: str
    warehouse: _common_pb2.Warehouse
    pickup_date: str
    expected_packages: int
    expected_weight_kg: float
    status: PickupStatus
    route_id: str
    rider_id: str
    dispatch_id: str
    route_match: _common_pb2.RouteMatch
    distance_m: float
    map_version: int
    unroutable_reason: str
    created_at: _timestamp_pb2.Timestamp
    updated_at: _timestamp_pb2.Timestamp
    routed_at: _timestamp_pb2.Timestamp
    version: int
    cancel_reason: str
    review: ReviewReason
    nearest_route_id: str
    nearest_distance_m: float
    manual_reason: str
    def __init__(self, id: _Optional[str] = ..., request_id: _Optional[str] = ..., client_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., warehouse: _Optional[_Union[_common_pb2.Warehouse, _Mapping]] = ..., pickup_date: _Optional[str] = ..., expected_packages: _Optional[int] = ..., expected_weight_kg: _Optional[float] = ..., status: _Optional[_Union[PickupStatus, str]] = ..., route_id: _Optional[str] = ..., rider_id: _Optional[str] = ..., dispatch_id: _Optional[str] = ..., route_match: _Optional[_Union[_common_pb2.RouteMatch, str]] = ..., distance_m: _Optional[float] = ..., map_version: _Optional[int] = ..., unroutable_reason: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., routed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., version: _Optional[int] = ..., cancel_reason: _Optional[str] = ..., review: _Optional[_Union[ReviewReason, str]] = ..., nearest_route_id: _Optional[str] = ..., nearest_distance_m: _Optional[float] = ..., manual_reason: _Optional[str] = ...) -> None: ...

class CreatePickupRequestRequest(_message.Message):
    __slots__ = ("request_id", "client_id", "hub_id", "warehouse", "pickup_date", "expected_packages", "expected_weight_kg")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    client_id: str
    hub_id: str
    warehouse: _common_pb2.Warehouse
    pickup_date: str
    expected_packages: int
    expected_weight_kg: float
    def __init__(self, request_id: _Optional[str] = ..., client_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., warehouse: _Optional[_Union[_common_pb2.Warehouse, _Mapping]] = ..., pickup_date: _Optional[str] = ..., expected_packages: _Optional[int] = ..., expected_weight_kg: _Optional[float] = ...) -> None: ...

class CreatePickupRequestResponse(_message.Message):
    __slots__ = ("pickup_request", "created")
    PICKUP_REQUEST_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    pickup_request: PickupRequest
    created: bool
    def __init__(self, pickup_request: _Optional[_Union[PickupRequest, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class BatchCreatePickupRequestsRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[CreatePickupRequestRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[CreatePickupRequestRequest, _Mapping]]] = ...) -> None: ...

class BatchCreatePickupRequestsResponse(_message.Message):
    __slots__ = ("pickup_requests", "created_count")
    PICKUP_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    pickup_requests: _containers.RepeatedCompositeFieldContainer[PickupRequest]
    created_count: int
    def __init__(self, pickup_requests: _Optional[_Iterable[_Union[PickupRequest, _Mapping]]] = ..., created_count: _Optional[int] = ...) -> None: ...

class GetPickupRequestRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetPickupRequestResponse(_message.Message):
    __slots__ = ("pickup_request",)
    PICKUP_REQUEST_FIELD_NUMBER: _ClassVar[int]
    pickup_request: PickupRequest
    def __init__(self, pickup_request: _Optional[_Union[PickupRequest, _Mapping]] = ...) -> None: ...

class ListPickupRequestsRequest(_message.Message):
    __slots__ = ("hub_id", "status", "route_id", "pickup_date", "client_id", "page_size", "page_token")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    status: PickupStatus
    route_id: str
    pickup_date: str
    client_id: str
    page_size: int
    page_token: str
    def __init__(self, hub_id: _Optional[str] = ..., status: _Optional[_Union[PickupStatus, str]] = ..., route_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., client_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPickupRequestsResponse(_message.Message):
    __slots__ = ("pickup_requests", "next_page_token")
    PICKUP_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pickup_requests: _containers.RepeatedCompositeFieldContainer[PickupRequest]
    next_page_token: str
    def __init__(self, pickup_requests: _Optional[_Iterable[_Union[PickupRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CancelPickupRequestRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelPickupRequestResponse(_message.Message):
    __slots__ = ("pickup_request",)
    PICKUP_REQUEST_FIELD_NUMBER: _ClassVar[int]
    pickup_request: PickupRequest
    def __init__(self, pickup_request: _Optional[_Union[PickupRequest, _Mapping]] = ...) -> None: ...

class WatchPickupRequestsRequest(_message.Message):
    __slots__ = ("hub_id", "statuses")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    STATUSES_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    statuses: _containers.RepeatedScalarFieldContainer[PickupStatus]
    def __init__(self, hub_id: _Optional[str] = ..., statuses: _Optional[_Iterable[_Union[PickupStatus, str]]] = ...) -> None: ...

class WatchPickupRequestsResponse(_message.Message):
    __slots__ = ("pickup_request", "previous_status", "version", "changed_at")
    PICKUP_REQUEST_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_STATUS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    pickup_request: PickupRequest
    previous_status: PickupStatus
    version: int
    changed_at: _timestamp_pb2.Timestamp
    def __init__(self, pickup_request: _Optional[_Union[PickupRequest, _Mapping]] = ..., previous_status: _Optional[_Union[PickupStatus, str]] = ..., version: _Optional[int] = ..., changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListManualQueueRequest(_message.Message):
    __slots__ = ("hub_id", "hubless", "pickup_date", "review", "page_size", "page_token")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    HUBLESS_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    REVIEW_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    hubless: bool
    pickup_date: str
    review: ReviewReason
    page_size: int
    page_token: str
    def __init__(self, hub_id: _Optional[str] = ..., hubless: _Optional[bool] = ..., pickup_date: _Optional[str] = ..., review: _Optional[_Union[ReviewReason, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListManualQueueResponse(_message.Message):
    __slots__ = ("pickup_requests", "next_page_token")
    PICKUP_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    pickup_requests: _containers.RepeatedCompositeFieldContainer[PickupRequest]
    next_page_token: str
    def __init__(self, pickup_requests: _Optional[_Iterable[_Union[PickupRequest, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AssignPickupRouteRequest(_message.Message):
    __slots__ = ("id", "route_id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    route_id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., route_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class AssignPickupRouteResponse(_message.Message):
    __slots__ = ("pickup_request",)
    PICKUP_REQUEST_FIELD_NUMBER: _ClassVar[int]
    pickup_request: PickupRequest
    def __init__(self, pickup_request: _Optional[_Union[PickupRequest, _Mapping]] = ...) -> None: ...

class BatchAssignPickupRoutesRequest(_message.Message):
    __slots__ = ("assignments",)
    ASSIGNMENTS_FIELD_NUMBER: _ClassVar[int]
    assignments: _containers.RepeatedCompositeFieldContainer[AssignPickupRouteRequest]
    def __init__(self, assignments: _Optional[_Iterable[_Union[AssignPickupRouteRequest, _Mapping]]] = ...) -> None: ...

class BatchAssignPickupRoutesResponse(_message.Message):
    __slots__ = ("pickup_requests",)
    PICKUP_REQUESTS_FIELD_NUMBER: _ClassVar[int]
    pickup_requests: _containers.RepeatedCompositeFieldContainer[PickupRequest]
    def __init__(self, pickup_requests: _Optional[_Iterable[_Union[PickupRequest, _Mapping]]] = ...) -> None: ...

class ListPickupHistoryRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class PickupHistoryEntry(_message.Message):
    __slots__ = ("time", "status", "route_id", "rider_id", "dispatch_id", "route_match", "map_version", "actor", "reason", "version")
    TIME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_MATCH_FIELD_NUMBER: _ClassVar[int]
    MAP_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    time: _timestamp_pb2.Timestamp
    status: PickupStatus
    route_id: str
    rider_id: str
    dispatch_id: str
    route_match: _common_pb2.RouteMatch
    map_version: int
    actor: _common_pb2.Actor
    reason: str
    version: int
    def __init__(self, time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., status: _Optional[_Union[PickupStatus, str]] = ..., route_id: _Optional[str] = ..., rider_id: _Optional[str] = ..., dispatch_id: _Optional[str] = ..., route_match: _Optional[_Union[_common_pb2.RouteMatch, str]] = ..., map_version: _Optional[int] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., reason: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListPickupHistoryResponse(_message.Message):
    __slots__ = ("entries",)
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    entries: _containers.RepeatedCompositeFieldContainer[PickupHistoryEntry]
    def __init__(self, entries: _Optional[_Iterable[_Union[PickupHistoryEntry, _Mapping]]] = ...) -> None: ...
