import datetime

from firstmile.attendance.v1 import attendance_pb2 as _attendance_pb2
from firstmile.common.v1 import common_pb2 as _common_pb2
from firstmile.pur.v1 import pur_pb2 as _pur_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class VehicleType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VEHICLE_TYPE_UNSPECIFIED: _ClassVar[VehicleType]
    VEHICLE_TYPE_BIKE: _ClassVar[VehicleType]
    VEHICLE_TYPE_THREE_WHEELER: _ClassVar[VehicleType]
    VEHICLE_TYPE_VAN: _ClassVar[VehicleType]
    VEHICLE_TYPE_TRUCK: _ClassVar[VehicleType]

class DispatchStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DISPATCH_STATUS_UNSPECIFIED: _ClassVar[DispatchStatus]
    DISPATCH_STATUS_OPEN: _ClassVar[DispatchStatus]
    DISPATCH_STATUS_IN_PROGRESS: _ClassVar[DispatchStatus]
    DISPATCH_STATUS_COMPLETED: _ClassVar[DispatchStatus]
    DISPATCH_STATUS_CANCELLED: _ClassVar[DispatchStatus]
VEHICLE_TYPE_UNSPECIFIED: VehicleType
VEHICLE_TYPE_BIKE: VehicleType
VEHICLE_TYPE_THREE_WHEELER: VehicleType
VEHICLE_TYPE_VAN: VehicleType
VEHICLE_TYPE_TRUCK: VehicleType
DISPATCH_STATUS_UNSPECIFIED: DispatchStatus
DISPATCH_STATUS_OPEN: DispatchStatus
DISPATCH_STATUS_IN_PROGRESS: DispatchStatus
DISPATCH_STATUS_COMPLETED: DispatchStatus
DISPATCH_STATUS_CANCELLED: DispatchStatus

