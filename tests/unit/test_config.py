"""Configuration comes from the environment and fails early with a message naming the variable."""

from __future__ import annotations

import pytest

from mesh.config import ConfigError, MeshSettings, load

VALID = {
    "FIRSTMILE_DATABASE_URL": "postgresql+psycopg2://u@db:5432/firstmile",
    "FIRSTMILE_REDIS_URL": "redis://cache:6379/0",
    "FIRSTMILE_KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
}


@pytest.fixture
def env(monkeypatch, tmp_path):
    for key in list(__import__("os").environ):
        if key.startswith("FIRSTMILE_"):
            monkeypatch.delenv(key)
    for key, value in VALID.items():
        monkeypatch.setenv(key, value)
    for name in ("jwt.pub", "mesh.crt", "mesh.key", "ca.crt"):
        (tmp_path / name).write_text("pem")
    monkeypatch.setenv("FIRSTMILE_AUTH_JWT_PUBLIC_KEY_FILE", str(tmp_path / "jwt.pub"))
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_grpc_is_mutual_tls_unless_configured_otherwise(env):
    with pytest.raises(ConfigError) as failure:
        load(MeshSettings)
    message = str(failure.value)
    for key in (
        "FIRSTMILE_GRPC_TLS_CERT_FILE",
        "FIRSTMILE_GRPC_TLS_KEY_FILE",
        "FIRSTMILE_GRPC_TLS_CA_FILE",
        "plaintext",
    ):
        assert key in message
    env.setenv("FIRSTMILE_GRPC_TLS_CERT_FILE", "mesh.crt")
    env.setenv("FIRSTMILE_GRPC_TLS_KEY_FILE", "mesh.key")
    env.setenv("FIRSTMILE_GRPC_TLS_CA_FILE", "ca.crt")
    assert load(MeshSettings).grpc_transport == "mtls"
    env.setenv("FIRSTMILE_GRPC_TLS_CA_FILE", "missing.crt")
    with pytest.raises(ConfigError, match="FIRSTMILE_GRPC_TLS_CA_FILE"):
        load(MeshSettings)


def test_services_need_the_token_verification_key(env):
    env.setenv("FIRSTMILE_GRPC_TRANSPORT", "plaintext")
    env.delenv("FIRSTMILE_AUTH_JWT_PUBLIC_KEY_FILE")
    with pytest.raises(ConfigError, match="FIRSTMILE_AUTH_JWT_PUBLIC_KEY_FILE: Field required"):
        load(MeshSettings)


def test_valid_environment_loads_typed_values(env):
    env.setenv("FIRSTMILE_GRPC_TRANSPORT", "plaintext")
    env.setenv("FIRSTMILE_GRACE_SECONDS", "7.5")
    settings = load(MeshSettings)
    assert settings.kafka_bootstrap_servers == "k1:9092,k2:9092"
    assert settings.grace_seconds == 7.5
    assert settings.log_level == "INFO"


def test_missing_secrets_have_no_default(env):
    env.delenv("FIRSTMILE_DATABASE_URL")
    with pytest.raises(ConfigError, match="FIRSTMILE_DATABASE_URL: Field required"):
        load(MeshSettings)


def test_every_invalid_value_is_named_in_one_message(env):
    env.setenv("FIRSTMILE_REDIS_URL", "http://not-redis")
    env.setenv("FIRSTMILE_GRPC_MAX_WORKERS", "lots")
    env.setenv("FIRSTMILE_LOG_LEVEL", "LOUD")
    with pytest.raises(ConfigError) as err:
        load(MeshSettings)
    message = str(err.value)
    assert "3 problem(s)" in message
    for name in ("FIRSTMILE_REDIS_URL", "FIRSTMILE_GRPC_MAX_WORKERS", "FIRSTMILE_LOG_LEVEL"):
        assert name in message
