"""The mesh's Kafka topics (names are public contract, see DESIGN.md) and their creation:
`python -m mesh.topics` creates every topic and its `.dlq` if missing."""

from __future__ import annotations

import sys

from pydantic import Field

from mesh.config import ConfigError, KafkaSettings, load
from mesh.kafka import KafkaSecurity, TopicSpec, ensure_topics

PUR_CREATED = "pur.created.v1"
PUR_ROUTE_ASSIGNMENTS = "pur.route-assignments.v1"
PUR_EVENTS = "pur.events.v1"
DISPATCH_EVENTS = "dispatch.events.v1"
ROUTING_MAP_CHANGES = "routing.map-changes.v1"
ATTENDANCE_EVENTS = "attendance.events.v1"

ALL_TOPICS = (PUR_CREATED, PUR_ROUTE_ASSIGNMENTS, PUR_EVENTS, DISPATCH_EVENTS, ROUTING_MAP_CHANGES, ATTENDANCE_EVENTS)

WEEK_MS = 7 * 24 * 3600 * 1000


def topic_specs(partitions: int, replication_factor: int) -> list[TopicSpec]:
    min_insync = str(min(2, replication_factor))
    return [
        TopicSpec(
            name=name,
            partitions=partitions,
            replication_factor=replication_factor,
            configs={"retention.ms": str(WEEK_MS), "min.insync.replicas": min_insync},
        )
        for name in ALL_TOPICS
    ]


class TopicSettings(KafkaSettings):
    """The part of the shared settings topic creation needs (it runs as an init container)."""

    kafka_topic_partitions: int = Field(default=6, ge=1, le=1000)
    kafka_topic_replication: int = Field(default=1, ge=1, le=7)


def main() -> int:
    try:
        settings = load(TopicSettings)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    specs = topic_specs(settings.kafka_topic_partitions, settings.kafka_topic_replication)
    ensure_topics(
        settings.kafka_bootstrap_servers, specs, with_dlq=True, security=KafkaSecurity.from_settings(settings)
    )
    print(f"topics ready: {', '.join(spec.name for spec in specs)} (+ .dlq each)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
