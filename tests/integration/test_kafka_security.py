"""Kafka clients over TLS and with SASL credentials, configured from settings, against the local
broker's SSL (mutual TLS) and SASL_SSL listeners (infra/kafka/server.properties.in)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import kafka.errors
import pytest
from kafka import KafkaAdminClient

from mesh.config import ConfigError, KafkaSettings, load
from mesh.kafka import ConsumedMessage, ConsumerLoop, KafkaSecurity, TopicSpec, ensure_topics, make_producer
from tests.support import auth
from tests.support.processes import ROOT, mesh_environment

pytestmark = pytest.mark.integration

SSL_PORT = int(os.environ.get("KAFKA_SSL_PORT", "9094"))
SASL_PORT = int(os.environ.get("KAFKA_SASL_PORT", "9095"))


def settings_env(protocol: str, **extra: str) -> dict[str, str]:
    secrets = auth.local_secrets()
    env = {
        "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS": f"localhost:{SSL_PORT if protocol == 'SSL' else SASL_PORT}",
        "FIRSTMILE_KAFKA_SECURITY_PROTOCOL": protocol,
        "FIRSTMILE_KAFKA_SSL_CA_FILE": str(secrets.ca_cert),
    }
    if protocol == "SSL":
        env |= {
            "FIRSTMILE_KAFKA_SSL_CERT_FILE": str(secrets.mesh_cert),
            "FIRSTMILE_KAFKA_SSL_KEY_FILE": str(secrets.mesh_key),
        }
    else:
        env |= {
            "FIRSTMILE_KAFKA_SASL_MECHANISM": "PLAIN",
            "FIRSTMILE_KAFKA_SASL_USERNAME": "firstmile",
            "FIRSTMILE_KAFKA_SASL_PASSWORD": secrets.kafka_sasl_password.read_text().strip(),
        }
    return env | extra


def settings_for(monkeypatch, protocol: str, **extra: str) -> KafkaSettings:
    for name in list(os.environ):
        if name.startswith("FIRSTMILE_KAFKA_"):
            monkeypatch.delenv(name)
    for name, value in settings_env(protocol, **extra).items():
        monkeypatch.setenv(name, value)
    return load(KafkaSettings)


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
def test_topics_producer_and_consumer_loop_work_over_a_secured_listener(monkeypatch, unique_name, protocol):
    settings = settings_for(monkeypatch, protocol)
    security = KafkaSecurity.from_settings(settings)
    topic = unique_name(f"test.secure-{protocol}", separator="-")
    ensure_topics(settings.kafka_bootstrap_servers, [TopicSpec(topic, partitions=1)], security=security)

    producer = make_producer(settings.kafka_bootstrap_servers, client_id="test-secure", security=security)
    try:
        producer.send(topic, key=b"k", value=b"over tls").get(timeout=30)
        received: list[bytes] = []
        done = threading.Event()

        def handle(batch: list[tuple[ConsumedMessage, bytes]]) -> None:
            received.extend(value for _, value in batch)
            done.set()

        loop = ConsumerLoop(
            settings.kafka_bootstrap_servers,
            unique_name("test-secure", separator="-"),
            [topic],
            decode=lambda m: m.value,
            handle_batch=handle,
            dlq_producer=producer,
            poll_timeout_ms=200,
            security=security,
        )
        stop = threading.Event()
        worker = threading.Thread(target=loop.run, args=(stop,), daemon=True)
        worker.start()
        try:
            assert done.wait(60), "nothing consumed over the secured listener"
        finally:
            stop.set()
            worker.join(timeout=30)
            loop.close()
        assert received == [b"over tls"]
    finally:
        producer.close(timeout=5)


def refused(security: KafkaSecurity, port: int) -> None:
    with pytest.raises((kafka.errors.KafkaError, OSError)):
        admin = KafkaAdminClient(
            bootstrap_servers=[f"localhost:{port}"],
            request_timeout_ms=5000,
            bootstrap_timeout_ms=5000,
            **security.client_options(),
        )
        try:
            admin.list_topics()
        finally:
            admin.close()


def test_a_wrong_password_is_refused(monkeypatch):
    security = KafkaSecurity.from_settings(settings_for(monkeypatch, "SASL_SSL", FIRSTMILE_KAFKA_SASL_PASSWORD="wrong"))
    refused(security, SASL_PORT)


def test_the_mutual_tls_listener_refuses_a_client_without_a_certificate(monkeypatch):
    secrets = auth.local_secrets()
    refused(KafkaSecurity("SSL", ca_file=str(secrets.ca_cert)), SSL_PORT)


def test_sasl_without_credentials_is_a_configuration_error(monkeypatch):
    for name in list(os.environ):
        if name.startswith("FIRSTMILE_KAFKA_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS", "localhost:9095")
    monkeypatch.setenv("FIRSTMILE_KAFKA_SECURITY_PROTOCOL", "SASL_SSL")
    with pytest.raises(ConfigError, match="FIRSTMILE_KAFKA_SASL_USERNAME and FIRSTMILE_KAFKA_SASL_PASSWORD"):
        load(KafkaSettings)


def test_the_topics_command_reads_the_kafka_security_settings():
    env = {k: v for k, v in mesh_environment().items() if not k.startswith("FIRSTMILE_KAFKA_")}
    env |= settings_env("SASL_SSL")
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "mesh.commands.topics"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "topics ready" in result.stdout, (result.stdout, time.monotonic() - started)
