"""Opaque page tokens for every List RPC: the position after the last row of a page, bound to the
filters that produced it, so a token replayed with other filters is refused, not misread."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import TypeVar

from mesh.errors import InvalidArgument
from mesh.kernel import has_control_characters

T = TypeVar("T")
# Positions hold ids and timestamps; anything longer, or with control characters, was forged.
MAX_POSITION_CHARS = 100


def _digest(filters: object) -> str:
    return hashlib.sha256(repr(filters).encode()).hexdigest()[:16]


def encode_page_token(position: Mapping[str, str], filters: object) -> str:
    """`position`: where the next page starts (strings only); `filters`: a repr-stable value."""
    body = {"p": dict(position), "f": _digest(filters)}
    return base64.urlsafe_b64encode(json.dumps(body, sort_keys=True).encode()).decode()


def decode_page_token(token: str, filters: object, parse: Callable[[dict[str, str]], T]) -> T | None:
    """The position in `token` turned into a cursor by `parse`, or None for the first page.
    INVALID_ARGUMENT when the token is not one this service issued or was issued for other filters."""
    if not token:
        return None
    try:
        body = json.loads(base64.urlsafe_b64decode(token.encode()))
        position, digest = body["p"], body["f"]
        if not isinstance(position, dict) or not all(_plausible(v) for v in position.values()):
            raise TypeError
        cursor = parse(position)
    except (ValueError, KeyError, TypeError, AttributeError):
        raise InvalidArgument("page_token is not a token this service issued") from None
    if digest != _digest(filters):
        raise InvalidArgument("page_token was issued for different filters")
    return cursor


def position_time(text: str) -> datetime:
    """A time a position holds (written with `datetime.isoformat()`), in UTC. ValueError for
    anything else, such as an offset PostgreSQL refuses or an instant beyond year 1..9999 in UTC."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset")
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None


def _plausible(value: object) -> bool:
    return isinstance(value, str) and len(value) <= MAX_POSITION_CHARS and not has_control_characters(value)
