"""Channels from one service (or tool) to another: the configured transport plus a bearer token."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import grpc
from pydantic import FilePath

from mesh import tracing
from mesh.config import ConfigError, GrpcTransportSettings, MeshSettings, load
from mesh.kafka.headers import TRACEPARENT
from mesh.tls import GrpcTransport


class TokenFile:
    """A token kept in a file (a mounted Secret); read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._token = ""

    def __call__(self) -> str:
        stat = self._path.stat()
        stamp = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if stamp != self._stamp:
                self._token = self._path.read_text().strip()
                self._stamp = stamp
            return self._token


class OutgoingMetadataInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    """Adds `authorization: Bearer <token>` to every call (plaintext channels too, unlike call
    credentials) and, when a sampled span is current, its W3C `traceparent`: the called service's
    span joins the caller's trace."""

    def __init__(self, token: Callable[[], str]) -> None:
        self._token = token

    def _with_token(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        traceparent = tracing.current_traceparent()
        replaced = ("authorization", TRACEPARENT) if traceparent else ("authorization",)
        metadata = [(k, v) for k, v in (details.metadata or ()) if k not in replaced]
        metadata.append(("authorization", f"Bearer {self._token()}"))
        if traceparent:
            metadata.append((TRACEPARENT, traceparent))
        return _CallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready, details.compression
        )

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_stream_unary(self, continuation, details, request_iterator):
        return continuation(self._with_token(details), request_iterator)

    def intercept_stream_stream(self, continuation, details, request_iterator):
        return continuation(self._with_token(details), request_iterator)


class _CallDetails(grpc.ClientCallDetails):
    def __init__(
        self, method: str, timeout: Any, metadata: Any, credentials: Any, wait_for_ready: Any, compression: Any
    ) -> None:
        self.method = method
        self.timeout = timeout
        self.metadata = metadata
        self.credentials = credentials
        self.wait_for_ready = wait_for_ready
        self.compression = compression


def open_channel(
    target: str,
    transport: GrpcTransport,
    token: Callable[[], str] | None,
    *,
    options: Sequence[tuple[str, Any]] = (),
) -> grpc.Channel:
    """A channel to `target` over the configured transport; every call carries `token()` if given."""
    credentials = transport.channel_credentials()
    if credentials is None:
        channel = grpc.insecure_channel(target, options=list(options))
    else:
        channel = grpc.secure_channel(target, credentials, options=list(options))
    if token is None:
        return channel
    return grpc.intercept_channel(channel, OutgoingMetadataInterceptor(token))


def service_channel(target: str, settings: MeshSettings, *, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel one service opens to another, with its `service` token (a configured file)."""
    if settings.auth_service_token_file is None:
        raise ConfigError("FIRSTMILE_AUTH_SERVICE_TOKEN_FILE is required: this service calls another one")
    return open_channel(
        target, GrpcTransport.from_settings(settings), TokenFile(settings.auth_service_token_file), options=options
    )


class ToolSettings(GrpcTransportSettings):
    """What a command-line tool needs to call the mesh: the transport and a token."""

    auth_token: str | None = None
    auth_token_file: FilePath | None = None


def tool_channel(target: str, *, token: str | None = None, options: Sequence[tuple[str, Any]] = ()) -> grpc.Channel:
    """A channel for a command-line tool: FIRSTMILE_GRPC_* transport settings; the token is
    `token`, else $FIRSTMILE_AUTH_TOKEN, else the file $FIRSTMILE_AUTH_TOKEN_FILE names."""
    settings = load(ToolSettings)
    if token:
        source: Callable[[], str] = lambda: token  # noqa: E731
    elif settings.auth_token:
        source = lambda: settings.auth_token or ""  # noqa: E731
    elif settings.auth_token_file is not None:
        source = TokenFile(settings.auth_token_file)
    else:
        raise ConfigError("no bearer token: pass --token, or set FIRSTMILE_AUTH_TOKEN or FIRSTMILE_AUTH_TOKEN_FILE")
    return open_channel(target, GrpcTransport.from_settings(settings), source, options=options)
