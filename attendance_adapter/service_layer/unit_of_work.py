"""attendance_adapter's unit of work as the use cases see it: the attendance records and the
events, in one transaction (adapters/unit_of_work.py implements it over PostgreSQL)."""

from __future__ import annotations

from attendance_adapter.service_layer.repositories import AbstractAttendanceRepository
from mesh.unit_of_work import AbstractUnitOfWork


class AbstractAttendanceUnitOfWork(AbstractUnitOfWork):
    records: AbstractAttendanceRepository
