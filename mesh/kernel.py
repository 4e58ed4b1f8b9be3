"""The shared kernel: the one rule for each kind of value every service takes from outside, and
the statuses every service speaks.

Ids, dates, bounded free text and coordinates are checked here and nowhere else, by domains,
entrypoints, consumers, configuration and token scopes alike. Pure Python: a failed check raises
`mesh.errors.InvalidArgument` with a message that names the field and the rule.
"""

from __future__ import annotations

import enum
import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from mesh.errors import InvalidArgument

ID_RULE = "1-64 characters of letters, digits, '.', '_', ':' or '-'"
# fullmatch, never `$`: "$" also matches before a trailing newline.
_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
# Tab and newline belong in free text such as an address; the other C0 controls never do (and
# PostgreSQL cannot store NUL at all).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f]")
MAX_QUOTED_CHARS = 40


class PickupStatus(enum.Enum):
    """A PUR's status, as the contract names it (pur_svc owns it; dispatch_svc follows it)."""

    PENDING_ROUTE = "PENDING_ROUTE"
    ROUTED = "ROUTED"
    UNROUTABLE = "UNROUTABLE"
    DISPATCHED = "DISPATCHED"
    PICKED_UP = "PICKED_UP"
    CANCELLED = "CANCELLED"


class RouteMatch(enum.Enum):
    """How a PUR's route was found."""

    EXACT = "EXACT"
    NEAREST = "NEAREST"
    NONE = "NONE"
    MANUAL = "MANUAL"  # a team lead chose the route


@dataclass(frozen=True)
class Actor:
    """Who made a change: a token's subject and role, or a service acting on its own."""

    subject: str
    role: str

    SERVICE_ROLE = "service"

    @classmethod
    def service(cls, name: str) -> Actor:
        return cls(name, cls.SERVICE_ROLE)


def is_id(value: object) -> bool:
    return isinstance(value, str) and _ID.fullmatch(value) is not None


def check_id(field: str, value: object, *, required: bool = True) -> str:
    """`value` if it is an id; "" when it is empty and not required."""
    if value == "" and not required:
        return ""
    if value == "" or value is None:
        raise InvalidArgument(f"{field} is required")
    if not is_id(value):
        raise InvalidArgument(f"{field} must be {ID_RULE}, got {quoted(value)}")
    assert isinstance(value, str)
    return value


def parse_date(field: str, value: object) -> date:
    """A real calendar day written strictly "YYYY-MM-DD" (no time, no other format)."""
    if not isinstance(value, str) or _DATE.fullmatch(value) is None:
        raise InvalidArgument(f'{field} must be a date as "YYYY-MM-DD", got {quoted(value)}')
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidArgument(f"{field} {value!r} is not a real date") from None


def check_text(field: str, value: object, max_length: int, *, required: bool = False) -> str:
    """Free text of at most `max_length` characters without control characters (tab and newline
    are allowed)."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be text, got {quoted(value)}")
    if required and not value.strip():
        raise InvalidArgument(f"{field} is required")
    if len(value) > max_length:
        raise InvalidArgument(f"{field} must be at most {max_length} characters, got {len(value)}")
    if has_control_characters(value):
        raise InvalidArgument(f"{field} must not contain control characters")
    return value


def check_coordinates(field: str, lat: object, lng: object) -> tuple[float, float]:
    """A WGS84 point: finite latitude in [-90, 90] and longitude in [-180, 180]."""
    for name, value, bound in (("lat", lat, 90.0), ("lng", lng, 180.0)):
        number = value if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan
        if not (math.isfinite(number) and -bound <= number <= bound):
            raise InvalidArgument(f"{field}.{name} must be a finite number in [-{bound:g}, {bound:g}], got {value!r}")
    return float(lat), float(lng)  # type: ignore[arg-type]


def has_control_characters(text: str) -> bool:
    return _CONTROL_CHARACTER.search(text) is not None


def quoted(value: object, limit: int = MAX_QUOTED_CHARS) -> str:
    """`repr(value)` cut to `limit` characters: an error names what it refuses without echoing a
    megabyte back (a status larger than gRPC's header limit reaches the caller as
    RESOURCE_EXHAUSTED, not as the error it was)."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(value) if isinstance(value, str) else len(text)} characters)"


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id(prefix: str) -> str:
    """A new random id, `<prefix>_<32 hex digits>` (fits the id rule)."""
    return f"{prefix}_{uuid.uuid4().hex}"
