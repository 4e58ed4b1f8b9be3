"""Settings of dispatch_svc (prefix `DISPATCH_SVC_`); the shared ones are in mesh.config.MeshSettings."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from mesh.kernel import is_id
from mesh.service import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DISPATCH_SVC_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50053, ge=0, le=65535)
    metrics_port: int = Field(default=9103, ge=0, le=65535)
    # attendance_adapter's gRPC address (host:port, or dns:///name:port for per-pod balancing).
    attendance_address: str = Field(default="localhost:50054", min_length=3, max_length=300)
    # Deadline of one ListAvailableRiders call; past it attendance counts as unknown.
    attendance_timeout_seconds: float = Field(default=1.5, gt=0, le=30)
    # Auto-dispatch is off unless hubs are listed here (comma-separated hub ids).
    auto_dispatch_hubs: str = Field(default="", max_length=10_000)
    # A route's queue of this many pickups is dispatched at once.
    auto_dispatch_queue_threshold: int = Field(default=20, ge=1, le=100_000)
    # After this local time (HH:MM), any non-empty queue of the day is dispatched.
    auto_dispatch_cutoff: str = Field(default="14:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # IANA time zone of the hubs' local time (cut-off and "today").
    auto_dispatch_timezone: str = Field(default="Asia/Kolkata", min_length=1, max_length=64)
    # Seconds between two checks of the enabled hubs' queues.
    auto_dispatch_interval_seconds: float = Field(default=5.0, ge=0.1, le=3600)

    @field_validator("auto_dispatch_hubs")
    @classmethod
    def _hubs(cls, value: str) -> str:
        bad = [hub for hub in (h.strip() for h in value.split(",")) if hub and not is_id(hub)]
        if bad:
            raise ValueError(f"not valid hub ids: {bad[:5]}")
        return value

    @field_validator("auto_dispatch_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Asia/Kolkata)") from None
        return value

    @property
    def auto_dispatch_hub_ids(self) -> frozenset[str]:
        return frozenset(h.strip() for h in self.auto_dispatch_hubs.split(",") if h.strip())

    @property
    def auto_dispatch_cutoff_time(self) -> time:
        hours, minutes = self.auto_dispatch_cutoff.split(":")
        return time(int(hours), int(minutes))
