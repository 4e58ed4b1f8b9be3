"""The life of a service process: start everything, serve until SIGTERM, then shut down in order.

A composition root builds a `ServiceRuntime` with its gRPC registrations, its background workers
(outbox relay, Kafka consumer loops) and the resources to close, then calls `run()`.
Shutdown order: health NOT_SERVING and drain, stop the gRPC server with a grace period, stop the
workers (a consumer finishes its batch and commits), close resources. A worker that dies stops the
process with a non-zero exit so the orchestrator restarts it rather than leaving it half alive.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mesh.auth import TokenVerifier
from mesh.config import MeshSettings
from mesh.grpc_server import GrpcServer, ServiceRegistration
from mesh.metrics import start_metrics_server
from mesh.tls import GrpcTransport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Worker:
    """A background loop: `run(stop)` returns once `stop` is set."""

    name: str
    run: Callable[[threading.Event], None]


@dataclass
class ServiceRuntime:
    name: str
    settings: MeshSettings
    grpc_port: int
    metrics_port: int
    registrations: Sequence[ServiceRegistration]
    workers: Sequence[Worker] = ()
    closers: Sequence[Callable[[], None]] = ()
    health_port: int | None = None
    _stop: threading.Event = field(default_factory=threading.Event, init=False)
    _exit_code: int = field(default=0, init=False)

    def request_stop(self, exit_code: int = 0) -> None:
        self._exit_code = max(self._exit_code, exit_code)
        self._stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())

        metrics = start_metrics_server(self.metrics_port) if self.metrics_port else None
        server = GrpcServer(
            port=self.grpc_port,
            registrations=self.registrations,
            max_workers=self.settings.grpc_max_workers,
            drain_seconds=self.settings.drain_seconds,
            grace_seconds=self.settings.grace_seconds,
            verifier=TokenVerifier.from_file(
                self.settings.auth_jwt_public_key_file,
                issuer=self.settings.auth_jwt_issuer,
                audience=self.settings.auth_jwt_audience,
            ),
            credentials=GrpcTransport.from_settings(self.settings).server_credentials(),
            health_port=self.health_port,
        )
        server.start()
        worker_stop = threading.Event()
        threads = [
            threading.Thread(target=self._guard, args=(w, worker_stop), name=w.name, daemon=True) for w in self.workers
        ]
        for thread in threads:
            thread.start()
        server.set_serving()
        log.info(
            "serving",
            extra={
                "grpc_port": server.port,
                "grpc_transport": self.settings.grpc_transport,
                "health_port": server.health_port,
                "metrics_port": self.metrics_port,
                "workers": [w.name for w in self.workers],
            },
        )

        self._stop.wait()
        log.info("shutting down", extra={"drain_seconds": self.settings.drain_seconds})
        server.drain_and_stop()
        worker_stop.set()
        for thread in threads:
            thread.join(timeout=self.settings.grace_seconds)
            if thread.is_alive():
                log.error("worker did not stop in time", extra={"worker": thread.name})
        for close in self.closers:
            try:
                close()
            except Exception:
                log.exception("error while closing a resource")
        if metrics is not None:
            metrics.shutdown()
        log.info("stopped", extra={"exit_code": self._exit_code})
        return self._exit_code

    def _guard(self, worker: Worker, stop: threading.Event) -> None:
        try:
            worker.run(stop)
        except Exception:
            log.exception("worker crashed", extra={"worker": worker.name})
            self.request_stop(exit_code=1)
            return
        if not stop.is_set():
            log.error("worker returned before shutdown", extra={"worker": worker.name})
            self.request_stop(exit_code=1)
