"""Create every topic of the mesh and its `.dlq` if missing: `python -m mesh.commands.topics`.

Runs as an init container before every service and as a Job; safe to run from many places at
once. Existing topics are left as they are (partition counts are never changed)."""

from __future__ import annotations

import sys

from pydantic import Field

from mesh.config import ConfigError, KafkaSettings, load
from mesh.kafka import KafkaSecurity, TopicSpec, ensure_topics
from mesh.topics import ALL_TOPICS

WEEK_MS = 7 * 24 * 3600 * 1000


def topic_specs(partitions: int, replication_factor: int) -> list[TopicSpec]:
    # acks=all producers then survive one broker down without losing an acknowledged record.
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
    """The brokers, and how many partitions and replicas a new topic gets."""

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
