"""Mint a bearer token: `python -m mesh.commands.tokens --role team-lead --hub BLR-KORAMANGALA`.

For local runs and operators holding the signing key (FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE or
--private-key; `make up` creates one in .cache/secrets). Prints the token alone, so it composes:
    grpcurl -plaintext -H "authorization: Bearer $(python -m mesh.commands.tokens --role admin)" ...
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from datetime import timedelta
from pathlib import Path

import jwt

from mesh.auth import DEFAULT_AUDIENCE, DEFAULT_ISSUER, Role, TokenIssuer

_DURATION = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text)
    if not match or int(match.group(1)) == 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a duration like 30m, 12h or 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m mesh.commands.tokens", description="Mint a signed bearer token for the mesh."
    )
    p.add_argument("--role", required=True, choices=[str(r) for r in Role])
    p.add_argument("--subject", help="who the token is for (default: derived from role and scope)")
    p.add_argument("--client-id", help="role client: the client whose PURs the caller owns")
    p.add_argument("--hub", action="append", default=[], help="role team-lead: a hub the caller leads (repeat)")
    p.add_argument(
        "--ttl", type=duration, default=timedelta(hours=12), help="lifetime, e.g. 30m, 12h, 7d (default 12h)"
    )
    p.add_argument(
        "--private-key",
        type=Path,
        default=os.environ.get("FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE"),
        help="Ed25519 signing key (default: $FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE)",
    )
    return p


def _usage_error(message: str) -> int:
    print(f"mesh.commands.tokens: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    role = Role(args.role)
    if args.private_key is None:
        return _usage_error("no signing key: pass --private-key or set FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE")
    if role is Role.CLIENT and not args.client_id:
        return _usage_error("role client needs --client-id")
    if role is Role.TEAM_LEAD and not args.hub:
        return _usage_error("role team-lead needs at least one --hub")
    if (args.client_id and role is not Role.CLIENT) or (args.hub and role is not Role.TEAM_LEAD):
        return _usage_error(f"role {role} takes no --client-id/--hub")
    try:
        issuer = TokenIssuer(
            args.private_key.read_bytes(),
            issuer=os.environ.get("FIRSTMILE_AUTH_JWT_ISSUER", DEFAULT_ISSUER),
            audience=os.environ.get("FIRSTMILE_AUTH_JWT_AUDIENCE", DEFAULT_AUDIENCE),
        )
        subject = args.subject or {Role.CLIENT: args.client_id, Role.TEAM_LEAD: f"tl-{'-'.join(sorted(args.hub))}"}.get(
            role, str(role)
        )
        token = issuer.issue(subject, role, client_id=args.client_id, hubs=args.hub, ttl=args.ttl)
    except (OSError, ValueError, jwt.PyJWTError) as exc:
        return _usage_error(str(exc))
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
