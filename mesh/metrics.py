"""Prometheus metrics endpoint, one per service process."""

from __future__ import annotations

from wsgiref.simple_server import WSGIServer

from prometheus_client import start_http_server


def start_metrics_server(port: int, host: str = "0.0.0.0") -> WSGIServer:
    """Serve /metrics on `port` from a daemon thread; returns the server so it can be shut down."""
    server, _thread = start_http_server(port, addr=host)
    return server
