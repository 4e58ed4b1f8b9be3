"""dispatch_svc's unit of work as the use cases see it: the repositories and the route locks, in one
transaction whose domain events leave on commit (`mesh.unit_of_work`), and whose board changes are
announced on commit to every replica's watchers of the live board (`domain.board`)."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Self

from dispatch_svc.domain.board import BoardChange
from dispatch_svc.domain.model import RouteKey
from dispatch_svc.service_layer.repositories import (
    AbstractAttendanceRepository,
    AbstractDispatchRepository,
    AbstractHubRepository,
    AbstractPickupRepository,
    AbstractPlanRepository,
    AbstractRiderRepository,
    AbstractRouteRepository,
    AbstractVehicleRepository,
    AbstractVolumeRepository,
)
from mesh.unit_of_work import AbstractUnitOfWork


class AbstractDispatchUnitOfWork(AbstractUnitOfWork):
    riders: AbstractRiderRepository
    vehicles: AbstractVehicleRepository
    pickups: AbstractPickupRepository
    dispatches: AbstractDispatchRepository
    routes: AbstractRouteRepository
    hubs: AbstractHubRepository
    attendance: AbstractAttendanceRepository
    plans: AbstractPlanRepository
    volumes: AbstractVolumeRepository

    def __enter__(self) -> Self:
        # The board groups this transaction changes, announced by the adapter's commit (and
        # dropped with a rollback).
        self.board_changes: set[BoardChange] = set()
        return super().__enter__()

    def announce(self, changes: Iterable[BoardChange]) -> None:
        """Board groups this transaction changes besides those of the routes it locks."""
        self.board_changes.update(changes)

    @abc.abstractmethod
    def lock_routes(self, keys: Iterable[RouteKey]) -> None:
        """Wait for each route's lock, held until the unit of work ends. Every change to a route's
        queue or dispatches takes it first, so the pur-events consumer, the API and auto-dispatch
        never interleave on one route, on any number of replicas. Implementations announce the
        locked routes' groups as changed (`announce`): every path that may change a board takes
        these locks, so every such path announces without naming its changes."""
