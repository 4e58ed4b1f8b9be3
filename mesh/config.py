"""Typed configuration from environment variables.

Every service reads the shared `FIRSTMILE_*` settings plus its own prefixed settings
(`PUR_SVC_*`, `ROUTING_SVC_*`, ...). A missing or invalid value stops the process at start-up with
one message naming every offending variable; nothing that holds a secret has a default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self, TypeVar

from pydantic import Field, FilePath, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConfigError(Exception):
    """Raised when the environment does not describe a valid configuration."""


class GrpcTransportSettings(BaseSettings):
    """How gRPC connections are secured: mutual TLS unless configuration explicitly says otherwise."""

    model_config = SettingsConfigDict(env_prefix="FIRSTMILE_", extra="ignore", frozen=True)

    grpc_transport: Literal["mtls", "tls", "plaintext"] = Field(
        default="mtls",
        description="mtls: both sides show certificates; tls: only servers do; plaintext: local runs only",
    )
    grpc_tls_cert_file: FilePath | None = Field(
        default=None, description="PEM certificate this process serves and, with mtls, presents as a client"
    )
    grpc_tls_key_file: FilePath | None = Field(default=None, description="PEM private key of grpc_tls_cert_file")
    grpc_tls_ca_file: FilePath | None = Field(
        default=None, description="PEM CA bundle that signs the mesh's certificates"
    )

    @model_validator(mode="after")
    def _tls_files_when_tls(self) -> Self:
        if self.grpc_transport != "plaintext":
            missing = [
                name
                for name in ("grpc_tls_cert_file", "grpc_tls_key_file", "grpc_tls_ca_file")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(
                    f"grpc_transport={self.grpc_transport} needs {', '.join('FIRSTMILE_' + m.upper() for m in missing)}"
                    " (or FIRSTMILE_GRPC_TRANSPORT=plaintext, explicitly, for a local run)"
                )
        return self


class KafkaSettings(BaseSettings):
    """Where the Kafka brokers are and how to reach them: TLS and SASL credentials when configured."""

    model_config = SettingsConfigDict(env_prefix="FIRSTMILE_", extra="ignore", frozen=True, env_ignore_empty=True)

    kafka_bootstrap_servers: str = Field(
        pattern=r"^[^\s,]+:\d+(,[^\s,]+:\d+)*$", description="Comma-separated host:port list of Kafka brokers"
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_ssl_ca_file: FilePath | None = Field(
        default=None, description="PEM CA of the brokers (default: the system's)"
    )
    kafka_ssl_cert_file: FilePath | None = Field(
        default=None, description="PEM client certificate, when brokers require one"
    )
    kafka_ssl_key_file: FilePath | None = Field(default=None, description="PEM key of kafka_ssl_cert_file")
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None

    @model_validator(mode="after")
    def _credentials_when_sasl(self) -> Self:
        if self.kafka_security_protocol.startswith("SASL_") and not (
            self.kafka_sasl_username and self.kafka_sasl_password
        ):
            raise ValueError(
                f"kafka_security_protocol={self.kafka_security_protocol} needs FIRSTMILE_KAFKA_SASL_USERNAME and"
                " FIRSTMILE_KAFKA_SASL_PASSWORD"
            )
        if (self.kafka_ssl_cert_file is None) != (self.kafka_ssl_key_file is None):
            raise ValueError("FIRSTMILE_KAFKA_SSL_CERT_FILE and FIRSTMILE_KAFKA_SSL_KEY_FILE go together")
        return self


class DatabaseSettings(BaseSettings):
    """Where the PostgreSQL cluster is (commands that only need the database read just this)."""

    model_config = SettingsConfigDict(env_prefix="FIRSTMILE_", extra="ignore", frozen=True, env_ignore_empty=True)

    database_url: str = Field(
        pattern=r"^postgresql(\+psycopg2)?://",
        description="SQLAlchemy URL of the PostgreSQL cluster, e.g. postgresql+psycopg2://user:pass@host:5432/db",
    )


class TracingSettings(BaseSettings):
    """OpenTelemetry traces (mesh/tracing.py, docs/observability.md): off unless an exporter is named."""

    model_config = SettingsConfigDict(env_prefix="FIRSTMILE_", extra="ignore", frozen=True, env_ignore_empty=True)

    tracing_exporter: Literal["none", "otlp", "file"] = Field(
        default="none",
        description="none: no traces; otlp: to tracing_otlp_endpoint; file: JSON lines to tracing_file_path",
    )
    tracing_otlp_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+(:\d+)?/?$",
        description="OTLP/gRPC collector, e.g. http://otel-collector:4317 (https:// for TLS)",
    )
    tracing_file_path: Path | None = Field(default=None, description="file the spans are appended to, one per line")
    tracing_sample_ratio: float = Field(
        default=0.01, ge=0, le=1, description="share of new traces recorded (a traced caller's choice is followed)"
    )

    @model_validator(mode="after")
    def _destination_of_exporter(self) -> Self:
        if self.tracing_exporter == "otlp" and not self.tracing_otlp_endpoint:
            raise ValueError("tracing_exporter=otlp needs FIRSTMILE_TRACING_OTLP_ENDPOINT")
        if self.tracing_exporter == "file" and self.tracing_file_path is None:
            raise ValueError("tracing_exporter=file needs FIRSTMILE_TRACING_FILE_PATH")
        return self


class MeshSettings(GrpcTransportSettings, KafkaSettings, DatabaseSettings, TracingSettings):
    """Settings every service shares (prefix `FIRSTMILE_`)."""

    model_config = SettingsConfigDict(env_prefix="FIRSTMILE_", extra="ignore", frozen=True, env_ignore_empty=True)

    redis_url: str = Field(pattern=r"^rediss?://", description="Redis URL, e.g. redis://host:6379/0")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    grpc_max_workers: int = Field(default=16, ge=1, le=256)
    # Seconds health reports NOT_SERVING before the server stops, so load balancers move away first.
    drain_seconds: float = Field(default=2.0, ge=0, le=60)
    # Seconds in-flight RPCs get to finish after the drain.
    grace_seconds: float = Field(default=10.0, ge=0, le=300)
    db_pool_size: int = Field(default=10, ge=1, le=100)

    # Bearer tokens: services hold the public key only.
    auth_jwt_public_key_file: FilePath = Field(description="PEM public key that verifies bearer tokens (Ed25519)")
    auth_jwt_issuer: str = Field(default="firstmile", min_length=1)
    auth_jwt_audience: str = Field(default="firstmile-mesh", min_length=1)
    # The token this process sends when it calls another service (role `service`); re-read when it changes.
    auth_service_token_file: FilePath | None = None


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
            problems.append(f"  {(prefix + field).upper()}: {error['msg']}" if field else f"  {error['msg']}")
        raise ConfigError(f"invalid configuration ({len(problems)} problem(s)):\n" + "\n".join(problems)) from None
