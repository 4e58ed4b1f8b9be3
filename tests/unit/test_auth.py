"""Authentication and authorization without a server: the scope rules of a Principal, the checks
TokenVerifier makes on a bearer token (every way a token can be wrong), and
`python -m mesh.commands.tokens`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from mesh.access import current_caller
from mesh.auth import (
    ALGORITHM,
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    LEEWAY_SECONDS,
    MAX_TOKEN_BYTES,
    Principal,
    Role,
    TokenIssuer,
    TokenVerifier,
)
from mesh.commands import tokens
from mesh.errors import MeshError, PermissionDenied, Unauthenticated
from mesh.grpc_auth import bearer_token
from mesh.grpc_errors import status_code
from mesh.kernel import ID_RULE
from tests.support import auth

ROOT = Path(__file__).resolve().parents[2]

CLIENT_A = Principal("client-a", Role.CLIENT, client_id="A")
TL_X = Principal("tl-x", Role.TEAM_LEAD, hubs=frozenset({"X"}))
TL_XZ = Principal("tl-xz", Role.TEAM_LEAD, hubs=frozenset({"X", "Z"}))
SERVICE = Principal("svc", Role.SERVICE)
ADMIN = Principal("adm", Role.ADMIN)


def denied(check) -> str:
    with pytest.raises(PermissionDenied) as caught:
        check()
    assert status_code(caught.value) is grpc.StatusCode.PERMISSION_DENIED
    return str(caught.value)


# -- Principal ------------------------------------------------------------------------------------


def test_a_client_reaches_its_own_purs_in_any_hub_and_nobody_elses():
    assert CLIENT_A.may_access_pickup("A", "X") and CLIENT_A.may_access_pickup("A", "Y")
    CLIENT_A.require_pickup("A", "any-hub")
    assert not CLIENT_A.may_access_pickup("B", "X")
    assert "may not access PURs of client 'B'" in denied(lambda: CLIENT_A.require_pickup("B", "X"))
    assert not CLIENT_A.may_access_pickup("", "X")


def test_a_client_reaches_no_hub():
    assert not CLIENT_A.sees_every_hub
    for hub in ("X", ""):
        assert not CLIENT_A.may_access_hub(hub)
        denied(lambda hub=hub: CLIENT_A.require_hub(hub))


def test_a_client_token_without_client_id_reaches_nothing():
    orphan = Principal("c", Role.CLIENT)
    assert not orphan.may_access_pickup("", "X") and not orphan.may_access_pickup("A", "X")


def test_a_team_lead_reaches_its_hubs_only():
    for hub in ("X", "Z"):
        TL_XZ.require_hub(hub)
        assert TL_XZ.may_access_pickup("any-client", hub)
    assert not TL_XZ.sees_every_hub
    assert "may not access hub 'Y'" in denied(lambda: TL_XZ.require_hub("Y"))
    assert "PURs of hub 'Y'" in denied(lambda: TL_XZ.require_pickup("A", "Y"))
    assert not TL_X.may_access_hub("x")  # ids are case-sensitive


def test_an_empty_hub_means_every_hub_which_a_team_lead_may_not_ask_for():
    message = denied(lambda: TL_XZ.require_hub(""))
    assert "set hub_id" in message
    assert not TL_XZ.may_access_pickup("A", "")


def test_a_team_lead_without_hubs_reaches_nothing():
    nobody = Principal("tl", Role.TEAM_LEAD)
    for hub in ("X", ""):
        assert not nobody.may_access_hub(hub)
        denied(lambda hub=hub: nobody.require_hub(hub))


@pytest.mark.parametrize("principal", [SERVICE, ADMIN], ids=["service", "admin"])
def test_services_and_admins_reach_every_hub_and_pur(principal):
    assert principal.sees_every_hub
    for hub in ("X", "Y", ""):
        principal.require_hub(hub)
        principal.require_pickup("any-client", hub)


def test_current_caller_outside_an_rpc_fails_closed():
    with pytest.raises(Unauthenticated):
        current_caller()


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ([("authorization", "Bearer abc")], "abc"),
        ([("x-other", "1"), ("authorization", "bearer  abc ")], "abc"),
        ([("authorization", b"Bearer abc")], "abc"),
    ],
)
def test_bearer_token_is_read_from_metadata(metadata, expected):
    assert bearer_token(metadata) == expected


@pytest.mark.parametrize(
    ("metadata", "fragment"),
    [
        (None, "missing bearer token"),
        ([("x-other", "1")], "missing bearer token"),
        ([("authorization", "Basic dXNlcjpwYXNz")], "'Bearer <token>'"),
        ([("authorization", "Bearer")], "'Bearer <token>'"),
        ([("authorization", "Bearer   ")], "'Bearer <token>'"),
        ([("authorization", "abc")], "'Bearer <token>'"),
    ],
)
def test_bad_authorization_metadata_is_unauthenticated(metadata, fragment):
    with pytest.raises(Unauthenticated) as caught:
        bearer_token(metadata)
    assert fragment in str(caught.value)


# -- TokenVerifier ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def private_pem() -> bytes:
    return auth.local_secrets().jwt_private_key.read_bytes()


@pytest.fixture(scope="module")
def public_pem() -> bytes:
    return auth.local_secrets().jwt_public_key.read_bytes()


@pytest.fixture(scope="module")
def verifier(public_pem) -> TokenVerifier:
    return TokenVerifier(public_pem)


@pytest.fixture(scope="module")
def issuer(private_pem) -> TokenIssuer:
    return TokenIssuer(private_pem)


def rejected(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as caught:
        verifier.verify(token)
    assert status_code(caught.value) is grpc.StatusCode.UNAUTHENTICATED
    return str(caught.value)


def claims(**changes) -> dict:
    now = datetime.now(UTC)
    body = {
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "sub": "someone",
        "role": "admin",
        "iat": now,
        "exp": now + timedelta(hours=1),
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not None}


def signed(private_pem: bytes, body: dict) -> str:
    return jwt.encode(body, private_pem, algorithm=ALGORITHM)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_parts(header: dict, body: dict) -> str:
    def plain(value):
        return int(value.timestamp()) if isinstance(value, datetime) else value

    return f"{b64(json.dumps(header).encode())}.{b64(json.dumps({k: plain(v) for k, v in body.items()}).encode())}"


@pytest.mark.parametrize(
    ("role", "scope", "expected"),
    [
        (Role.CLIENT, {"client_id": "acme-01"}, Principal("who", Role.CLIENT, client_id="acme-01")),
        (
            Role.TEAM_LEAD,
            {"hubs": ["BLR-1", "BLR-2", "BLR-1"]},
            Principal("who", Role.TEAM_LEAD, hubs=frozenset({"BLR-1", "BLR-2"})),
        ),
        (Role.SERVICE, {}, Principal("who", Role.SERVICE)),
        (Role.ADMIN, {}, Principal("who", Role.ADMIN)),
    ],
)
def test_a_valid_token_round_trips_to_its_principal(issuer, verifier, role, scope, expected):
    assert verifier.verify(issuer.issue("who", role, **scope)) == expected


def test_the_verifier_from_the_public_key_file_accepts_test_tokens():
    verifier = TokenVerifier.from_file(auth.local_secrets().jwt_public_key)
    assert verifier.verify(auth.token(Role.TEAM_LEAD, hubs=["H1"], subject="lead")).hubs == {"H1"}


def test_scope_claims_are_not_carried_to_roles_that_do_not_use_them(private_pem, verifier):
    principal = verifier.verify(signed(private_pem, claims(role="service", client_id="A", hubs=["X"])))
    assert principal == Principal("someone", Role.SERVICE)


def test_an_expired_token_is_refused_beyond_the_leeway(issuer, verifier):
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    assert "expired" in rejected(verifier, issuer.issue("who", Role.ADMIN, ttl=timedelta(hours=1), now=long_ago))
    just_past = datetime.now(UTC) - timedelta(minutes=1, seconds=LEEWAY_SECONDS + 5)
    assert "expired" in rejected(verifier, issuer.issue("who", Role.ADMIN, ttl=timedelta(minutes=1), now=just_past))


def test_a_token_expired_within_the_leeway_is_still_accepted(issuer, verifier):
    within = datetime.now(UTC) - timedelta(minutes=1, seconds=LEEWAY_SECONDS // 3)
    assert verifier.verify(issuer.issue("who", Role.ADMIN, ttl=timedelta(minutes=1), now=within)).role is Role.ADMIN


def test_a_token_issued_in_the_future_is_refused(issuer, verifier):
    rejected(verifier, issuer.issue("who", Role.ADMIN, now=datetime.now(UTC) + timedelta(hours=1)))


def test_a_token_signed_by_another_key_is_refused(verifier):
    stranger = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    assert "invalid" in rejected(verifier, TokenIssuer(stranger).issue("who", Role.ADMIN))


def test_a_tampered_payload_breaks_the_signature(issuer, verifier):
    header, _, signature = issuer.issue("who", Role.CLIENT, client_id="A").split(".")
    forged_body = unsigned_parts({}, claims(role="admin")).split(".")[1]
    rejected(verifier, f"{header}.{forged_body}.{signature}")


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"aud": "some-other-mesh"}, "audience"),
        ({"aud": None}, "aud"),
        ({"iss": "someone-else"}, "issuer"),
        ({"iss": None}, "iss"),
        ({"exp": None}, "exp"),
        ({"iat": None}, "iat"),
        ({"sub": None}, "sub"),
        ({"sub": ""}, ""),
        ({"role": None}, "unknown role None"),
        ({"role": "superuser"}, "unknown role 'superuser'"),
        ({"role": "ADMIN"}, "unknown role 'ADMIN'"),
        ({"role": "client"}, "client_id"),
        ({"role": "client", "client_id": ""}, "client_id"),
        ({"role": "client", "client_id": 7}, "client_id"),
        ({"role": "client", "client_id": "a b"}, "client_id"),
        ({"role": "team-lead"}, "hubs"),
        ({"role": "team-lead", "hubs": []}, "hubs"),
        ({"role": "team-lead", "hubs": "X"}, "hubs"),
        ({"role": "team-lead", "hubs": [""]}, "hubs"),
        ({"role": "team-lead", "hubs": ["X", 3]}, "hubs"),
        ({"role": "team-lead", "hubs": ["X", "no spaces"]}, "hubs"),
    ],
)
def test_tokens_with_wrong_or_missing_claims_are_refused(private_pem, verifier, changes, fragment):
    assert fragment.lower() in rejected(verifier, signed(private_pem, claims(**changes))).lower()


def test_a_verifier_for_another_issuer_or_audience_refuses_default_tokens(issuer, public_pem):
    token = issuer.issue("who", Role.ADMIN)
    rejected(TokenVerifier(public_pem, issuer="elsewhere"), token)
    rejected(TokenVerifier(public_pem, audience="elsewhere"), token)
    assert (
        TokenVerifier(public_pem, issuer="elsewhere", audience="x")
        .verify(TokenIssuer(issuer.private_key_pem, issuer="elsewhere", audience="x").issue("who", Role.ADMIN))
        .role
        is Role.ADMIN
    )


def test_alg_none_is_refused(verifier):
    for header in ({"alg": "none", "typ": "JWT"}, {"alg": "None"}, {"alg": "EdDSA"}):
        rejected(verifier, unsigned_parts(header, claims()) + ".")


@pytest.mark.parametrize("alg", ["HS256", "HS512"])
def test_an_hmac_token_keyed_with_the_public_key_is_refused(public_pem, verifier, alg):
    """The classic algorithm confusion: the public key (which every service holds) used as an HMAC secret."""
    signing_input = unsigned_parts({"alg": alg, "typ": "JWT"}, claims())
    digest = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[alg]
    for secret in (public_pem, public_pem.strip()):
        signature = b64(hmac.new(secret, signing_input.encode(), digest).digest())
        rejected(verifier, f"{signing_input}.{signature}")


@pytest.mark.parametrize("token", ["", "garbage", "a.b.c", "....", "Bearer x"])
def test_garbage_is_refused(verifier, token):
    rejected(verifier, token)


def test_an_oversized_token_is_refused_before_it_is_parsed(issuer, verifier, private_pem):
    assert "too long" in rejected(verifier, "x" * (MAX_TOKEN_BYTES + 1))
    # Correctly signed, but the size limit comes first.
    huge = signed(private_pem, claims(padding="p" * MAX_TOKEN_BYTES))
    assert "too long" in rejected(verifier, huge)


def test_verification_errors_are_mesh_errors_that_map_to_unauthenticated(verifier):
    with pytest.raises(MeshError) as caught:
        verifier.verify("garbage")
    assert status_code(caught.value) is grpc.StatusCode.UNAUTHENTICATED


def test_the_issuer_refuses_scopeless_client_and_team_lead_tokens(issuer):
    with pytest.raises(ValueError, match="client_id"):
        issuer.issue("who", Role.CLIENT)
    with pytest.raises(ValueError, match="hub"):
        issuer.issue("who", Role.TEAM_LEAD, hubs=[])


# -- python -m mesh.commands.tokens ----------------------------------------------------------------


@pytest.fixture
def cli_env(monkeypatch):
    for name in ("FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE", "FIRSTMILE_AUTH_JWT_ISSUER", "FIRSTMILE_AUTH_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = tokens.main(list(argv))
    except SystemExit as exit_:  # argparse errors
        code = exit_.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--role", "client", "--client-id", "acme"], Principal("acme", Role.CLIENT, client_id="acme")),
        (
            ["--role", "team-lead", "--hub", "H2", "--hub", "H1"],
            Principal("tl-H1-H2", Role.TEAM_LEAD, hubs=frozenset({"H1", "H2"})),
        ),
        (["--role", "service"], Principal("service", Role.SERVICE)),
        (["--role", "admin", "--subject", "ops-jane", "--ttl", "30m"], Principal("ops-jane", Role.ADMIN)),
    ],
)
def test_cli_issues_a_verifiable_token_per_role(cli_env, capsys, argv, expected):
    key = auth.local_secrets().jwt_private_key
    code, out, err = run_cli(capsys, *argv, "--private-key", str(key))
    assert (code, err) == (0, "")
    token = out.strip()
    assert out == token + "\n"  # the token alone, so it composes in $(...)
    assert auth.verifier().verify(token) == expected


def test_cli_reads_the_key_from_the_environment_and_honours_the_ttl(cli_env, capsys):
    cli_env.setenv("FIRSTMILE_AUTH_JWT_PRIVATE_KEY_FILE", str(auth.local_secrets().jwt_private_key))
    code, out, _ = run_cli(capsys, "--role", "service", "--ttl", "2h")
    assert code == 0
    body = jwt.decode(out.strip(), options={"verify_signature": False})
    assert body["exp"] - body["iat"] == 2 * 3600
    assert (body["iss"], body["aud"]) == (DEFAULT_ISSUER, DEFAULT_AUDIENCE)


def test_cli_uses_the_configured_issuer_and_audience(cli_env, capsys):
    cli_env.setenv("FIRSTMILE_AUTH_JWT_ISSUER", "iss-x")
    cli_env.setenv("FIRSTMILE_AUTH_JWT_AUDIENCE", "aud-x")
    code, out, _ = run_cli(capsys, "--role", "admin", "--private-key", str(auth.local_secrets().jwt_private_key))
    assert code == 0
    public = auth.local_secrets().jwt_public_key.read_bytes()
    assert TokenVerifier(public, issuer="iss-x", audience="aud-x").verify(out.strip()).role is Role.ADMIN
    rejected(auth.verifier(), out.strip())


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["--role", "admin"], "no signing key"),
        (["--role", "admin", "--private-key", "/nonexistent/jwt.pem"], "No such file"),
        (["--role", "client", "@key"], "role client needs --client-id"),
        (["--role", "team-lead", "@key"], "role team-lead needs at least one --hub"),
        (["--role", "admin", "--hub", "H1", "@key"], "role admin takes no --client-id/--hub"),
        (["--role", "service", "--client-id", "acme", "@key"], "role service takes no --client-id/--hub"),
        (["--role", "client", "--client-id", "acme", "--hub", "H1", "@key"], "--hub"),
        (["--role", "team-lead", "--hub", "H1", "--client-id", "acme", "@key"], "--client-id"),
        (["--role", "admin", "--ttl", "12", "@key"], "not a duration like 30m"),
        (["--role", "admin", "--ttl", "0h", "@key"], "not a duration like 30m"),
        (["--role", "admin", "--ttl", "-5m", "@key"], "--ttl"),
        (["--role", "admin", "--ttl", "1w", "@key"], "not a duration like 30m"),
        (["--role", "root", "@key"], "invalid choice: 'root'"),
        (["@key"], "--role"),
    ],
)
def test_cli_exits_2_with_a_clear_message(cli_env, capsys, argv, fragment):
    argv = [
        a
        for arg in argv
        for a in (["--private-key", str(auth.local_secrets().jwt_private_key)] if arg == "@key" else [arg])
    ]
    code, out, err = run_cli(capsys, *argv)
    assert code == 2
    assert out == ""
    assert fragment in err


def test_cli_with_a_key_that_is_not_a_signing_key_exits_2(cli_env, capsys, tmp_path):
    bogus = tmp_path / "not-a-key.pem"
    bogus.write_text("hello")
    code, out, err = run_cli(capsys, "--role", "admin", "--private-key", str(bogus))
    assert (code, out) == (2, "")
    assert err.startswith("mesh.commands.tokens: ")


def test_cli_runs_as_a_module(cli_env, tmp_path):
    key = str(auth.local_secrets().jwt_private_key)
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}"}
    ok = subprocess.run(
        [sys.executable, "-m", "mesh.commands.tokens", "--role", "team-lead", "--hub", "H9", "--private-key", key],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert ok.returncode == 0, ok.stderr
    assert auth.verifier().verify(ok.stdout.strip()).hubs == {"H9"}
    bad = subprocess.run(
        [sys.executable, "-m", "mesh.commands.tokens", "--role", "client", "--private-key", key],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert (bad.returncode, bad.stdout) == (2, "")
    assert "role client needs --client-id" in bad.stderr


@pytest.mark.parametrize(
    ("flag", "value"), [("--client-id", "a b"), ("--hub", "hub/with/slashes"), ("--hub", "x" * 65), ("--hub", "H\n")]
)
def test_cli_refuses_scope_ids_no_service_would_accept(cli_env, capsys, flag, value):
    role = "client" if flag == "--client-id" else "team-lead"
    key = str(auth.local_secrets().jwt_private_key)
    code, out, err = run_cli(capsys, "--role", role, flag, value, "--private-key", key)
    assert (code, out) == (2, "")
    assert ID_RULE in err


# Ids the kernel accepts (mesh.kernel.check_id), so a hub the API lets anyone create.
KERNEL_IDS = ["-x", "x" * 64, "a.b:c_d-e", "0"]


@pytest.mark.parametrize("hub", KERNEL_IDS)
def test_a_team_lead_token_may_name_any_hub_id_the_api_accepts(cli_env, capsys, issuer, verifier, hub):
    assert verifier.verify(issuer.issue("lead", Role.TEAM_LEAD, hubs=[hub])).hubs == {hub}
    # `--hub=-x`: argparse would read a separate "-x" as an option.
    code, out, err = run_cli(
        capsys, "--role", "team-lead", f"--hub={hub}", "--private-key", str(auth.local_secrets().jwt_private_key)
    )
    assert (code, err) == (0, "")
    principal = verifier.verify(out.strip())
    principal.require_hub(hub)
    assert not principal.may_access_hub(f"{hub[:60]}-2")


@pytest.mark.parametrize("client_id", KERNEL_IDS)
def test_a_client_token_may_name_any_client_id_the_api_accepts(issuer, verifier, client_id):
    principal = verifier.verify(issuer.issue("c", Role.CLIENT, client_id=client_id))
    principal.require_pickup(client_id, "any-hub")


def test_a_remembered_token_is_refused_once_it_expires():
    from mesh.auth import LEEWAY_SECONDS

    secrets = auth.local_secrets()
    verifier = TokenVerifier.from_file(secrets.jwt_public_key)
    # Expired 1.5 s short of the leeway: accepted (and remembered) now, refused 2 s later.
    issued = datetime.now(UTC) - timedelta(seconds=LEEWAY_SECONDS - 1.5) - timedelta(minutes=5)
    token = secrets.issuer().issue("soon-gone", Role.ADMIN, ttl=timedelta(minutes=5), now=issued)
    assert verifier.verify(token).subject == "soon-gone"
    assert verifier.verify(token).subject == "soon-gone"
    time.sleep(2)
    with pytest.raises(Unauthenticated, match="expired"):
        verifier.verify(token)
