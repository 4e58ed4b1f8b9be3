"""Which part of a service one process runs: `python -m <service> [all|api|workers]`.

`api` serves the service's gRPC methods (and what feeds its watch streams); `workers` runs the
outbox relay and the Kafka consumers, with a gRPC server that answers health checks only. Both
are the same image and configuration, so each runs as its own Deployment and scales on its own;
the gRPC handlers then never wait for the GIL behind a relay or a consumer batch. `all` (the
default) runs both in one process: tests, the fault suite and a small installation.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from enum import StrEnum


class Role(StrEnum):
    ALL = "all"
    API = "api"
    WORKERS = "workers"

    @property
    def serves_api(self) -> bool:
        return self is not Role.WORKERS

    @property
    def runs_workers(self) -> bool:
        return self is not Role.API


def parse_role(service: str, argv: Sequence[str]) -> Role:
    """The role named on the command line (exit 2 with usage on anything else)."""
    parser = argparse.ArgumentParser(prog=f"python -m {service}", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "role",
        nargs="?",
        choices=[role.value for role in Role],
        default=Role.ALL.value,
        help="api: the gRPC methods; workers: outbox relay and Kafka consumers; all: both (default)",
    )
    return Role(parser.parse_args(list(argv)).role)
