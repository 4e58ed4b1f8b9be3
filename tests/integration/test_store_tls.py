"""PostgreSQL and Redis over TLS, configured only through their URLs, against real servers."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from mesh.commands import devsecrets
from mesh.db import make_engine
from mesh.redis_client import make_redis
from tests.support import auth
from tests.support.processes import free_port

pytestmark = pytest.mark.integration


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


def test_postgres_over_verified_tls(database_url):
    ca = auth.local_secrets().ca_cert
    engine = make_engine(with_query(database_url, f"sslmode=verify-full&sslrootcert={ca}"), pool_size=1)
    try:
        with engine.connect() as conn:
            ssl, version = conn.execute(
                sa.text("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            ).one()
    finally:
        engine.dispose()
    assert ssl is True and version.startswith("TLS")


def test_postgres_refuses_a_server_its_ca_did_not_sign(database_url, tmp_path):
    stranger = devsecrets.ensure(tmp_path / "other-ca")
    engine = make_engine(with_query(database_url, f"sslmode=verify-full&sslrootcert={stranger.ca_cert}"), pool_size=1)
    try:
        with pytest.raises(sa.exc.OperationalError, match="SSL error"), engine.connect():
            pass
    finally:
        engine.dispose()


PASSWORD = "s3cret-for-tests"


@pytest.fixture(scope="module")
def tls_redis(tmp_path_factory) -> Iterator[int]:
    """A Redis that speaks only TLS and wants a password, on a port of its own."""
    secrets = auth.local_secrets()
    folder: Path = tmp_path_factory.mktemp("redis-tls")
    port = free_port()
    server = subprocess.Popen(
        [
            shutil.which("redis-server") or "redis-server",
            "--port",
            "0",
            "--tls-port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(folder),
            "--tls-cert-file",
            str(secrets.mesh_cert),
            "--tls-key-file",
            str(secrets.mesh_key),
            "--tls-ca-cert-file",
            str(secrets.ca_cert),
            "--tls-auth-clients",
            "no",
            "--requirepass",
            PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    url = f"rediss://:{PASSWORD}@localhost:{port}/0?ssl_ca_certs={secrets.ca_cert}&ssl_cert_reqs=required"
    deadline = time.monotonic() + 20
    while True:
        try:
            make_redis(url).ping()
            break
        except redis.exceptions.ConnectionError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise
            time.sleep(0.1)
    yield port
    server.terminate()
    server.wait(timeout=10)


def test_redis_over_verified_tls_with_a_password(tls_redis):
    ca = auth.local_secrets().ca_cert
    client = make_redis(f"rediss://:{PASSWORD}@localhost:{tls_redis}/0?ssl_ca_certs={ca}&ssl_cert_reqs=required")
    client.set("tls-check", "ok")
    assert client.get("tls-check") == b"ok"


def test_redis_wrong_password_or_untrusted_server_or_plaintext_fail(tls_redis, tmp_path):
    ca = auth.local_secrets().ca_cert
    with pytest.raises(redis.exceptions.AuthenticationError):
        make_redis(f"rediss://:wrong@localhost:{tls_redis}/0?ssl_ca_certs={ca}&ssl_cert_reqs=required").ping()
    stranger = devsecrets.ensure(tmp_path / "other-ca")
    with pytest.raises(redis.exceptions.ConnectionError, match="certificate verify failed"):
        make_redis(
            f"rediss://:{PASSWORD}@localhost:{tls_redis}/0?ssl_ca_certs={stranger.ca_cert}&ssl_cert_reqs=required"
        ).ping()
    with pytest.raises(redis.exceptions.ConnectionError):
        make_redis(f"redis://:{PASSWORD}@localhost:{tls_redis}/0").ping()
