"""pur_svc's unit of work as the use cases see it: the PUR repository, the route read model and the
hubs known to have a route map, in one transaction whose domain events leave on commit
(`mesh.unit_of_work`)."""

from __future__ import annotations

import abc
from collections.abc import Iterable

from mesh.unit_of_work import AbstractUnitOfWork
from pur_svc.service_layer.repositories import AbstractPickupRepository, AbstractRouteRepository


class AbstractPurUnitOfWork(AbstractUnitOfWork):
    pickups: AbstractPickupRepository
    routes: AbstractRouteRepository

    @abc.abstractmethod
    def known_hubs(self, hub_ids: Iterable[str]) -> set[str]:
        """Those of `hub_ids` a route map has been published for (a PUR of another hub is refused)."""
