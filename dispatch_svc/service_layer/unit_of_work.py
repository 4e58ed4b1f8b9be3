"""dispatch_svc's unit of work as the use cases see it: the four repositories and the route locks,
in one transaction whose domain events leave on commit (`mesh.unit_of_work`)."""

from __future__ import annotations

import abc
from collections.abc import Iterable

from dispatch_svc.domain.model import RouteKey
from dispatch_svc.service_layer.repositories import (
    AbstractDispatchRepository,
    AbstractPickupRepository,
    AbstractRiderRepository,
    AbstractVehicleRepository,
)
from mesh.unit_of_work import AbstractUnitOfWork


class AbstractDispatchUnitOfWork(AbstractUnitOfWork):
    riders: AbstractRiderRepository
    vehicles: AbstractVehicleRepository
    pickups: AbstractPickupRepository
    dispatches: AbstractDispatchRepository

    @abc.abstractmethod
    def lock_routes(self, keys: Iterable[RouteKey]) -> None:
        """Wait for each route's lock, held until the unit of work ends. Every change to a route's
        queue or dispatches takes it first, so the pur-events consumer, the API and auto-dispatch
        never interleave on one route, on any number of replicas."""

    @abc.abstractmethod
    def try_lock_route(self, key: RouteKey) -> bool:
        """Take the route's lock if nobody holds it (auto-dispatch skips busy routes)."""
