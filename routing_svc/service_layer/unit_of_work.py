"""routing_svc's unit of work: the routes of every hub and the events of one use case, in one
transaction (adapters.unit_of_work implements it over PostgreSQL)."""

from __future__ import annotations

from mesh.unit_of_work import AbstractUnitOfWork
from routing_svc.service_layer.repositories import AbstractRouteRepository


class AbstractRoutingUnitOfWork(AbstractUnitOfWork):
    routes: AbstractRouteRepository
