"""The CloudEvents attributes of an event, carried as Kafka headers (binary content mode):
`ce_id` (consumers dedupe on it), `ce_type`, `ce_source`, `ce_time`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from mesh.kafka.poison import BadHeaders

CE_ID = "ce_id"
CE_TYPE = "ce_type"
CE_SOURCE = "ce_source"
CE_TIME = "ce_time"
CE_SPECVERSION = "ce_specversion"
CONTENT_TYPE = "content-type"
# W3C trace context of the span that published the event (mesh.tracing); absent when untraced.
TRACEPARENT = "traceparent"
CE_SPECVERSION_1_0 = "1.0"
PROTOBUF_CONTENT_TYPE = "application/protobuf"

KafkaHeaders = Mapping[str, bytes | None] | Iterable[tuple[str, bytes | None]]


def format_rfc3339(moment: datetime) -> str:
    """RFC 3339 in UTC with a `Z` suffix, e.g. 2025-01-31T12:00:00.123456Z (naive = UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


_SPECVERSION_1_0 = CE_SPECVERSION_1_0.encode()
_PROTOBUF = PROTOBUF_CONTENT_TYPE.encode()


def kafka_headers(
    *,
    id: bytes,
    type: bytes,
    source: bytes,
    time: bytes,
    traceparent: str | None = None,
    specversion: bytes = _SPECVERSION_1_0,
    content_type: bytes = _PROTOBUF,
) -> list[tuple[str, bytes]]:
    """The Kafka headers of an event from its encoded attributes (`time` as `format_rfc3339`
    writes it): `EventHeaders.to_kafka`, and the outbox relay's per-row path without the dataclass."""
    headers = [
        (CE_ID, id),
        (CE_TYPE, type),
        (CE_SOURCE, source),
        (CE_TIME, time),
        (CE_SPECVERSION, specversion),
        (CONTENT_TYPE, content_type),
    ]
    if traceparent:
        headers.append((TRACEPARENT, traceparent.encode()))
    return headers


@dataclass(frozen=True, slots=True)
class EventHeaders:
    id: str
    type: str
    source: str
    time: datetime
    specversion: str = CE_SPECVERSION_1_0
    content_type: str = PROTOBUF_CONTENT_TYPE
    traceparent: str | None = None

    def to_kafka(self) -> list[tuple[str, bytes]]:
        return kafka_headers(
            id=self.id.encode(),
            type=self.type.encode(),
            source=self.source.encode(),
            time=format_rfc3339(self.time).encode(),
            traceparent=self.traceparent,
            specversion=self.specversion.encode(),
            content_type=self.content_type.encode(),
        )

    @classmethod
    def from_kafka(cls, headers: KafkaHeaders) -> EventHeaders:
        """Parse the headers of a consumed message; raises BadHeaders when one is missing or bad."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        # A null header value (other clients allow one) counts as missing.
        found = {name: value for name, value in pairs if value is not None}
        try:
            values = {name: found[name].decode() for name in (CE_ID, CE_TYPE, CE_SOURCE, CE_TIME)}
            return cls(
                id=values[CE_ID],
                type=values[CE_TYPE],
                source=values[CE_SOURCE],
                time=parse_rfc3339(values[CE_TIME]),
                specversion=found.get(CE_SPECVERSION, CE_SPECVERSION_1_0.encode()).decode(),
                content_type=found.get(CONTENT_TYPE, PROTOBUF_CONTENT_TYPE.encode()).decode(),
                # Never a reason to refuse a message: an unreadable trace context is no context.
                traceparent=found[TRACEPARENT].decode(errors="replace") if TRACEPARENT in found else None,
            )
        except KeyError as exc:
            raise BadHeaders(f"missing CloudEvents header {exc.args[0]!r}") from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadHeaders(f"invalid CloudEvents header: {exc}") from None
