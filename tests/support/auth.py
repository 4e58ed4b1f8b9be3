"""Keys, tokens and channels for tests: the same local secrets `make up` uses (.cache/secrets)."""

from __future__ import annotations

from firstmile_client.channels import PLAINTEXT
from firstmile_client.channels import local_channel as open_channel
from firstmile_client.tokens import local_admin_token as admin_token
from firstmile_client.tokens import local_secrets
from firstmile_client.tokens import mint_token as token
from mesh.auth import TokenVerifier

__all__ = ["PLAINTEXT", "admin_token", "local_secrets", "open_channel", "token", "verifier"]


def verifier() -> TokenVerifier:
    return TokenVerifier.from_file(local_secrets().jwt_public_key)
