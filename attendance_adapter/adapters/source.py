"""The port every attendance source implements: the embedded table and the external system.

The service layer reads attendance only through `AttendanceSource`, so it neither knows nor cares
whether an answer came from PostgreSQL or over HTTP; tests plug in a fake that subclasses it.
"""

from __future__ import annotations

import abc
from datetime import date

from attendance_adapter.domain.model import AttendanceRecord


class SourceFailed(Exception):
    """The source could not give a usable answer; `reason` says why in words a person reading
    an RPC's stale_reason or error message understands ("timed out after 3 attempts")."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SourceUnreachable(SourceFailed):
    """Timeouts, refused connections, 5xx: the kind of failure a retry may fix."""


class SourceRejected(SourceFailed):
    """The source refused the request (a 4xx other than 404): a configuration problem, not retried."""


class SourceMalformed(SourceFailed):
    """The source answered something that breaks the contract; the answer is never used."""


class HubNotKnown(Exception):
    """The source says it does not know the hub at all (not a failure: a clear answer)."""


class AttendanceSource(abc.ABC):
    """Where attendance comes from.

    `embedded` is True for the adapter's own table: answers are read fresh every time (labelled
    EMBEDDED) and never cached; otherwise answers are cached and labelled LIVE / CACHED / STALE.
    `deadline` is a `time.monotonic()` value a call should not run past (None: the source's own
    limits only).
    """

    embedded: bool = False

    @abc.abstractmethod
    def rider_attendance(self, rider_id: str, day: date, *, deadline: float | None = None) -> AttendanceRecord | None:
        """The rider's record for the day, or None when the source has none.
        Raises SourceFailed when it cannot tell."""

    @abc.abstractmethod
    def hub_attendance(self, hub_id: str, day: date, *, deadline: float | None = None) -> list[AttendanceRecord]:
        """Every record of the hub's riders for the day (any status).
        Raises HubNotKnown or SourceFailed."""
