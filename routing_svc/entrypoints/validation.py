"""Checks shared by the gRPC and Kafka entrypoints. Each returns the problem as text (None when
the value is fine), so the caller raises its own error: INVALID_ARGUMENT for an RPC, a poison
message for an event."""

from __future__ import annotations

import math
import re

ID_PATTERN = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""Ids across the mesh (common.proto): 1-64 characters of letters, digits, '.', '_', ':' or '-'."""


def id_problem(name: str, value: str, *, required: bool = True) -> str | None:
    if not value:
        return f"{name} is required" if required else None
    if len(value) > 64:
        return f"{name} is {len(value)} characters long; at most 64 are allowed"
    if not ID_PATTERN.fullmatch(value):
        return f"{name} {value!r} is not a valid id: use 1-64 characters of letters, digits, '.', '_', ':' or '-'"
    return None


def location_problem(name: str, lat: float, lng: float) -> str | None:
    if not (math.isfinite(lat) and math.isfinite(lng)):
        return f"{name} must be finite, got lat={lat!r}, lng={lng!r}"
    if not -90.0 <= lat <= 90.0:
        return f"{name}.lat {lat!r} is out of range [-90, 90]"
    if not -180.0 <= lng <= 180.0:
        return f"{name}.lng {lng!r} is out of range [-180, 180]"
    return None
