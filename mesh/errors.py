"""What can go wrong in a use case, as kinds that say nothing about the transport.

Domain and service-layer code raises these (or subclasses of them, such as a domain's
`InvalidPickup`); the gRPC error interceptor owns the only table from kind to status code
(`mesh.grpc_errors`), and the Kafka consumer loop treats `InvalidArgument` as a poison message.
The message is shown to the caller, so it names the field and the rule, never internals.
"""

from __future__ import annotations


class MeshError(Exception):
    """Base of the errors a caller is told about; the subclass is the kind."""


class InvalidArgument(MeshError):
    """The request is malformed; nothing was written."""


class NotFound(MeshError):
    """What the request names does not exist."""


class AlreadyExists(MeshError):
    """The request would create something that exists with different content."""


class FailedPrecondition(MeshError):
    """The entity is in a state that does not allow the operation."""


class Unauthenticated(MeshError):
    """The caller could not be identified."""


class PermissionDenied(MeshError):
    """The caller is known and may not do this."""


class ResourceExhausted(MeshError):
    """A per-caller limit was reached (e.g. a watcher fell too far behind)."""


class Unavailable(MeshError):
    """A dependency is down; the caller may retry."""
