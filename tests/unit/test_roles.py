"""A process runs one role of its service (`python -m <service> [all|api|workers]`): the api
serves gRPC, the workers run the relay and the consumers, `all` both."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from mesh.config import MeshSettings, load
from mesh.kafka import PLAINTEXT
from mesh.roles import Role, parse_role
from mesh.runtime import Worker
from pur_svc import bootstrap as pur_bootstrap
from pur_svc.config import Settings as PurSettings
from routing_svc.entrypoints import consumers as routing_consumers


class FakeInfrastructure:
    """Stands in for mesh.infrastructure.Infrastructure: records what a composition root wires."""

    kafka_security = PLAINTEXT
    session_factory = None

    def outbox_relay(self, outbox: Any) -> Worker:
        return Worker(name=f"outbox-relay:{outbox.schema}", run=lambda stop: None)

    def consumer(self, group_id: str, topic: str, decode: Callable, handle_batch: Callable, **options: Any) -> Worker:
        return Worker(name=f"consumer:{topic}", run=lambda stop: None)

    def close(self) -> None:
        pass


def test_the_role_is_the_one_argument_and_all_by_default() -> None:
    assert parse_role("pur_svc", []) is Role.ALL
    assert parse_role("pur_svc", ["api"]) is Role.API
    assert parse_role("pur_svc", ["workers"]) is Role.WORKERS
    with pytest.raises(SystemExit):
        parse_role("pur_svc", ["relay"])


@pytest.mark.parametrize(
    ("role", "grpc", "workers"),
    [
        (Role.API, True, {"watch-feed"}),
        (Role.WORKERS, False, {"outbox-relay:pur", "consumer:pur.route-assignments.v1"}),
        (Role.ALL, True, {"watch-feed", "outbox-relay:pur", "consumer:pur.route-assignments.v1"}),
    ],
)
def test_pur_svc_wires_what_its_role_runs(
    monkeypatch: pytest.MonkeyPatch, role: Role, grpc: bool, workers: set[str]
) -> None:
    monkeypatch.setattr(pur_bootstrap.Infrastructure, "connect", lambda mesh, service: FakeInfrastructure())
    runtime = pur_bootstrap.build_runtime(load(MeshSettings), PurSettings(), role)
    names = {worker.name for worker in runtime.workers}
    assert workers <= names
    assert ("watch-feed" in names) == role.serves_api
    assert ("outbox-relay:pur" in names) == role.runs_workers
    assert bool(runtime.registrations) == grpc
    for close in runtime.closers:
        close()


def test_routing_api_keeps_its_maps_current_but_routes_nothing() -> None:
    def wired(route_pickups: bool) -> set[str]:
        workers = routing_consumers.consumer_workers(
            FakeInfrastructure(),  # type: ignore[arg-type]
            lambda: None,  # type: ignore[arg-type,return-value]
            None,  # type: ignore[arg-type]
            replica_id="roles-test",
            route_pickups=route_pickups,
        )
        return {worker.name for worker in workers}

    assert wired(True) == {"consumer:pur.created.v1", "consumer:routing.map-changes.v1"}
    assert wired(False) == {"consumer:routing.map-changes.v1"}


def test_roles_are_exclusive_halves_of_all() -> None:
    assert Role.ALL.serves_api and Role.ALL.runs_workers
    assert Role.API.serves_api and not Role.API.runs_workers
    assert Role.WORKERS.runs_workers and not Role.WORKERS.serves_api
