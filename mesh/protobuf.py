"""Small conversions between Python values and protobuf well-known types."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

E = TypeVar("E", bound=enum.Enum)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def timestamp(moment: datetime | None) -> Timestamp | None:
    """A Timestamp for `moment` (naive means UTC, as `Timestamp.FromDatetime` takes it), or None so
    the field stays unset. Computed from the timedelta since the epoch: the same value as
    `FromDatetime` (a unit test compares them) at a third of its cost, for every time field of
    every message and event."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    since = moment - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def enum_to_proto(domain: type[E], proto_enum: Any, prefix: str, **renamed: str) -> dict[E, Any]:
    """Each member of `domain` to the value of the proto enum named `prefix + member.name` (or
    `renamed[member.name]`); a member without a proto counterpart fails here, not in traffic."""
    return {member: proto_enum.Value(renamed.get(member.name, prefix + member.name)) for member in domain}


def inverse(mapping: dict[E, Any]) -> dict[Any, E]:
    return {value: member for member, value in mapping.items()}
