"""The ports the read use cases need, implemented in adapters/: where attendance comes from
(`AttendanceSource`: the embedded table or the external system) and where upstream answers are
kept (`AttendanceCache`: Redis).

The service layer reads attendance only through these, so it neither knows nor cares whether an
answer came from PostgreSQL or over HTTP; tests plug in fakes that subclass the same ABCs.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from datetime import date

from attendance_adapter.domain.model import AttendanceRecord, Snapshot
from mesh.errors import NotFound, Unavailable


class SourceFailed(Unavailable):
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


class HubNotKnown(NotFound):
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


@dataclass(frozen=True)
class CacheKey:
    """One cached answer: a hub's or a rider's attendance on one day."""

    kind: str  # "hub" or "rider"
    id: str
    date: date

    def __str__(self) -> str:
        return f"{self.kind}:{self.id}:{self.date.isoformat()}"


class AttendanceCache(abc.ABC):
    """Where snapshots of upstream answers are kept. Never raises: a failure is a miss."""

    @abc.abstractmethod
    def get(self, key: CacheKey) -> Snapshot | None: ...

    @abc.abstractmethod
    def put(self, key: CacheKey, snapshot: Snapshot) -> None: ...
