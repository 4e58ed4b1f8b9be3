"""Who is present today, as the use cases ask it: the port an attendance adapter implements.

An outage is an answer, not an exception: `available_riders` returns `AttendanceView.unknown(...)`
when attendance cannot be read, and the use cases then treat nobody as present.
"""

from __future__ import annotations

import abc
from datetime import date

from dispatch_svc.domain.ranking import AttendanceView


class AttendancePort(abc.ABC):
    """Present riders of a hub on a day. Implementations never raise for an outage."""

    @abc.abstractmethod
    def available_riders(self, hub_id: str, day: date) -> AttendanceView: ...
