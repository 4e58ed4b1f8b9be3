"""Small checks every service applies to what callers send, and how an error quotes what it
refuses. Pure Python with no dependencies, so domain modules use it as freely as entrypoints."""

from __future__ import annotations

import re

# Tab and newline belong in free text such as an address; the other C0 controls never do (and
# PostgreSQL cannot store NUL at all).
_CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0b-\x1f]")
MAX_QUOTED_CHARS = 40


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
