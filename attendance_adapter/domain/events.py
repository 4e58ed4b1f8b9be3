"""What attendance_adapter announces: domain events, turned into outbox rows by adapters/messages.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from attendance_adapter.domain.model import AttendanceRecord, AttendanceStatus


@dataclass(frozen=True)
class AttendanceChanged:
    """A rider's attendance for a day is new, or its status or hub changed.

    `record` is the record as stored (frozen, so it stays the snapshot taken at publish time);
    `previous_status` is None for a new record."""

    record: AttendanceRecord
    previous_status: AttendanceStatus | None
    changed_at: datetime
