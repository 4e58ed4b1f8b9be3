"""Keys, certificates and tokens for a local run: `python -m mesh.commands.devsecrets [DIR]`
(default .cache/secrets).

Makes, once: a CA, one certificate for the local mesh (server and client use, for localhost),
the Ed25519 key pair that signs and verifies bearer tokens, the local Kafka SASL password. Every run re-issues `service.token`
(role service) and `admin.token` (role admin), so they never expire under a long-lived checkout.
Production gets its keys and certificates from its own PKI through Kubernetes Secrets instead.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets as secrets_module
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mesh.auth import Role, TokenIssuer

DEFAULT_DIR = Path(__file__).resolve().parents[2] / ".cache" / "secrets"
HOST_NAMES = ("localhost",)
HOST_IPS = ("127.0.0.1", "::1")
CERT_LIFETIME = timedelta(days=365)


@dataclass(frozen=True)
class DevSecrets:
    """Where `ensure` put each file."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca.key"

    @property
    def mesh_cert(self) -> Path:
        return self.folder / "mesh.crt"

    @property
    def mesh_key(self) -> Path:
        return self.folder / "mesh.key"

    @property
    def jwt_private_key(self) -> Path:
        return self.folder / "jwt-private.pem"

    @property
    def jwt_public_key(self) -> Path:
        return self.folder / "jwt-public.pem"

    @property
    def service_token(self) -> Path:
        return self.folder / "service.token"

    @property
    def admin_token(self) -> Path:
        return self.folder / "admin.token"

    @property
    def kafka_sasl_password(self) -> Path:
        """Password of the user `firstmile` on the local broker's SASL_SSL listener."""
        return self.folder / "kafka-sasl.password"

    def issuer(self) -> TokenIssuer:
        return TokenIssuer.from_file(self.jwt_private_key)


def ensure(folder: Path = DEFAULT_DIR, *, dns_names: Sequence[str] = ()) -> DevSecrets:
    """Create what is missing; extra `dns_names` (e.g. a dev cluster's services) re-issue the certificate."""
    secrets = DevSecrets(Path(folder))
    secrets.folder.mkdir(parents=True, exist_ok=True)
    if not secrets.ca_cert.exists():
        _write_ca(secrets)
    if dns_names or not secrets.mesh_cert.exists():
        _write_mesh_certificate(secrets, dns_names)
    if not secrets.jwt_public_key.exists():
        _write_jwt_keys(secrets)
    if not secrets.kafka_sasl_password.exists():
        _write_private(secrets.kafka_sasl_password, secrets_module.token_urlsafe(24).encode())
    issuer = secrets.issuer()
    _write_private(secrets.service_token, issuer.issue("local-services", Role.SERVICE, ttl=timedelta(days=30)).encode())
    _write_private(secrets.admin_token, issuer.issue("local-admin", Role.ADMIN, ttl=timedelta(days=7)).encode())
    return secrets


def _write_private(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    tmp.replace(path)


def _pem_key(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _write_ca(secrets: DevSecrets) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "First Mile local CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME * 5)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    _write_private(secrets.ca_key, _pem_key(key))
    secrets.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    for stale in (secrets.mesh_cert, secrets.mesh_key):
        stale.unlink(missing_ok=True)


def _write_mesh_certificate(secrets: DevSecrets, dns_names: Sequence[str]) -> None:
    ca_key = serialization.load_pem_private_key(secrets.ca_key.read_bytes(), password=None)
    ca_cert = x509.load_pem_x509_certificate(secrets.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    names: list[x509.GeneralName] = [x509.DNSName(h) for h in (*HOST_NAMES, *dns_names)]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in HOST_IPS]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "firstmile-local-mesh")]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + CERT_LIFETIME)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    _write_private(secrets.mesh_key, _pem_key(key))
    secrets.mesh_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_jwt_keys(secrets: DevSecrets) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    _write_private(secrets.jwt_private_key, _pem_key(key))
    secrets.jwt_public_key.write_bytes(
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mesh.commands.devsecrets", description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, default=DEFAULT_DIR)
    parser.add_argument("--dns", action="append", default=[], help="extra DNS name for the certificate (repeat)")
    args = parser.parse_args(argv)
    secrets = ensure(args.folder, dns_names=args.dns)
    print(f"local keys, certificates and tokens in {secrets.folder}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
