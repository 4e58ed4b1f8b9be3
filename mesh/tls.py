"""gRPC transport credentials from configuration: mutual TLS, server-only TLS or (explicitly) plaintext."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import grpc

from mesh.config import GrpcTransportSettings

Transport = Literal["mtls", "tls", "plaintext"]


@dataclass(frozen=True)
class GrpcTransport:
    mode: Transport
    cert_file: Path | None = None
    key_file: Path | None = None
    ca_file: Path | None = None

    @classmethod
    def from_settings(cls, settings: GrpcTransportSettings) -> GrpcTransport:
        return cls(
            settings.grpc_transport, settings.grpc_tls_cert_file, settings.grpc_tls_key_file, settings.grpc_tls_ca_file
        )

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """None means plaintext, which only an explicit `plaintext` setting yields."""
        if self.mode == "plaintext":
            return None
        assert self.cert_file and self.key_file and self.ca_file
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_file.read_bytes())],
            root_certificates=self.ca_file.read_bytes(),
            require_client_auth=self.mode == "mtls",
        )

    def channel_credentials(self) -> grpc.ChannelCredentials | None:
        if self.mode == "plaintext":
            return None
        assert self.ca_file
        if self.mode == "tls":
            return grpc.ssl_channel_credentials(root_certificates=self.ca_file.read_bytes())
        assert self.cert_file and self.key_file
        return grpc.ssl_channel_credentials(
            root_certificates=self.ca_file.read_bytes(),
            private_key=self.key_file.read_bytes(),
            certificate_chain=self.cert_file.read_bytes(),
        )
