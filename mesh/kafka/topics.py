"""Creating Kafka topics (and their DLQs) idempotently. Which topics the mesh has is
`mesh.topics`; `python -m mesh.commands.topics` creates them."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

import kafka.errors
from kafka import KafkaAdminClient
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_delay, wait_exponential

from mesh.kafka.dead_letters import DLQ_SUFFIX, dlq_topic
from mesh.kafka.security import PLAINTEXT, KafkaSecurity
from mesh.transient import is_transient

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int = 6
    replication_factor: int = 1
    configs: dict[str, str] = field(default_factory=dict)


def ensure_topics(
    bootstrap_servers: str,
    specs: Iterable[TopicSpec],
    *,
    with_dlq: bool = True,
    timeout_s: float = 60.0,
    security: KafkaSecurity = PLAINTEXT,
) -> list[str]:
    """Create each topic (and its `<name>.dlq` when `with_dlq`) unless it exists; returns the
    names created now. Safe to run on every start and from several replicas at once.

    Retries with backoff while the broker is unreachable or still starting (up to `timeout_s`),
    then waits until every topic has a leader for each partition, so producing right after works.
    An existing topic is left as it is, even if its partition count differs from the spec.
    """
    wanted: dict[str, TopicSpec] = {}
    for spec in specs:
        wanted[spec.name] = spec
        if with_dlq and not spec.name.endswith(DLQ_SUFFIX):
            dlq = TopicSpec(dlq_topic(spec.name), spec.partitions, spec.replication_factor, dict(spec.configs))
            wanted.setdefault(dlq.name, dlq)
    if not wanted:
        return []

    retrying = Retrying(
        retry=retry_if_exception(is_transient),
        wait=wait_exponential(multiplier=0.2, max=5),
        stop=stop_after_delay(timeout_s),
        reraise=True,
        before_sleep=_log_not_ready,
    )
    return retrying(_create_topics, bootstrap_servers, list(wanted.values()), security)


def _log_not_ready(state: RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    log.warning(
        "kafka not ready, retrying topic creation", extra={"attempt": state.attempt_number, "error": repr(error)}
    )


def _create_topics(bootstrap_servers: str, specs: list[TopicSpec], security: KafkaSecurity) -> list[str]:
    admin = KafkaAdminClient(
        bootstrap_servers=bootstrap_servers.split(","),
        client_id="firstmile-topics",
        bootstrap_timeout_ms=5000,
        **security.client_options(),
    )
    try:
        request = {
            spec.name: {
                "num_partitions": spec.partitions,
                "replication_factor": spec.replication_factor,
                "configs": dict(spec.configs),
            }
            for spec in specs
        }
        response = admin.create_topics(request, raise_errors=False)
        created = []
        for result in response["topics"]:
            code = result["error_code"]
            if code == 0:
                created.append(result["name"])
            elif code != kafka.errors.TopicAlreadyExistsError.errno:
                error_cls = kafka.errors.for_code(code)
                raise error_cls(f"creating topic {result['name']!r}: {result.get('error_message')}")
        admin.wait_for_topics([spec.name for spec in specs], timeout_ms=30_000)
        if created:
            log.info("created kafka topics", extra={"topics": created})
        return created
    finally:
        admin.close()