class Rider(_message.Message):
    __slots__ = ("id", "hub_id", "name", "phone", "active")
    ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    hub_id: str
    name: str
    phone: str
    active: bool
    def __init__(self, id: _Optional[str] = ..., hub_id: _Optional[str] = ..., name: _Optional[str] = ..., phone: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class Vehicle(_message.Message):
    __slots__ = ("id", "hub_id", "type", "capacity_packages", "capacity_kg", "registration", "active")
    ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_KG_FIELD_NUMBER: _ClassVar[int]
    REGISTRATION_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    id: str
    hub_id: str
    type: VehicleType
    capacity_packages: int
    capacity_kg: float
    registration: str
    active: bool
    def __init__(self, id: _Optional[str] = ..., hub_id: _Optional[str] = ..., type: _Optional[_Union[VehicleType, str]] = ..., capacity_packages: _Optional[int] = ..., capacity_kg: _Optional[float] = ..., registration: _Optional[str] = ..., active: _Optional[bool] = ...) -> None: ...

class Dispatch(_message.Message):
    __slots__ = ("id", "hub_id", "route_id", "pickup_date", "rider_id", "vehicle_id", "status", "pur_ids", "total_packages", "total_weight_kg", "created_at", "started_at", "completed_at", "cancelled_at", "cancel_reason", "version", "request_id", "stops", "plan_id")
    ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PUR_IDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_AT_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_AT_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REASON_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    STOPS_FIELD_NUMBER: _ClassVar[int]
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    hub_id: str
    route_id: str
    pickup_date: str
    rider_id: str
    vehicle_id: str
    status: DispatchStatus
    pur_ids: _containers.RepeatedScalarFieldContainer[str]
    total_packages: int
    total_weight_kg: float
    created_at: _timestamp_pb2.Timestamp
    started_at: _timestamp_pb2.Timestamp
    completed_at: _timestamp_pb2.Timestamp
    cancelled_at: _timestamp_pb2.Timestamp
    cancel_reason: str
    version: int
    request_id: str
    stops: _containers.RepeatedCompositeFieldContainer[DispatchStop]
    plan_id: str
    def __init__(self, id: _Optional[str] = ..., hub_id: _Optional[str] = ..., route_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., rider_id: _Optional[str] = ..., vehicle_id: _Optional[str] = ..., status: _Optional[_Union[DispatchStatus, str]] = ..., pur_ids: _Optional[_Iterable[str]] = ..., total_packages: _Optional[int] = ..., total_weight_kg: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., completed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancelled_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., cancel_reason: _Optional[str] = ..., version: _Optional[int] = ..., request_id: _Optional[str] = ..., stops: _Optional[_Iterable[_Union[DispatchStop, _Mapping]]] = ..., plan_id: _Optional[str] = ...) -> None: ...

class DispatchStop(_message.Message):
    __slots__ = ("pur_id", "sequence", "eta")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    SEQUENCE_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    sequence: int
    eta: _timestamp_pb2.Timestamp
    def __init__(self, pur_id: _Optional[str] = ..., sequence: _Optional[int] = ..., eta: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UpsertRiderRequest(_message.Message):
    __slots__ = ("rider",)
    RIDER_FIELD_NUMBER: _ClassVar[int]
    rider: Rider
    def __init__(self, rider: _Optional[_Union[Rider, _Mapping]] = ...) -> None: ...

class UpsertRiderResponse(_message.Message):
    __slots__ = ("rider", "created")
    RIDER_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    rider: Rider
    created: bool
    def __init__(self, rider: _Optional[_Union[Rider, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class UpsertVehicleRequest(_message.Message):
    __slots__ = ("vehicle",)
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    vehicle: Vehicle
    def __init__(self, vehicle: _Optional[_Union[Vehicle, _Mapping]] = ...) -> None: ...

class UpsertVehicleResponse(_message.Message):
    __slots__ = ("vehicle", "created")
    VEHICLE_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    vehicle: Vehicle
    created: bool
    def __init__(self, vehicle: _Optional[_Union[Vehicle, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class ListOpenPickupsByRouteRequest(_message.Message):
    __slots__ = ("hub_id", "pickup_date", "route_id", "pickups_per_route_limit")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_PER_ROUTE_LIMIT_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    pickup_date: str
    route_id: str
    pickups_per_route_limit: int
    def __init__(self, hub_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., route_id: _Optional[str] = ..., pickups_per_route_limit: _Optional[int] = ...) -> None: ...

class OpenPickup(_message.Message):
    __slots__ = ("pur_id", "client_id", "warehouse_name", "location", "expected_packages", "expected_weight_kg", "status", "dispatch_id", "route_match")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    CLIENT_ID_FIELD_NUMBER: _ClassVar[int]
    WAREHOUSE_NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_MATCH_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    client_id: str
    warehouse_name: str
    location: _common_pb2.LatLng
    expected_packages: int
    expected_weight_kg: float
    status: _pur_pb2.PickupStatus
    dispatch_id: str
    route_match: _common_pb2.RouteMatch
    def __init__(self, pur_id: _Optional[str] = ..., client_id: _Optional[str] = ..., warehouse_name: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.LatLng, _Mapping]] = ..., expected_packages: _Optional[int] = ..., expected_weight_kg: _Optional[float] = ..., status: _Optional[_Union[_pur_pb2.PickupStatus, str]] = ..., dispatch_id: _Optional[str] = ..., route_match: _Optional[_Union[_common_pb2.RouteMatch, str]] = ...) -> None: ...

class RouteGroup(_message.Message):
    __slots__ = ("route_id", "route_name", "pur_count", "expected_packages", "expected_weight_kg", "pickups", "open_dispatch", "queued_count")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_NAME_FIELD_NUMBER: _ClassVar[int]
    PUR_COUNT_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_FIELD_NUMBER: _ClassVar[int]
    OPEN_DISPATCH_FIELD_NUMBER: _ClassVar[int]
    QUEUED_COUNT_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    route_name: str
    pur_count: int
    expected_packages: int
    expected_weight_kg: float
    pickups: _containers.RepeatedCompositeFieldContainer[OpenPickup]
    open_dispatch: Dispatch
    queued_count: int
    def __init__(self, route_id: _Optional[str] = ..., route_name: _Optional[str] = ..., pur_count: _Optional[int] = ..., expected_packages: _Optional[int] = ..., expected_weight_kg: _Optional[float] = ..., pickups: _Optional[_Iterable[_Union[OpenPickup, _Mapping]]] = ..., open_dispatch: _Optional[_Union[Dispatch, _Mapping]] = ..., queued_count: _Optional[int] = ...) -> None: ...

class ListOpenPickupsByRouteResponse(_message.Message):
    __slots__ = ("groups",)
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[RouteGroup]
    def __init__(self, groups: _Optional[_Iterable[_Union[RouteGroup, _Mapping]]] = ...) -> None: ...

class RecommendDispatchRequest(_message.Message):
    __slots__ = ("route_id", "hub_id", "pickup_date", "limit")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    hub_id: str
    pickup_date: str
    limit: int
    def __init__(self, route_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class RiderRecommendation(_message.Message):
    __slots__ = ("rider_id", "name", "score", "reasons", "present", "on_active_dispatch", "past_dispatches_on_route", "default_rider")
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    PRESENT_FIELD_NUMBER: _ClassVar[int]
    ON_ACTIVE_DISPATCH_FIELD_NUMBER: _ClassVar[int]
    PAST_DISPATCHES_ON_ROUTE_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_RIDER_FIELD_NUMBER: _ClassVar[int]
    rider_id: str
    name: str
    score: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    present: bool
    on_active_dispatch: bool
    past_dispatches_on_route: int
    default_rider: bool
    def __init__(self, rider_id: _Optional[str] = ..., name: _Optional[str] = ..., score: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., present: _Optional[bool] = ..., on_active_dispatch: _Optional[bool] = ..., past_dispatches_on_route: _Optional[int] = ..., default_rider: _Optional[bool] = ...) -> None: ...

class VehicleRecommendation(_message.Message):
    __slots__ = ("vehicle_id", "type", "score", "reasons", "capacity_packages", "capacity_kg", "past_dispatches_on_route", "fits_load", "on_active_dispatch")
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SCORE_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    CAPACITY_KG_FIELD_NUMBER: _ClassVar[int]
    PAST_DISPATCHES_ON_ROUTE_FIELD_NUMBER: _ClassVar[int]
    FITS_LOAD_FIELD_NUMBER: _ClassVar[int]
    ON_ACTIVE_DISPATCH_FIELD_NUMBER: _ClassVar[int]
    vehicle_id: str
    type: VehicleType
    score: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    capacity_packages: int
    capacity_kg: float
    past_dispatches_on_route: int
    fits_load: bool
    on_active_dispatch: bool
    def __init__(self, vehicle_id: _Optional[str] = ..., type: _Optional[_Union[VehicleType, str]] = ..., score: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ..., capacity_packages: _Optional[int] = ..., capacity_kg: _Optional[float] = ..., past_dispatches_on_route: _Optional[int] = ..., fits_load: _Optional[bool] = ..., on_active_dispatch: _Optional[bool] = ...) -> None: ...

class RecommendDispatchResponse(_message.Message):
    __slots__ = ("riders", "vehicles", "queued_pur_count", "queued_packages", "queued_weight_kg", "attendance_freshness")
    RIDERS_FIELD_NUMBER: _ClassVar[int]
    VEHICLES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_PUR_COUNT_FIELD_NUMBER: _ClassVar[int]
    QUEUED_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    QUEUED_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    ATTENDANCE_FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    riders: _containers.RepeatedCompositeFieldContainer[RiderRecommendation]
    vehicles: _containers.RepeatedCompositeFieldContainer[VehicleRecommendation]
    queued_pur_count: int
    queued_packages: int
    queued_weight_kg: float
    attendance_freshness: _attendance_pb2.Freshness
    def __init__(self, riders: _Optional[_Iterable[_Union[RiderRecommendation, _Mapping]]] = ..., vehicles: _Optional[_Iterable[_Union[VehicleRecommendation, _Mapping]]] = ..., queued_pur_count: _Optional[int] = ..., queued_packages: _Optional[int] = ..., queued_weight_kg: _Optional[float] = ..., attendance_freshness: _Optional[_Union[_attendance_pb2.Freshness, _Mapping]] = ...) -> None: ...

class CreateDispatchRequest(_message.Message):
    __slots__ = ("request_id", "hub_id", "route_id", "pickup_date", "rider_id", "vehicle_id", "pur_ids")
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    PUR_IDS_FIELD_NUMBER: _ClassVar[int]
    request_id: str
    hub_id: str
    route_id: str
    pickup_date: str
    rider_id: str
    vehicle_id: str
    pur_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, request_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., route_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., rider_id: _Optional[str] = ..., vehicle_id: _Optional[str] = ..., pur_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class CreateDispatchResponse(_message.Message):
    __slots__ = ("dispatch", "created")
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    created: bool
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class GetDispatchRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetDispatchResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class ListDispatchesRequest(_message.Message):
    __slots__ = ("hub_id", "route_id", "pickup_date", "rider_id", "status", "page_size", "page_token")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    route_id: str
    pickup_date: str
    rider_id: str
    status: DispatchStatus
    page_size: int
    page_token: str
    def __init__(self, hub_id: _Optional[str] = ..., route_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., rider_id: _Optional[str] = ..., status: _Optional[_Union[DispatchStatus, str]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDispatchesResponse(_message.Message):
    __slots__ = ("dispatches", "next_page_token")
    DISPATCHES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    dispatches: _containers.RepeatedCompositeFieldContainer[Dispatch]
    next_page_token: str
    def __init__(self, dispatches: _Optional[_Iterable[_Union[Dispatch, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AddPickupsRequest(_message.Message):
    __slots__ = ("dispatch_id", "pur_ids")
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PUR_IDS_FIELD_NUMBER: _ClassVar[int]
    dispatch_id: str
    pur_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, dispatch_id: _Optional[str] = ..., pur_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class AddPickupsResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class RemovePickupsRequest(_message.Message):
    __slots__ = ("dispatch_id", "pur_ids", "reason")
    DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PUR_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    dispatch_id: str
    pur_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, dispatch_id: _Optional[str] = ..., pur_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class RemovePickupsResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class StartDispatchRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class StartDispatchResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class CompleteDispatchRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CompleteDispatchResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class CancelDispatchRequest(_message.Message):
    __slots__ = ("id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class CancelDispatchResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class ReassignDispatchRequest(_message.Message):
    __slots__ = ("id", "rider_id", "vehicle_id", "reason")
    ID_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    id: str
    rider_id: str
    vehicle_id: str
    reason: str
    def __init__(self, id: _Optional[str] = ..., rider_id: _Optional[str] = ..., vehicle_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class ReassignDispatchResponse(_message.Message):
    __slots__ = ("dispatch",)
    DISPATCH_FIELD_NUMBER: _ClassVar[int]
    dispatch: Dispatch
    def __init__(self, dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class MovePickupsRequest(_message.Message):
    __slots__ = ("from_dispatch_id", "to_dispatch_id", "pur_ids", "reason")
    FROM_DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    TO_DISPATCH_ID_FIELD_NUMBER: _ClassVar[int]
    PUR_IDS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    from_dispatch_id: str
    to_dispatch_id: str
    pur_ids: _containers.RepeatedScalarFieldContainer[str]
    reason: str
    def __init__(self, from_dispatch_id: _Optional[str] = ..., to_dispatch_id: _Optional[str] = ..., pur_ids: _Optional[_Iterable[str]] = ..., reason: _Optional[str] = ...) -> None: ...

class MovePickupsResponse(_message.Message):
    __slots__ = ("from_dispatch", "to_dispatch")
    FROM_DISPATCH_FIELD_NUMBER: _ClassVar[int]
    TO_DISPATCH_FIELD_NUMBER: _ClassVar[int]
    from_dispatch: Dispatch
    to_dispatch: Dispatch
    def __init__(self, from_dispatch: _Optional[_Union[Dispatch, _Mapping]] = ..., to_dispatch: _Optional[_Union[Dispatch, _Mapping]] = ...) -> None: ...

class WatchOpenPickupsByRouteRequest(_message.Message):
    __slots__ = ("hub_id", "pickup_date")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    pickup_date: str
    def __init__(self, hub_id: _Optional[str] = ..., pickup_date: _Optional[str] = ...) -> None: ...

class WatchOpenPickupsByRouteResponse(_message.Message):
    __slots__ = ("groups", "snapshot")
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    groups: _containers.RepeatedCompositeFieldContainer[RouteGroup]
    snapshot: bool
    def __init__(self, groups: _Optional[_Iterable[_Union[RouteGroup, _Mapping]]] = ..., snapshot: _Optional[bool] = ...) -> None: ...

class Hub(_message.Message):
    __slots__ = ("id", "name", "location", "timezone")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    TIMEZONE_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    location: _common_pb2.LatLng
    timezone: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., location: _Optional[_Union[_common_pb2.LatLng, _Mapping]] = ..., timezone: _Optional[str] = ...) -> None: ...

class UpsertHubRequest(_message.Message):
    __slots__ = ("hub",)
    HUB_FIELD_NUMBER: _ClassVar[int]
    hub: Hub
    def __init__(self, hub: _Optional[_Union[Hub, _Mapping]] = ...) -> None: ...

class UpsertHubResponse(_message.Message):
    __slots__ = ("hub", "created")
    HUB_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    hub: Hub
    created: bool
    def __init__(self, hub: _Optional[_Union[Hub, _Mapping]] = ..., created: _Optional[bool] = ...) -> None: ...

class PlanDispatchesRequest(_message.Message):
    __slots__ = ("hub_id", "pickup_date", "route_ids")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_IDS_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    pickup_date: str
    route_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hub_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., route_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class PlanDispatchesResponse(_message.Message):
    __slots__ = ("plan", "left_for_next_plan")
    PLAN_FIELD_NUMBER: _ClassVar[int]
    LEFT_FOR_NEXT_PLAN_FIELD_NUMBER: _ClassVar[int]
    plan: DispatchPlan
    left_for_next_plan: _containers.RepeatedCompositeFieldContainer[RouteBacklog]
    def __init__(self, plan: _Optional[_Union[DispatchPlan, _Mapping]] = ..., left_for_next_plan: _Optional[_Iterable[_Union[RouteBacklog, _Mapping]]] = ...) -> None: ...

class RouteBacklog(_message.Message):
    __slots__ = ("route_id", "pickups")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    pickups: int
    def __init__(self, route_id: _Optional[str] = ..., pickups: _Optional[int] = ...) -> None: ...

class DispatchPlan(_message.Message):
    __slots__ = ("id", "hub_id", "pickup_date", "trips", "unplanned", "expires_at", "created_at", "dispatch_ids", "total_distance_m", "arrival_order_distance_m")
    ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUP_DATE_FIELD_NUMBER: _ClassVar[int]
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    UNPLANNED_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    DISPATCH_IDS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_ORDER_DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    id: str
    hub_id: str
    pickup_date: str
    trips: _containers.RepeatedCompositeFieldContainer[PlannedTrip]
    unplanned: _containers.RepeatedCompositeFieldContainer[UnplannedPickup]
    expires_at: _timestamp_pb2.Timestamp
    created_at: _timestamp_pb2.Timestamp
    dispatch_ids: _containers.RepeatedScalarFieldContainer[str]
    total_distance_m: float
    arrival_order_distance_m: float
    def __init__(self, id: _Optional[str] = ..., hub_id: _Optional[str] = ..., pickup_date: _Optional[str] = ..., trips: _Optional[_Iterable[_Union[PlannedTrip, _Mapping]]] = ..., unplanned: _Optional[_Iterable[_Union[UnplannedPickup, _Mapping]]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., dispatch_ids: _Optional[_Iterable[str]] = ..., total_distance_m: _Optional[float] = ..., arrival_order_distance_m: _Optional[float] = ...) -> None: ...

class PlannedTrip(_message.Message):
    __slots__ = ("id", "route_id", "rider_id", "vehicle_id", "stops", "distance_m", "start_time", "end_time", "total_packages", "total_weight_kg", "reasons")
    ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    STOPS_FIELD_NUMBER: _ClassVar[int]
    DISTANCE_M_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    TOTAL_PACKAGES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    id: str
    route_id: str
    rider_id: str
    vehicle_id: str
    stops: _containers.RepeatedCompositeFieldContainer[PlannedStop]
    distance_m: float
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    total_packages: int
    total_weight_kg: float
    reasons: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., route_id: _Optional[str] = ..., rider_id: _Optional[str] = ..., vehicle_id: _Optional[str] = ..., stops: _Optional[_Iterable[_Union[PlannedStop, _Mapping]]] = ..., distance_m: _Optional[float] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total_packages: _Optional[int] = ..., total_weight_kg: _Optional[float] = ..., reasons: _Optional[_Iterable[str]] = ...) -> None: ...

class PlannedStop(_message.Message):
    __slots__ = ("pur_id", "eta")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    ETA_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    eta: _timestamp_pb2.Timestamp
    def __init__(self, pur_id: _Optional[str] = ..., eta: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class UnplannedPickup(_message.Message):
    __slots__ = ("pur_id", "reason")
    PUR_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    pur_id: str
    reason: str
    def __init__(self, pur_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class TripChange(_message.Message):
    __slots__ = ("trip_id", "drop", "rider_id", "vehicle_id")
    TRIP_ID_FIELD_NUMBER: _ClassVar[int]
    DROP_FIELD_NUMBER: _ClassVar[int]
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_ID_FIELD_NUMBER: _ClassVar[int]
    trip_id: str
    drop: bool
    rider_id: str
    vehicle_id: str
    def __init__(self, trip_id: _Optional[str] = ..., drop: _Optional[bool] = ..., rider_id: _Optional[str] = ..., vehicle_id: _Optional[str] = ...) -> None: ...

class CommitDispatchPlanRequest(_message.Message):
    __slots__ = ("plan_id", "only_valid_trips", "changes")
    PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    ONLY_VALID_TRIPS_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    plan_id: str
    only_valid_trips: bool
    changes: _containers.RepeatedCompositeFieldContainer[TripChange]
    def __init__(self, plan_id: _Optional[str] = ..., only_valid_trips: _Optional[bool] = ..., changes: _Optional[_Iterable[_Union[TripChange, _Mapping]]] = ...) -> None: ...

class CommitDispatchPlanResponse(_message.Message):
    __slots__ = ("dispatches", "skipped")
    DISPATCHES_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    dispatches: _containers.RepeatedCompositeFieldContainer[Dispatch]
    skipped: _containers.RepeatedCompositeFieldContainer[SkippedTrip]
    def __init__(self, dispatches: _Optional[_Iterable[_Union[Dispatch, _Mapping]]] = ..., skipped: _Optional[_Iterable[_Union[SkippedTrip, _Mapping]]] = ...) -> None: ...

class SkippedTrip(_message.Message):
    __slots__ = ("trip_id", "reason")
    TRIP_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    trip_id: str
    reason: str
    def __init__(self, trip_id: _Optional[str] = ..., reason: _Optional[str] = ...) -> None: ...

class VolumeHistoryRow(_message.Message):
    __slots__ = ("date", "route_id", "pickups", "packages", "weight_kg")
    DATE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    date: str
    route_id: str
    pickups: int
    packages: int
    weight_kg: float
    def __init__(self, date: _Optional[str] = ..., route_id: _Optional[str] = ..., pickups: _Optional[int] = ..., packages: _Optional[int] = ..., weight_kg: _Optional[float] = ...) -> None: ...

class ImportVolumeHistoryRequest(_message.Message):
    __slots__ = ("hub_id", "rows", "validate_only")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    VALIDATE_ONLY_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    rows: _containers.RepeatedCompositeFieldContainer[VolumeHistoryRow]
    validate_only: bool
    def __init__(self, hub_id: _Optional[str] = ..., rows: _Optional[_Iterable[_Union[VolumeHistoryRow, _Mapping]]] = ..., validate_only: _Optional[bool] = ...) -> None: ...

class ImportVolumeHistoryResponse(_message.Message):
    __slots__ = ("imported", "replaced")
    IMPORTED_FIELD_NUMBER: _ClassVar[int]
    REPLACED_FIELD_NUMBER: _ClassVar[int]
    imported: int
    replaced: int
    def __init__(self, imported: _Optional[int] = ..., replaced: _Optional[int] = ...) -> None: ...

class ForecastPickupVolumeRequest(_message.Message):
    __slots__ = ("hub_id", "route_id", "start_date", "days", "events")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    START_DATE_FIELD_NUMBER: _ClassVar[int]
    DAYS_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    route_id: str
    start_date: str
    days: int
    events: _containers.RepeatedCompositeFieldContainer[VolumeEvent]
    def __init__(self, hub_id: _Optional[str] = ..., route_id: _Optional[str] = ..., start_date: _Optional[str] = ..., days: _Optional[int] = ..., events: _Optional[_Iterable[_Union[VolumeEvent, _Mapping]]] = ...) -> None: ...

class VolumeEvent(_message.Message):
    __slots__ = ("date", "multiplier", "name", "route_id")
    DATE_FIELD_NUMBER: _ClassVar[int]
    MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    date: str
    multiplier: float
    name: str
    route_id: str
    def __init__(self, date: _Optional[str] = ..., multiplier: _Optional[float] = ..., name: _Optional[str] = ..., route_id: _Optional[str] = ...) -> None: ...

class DayVolumeForecast(_message.Message):
    __slots__ = ("date", "route_id", "pickups", "pickups_low", "pickups_high", "packages", "weight_kg")
    DATE_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_LOW_FIELD_NUMBER: _ClassVar[int]
    PICKUPS_HIGH_FIELD_NUMBER: _ClassVar[int]
    PACKAGES_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_KG_FIELD_NUMBER: _ClassVar[int]
    date: str
    route_id: str
    pickups: float
    pickups_low: float
    pickups_high: float
    packages: float
    weight_kg: float
    def __init__(self, date: _Optional[str] = ..., route_id: _Optional[str] = ..., pickups: _Optional[float] = ..., pickups_low: _Optional[float] = ..., pickups_high: _Optional[float] = ..., packages: _Optional[float] = ..., weight_kg: _Optional[float] = ...) -> None: ...

class ForecastPickupVolumeResponse(_message.Message):
    __slots__ = ("days", "model", "backtest_mase", "interval_coverage", "backtest_origins", "backtest_horizon", "history_days", "history_start", "history_end", "backtest_computed_at", "route_id")
    DAYS_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_MASE_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_COVERAGE_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_ORIGINS_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_HORIZON_FIELD_NUMBER: _ClassVar[int]
    HISTORY_DAYS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_START_FIELD_NUMBER: _ClassVar[int]
    HISTORY_END_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_COMPUTED_AT_FIELD_NUMBER: _ClassVar[int]
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    days: _containers.RepeatedCompositeFieldContainer[DayVolumeForecast]
    model: str
    backtest_mase: float
    interval_coverage: float
    backtest_origins: int
    backtest_horizon: int
    history_days: int
    history_start: str
    history_end: str
    backtest_computed_at: _timestamp_pb2.Timestamp
    route_id: str
    def __init__(self, days: _Optional[_Iterable[_Union[DayVolumeForecast, _Mapping]]] = ..., model: _Optional[str] = ..., backtest_mase: _Optional[float] = ..., interval_coverage: _Optional[float] = ..., backtest_origins: _Optional[int] = ..., backtest_horizon: _Optional[int] = ..., history_days: _Optional[int] = ..., history_start: _Optional[str] = ..., history_end: _Optional[str] = ..., backtest_computed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., route_id: _Optional[str] = ...) -> None: ...

class ForecastFleetNeedRequest(_message.Message):
    __slots__ = ("hub_id", "date", "events")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    date: str
    events: _containers.RepeatedCompositeFieldContainer[VolumeEvent]
    def __init__(self, hub_id: _Optional[str] = ..., date: _Optional[str] = ..., events: _Optional[_Iterable[_Union[VolumeEvent, _Mapping]]] = ...) -> None: ...

class RouteFleetNeed(_message.Message):
    __slots__ = ("route_id", "route_name", "forecast", "model", "backtest_mase", "vehicle_type", "trips", "trip_minutes", "trips_per_rider", "riders_needed", "riders_needed_high", "rostered_rider_ids", "rider_shortfall", "idle_rider_ids", "notes")
    ROUTE_ID_FIELD_NUMBER: _ClassVar[int]
    ROUTE_NAME_FIELD_NUMBER: _ClassVar[int]
    FORECAST_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    BACKTEST_MASE_FIELD_NUMBER: _ClassVar[int]
    VEHICLE_TYPE_FIELD_NUMBER: _ClassVar[int]
    TRIPS_FIELD_NUMBER: _ClassVar[int]
    TRIP_MINUTES_FIELD_NUMBER: _ClassVar[int]
    TRIPS_PER_RIDER_FIELD_NUMBER: _ClassVar[int]
    RIDERS_NEEDED_FIELD_NUMBER: _ClassVar[int]
    RIDERS_NEEDED_HIGH_FIELD_NUMBER: _ClassVar[int]
    ROSTERED_RIDER_IDS_FIELD_NUMBER: _ClassVar[int]
    RIDER_SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    IDLE_RIDER_IDS_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    route_id: str
    route_name: str
    forecast: DayVolumeForecast
    model: str
    backtest_mase: float
    vehicle_type: VehicleType
    trips: int
    trip_minutes: float
    trips_per_rider: int
    riders_needed: int
    riders_needed_high: int
    rostered_rider_ids: _containers.RepeatedScalarFieldContainer[str]
    rider_shortfall: int
    idle_rider_ids: _containers.RepeatedScalarFieldContainer[str]
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, route_id: _Optional[str] = ..., route_name: _Optional[str] = ..., forecast: _Optional[_Union[DayVolumeForecast, _Mapping]] = ..., model: _Optional[str] = ..., backtest_mase: _Optional[float] = ..., vehicle_type: _Optional[_Union[VehicleType, str]] = ..., trips: _Optional[int] = ..., trip_minutes: _Optional[float] = ..., trips_per_rider: _Optional[int] = ..., riders_needed: _Optional[int] = ..., riders_needed_high: _Optional[int] = ..., rostered_rider_ids: _Optional[_Iterable[str]] = ..., rider_shortfall: _Optional[int] = ..., idle_rider_ids: _Optional[_Iterable[str]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...

class VehicleTypeNeed(_message.Message):
    __slots__ = ("type", "needed", "available", "shortfall", "idle")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    NEEDED_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    IDLE_FIELD_NUMBER: _ClassVar[int]
    type: VehicleType
    needed: int
    available: int
    shortfall: int
    idle: int
    def __init__(self, type: _Optional[_Union[VehicleType, str]] = ..., needed: _Optional[int] = ..., available: _Optional[int] = ..., shortfall: _Optional[int] = ..., idle: _Optional[int] = ...) -> None: ...

class ForecastFleetNeedResponse(_message.Message):
    __slots__ = ("hub_id", "date", "routes", "riders_needed", "riders_needed_high", "riders_rostered", "floating_rider_ids", "rider_shortfall", "vehicles", "notes")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    ROUTES_FIELD_NUMBER: _ClassVar[int]
    RIDERS_NEEDED_FIELD_NUMBER: _ClassVar[int]
    RIDERS_NEEDED_HIGH_FIELD_NUMBER: _ClassVar[int]
    RIDERS_ROSTERED_FIELD_NUMBER: _ClassVar[int]
    FLOATING_RIDER_IDS_FIELD_NUMBER: _ClassVar[int]
    RIDER_SHORTFALL_FIELD_NUMBER: _ClassVar[int]
    VEHICLES_FIELD_NUMBER: _ClassVar[int]
    NOTES_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    date: str
    routes: _containers.RepeatedCompositeFieldContainer[RouteFleetNeed]
    riders_needed: int
    riders_needed_high: int
    riders_rostered: int
    floating_rider_ids: _containers.RepeatedScalarFieldContainer[str]
    rider_shortfall: int
    vehicles: _containers.RepeatedCompositeFieldContainer[VehicleTypeNeed]
    notes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, hub_id: _Optional[str] = ..., date: _Optional[str] = ..., routes: _Optional[_Iterable[_Union[RouteFleetNeed, _Mapping]]] = ..., riders_needed: _Optional[int] = ..., riders_needed_high: _Optional[int] = ..., riders_rostered: _Optional[int] = ..., floating_rider_ids: _Optional[_Iterable[str]] = ..., rider_shortfall: _Optional[int] = ..., vehicles: _Optional[_Iterable[_Union[VehicleTypeNeed, _Mapping]]] = ..., notes: _Optional[_Iterable[str]] = ...) -> None: ...
