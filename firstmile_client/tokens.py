"""Bearer tokens for a mesh this checkout runs: minted with the local signing key in .cache/secrets
(`mesh.commands.devsecrets` makes it on first use), which the local services trust."""

from __future__ import annotations

import functools
from collections.abc import Iterable

from mesh.auth import Role
from mesh.commands import devsecrets


@functools.cache
def local_secrets() -> devsecrets.DevSecrets:
    return devsecrets.ensure()


def mint_token(
    role: Role | str = Role.ADMIN, *, client_id: str | None = None, hubs: Iterable[str] = (), subject: str | None = None
) -> str:
    """A token of `role` (a client's needs `client_id`, a team lead's `hubs`), signed with the local key."""
    role = Role(role)
    return local_secrets().issuer().issue(subject or f"local-{role}", role, client_id=client_id, hubs=hubs)


@functools.cache
def local_admin_token() -> str:
    """One admin token per process: an admin may call every RPC of every hub."""
    return mint_token(Role.ADMIN)
