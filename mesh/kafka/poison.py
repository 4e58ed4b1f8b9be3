"""Messages a consumer can never process ("poison").

The rule is `mesh.errors.InvalidArgument`: a decoder or handler that raises it (or any subclass,
such as a domain's `InvalidPickup`) sends the message to its topic's DLQ and the consumer goes on.
The kinds below are what `decode_protobuf` finds wrong before a service sees the event; their class
name becomes the dead letter's `dlq_error_type` (docs/operations-dlq.md).
"""

from __future__ import annotations

from mesh.errors import InvalidArgument


class PoisonMessage(InvalidArgument):
    """Base of the kinds of undecodable message; services raise `InvalidArgument` instead."""


class BadHeaders(PoisonMessage):
    """A required CloudEvents header is missing or unreadable."""


class WrongEventType(PoisonMessage):
    """ce_type names another event type than the consumer reads."""


class OversizedMessage(PoisonMessage):
    """The payload is larger than the consumer accepts."""


class UndecodablePayload(PoisonMessage):
    """There is no payload, or its bytes are not the expected protobuf message."""
