from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class RouteMatch(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ROUTE_MATCH_UNSPECIFIED: _ClassVar[RouteMatch]
    ROUTE_MATCH_EXACT: _ClassVar[RouteMatch]
    ROUTE_MATCH_NEAREST: _ClassVar[RouteMatch]
    ROUTE_MATCH_NONE: _ClassVar[RouteMatch]
    ROUTE_MATCH_MANUAL: _ClassVar[RouteMatch]
ROUTE_MATCH_UNSPECIFIED: RouteMatch
ROUTE_MATCH_EXACT: RouteMatch
ROUTE_MATCH_NEAREST: RouteMatch
ROUTE_MATCH_NONE: RouteMatch
ROUTE_MATCH_MANUAL: RouteMatch

class LatLng(_message.Message):
    __slots__ = ("lat", "lng")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LNG_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lng: float
    def __init__(self, lat: _Optional[float] = ..., lng: _Optional[float] = ...) -> None: ...

class Warehouse(_message.Message):
    __slots__ = ("id", "name", "address", "pincode", "location")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PINCODE_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    address: str
    pincode: str
    location: LatLng
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., address: _Optional[str] = ..., pincode: _Optional[str] = ..., location: _Optional[_Union[LatLng, _Mapping]] = ...) -> None: ...

class Actor(_message.Message):
    __slots__ = ("subject", "role")
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    subject: str
    role: str
    def __init__(self, subject: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...
