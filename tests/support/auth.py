"""Keys, tokens and channels for tests: the same local secrets `make up` uses (.cache/secrets)."""

from __future__ import annotations

import functools
from collections.abc import Iterable

import grpc

from mesh import devsecrets
from mesh.auth import Role, TokenVerifier
from mesh.grpc_client import open_channel as mesh_open_channel
from mesh.tls import GrpcTransport

PLAINTEXT = GrpcTransport("plaintext")


@functools.cache
def local_secrets() -> devsecrets.DevSecrets:
    return devsecrets.ensure()


def verifier() -> TokenVerifier:
    return TokenVerifier.from_file(local_secrets().jwt_public_key)


def token(
    role: Role | str = Role.ADMIN, *, client_id: str | None = None, hubs: Iterable[str] = (), subject: str | None = None
) -> str:
    role = Role(role)
    return local_secrets().issuer().issue(subject or f"test-{role}", role, client_id=client_id, hubs=hubs)


def open_channel(
    target: str, bearer: str | None = None, *, transport: GrpcTransport = PLAINTEXT, options=()
) -> grpc.Channel:
    """A channel whose calls carry `bearer` (default: an admin token, which may call anything)."""
    bearer = bearer if bearer is not None else admin_token()
    return mesh_open_channel(target, transport, lambda: bearer, options=options)


@functools.cache
def admin_token() -> str:
    return token(Role.ADMIN)
