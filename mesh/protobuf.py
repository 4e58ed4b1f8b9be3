"""Small conversions between Python values and protobuf well-known types."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

E = TypeVar("E", bound=enum.Enum)


def timestamp(moment: datetime | None) -> Timestamp | None:
    """A Timestamp for `moment` (timezone-aware), or None so the field stays unset."""
    if moment is None:
        return None
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def enum_to_proto(domain: type[E], proto_enum: Any, prefix: str, **renamed: str) -> dict[E, Any]:
    """Each member of `domain` to the value of the proto enum named `prefix + member.name` (or
    `renamed[member.name]`); a member without a proto counterpart fails here, not in traffic."""
    return {member: proto_enum.Value(renamed.get(member.name, prefix + member.name)) for member in domain}


def inverse(mapping: dict[E, Any]) -> dict[Any, E]:
    return {value: member for member, value in mapping.items()}
