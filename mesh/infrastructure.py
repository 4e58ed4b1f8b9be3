"""Connections every service process holds, built once by its composition root."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from kafka import KafkaProducer
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from mesh.config import MeshSettings
from mesh.db import make_engine, make_session_factory
from mesh.kafka import ConsumedMessage, ConsumerLoop, KafkaSecurity, make_producer
from mesh.outbox import Outbox, OutboxRelay
from mesh.redis_client import make_redis
from mesh.runtime import Worker
from mesh.tracing import traced_batch

T = TypeVar("T")


@dataclass
class Infrastructure:
    engine: Engine
    session_factory: sessionmaker[Session]
    redis: redis.Redis
    # Separate producers: flush() waits for every record of its producer, so the relay's
    # flushes and a consumer's dead-letter flushes must not wait on each other's traffic.
    relay_producer: KafkaProducer
    dlq_producer: KafkaProducer
    kafka_bootstrap_servers: str
    kafka_security: KafkaSecurity

    @classmethod
    def connect(cls, settings: MeshSettings, *, service: str) -> Infrastructure:
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size, application_name=service)
        kafka_security = KafkaSecurity.from_settings(settings)
        return cls(
            engine=engine,
            session_factory=make_session_factory(engine),
            redis=make_redis(settings.redis_url),
            relay_producer=make_producer(
                settings.kafka_bootstrap_servers, client_id=f"{service}-outbox", security=kafka_security
            ),
            dlq_producer=make_producer(
                settings.kafka_bootstrap_servers, client_id=f"{service}-dlq", security=kafka_security
            ),
            kafka_bootstrap_servers=settings.kafka_bootstrap_servers,
            kafka_security=kafka_security,
        )

    def outbox_relay(self, outbox: Outbox) -> Worker:
        relay = OutboxRelay(self.engine, outbox, self.relay_producer)

        def run(stop: threading.Event) -> None:
            relay.run(stop)

        return Worker(name=f"outbox-relay:{outbox.schema}", run=run)

    def consumer(
        self,
        group_id: str,
        topic: str,
        decode: Callable[[ConsumedMessage], T],
        handle_batch: Callable[[list[tuple[ConsumedMessage, T]]], None],
        **options: Any,
    ) -> Worker:
        """A worker running a ConsumerLoop of `group_id` over `topic`, dead-lettering poison."""

        def run(stop: threading.Event) -> None:
            loop = ConsumerLoop(
                self.kafka_bootstrap_servers,
                group_id,
                [topic],
                decode=decode,
                handle_batch=traced_batch(group_id, handle_batch),
                dlq_producer=self.dlq_producer,
                client_id=f"{group_id}:{topic}",
                security=self.kafka_security,
                **options,
            )
            try:
                loop.run(stop)
            finally:
                loop.close()

        return Worker(name=f"consumer:{topic}", run=run)

    def close(self) -> None:
        self.relay_producer.close(timeout=5)
        self.dlq_producer.close(timeout=5)
        self.redis.close()
        self.engine.dispose()
