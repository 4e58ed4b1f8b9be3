"""Fixtures for the whole suite: where the local infrastructure is.

The defaults are the conventional local ports that `bash infra/infra.sh up` (make up) serves;
the FIRSTMILE_* variables the services read override them, so the suite can point elsewhere.
"""

from __future__ import annotations

import os
import re
import uuid

import pytest

DEFAULT_DATABASE_URL = "postgresql+psycopg2://firstmile@localhost:5432/firstmile"
DEFAULT_KAFKA_BOOTSTRAP_SERVERS = "localhost:9092"
DEFAULT_REDIS_URL = "redis://localhost:6379/0"


@pytest.fixture(scope="session")
def database_url() -> str:
    return os.environ.get("FIRSTMILE_DATABASE_URL", DEFAULT_DATABASE_URL)


@pytest.fixture(scope="session")
def kafka_bootstrap_servers() -> str:
    return os.environ.get("FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS", DEFAULT_KAFKA_BOOTSTRAP_SERVERS)


@pytest.fixture(scope="session")
def redis_url() -> str:
    return os.environ.get("FIRSTMILE_REDIS_URL", DEFAULT_REDIS_URL)


def _unique_name(base: str, *, separator: str = "_", max_base: int = 30) -> str:
    slug = re.sub(r"[^a-z0-9]+", separator, base.lower()).strip(separator)[:max_base]
    return f"{slug}{separator}{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def unique_name():
    """`unique_name(base, separator="_")`: `base` reduced to [a-z0-9] runs joined by
    `separator`, cut to 30 chars, plus a random 8-hex suffix (schema, topic, group names)."""
    return _unique_name
