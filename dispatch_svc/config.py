"""Settings of dispatch_svc (prefix `DISPATCH_SVC_`); the shared ones are in mesh.config.MeshSettings."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from dispatch_svc.domain.forecasting import ForecastSettings
from dispatch_svc.domain.model import VehicleType
from dispatch_svc.domain.planning import PlanningSettings
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
    # Planning (docs/dispatch.md, "Planning a day"): a rider's shift when attendance gives none (HH:MM local).
    planning_day_start: str = Field(default="08:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    planning_day_end: str = Field(default="20:00", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    # Time at a stop: fixed plus per package.
    planning_service_seconds_per_stop: int = Field(default=120, ge=0, le=3600)
    planning_service_seconds_per_package: int = Field(default=10, ge=0, le=600)
    # Time budget of one hub's plan, and the solver's exploration level (0-5).
    planning_max_solve_seconds: float = Field(default=5.0, gt=0, le=120)
    planning_exploration_level: int = Field(default=3, ge=0, le=5)
    # The most queued pickups one plan takes per route and in all (the oldest; the rest wait for the next plan).
    planning_max_stops_per_route: int = Field(default=1000, ge=1, le=20_000)
    planning_max_stops: int = Field(default=10_000, ge=1, le=200_000)
    # Road distance = great-circle distance x this factor; speeds per vehicle type in km/h.
    planning_circuity_factor: float = Field(default=1.35, ge=1.0, le=3.0)
    planning_speed_kmh_bike: float = Field(default=22.0, gt=0, le=150)
    planning_speed_kmh_three_wheeler: float = Field(default=18.0, gt=0, le=150)
    planning_speed_kmh_van: float = Field(default=20.0, gt=0, le=150)
    planning_speed_kmh_truck: float = Field(default=16.0, gt=0, le=150)
    # Forecasting (docs/dispatch.md, "Forecasting"): fewer whole weeks of history than this = seasonal naive only.
    forecast_min_weeks_for_models: int = Field(default=4, ge=2, le=52)
    # Rolling-origin backtest: origins, and days forecast from each.
    forecast_backtest_origins: int = Field(default=3, ge=1, le=20)
    forecast_backtest_horizon: int = Field(default=7, ge=1, le=28)
    # Days of history fitted (the most recent), and over which packages/kg per pickup are measured.
    forecast_max_history_days: int = Field(default=182, ge=28, le=3660)
    forecast_ratio_window_days: int = Field(default=28, ge=1, le=366)
    # Longest forecast one request may ask for; central probability of its interval.
    forecast_max_days: int = Field(default=28, ge=1, le=366)
    forecast_interval_level: float = Field(default=0.8, gt=0, lt=1)
    # Refit the chosen model on the whole history (else forecast with the backtested parameters).
    forecast_refit: bool = True

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

    @property
    def planning_settings(self) -> PlanningSettings:
        return PlanningSettings(
            day_start=_clock(self.planning_day_start),
            day_end=_clock(self.planning_day_end),
            service_seconds_per_stop=self.planning_service_seconds_per_stop,
            service_seconds_per_package=self.planning_service_seconds_per_package,
            max_solve_seconds=self.planning_max_solve_seconds,
            exploration_level=self.planning_exploration_level,
            max_stops_per_route=self.planning_max_stops_per_route,
            max_stops=self.planning_max_stops,
        )

    @model_validator(mode="after")
    def _forecast(self) -> Settings:
        self.forecast_settings  # noqa: B018 - ForecastSettings checks how the fields combine (ValueError)
        return self

    @property
    def forecast_settings(self) -> ForecastSettings:
        return ForecastSettings(
            min_weeks_for_models=self.forecast_min_weeks_for_models,
            backtest_origins=self.forecast_backtest_origins,
            backtest_horizon=self.forecast_backtest_horizon,
            max_history_days=self.forecast_max_history_days,
            ratio_window_days=self.forecast_ratio_window_days,
            max_forecast_days=self.forecast_max_days,
            interval_level=self.forecast_interval_level,
            refit=self.forecast_refit,
        )

    @property
    def planning_speeds_kmh(self) -> dict[VehicleType, float]:
        return {
            VehicleType.BIKE: self.planning_speed_kmh_bike,
            VehicleType.THREE_WHEELER: self.planning_speed_kmh_three_wheeler,
            VehicleType.VAN: self.planning_speed_kmh_van,
            VehicleType.TRUCK: self.planning_speed_kmh_truck,
        }


def _clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))
