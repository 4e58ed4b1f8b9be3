"""Settings of attendance_adapter (prefix `ATTENDANCE_ADAPTER_`); the shared ones are in mesh.config.MeshSettings.

docs/attendance.md describes each one. With `UPSTREAM_URL` empty (the default, for local runs)
the adapter serves its embedded table; set, it fronts that external attendance system and
`UPSTREAM_TOKEN` (a secret, no default) becomes required.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import SettingsConfigDict

from mesh.service import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ATTENDANCE_ADAPTER_", extra="ignore", frozen=True)

    grpc_port: int = Field(default=50054, ge=0, le=65535)
    metrics_port: int = Field(default=9104, ge=0, le=65535)

    # Base URL of the external attendance system, e.g. https://attendance.example.com/api/v1;
    # empty: serve the embedded table (RecordAttendance, CSV import) instead.
    upstream_url: str = ""
    # Bearer token sent to the upstream (`Authorization: Bearer ...`). A secret: from the
    # Secret only, never a default; required when upstream_url is set.
    upstream_token: SecretStr | None = Field(default=None, validate_default=True)
    # Limit of one HTTP attempt, connection and body included.
    upstream_timeout_seconds: float = Field(default=2.0, gt=0, le=60)
    # Attempts per call (1 = no retry) for timeouts, connection errors, 5xx, 408 and 429 ...
    upstream_attempts: int = Field(default=3, ge=1, le=10)
    # ... all within this much time (backoff included), and never past the caller's deadline.
    upstream_retry_budget_seconds: float = Field(default=6.0, gt=0, le=120)
    # After a call failed with its retries spent, the upstream is not asked again for this
    # long (answers come from the last known data at once); 0 disables.
    upstream_cooldown_seconds: float = Field(default=5.0, ge=0, le=600)
    # Upstream answers younger than this are served from Redis (CACHED) without asking again.
    cache_ttl_seconds: float = Field(default=60.0, gt=0, le=24 * 3600)
    # How long an answer is kept in Redis as the "last known" data served (STALE) while the
    # upstream is down.
    last_known_ttl_seconds: int = Field(default=2 * 24 * 3600, ge=60, le=30 * 24 * 3600)

    @field_validator("upstream_url")
    @classmethod
    def _url(cls, value: str) -> str:
        value = value.strip()
        if not value:
            return ""
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, or empty for the embedded source")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ValueError("must be a base URL without query, fragment or credentials (the token is separate)")
        return value.rstrip("/")

    @field_validator("upstream_token")
    @classmethod
    def _token(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            value = None
        if value is None and info.data.get("upstream_url"):
            raise ValueError("is required when ATTENDANCE_ADAPTER_UPSTREAM_URL is set")
        return value

    @field_validator("last_known_ttl_seconds")
    @classmethod
    def _keep_longer(cls, value: int, info: ValidationInfo) -> int:
        ttl = info.data.get("cache_ttl_seconds")
        if ttl is not None and value < ttl:
            raise ValueError("must be at least ATTENDANCE_ADAPTER_CACHE_TTL_SECONDS")
        return value
