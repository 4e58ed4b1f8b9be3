"""Errors a use case raises; the gRPC error interceptor maps each to its status code.

Domain and handler code raises these (or subclasses) instead of touching gRPC, so the mapping
from "what went wrong" to "which status code" lives in one place.
"""

from __future__ import annotations

import grpc


class MeshError(Exception):
    """Base of the errors that become a gRPC status; the message is shown to the caller."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN


class InvalidArgument(MeshError):
    """The request is malformed; nothing was written."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFound(MeshError):
    code = grpc.StatusCode.NOT_FOUND


class AlreadyExists(MeshError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPrecondition(MeshError):
    """The entity is in a state that does not allow the operation."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class Unauthenticated(MeshError):
    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDenied(MeshError):
    code = grpc.StatusCode.PERMISSION_DENIED


class Unavailable(MeshError):
    """A dependency is down; the caller may retry."""

    code = grpc.StatusCode.UNAVAILABLE


def is_transient(exc: BaseException) -> bool:
    """True for failures of a dependency (database, Redis, Kafka, network) that a retry may fix.

    Imports are local so this module stays importable by code that needs only the error classes.
    """
    import kafka.errors
    import psycopg2
    import redis.exceptions
    import sqlalchemy.exc

    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, sqlalchemy.exc.DBAPIError) and exc.connection_invalidated:
        return True
    if isinstance(
        exc,
        (
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
        ),
    ):
        return True
    return isinstance(exc, kafka.errors.KafkaError) and bool(getattr(exc, "retriable", False))
