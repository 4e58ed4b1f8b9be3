"""A background loop that keeps this replica's maps in step with the database even when a
map-change event was missed (e.g. one committed between start-up loading and the map-change
consumer joining, which starts at the latest offset)."""

from __future__ import annotations

import logging
import threading

from mesh.runtime import Worker
from mesh.transient import is_transient
from routing_svc.service_layer.index_registry import IndexRegistry

log = logging.getLogger(__name__)


def index_sync_worker(registry: IndexRegistry, interval_seconds: float) -> Worker:
    def run(stop: threading.Event) -> None:
        while not stop.wait(interval_seconds):
            try:
                loaded = registry.sync_with_database()
            except Exception as exc:
                if not is_transient(exc):
                    raise
                log.warning("route map sync skipped: a dependency is unavailable", extra={"error": str(exc)})
                continue
            if loaded:
                log.info("route maps synced from the database", extra={"hubs": loaded})

    return Worker(name="index-sync", run=run)
