"""Settings of pur_svc (prefix `PUR_SVC_`); the shared ones are in mesh.config.MeshSettings."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from mesh.service import ServiceSettings
from pur_svc.domain.model import DEFAULT_REVIEW_DISTANCE_M
from pur_svc.service_layer.handlers import DEFAULT_REROUTE_BATCH_SIZE


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PUR_SVC_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50051, ge=0, le=65535)
    metrics_port: int = Field(default=9101, ge=0, le=65535)
    # A PUR routed to its NEAREST route farther than this (meters) goes to the manual queue.
    review_distance_m: float = Field(default=DEFAULT_REVIEW_DISTANCE_M, ge=0, le=100_000)
    # PURs sent for re-routing per transaction after a map change: bounds how long one holds locks.
    reroute_batch_size: int = Field(default=DEFAULT_REROUTE_BATCH_SIZE, ge=1, le=100_000)
