"""Typed configuration from environment variables.

Every service reads the shared `FIRSTMILE_*` settings plus its own prefixed settings
(`PUR_SVC_*`, `ROUTING_SVC_*`, ...). A missing or invalid value stops the process at start-up with
one message naming every offending variable; nothing that holds a secret has a default.
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """Raised when the environment does not describe a valid configuration."""


class MeshSettings(BaseSettings):
    """Settings every service shares (prefix `FIRSTMILE_`)."""

    model_config = SettingsConfigDict(env_prefix="FIRSTMILE_", extra="ignore", frozen=True)

    database_url: str = Field(
        pattern=r"^postgresql(\+psycopg2)?://",
        description="SQLAlchemy URL of the PostgreSQL cluster, e.g. postgresql+psycopg2://user:pass@host:5432/db",
    )
    redis_url: str = Field(pattern=r"^rediss?://", description="Redis URL, e.g. redis://host:6379/0")
    kafka_bootstrap_servers: str = Field(
        pattern=r"^[^\s,]+:\d+(,[^\s,]+:\d+)*$", description="Comma-separated host:port list of Kafka brokers"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    grpc_max_workers: int = Field(default=16, ge=1, le=256)
    # Seconds health reports NOT_SERVING before the server stops, so load balancers move away first.
    drain_seconds: float = Field(default=2.0, ge=0, le=60)
    # Seconds in-flight RPCs get to finish after the drain.
    grace_seconds: float = Field(default=10.0, ge=0, le=300)
    db_pool_size: int = Field(default=10, ge=1, le=100)
    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_topic_replication: int = Field(default=1, ge=1, le=7)


S = TypeVar("S", bound=BaseSettings)


def load(settings_cls: type[S]) -> S:
    """Build `settings_cls` from the environment or raise ConfigError naming each bad variable."""
    try:
        return settings_cls()
    except ValidationError as exc:
        prefix = settings_cls.model_config.get("env_prefix", "")
        problems = []
        for error in exc.errors():
            field = ".".join(str(part) for part in error["loc"])
            problems.append(f"  {(prefix + field).upper()}: {error['msg']}")
        raise ConfigError(
            f"invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)
        ) from None
