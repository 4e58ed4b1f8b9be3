"""Fixtures of the fault suite. Restarting PostgreSQL or Kafka under other tests (or a developer's
`make run`) would break them, so the suite brings up infrastructure of its own, starting from
empty data, and stops it at the end; its logs stay in `<cache>/faults/logs`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from tests.faults.cluster import STATE, FaultInfra, Mesh

REPORT = pytest.StashKey[list[str]]()


# Module scope: the instance (a second Kafka and PostgreSQL) is gone before the rest of the suite runs.
@pytest.fixture(scope="module")
def fault_infra(request: pytest.FixtureRequest) -> Iterator[FaultInfra]:
    infra = FaultInfra.fresh(STATE)
    try:
        infra.infra("up")
        infra.prepare()
        yield infra
    finally:
        infra.infra("down")
        if not request.session.testsfailed:  # after a failure the data is left for a post-mortem
            infra.wipe_data()


@pytest.fixture
def fault_mesh(fault_infra: FaultInfra) -> Iterator[Mesh]:
    mesh = Mesh(fault_infra)
    try:
        mesh.start_all()
        yield mesh
    finally:
        mesh.stop_all()


@pytest.fixture
def fault_db(fault_infra: FaultInfra) -> Iterator[sa.Engine]:
    engine = sa.create_engine(fault_infra.database_url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    yield engine
    engine.dispose()


@pytest.fixture
def report(request: pytest.FixtureRequest) -> list[str]:
    """Text sections printed in the terminal summary, so they show in CI output on success too."""
    return request.config.stash.setdefault(REPORT, [])


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    sections = config.stash.get(REPORT, [])
    if sections:
        terminalreporter.section("fault injection")
        for text in sections:
            terminalreporter.write_line(text)
