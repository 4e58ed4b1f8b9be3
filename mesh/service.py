"""Entry point shared by every service's `python -m <service>`: configuration, logging, runtime."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import TypeVar

from pydantic import Field
from pydantic_settings import BaseSettings

from mesh.config import ConfigError, MeshSettings, load
from mesh.logs import configure_logging
from mesh.runtime import ServiceRuntime


class ServiceSettings(BaseSettings):
    """Settings of one service; subclasses set `env_prefix` (e.g. `PUR_SVC_`) and the defaults."""

    grpc_port: int = Field(ge=0, le=65535)
    metrics_port: int = Field(ge=0, le=65535, description="0 disables the metrics endpoint")
    # Kubelet probes cannot speak TLS: with TLS on, they check this plaintext, health-only port.
    health_port: int | None = Field(default=None, ge=0, le=65535, description="unset: no separate health port")


S = TypeVar("S", bound=ServiceSettings)


def run_service(name: str, settings_cls: type[S], build: Callable[[MeshSettings, S], ServiceRuntime]) -> int:
    """Load configuration (exit 2 with a clear message when it is wrong), then build and run."""
    try:
        mesh_settings = load(MeshSettings)
        service_settings = load(settings_cls)
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    configure_logging(name, mesh_settings.log_level)
    try:
        runtime = build(mesh_settings, service_settings)
    except ConfigError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        return 2
    except Exception:
        logging.getLogger(name).exception("start-up failed")
        return 1
    return runtime.run()
