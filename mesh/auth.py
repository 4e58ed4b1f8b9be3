"""Who is calling and what they may touch: signed bearer tokens (JWT) and the caller's scope.

A token names one role. `client` tokens carry the client id whose PURs the caller owns;
`team-lead` tokens carry the hubs the caller leads; `service` (service-to-service) and `admin`
(route maps, everything) see every hub. Services hold only the public key: they verify tokens and
never mint them; `python -m mesh.commands.tokens` mints them where the private key lives.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt

from mesh.errors import PermissionDenied, Unauthenticated
from mesh.kernel import ID_RULE, is_id

ALGORITHM = "EdDSA"
DEFAULT_ISSUER = "firstmile"
DEFAULT_AUDIENCE = "firstmile-mesh"
# Accepted clock difference between the minting and the verifying machine.
LEEWAY_SECONDS = 30
MAX_TOKEN_BYTES = 8192
VERIFIED_CACHE_SIZE = 4096


class Role(enum.StrEnum):
    CLIENT = "client"
    TEAM_LEAD = "team-lead"
    SERVICE = "service"
    ADMIN = "admin"


EVERY_ROLE = frozenset(Role)
STAFF = frozenset({Role.TEAM_LEAD, Role.SERVICE, Role.ADMIN})
MACHINES_AND_ADMINS = frozenset({Role.SERVICE, Role.ADMIN})
ADMINS = frozenset({Role.ADMIN})
TEAM_LEADS_AND_ADMINS = frozenset({Role.TEAM_LEAD, Role.ADMIN})


@dataclass(frozen=True)
class Principal:
    """The verified caller of one RPC."""

    subject: str
    role: Role
    client_id: str | None = None
    hubs: frozenset[str] = field(default_factory=frozenset)

    @property
    def sees_every_hub(self) -> bool:
        return self.role in MACHINES_AND_ADMINS

    def may_access_hub(self, hub_id: str) -> bool:
        return self.sees_every_hub or (self.role is Role.TEAM_LEAD and hub_id in self.hubs)

    def require_hub(self, hub_id: str) -> None:
        """An empty hub_id means "every hub", which only services and admins may ask for."""
        if not self.may_access_hub(hub_id):
            if not hub_id:
                raise PermissionDenied(f"{self.role} {self.subject!r} may not act across every hub: set hub_id")
            raise PermissionDenied(f"{self.role} {self.subject!r} may not access hub {hub_id!r}")

    def may_access_pickup(self, client_id: str, hub_id: str) -> bool:
        """A client sees its own PURs; a team lead those of its hubs; services and admins all."""
        if self.role is Role.CLIENT:
            return client_id == self.client_id
        return self.may_access_hub(hub_id)

    def require_pickup(self, client_id: str, hub_id: str) -> None:
        if not self.may_access_pickup(client_id, hub_id):
            if self.role is Role.CLIENT:
                raise PermissionDenied(f"client {self.client_id!r} may not access PURs of client {client_id!r}")
            raise PermissionDenied(f"{self.role} {self.subject!r} may not access PURs of hub {hub_id!r}")


@dataclass(frozen=True)
class TokenVerifier:
    """Checks signature, expiry, issuer and audience, then turns the claims into a Principal."""

    public_key_pem: bytes
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE
    # Clients send the same token on every call: a signature checked once is remembered until
    # the token expires (expiry is still checked on every call), saving ~0.1 ms per call.
    _verified: dict[str, tuple[Principal, float]] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_file(cls, path: Path, *, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE) -> TokenVerifier:
        return cls(Path(path).read_bytes(), issuer, audience)

    def verify(self, token: str) -> Principal:
        remembered = self._verified.get(token)
        if remembered is not None:
            principal, expires = remembered
            if time.time() <= expires + LEEWAY_SECONDS:
                return principal
            self._verified.pop(token, None)
        principal, expires = self._verify_signed(token)
        if len(self._verified) >= VERIFIED_CACHE_SIZE:
            self._verified.clear()
        self._verified[token] = (principal, expires)
        return principal

    def _verify_signed(self, token: str) -> tuple[Principal, float]:
        if len(token) > MAX_TOKEN_BYTES:
            raise Unauthenticated("bearer token is too long")
        try:
            claims = jwt.decode(
                token,
                self.public_key_pem,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                audience=self.audience,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("bearer token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"bearer token is invalid: {exc}") from None
        return principal_from_claims(claims), float(claims["exp"])


def principal_from_claims(claims: dict[str, object]) -> Principal:
    subject, role_name = claims.get("sub"), claims.get("role")
    if not isinstance(subject, str) or not subject:
        raise Unauthenticated("bearer token has no subject")
    try:
        if not isinstance(role_name, str):
            raise ValueError(role_name)
        role = Role(role_name)
    except ValueError:
        raise Unauthenticated(f"bearer token has an unknown role {role_name!r}") from None
    if role is Role.CLIENT:
        client_id = claims.get("client_id")
        if not isinstance(client_id, str) or not is_id(client_id):
            raise Unauthenticated("a client token must name its client_id")
        return Principal(subject, role, client_id=client_id)
    if role is Role.TEAM_LEAD:
        hubs = claims.get("hubs")
        if not isinstance(hubs, list) or not hubs or not all(isinstance(h, str) and is_id(h) for h in hubs):
            raise Unauthenticated("a team-lead token must list its hubs")
        return Principal(subject, role, hubs=frozenset(hubs))
    return Principal(subject, role)


@dataclass(frozen=True)
class TokenIssuer:
    """Mints tokens; lives only where the private key is (the tokens command, local runs, tests)."""

    private_key_pem: bytes
    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE

    @classmethod
    def from_file(cls, path: Path, *, issuer: str = DEFAULT_ISSUER, audience: str = DEFAULT_AUDIENCE) -> TokenIssuer:
        return cls(Path(path).read_bytes(), issuer, audience)

    def issue(
        self,
        subject: str,
        role: Role,
        *,
        client_id: str | None = None,
        hubs: Iterable[str] = (),
        ttl: timedelta = timedelta(hours=12),
        now: datetime | None = None,
    ) -> str:
        hubs = sorted(set(hubs))
        if role is Role.CLIENT and not (client_id and is_id(client_id)):
            raise ValueError(f"a client token needs a client_id of {ID_RULE}, not {client_id!r}")
        if role is Role.TEAM_LEAD and not hubs:
            raise ValueError("a team-lead token needs at least one hub")
        if bad := [h for h in hubs if not is_id(h)]:
            raise ValueError(f"hub ids must be {ID_RULE}: {bad}")
        issued_at = now or datetime.now(UTC)
        claims: dict[str, object] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": subject,
            "role": str(role),
            "iat": issued_at,
            "exp": issued_at + ttl,
        }
        if role is Role.CLIENT:
            claims["client_id"] = client_id
        if role is Role.TEAM_LEAD:
            claims["hubs"] = hubs
        return jwt.encode(claims, self.private_key_pem, algorithm=ALGORITHM)
