"""Which failures a retry may fix: those of a dependency (database, Redis, Kafka, network)."""

from __future__ import annotations

import kafka.errors
import psycopg2
import redis.exceptions
import sqlalchemy.exc

from mesh.errors import Unavailable

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,
    # Code that talks to the driver directly (the outbox relay's LISTEN connection).
    psycopg2.OperationalError,
    psycopg2.InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """True for failures of a dependency that a retry may fix."""
    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    return isinstance(exc, kafka.errors.KafkaError) and bool(getattr(exc, "retriable", False))
