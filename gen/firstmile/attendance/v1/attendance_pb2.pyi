import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AttendanceStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTENDANCE_STATUS_UNSPECIFIED: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_PRESENT: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_ABSENT: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_ON_LEAVE: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_CHECKED_OUT: _ClassVar[AttendanceStatus]
    ATTENDANCE_STATUS_ROSTERED: _ClassVar[AttendanceStatus]

class AttendanceSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ATTENDANCE_SOURCE_UNSPECIFIED: _ClassVar[AttendanceSource]
    ATTENDANCE_SOURCE_LIVE: _ClassVar[AttendanceSource]
    ATTENDANCE_SOURCE_CACHED: _ClassVar[AttendanceSource]
    ATTENDANCE_SOURCE_STALE: _ClassVar[AttendanceSource]
    ATTENDANCE_SOURCE_EMBEDDED: _ClassVar[AttendanceSource]
ATTENDANCE_STATUS_UNSPECIFIED: AttendanceStatus
ATTENDANCE_STATUS_PRESENT: AttendanceStatus
ATTENDANCE_STATUS_ABSENT: AttendanceStatus
ATTENDANCE_STATUS_ON_LEAVE: AttendanceStatus
ATTENDANCE_STATUS_CHECKED_OUT: AttendanceStatus
ATTENDANCE_STATUS_ROSTERED: AttendanceStatus
ATTENDANCE_SOURCE_UNSPECIFIED: AttendanceSource
ATTENDANCE_SOURCE_LIVE: AttendanceSource
ATTENDANCE_SOURCE_CACHED: AttendanceSource
ATTENDANCE_SOURCE_STALE: AttendanceSource
ATTENDANCE_SOURCE_EMBEDDED: AttendanceSource

class Freshness(_message.Message):
    __slots__ = ("source", "stale", "age", "fetched_at", "stale_reason")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    FETCHED_AT_FIELD_NUMBER: _ClassVar[int]
    STALE_REASON_FIELD_NUMBER: _ClassVar[int]
    source: AttendanceSource
    stale: bool
    age: _duration_pb2.Duration
    fetched_at: _timestamp_pb2.Timestamp
    stale_reason: str
    def __init__(self, source: _Optional[_Union[AttendanceSource, str]] = ..., stale: _Optional[bool] = ..., age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., fetched_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., stale_reason: _Optional[str] = ...) -> None: ...

class AttendanceRecord(_message.Message):
    __slots__ = ("rider_id", "hub_id", "date", "status", "check_in_time", "check_out_time", "shift", "updated_at", "shift_start", "shift_end")
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECK_OUT_TIME_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    UPDATED_AT_FIELD_NUMBER: _ClassVar[int]
    SHIFT_START_FIELD_NUMBER: _ClassVar[int]
    SHIFT_END_FIELD_NUMBER: _ClassVar[int]
    rider_id: str
    hub_id: str
    date: str
    status: AttendanceStatus
    check_in_time: _timestamp_pb2.Timestamp
    check_out_time: _timestamp_pb2.Timestamp
    shift: str
    updated_at: _timestamp_pb2.Timestamp
    shift_start: _timestamp_pb2.Timestamp
    shift_end: _timestamp_pb2.Timestamp
    def __init__(self, rider_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., date: _Optional[str] = ..., status: _Optional[_Union[AttendanceStatus, str]] = ..., check_in_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., check_out_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shift: _Optional[str] = ..., updated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shift_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shift_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetAttendanceRequest(_message.Message):
    __slots__ = ("rider_id", "date")
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    rider_id: str
    date: str
    def __init__(self, rider_id: _Optional[str] = ..., date: _Optional[str] = ...) -> None: ...

class GetAttendanceResponse(_message.Message):
    __slots__ = ("record", "freshness")
    RECORD_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    record: AttendanceRecord
    freshness: Freshness
    def __init__(self, record: _Optional[_Union[AttendanceRecord, _Mapping]] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ...) -> None: ...

class ListAvailableRidersRequest(_message.Message):
    __slots__ = ("hub_id", "date")
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    hub_id: str
    date: str
    def __init__(self, hub_id: _Optional[str] = ..., date: _Optional[str] = ...) -> None: ...

class ListAvailableRidersResponse(_message.Message):
    __slots__ = ("records", "freshness")
    RECORDS_FIELD_NUMBER: _ClassVar[int]
    FRESHNESS_FIELD_NUMBER: _ClassVar[int]
    records: _containers.RepeatedCompositeFieldContainer[AttendanceRecord]
    freshness: Freshness
    def __init__(self, records: _Optional[_Iterable[_Union[AttendanceRecord, _Mapping]]] = ..., freshness: _Optional[_Union[Freshness, _Mapping]] = ...) -> None: ...

class RecordAttendanceRequest(_message.Message):
    __slots__ = ("rider_id", "hub_id", "date", "status", "check_in_time", "check_out_time", "shift", "shift_start", "shift_end")
    RIDER_ID_FIELD_NUMBER: _ClassVar[int]
    HUB_ID_FIELD_NUMBER: _ClassVar[int]
    DATE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    CHECK_IN_TIME_FIELD_NUMBER: _ClassVar[int]
    CHECK_OUT_TIME_FIELD_NUMBER: _ClassVar[int]
    SHIFT_FIELD_NUMBER: _ClassVar[int]
    SHIFT_START_FIELD_NUMBER: _ClassVar[int]
    SHIFT_END_FIELD_NUMBER: _ClassVar[int]
    rider_id: str
    hub_id: str
    date: str
    status: AttendanceStatus
    check_in_time: _timestamp_pb2.Timestamp
    check_out_time: _timestamp_pb2.Timestamp
    shift: str
    shift_start: _timestamp_pb2.Timestamp
    shift_end: _timestamp_pb2.Timestamp
    def __init__(self, rider_id: _Optional[str] = ..., hub_id: _Optional[str] = ..., date: _Optional[str] = ..., status: _Optional[_Union[AttendanceStatus, str]] = ..., check_in_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., check_out_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shift: _Optional[str] = ..., shift_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., shift_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class RecordAttendanceResponse(_message.Message):
    __slots__ = ("record",)
    RECORD_FIELD_NUMBER: _ClassVar[int]
    record: AttendanceRecord
    def __init__(self, record: _Optional[_Union[AttendanceRecord, _Mapping]] = ...) -> None: ...
