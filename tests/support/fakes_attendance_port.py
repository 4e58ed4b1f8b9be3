"""Attendance as dispatch_svc's use cases ask it, in memory: the port's one fake for every test."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime, timedelta

from dispatch_svc.domain.ranking import AttendanceSource, AttendanceView
from dispatch_svc.service_layer.attendance import AttendancePort
from mesh.kernel import utc_now


class FakeAttendance(AttendancePort):
    """Present riders by hub (`present[hub_id]`); `known = False` plays an unreachable attendance
    service. A fixed `view`, when given, is the answer for every hub and day. Calls are recorded."""

    def __init__(
        self,
        view: AttendanceView | None = None,
        *,
        source: AttendanceSource = AttendanceSource.LIVE,
        age: timedelta = timedelta(0),
    ) -> None:
        self.view = view
        self.source = source
        self.age = age
        self.present: defaultdict[str, set[str]] = defaultdict(set)
        self.known = True
        self.calls: list[tuple[str, date]] = []

    def available_riders(self, hub_id: str, day: date) -> AttendanceView:
        self.calls.append((hub_id, day))
        if self.view is not None:
            return self.view
        if not self.known:
            return AttendanceView.unknown("attendance service answered UNAVAILABLE: down for the test")
        fetched_at: datetime = utc_now() - self.age
        return AttendanceView(
            known=True,
            present=dict.fromkeys(sorted(self.present[hub_id])),
            source=self.source,
            fetched_at=fetched_at,
        )
